/* CSV reader: a header row of column names (optionally "quoted"), then one sample per
 * line. Every column but the label column is a numeric feature stored as float; the label
 * column holds a class index (classification) or a float target (regression). Accepts
 * \r\n line ends, a UTF-8 byte-order mark and blank lines. Errors name file:line:column,
 * where column is the 1-based character position of the offending cell. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/error.h"

typedef struct {
  const char *text;  // cell content without surrounding spaces and quotes
  size_t len;        // bytes of text
  int column;        // 1-based character column where the cell starts
} csv_cell;

typedef struct {
  csv_cell *cells;  // cells of the current line
  int count;        // cells found
  int cap;          // allocated cells
} csv_fields;

/* Splits one line (without its line end) at commas outside quotes. */
static int csv_split(const char *line, size_t len, csv_fields *out) {
  out->count = 0;
  size_t i = 0;
  for (;;) {
    size_t start = i;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    size_t text = i, text_end;
    if (i < len && line[i] == '"') {
      text = ++i;
      while (i < len && !(line[i] == '"' && (i + 1 >= len || line[i + 1] != '"'))) i += line[i] == '"' ? 2 : 1;
      text_end = i < len ? i : len;
      if (i < len) i++;  // closing quote
      while (i < len && line[i] != ',') i++;
    } else {
      while (i < len && line[i] != ',') i++;
      text_end = i;
      while (text_end > text && (line[text_end - 1] == ' ' || line[text_end - 1] == '\t')) text_end--;
    }
    if (out->count == out->cap) {
      int cap = out->cap ? out->cap * 2 : 16;
      csv_cell *cells = realloc(out->cells, (size_t)cap * sizeof *cells);
      if (!cells) return ddpc_error_set("out of memory (CSV cells)");
      out->cells = cells;
      out->cap = cap;
    }
    csv_cell *c = &out->cells[out->count++];
    c->text = line + text;
    c->len = text_end - text;
    c->column = (int)(text < len ? text : start) + 1;
    if (i >= len) return 0;
    i++;  // the comma
  }
}

/* Parses a whole cell as a finite float. strtod reads the file text in place: a cell's
 * text is never empty here, never starts with a space, and is always followed by a
 * delimiter (comma, quote, space, line end or the final NUL), so strtod stops inside it. */
static bool csv_number(const csv_cell *c, double *value) {
  if (c->len == 0) return false;
  char *end;
  double v = strtod(c->text, &end);
  if (end != c->text + c->len || !isfinite(v) || fabs(v) > 3.4028234663852886e38) return false;
  *value = v;
  return true;
}

static int csv_cell_error(const char *path, int line, const csv_cell *c, const char *name, const char *what) {
  return ddpc_error_set("%s:%d:%d: column '%s': expected %s, got '%.*s'", path, line, c->column, name, what,
                        (int)c->len, c->text);
}

static int csv_read_file(const char *path, char **data, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return ddpc_error_set("%s: cannot open: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (cap - len < 65536) {
      cap = cap ? cap * 2 : 1 << 20;
      char *grown = realloc(buf, cap + 1);
      if (!grown) {
        free(buf);
        fclose(f);
        return ddpc_error_set("%s: out of memory reading the file", path);
      }
      buf = grown;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return ddpc_error_set("%s: read error", path);
  }
  buf[len] = '\0';
  *data = buf;
  *size = len;
  return 0;
}

/* The next line of [*pos, size): returns its start and length without \r\n. */
static const char *csv_next_line(const char *data, size_t size, size_t *pos, size_t *len) {
  if (*pos >= size) return NULL;
  const char *line = data + *pos;
  const char *nl = memchr(line, '\n', size - *pos);
  size_t n = nl ? (size_t)(nl - line) : size - *pos;
  *pos += n + (nl ? 1 : 0);
  if (n > 0 && line[n - 1] == '\r') n--;
  *len = n;
  return line;
}

static bool csv_blank(const char *line, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (line[i] != ' ' && line[i] != '\t') return false;
  return true;
}

static char *csv_header_list(const csv_fields *h) {
  size_t n = 1;
  for (int i = 0; i < h->count; i++) n += h->cells[i].len + 4;
  char *s = ddpc_malloc(n, "CSV header list");
  if (!s) return NULL;
  size_t at = 0;
  for (int i = 0; i < h->count; i++)
    at += (size_t)snprintf(s + at, n - at, "%s'%.*s'", i ? ", " : "", (int)h->cells[i].len, h->cells[i].text);
  return s;
}

typedef struct {
  const char *path;      // for messages
  ddpc_task task;        // what the label column holds
  int num_classes;       // > 0: labels must be below it
  int label_index;       // which cell is the label
  int n_cols;            // cells per line
  char *label_name;      // label column name
  csv_fields header;     // header cells (point into the file text)
} csv_parser;

/* Stores one data line's cells as row `row` of x and labels/targets. */
static int csv_parse_row(const csv_parser *p, const csv_fields *f, int line, float *xrow, int32_t *label,
                         float *target) {
  for (int c = 0; c < p->n_cols; c++) {
    const csv_cell *cell = &f->cells[c];
    double v;
    char *name = NULL;
    if (!csv_number(cell, &v)) {
      const csv_cell *h = &p->header.cells[c];
      name = ddpc_format("%.*s", (int)h->len, h->text);
      int rc = csv_cell_error(p->path, line, cell, name ? name : "?",
                              c == p->label_index && p->task == DDPC_TASK_CLASSIFICATION
                                  ? "a non-negative integer class label"
                                  : "a finite number");
      free(name);
      return rc;
    }
    if (c != p->label_index) {
      *xrow++ = (float)v;
    } else if (p->task == DDPC_TASK_REGRESSION) {
      *target = (float)v;
    } else {
      if (v < 0 || v != floor(v) || v > INT32_MAX)
        return csv_cell_error(p->path, line, cell, p->label_name, "a non-negative integer class label");
      if (p->num_classes > 0 && v >= p->num_classes)
        return ddpc_error_set("%s:%d:%d: column '%s': label %d outside [0, %d) (data.num_classes = %d)", p->path,
                              line, cell->column, p->label_name, (int)v, p->num_classes, p->num_classes);
      *label = (int32_t)v;
    }
  }
  return 0;
}

/* Reads the header row into p (its cells, the label column's index); *pos and *line_no
 * are left after it. */
static int csv_parse_header(csv_parser *p, const char *data, size_t size, const char *label_column, size_t *pos,
                            int *line_no) {
  size_t len = 0;
  const char *line = NULL;
  if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) *pos = 3;  // byte-order mark
  while ((line = csv_next_line(data, size, pos, &len)) != NULL) {
    (*line_no)++;
    if (!csv_blank(line, len)) break;
  }
  if (!line) return ddpc_error_set("%s:1:1: empty file: a header row of column names is required", p->path);
  int header_line = *line_no;
  if (csv_split(line, len, &p->header) != 0) return -1;
  p->n_cols = p->header.count;
  p->label_index = -1;
  for (int c = 0; c < p->n_cols && p->label_index < 0; c++)
    if (p->header.cells[c].len == strlen(label_column) &&
        memcmp(p->header.cells[c].text, label_column, p->header.cells[c].len) == 0)
      p->label_index = c;
  if (p->label_index < 0) {
    char *names = csv_header_list(&p->header);
    ddpc_error_set("%s:%d: no column named '%s' (data.label_column); the header has: %s", p->path, header_line,
                   label_column, names ? names : "?");
    free(names);
    return -1;
  }
  if (p->n_cols < 2)
    return ddpc_error_set("%s:%d: the header has only the label column '%s', no feature columns", p->path,
                          header_line, label_column);
  return 0;
}

static int csv_parse(csv_parser *p, const char *data, size_t size, const char *label_column, ddpc_table *out) {
  size_t pos = 0, len = 0;
  int line_no = 0;
  const char *line = NULL;
  if (csv_parse_header(p, data, size, label_column, &pos, &line_no) != 0) return -1;
  p->label_name = ddpc_strdup(label_column);
  if (!p->label_name) return ddpc_error_set("out of memory");

  // Upper bound on rows: the remaining line ends, and no more rows than the bytes left
  // can hold (a row has n_cols - 1 commas and a line end), so that a header of a million
  // columns over blank lines cannot ask for rows x columns of memory the file never fills.
  size_t max_rows = 1;
  for (const char *s = data + pos; (s = memchr(s, '\n', size - (size_t)(s - data))) != NULL; s++) max_rows++;
  size_t fit_rows = (size - pos) / (size_t)p->n_cols + 1;
  if (fit_rows < max_rows) max_rows = fit_rows;
  uint32_t features = (uint32_t)p->n_cols - 1;
  float *x = ddpc_malloc(max_rows * features * sizeof(float), "CSV features");
  int32_t *labels = NULL;
  float *targets = NULL;
  if (p->task == DDPC_TASK_CLASSIFICATION)
    labels = ddpc_malloc(max_rows * sizeof *labels, "CSV labels");
  else
    targets = ddpc_malloc(max_rows * sizeof *targets, "CSV targets");
  csv_fields f = {0};
  int rc = (!x || (!labels && !targets)) ? ddpc_error_prefix("%s: ", p->path) : 0;
  uint32_t rows = 0;
  while (rc == 0 && (line = csv_next_line(data, size, &pos, &len)) != NULL) {
    line_no++;
    if (csv_blank(line, len)) continue;
    if (rows == UINT32_MAX) {
      rc = ddpc_error_set("%s:%d: too many rows", p->path, line_no);
      break;
    }
    if ((rc = csv_split(line, len, &f)) != 0) break;
    if (f.count != p->n_cols) {
      int col = f.count < p->n_cols ? (int)len + 1 : f.cells[p->n_cols].column;
      rc = ddpc_error_set("%s:%d:%d: expected %d fields as in the header, got %d", p->path, line_no, col,
                          p->n_cols, f.count);
      break;
    }
    rc = csv_parse_row(p, &f, line_no, x + (size_t)rows * features, labels ? labels + rows : NULL,
                       targets ? targets + rows : NULL);
    rows++;
  }
  free(f.cells);
  if (rc == 0 && rows == 0)
    rc = ddpc_error_set("%s:%d: no data rows after the header", p->path, line_no + 1);
  if (rc != 0) {
    free(x);
    free(labels);
    free(targets);
    return -1;
  }
  out->rows = rows;
  out->features = features;
  out->dtype = DDPC_DTYPE_F32;
  out->x = x;
  out->labels = labels;
  out->targets = targets;
  out->target_width = targets ? 1 : 0;
  return 0;
}

int ddpc_csv_read_checked(const char *path, const char *label_column, ddpc_task task, int num_classes,
                          ddpc_table *out) {
  memset(out, 0, sizeof *out);
  if (!label_column || !*label_column)
    return ddpc_error_set("%s: data.label_column is not set: name the label column of the CSV", path);
  char *data = NULL;
  size_t size = 0;
  if (csv_read_file(path, &data, &size) != 0) return -1;
  csv_parser p = {.path = path, .task = task, .num_classes = num_classes};
  int rc = csv_parse(&p, data, size, label_column, out);
  free(p.header.cells);
  free(p.label_name);
  free(data);
  return rc;
}

int ddpc_csv_locate_row(const char *path, const char *label_column, uint32_t row, int *line, int *column) {
  char *data = NULL;
  size_t size = 0;
  if (csv_read_file(path, &data, &size) != 0) return -1;
  csv_parser p = {.path = path};
  size_t pos = 0, len = 0;
  int line_no = 0;
  int rc = csv_parse_header(&p, data, size, label_column, &pos, &line_no);
  const char *text = NULL;
  uint32_t seen = 0;
  while (rc == 0 && (text = csv_next_line(data, size, &pos, &len)) != NULL) {
    line_no++;
    if (csv_blank(text, len) || seen++ < row) continue;
    csv_fields f = {0};
    rc = csv_split(text, len, &f);
    if (rc == 0 && f.count == p.n_cols) {
      *line = line_no;
      *column = f.cells[p.label_index].column;
    } else if (rc == 0) {
      rc = ddpc_error_set("%s:%d: expected %d fields as in the header, got %d", path, line_no, p.n_cols, f.count);
    }
    free(f.cells);
    break;
  }
  if (rc == 0 && !text) rc = ddpc_error_set("%s: no data row %u (the file changed?)", path, row + 1);
  free(p.header.cells);
  free(data);
  return rc;
}

int ddpc_csv_read_header(const char *path, const char *label_column, char ***names, uint32_t *count) {
  *names = NULL;
  *count = 0;
  char *data = NULL;
  size_t size = 0;
  if (csv_read_file(path, &data, &size) != 0) return -1;
  csv_parser p = {.path = path};
  size_t pos = 0;
  int line_no = 0;
  int rc = csv_parse_header(&p, data, size, label_column, &pos, &line_no);
  char **out = rc == 0 ? ddpc_calloc((size_t)p.n_cols, sizeof *out, "CSV column names") : NULL;
  if (rc == 0 && !out) rc = -1;
  uint32_t n = 0;
  for (int c = 0; rc == 0 && c < p.n_cols; c++) {
    if (c == p.label_index) continue;
    out[n] = ddpc_format("%.*s", (int)p.header.cells[c].len, p.header.cells[c].text);
    if (!out[n++]) rc = -1;
  }
  if (rc == 0) {
    *names = out;
    *count = n;
  } else if (out) {
    for (uint32_t i = 0; i < n; i++) free(out[i]);
    free(out);
  }
  free(p.header.cells);
  free(data);
  return rc;
}

int ddpc_csv_read(const char *path, const char *label_column, ddpc_task task, ddpc_table *out) {
  return ddpc_csv_read_checked(path, label_column, task, 0, out);
}
