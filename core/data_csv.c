/* CSV reader: a header row of column names (optionally "quoted"), then one sample per
 * line. For training every column but the label column is a numeric feature stored as
 * float; the label column holds a class index (classification) or a float target
 * (regression). For prediction (ddpc_csv_read_columns) the features are the columns of
 * the training header's names, found by name in any order, the label column is optional
 * and every other column is text passed through. Accepts \r\n line ends, a UTF-8
 * byte-order mark and blank lines. Errors name file:line:column, where column is the
 * 1-based character position of the offending cell. With a ddpc_csv_spec (data_tabular.h)
 * a missing cell is NaN or drops its row, a categorical column's cells and text labels are
 * interned into vocabularies (the value stored is the text's index there). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/data_tabular.h"
#include "core/error.h"

typedef struct {
  const char *text;  // cell content without surrounding spaces and quotes
  size_t len;        // bytes of text
  int column;        // 1-based character column where the cell starts
  bool quoted;       // the cell was "quoted" (text keeps its "" escapes)
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
    bool quoted = i < len && line[i] == '"';
    if (quoted) {
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
    c->quoted = quoted;
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

/* A class label as written: digits, after an optional '+'. "2.0", "1e2" or "0x10" read as
 * whole numbers too, but a label written so is most often a number to predict. */
static bool csv_integer_text(const csv_cell *c) {
  size_t i = c->len > 0 && c->text[0] == '+' ? 1 : 0;
  if (i == c->len) return false;
  for (; i < c->len; i++)
    if (c->text[i] < '0' || c->text[i] > '9') return false;
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

int ddpc_csv_read_text(const char *path, char **data, size_t *size) { return csv_read_file(path, data, size); }

const char *ddpc_csv_next_line(const char *data, size_t size, size_t *pos, size_t *len) {
  if (*pos >= size) return NULL;
  const char *line = data + *pos;
  const char *nl = memchr(line, '\n', size - *pos);
  size_t n = nl ? (size_t)(nl - line) : size - *pos;
  *pos += n + (nl ? 1 : 0);
  if (n > 0 && line[n - 1] == '\r') n--;
  *len = n;
  return line;
}

bool ddpc_csv_line_blank(const char *line, size_t len) {
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

/* What a file column is to the reader: a feature (its index in the sample, >= 0), the
 * label, or text passed through (ddpc predict's id columns). */
enum { CSV_ROLE_LABEL = -1, CSV_ROLE_EXTRA = -2 };

typedef struct {
  const char *path;        // for messages
  ddpc_task task;          // what the label column holds
  int num_classes;         // > 0: labels must be below it
  const char *label_name;  // label column name
  int label_index;         // which cell is the label; -1 when the file has none
  int n_cols;              // cells per line
  int header_line;         // the header's line number
  uint32_t features;       // feature columns
  int *role;               // n_cols: feature index, CSV_ROLE_LABEL or CSV_ROLE_EXTRA
  csv_fields header;       // header cells (point into the file text)
  const ddpc_csv_spec *spec;  // missing cells, categories, text labels; NULL: numbers only
  ddpc_csv_found *found;      // what was found (with spec)
} csv_parser;

static void csv_parser_free(csv_parser *p) {
  free(p->header.cells);
  free(p->role);
}

static bool csv_cell_is(const csv_cell *c, const char *name) {
  return c->len == strlen(name) && memcmp(c->text, name, c->len) == 0;
}

/* A growing text: the passed-through cells. */
typedef struct {
  char *data;  // NUL-terminated once anything was added
  size_t len;  // bytes used, without the NUL
  size_t cap;  // bytes allocated
} csv_text;

/* Appends a comma (unless first) and the cell as the file has it: a quoted cell keeps its
 * quotes and its "" escapes, so the text stays one valid CSV cell whatever it holds. */
static int csv_text_add_cell(csv_text *t, const csv_cell *c, bool first) {
  size_t need = t->len + c->len + 4;  // comma, two quotes, NUL
  if (need > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < need) cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) return ddpc_error_set("out of memory (CSV text columns)");
    t->data = grown;
    t->cap = cap;
  }
  char *at = t->data + t->len;
  if (!first) *at++ = ',';
  if (c->quoted) *at++ = '"';
  memcpy(at, c->text, c->len);
  at += c->len;
  if (c->quoted) *at++ = '"';
  *at = '\0';
  t->len = (size_t)(at - t->data);
  return 0;
}

/* A label cell that reads as the number v must be a class index. */
static int csv_class_label(const csv_parser *p, int line, const csv_cell *cell, double v, int32_t *label) {
  if (v < 0 || v > INT32_MAX || !csv_integer_text(cell))
    return ddpc_error_set("%s:%d:%d: column '%s': expected a non-negative integer class label, got '%.*s' (a "
                          "column of numbers to predict needs data.task: regression)",
                          p->path, line, cell->column, p->label_name, (int)cell->len, cell->text);
  if (p->num_classes > 0 && v >= p->num_classes)
    return ddpc_error_set("%s:%d:%d: column '%s': label %d outside [0, %d) (data.num_classes = %d)", p->path, line,
                          cell->column, p->label_name, (int)v, p->num_classes, p->num_classes);
  *label = (int32_t)v;
  return 0;
}

/* A cell that holds no value: empty, or a marker pandas and R write for one. */
static bool csv_missing(const csv_cell *c) {
  static const char *const markers[] = {"NA", "N/A", "NaN", "nan", "null", "?"};
  if (c->len == 0) return true;
  // Asked of every cell: a number (the common case) is out at its first character.
  if (c->len > 4 || (c->text[0] != 'N' && c->text[0] != 'n' && c->text[0] != '?')) return false;
  for (size_t i = 0; i < sizeof markers / sizeof *markers; i++)
    if (csv_cell_is(c, markers[i])) return true;
  return false;
}

bool ddpc_csv_text_missing(const char *text, size_t len) {
  csv_cell c = {text, len, 1, false};
  return csv_missing(&c);
}

bool ddpc_csv_text_number(const char *text, size_t len, double *value) {
  // csv_number reads in place and stops at the cell's end only before a delimiter: a copy
  // ends in a NUL.
  char *copy = ddpc_format("%.*s", (int)len, text);
  if (!copy) return false;
  csv_cell c = {copy, len, 1, false};
  bool ok = csv_number(&c, value);
  free(copy);
  return ok;
}

/* A missing feature cell under the spec: 1 drops the row, 0 keeps it (NaN), -1 refuses. */
static int csv_missing_cell(const csv_parser *p, int line, const csv_cell *cell, int f) {
  ddpc_missing_policy m = p->found->missing[f];
  if (m == DDPC_MISSING_MEAN) {
    p->found->n_missing[f]++;
    return 0;
  }
  if (m == DDPC_MISSING_DROP_ROWS && !p->spec->predicting) return 1;
  const char *name = p->found->names[f];
  if (m == DDPC_MISSING_DROP_ROWS)
    return ddpc_error_set("%s:%d:%d: column '%s': a missing value, but the model was trained with data.missing "
                          "drop_rows for it: a row to predict needs every value",
                          p->path, line, cell->column, name);
  return ddpc_error_set("%s:%d:%d: column '%s': expected %s, got '%.*s' (a missing value: %s)", p->path, line,
                        cell->column, name, p->found->categorical[f] ? "a category" : "a finite number",
                        (int)cell->len, cell->text,
                        p->spec->predicting ? "the model was trained with data.missing error for it"
                                            : "set data.missing to drop_rows or mean");
}

/* A cell kept as text (a category, a text label) must be text: a NUL byte would cut it
 * short wherever it is compared or printed. */
static int csv_text_cell(const csv_parser *p, int line, const csv_cell *cell, const char *name, ddpc_vocab *v,
                         uint32_t *id) {
  if (memchr(cell->text, '\0', cell->len))
    return ddpc_error_set("%s:%d:%d: column '%s': a NUL byte in a text cell: not a CSV text file", p->path, line,
                          cell->column, name);
  if (ddpc_vocab_intern(v, cell->text, cell->len, line, cell->column, id) != 0)
    return ddpc_error_prefix("%s:%d: ", p->path, line);
  return 0;
}

/* Stores one data line's cells: the features into xrow, the label or target, the
 * passed-through cells onto extra. Returns 1 when the row is dropped (a missing cell
 * under drop_rows), 0 when stored, -1 on an error. */
static int csv_parse_row(const csv_parser *p, const csv_fields *f, int line, float *xrow, int32_t *label,
                         float *target, csv_text *extra) {
  bool first = true;
  for (int c = 0; c < p->n_cols; c++) {
    const csv_cell *cell = &f->cells[c];
    int role = p->role[c];
    if (role == CSV_ROLE_EXTRA) {
      if (csv_text_add_cell(extra, cell, first) != 0) return -1;
      first = false;
      continue;
    }
    double v;
    char *name = NULL;
    if (p->found && role >= 0 && csv_missing(cell)) {
      int rc = csv_missing_cell(p, line, cell, role);
      if (rc != 0) return rc;
      xrow[role] = NAN;
      continue;
    }
    if (p->found && role >= 0 && p->found->categorical[role]) {
      uint32_t id;
      if (csv_text_cell(p, line, cell, p->found->names[role], &p->found->categories[role], &id) != 0) return -1;
      xrow[role] = (float)id;
      continue;
    }
    if (p->found && role == CSV_ROLE_LABEL && p->spec->text_labels && p->task == DDPC_TASK_CLASSIFICATION) {
      uint32_t id;
      if (csv_missing(cell))
        return ddpc_error_set("%s:%d:%d: column '%s': expected a class label, got '%.*s' (a row without its label "
                              "cannot be used)", p->path, line, cell->column, p->label_name, (int)cell->len,
                              cell->text);
      if (csv_text_cell(p, line, cell, p->label_name, &p->found->labels, &id) != 0) return -1;
      *label = (int32_t)id;
      continue;
    }
    if (!csv_number(cell, &v)) {
      const csv_cell *h = &p->header.cells[c];
      name = ddpc_format("%.*s", (int)h->len, h->text);
      int rc = csv_cell_error(p->path, line, cell, name ? name : "?",
                              role == CSV_ROLE_LABEL && p->task == DDPC_TASK_CLASSIFICATION
                                  ? "a non-negative integer class label"
                                  : "a finite number");
      free(name);
      return rc;
    }
    if (role >= 0) {
      xrow[role] = (float)v;
    } else if (p->task == DDPC_TASK_REGRESSION) {
      *target = (float)v;
    } else if (csv_class_label(p, line, cell, v, label) != 0) {
      return -1;
    }
  }
  return 0;
}

/* Reads the header row into p (its cells, every column's role CSV_ROLE_EXTRA until the
 * caller assigns them); *pos and *line_no are left after it. */
static int csv_read_header_line(csv_parser *p, const char *data, size_t size, size_t *pos, int *line_no) {
  size_t len = 0;
  const char *line = NULL;
  if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) *pos = 3;  // byte-order mark
  while ((line = ddpc_csv_next_line(data, size, pos, &len)) != NULL) {
    (*line_no)++;
    if (!ddpc_csv_line_blank(line, len)) break;
  }
  if (!line) return ddpc_error_set("%s:1:1: empty file: a header row of column names is required", p->path);
  p->header_line = *line_no;
  if (csv_split(line, len, &p->header) != 0) return -1;
  p->n_cols = p->header.count;
  p->label_index = -1;
  p->role = ddpc_malloc((size_t)p->n_cols * sizeof *p->role, "CSV columns");
  if (!p->role) return ddpc_error_prefix("%s: ", p->path);
  for (int c = 0; c < p->n_cols; c++) p->role[c] = CSV_ROLE_EXTRA;
  return 0;
}

/* The first column named `name` that has no role yet (so that a name a header holds twice
 * matches that many columns, in order), or -1. */
static int csv_find_free_column(const csv_parser *p, const char *name) {
  for (int c = 0; c < p->n_cols; c++)
    if (p->role[c] == CSV_ROLE_EXTRA && csv_cell_is(&p->header.cells[c], name)) return c;
  return -1;
}

/* The training layout: the label column (required) and every other column a feature, in
 * the file's order. *pos and *line_no are left after the header. */
static int csv_parse_header(csv_parser *p, const char *data, size_t size, const char *label_column, size_t *pos,
                            int *line_no) {
  if (csv_read_header_line(p, data, size, pos, line_no) != 0) return -1;
  p->label_name = label_column;
  p->label_index = csv_find_free_column(p, label_column);
  if (p->label_index < 0) {
    char *names = csv_header_list(&p->header);
    ddpc_error_set("%s:%d: no column named '%s' (data.label_column); the header has: %s", p->path, p->header_line,
                   label_column, names ? names : "?");
    free(names);
    return -1;
  }
  if (p->n_cols < 2)
    return ddpc_error_set("%s:%d: the header has only the label column '%s', no feature columns", p->path,
                          p->header_line, label_column);
  uint32_t f = 0;
  for (int c = 0; c < p->n_cols; c++) p->role[c] = c == p->label_index ? CSV_ROLE_LABEL : (int)f++;
  p->features = f;
  return 0;
}

/* Prediction's layout: the columns `names` (a model's features) by name in any order, the
 * label column when the file has one, every other column passed through. */
static int csv_match_columns(csv_parser *p, char *const *names, uint32_t n_names, const char *label_column) {
  if (label_column && *label_column) {
    p->label_name = label_column;
    p->label_index = csv_find_free_column(p, label_column);
    if (p->label_index >= 0) p->role[p->label_index] = CSV_ROLE_LABEL;
  }
  for (uint32_t f = 0; f < n_names; f++) {
    int c = csv_find_free_column(p, names[f]);
    if (c < 0) {
      char *have = csv_header_list(&p->header);
      ddpc_error_set("%s:%d: no column named '%s', a feature the model was trained on; the header has: %s",
                     p->path, p->header_line, names[f], have ? have : "?");
      free(have);
      return -1;
    }
    p->role[c] = (int)f;
  }
  p->features = n_names;
  // A column left over with a feature's or the label's name: which of the two the user
  // meant cannot be known, so neither is guessed.
  for (int c = 0; c < p->n_cols; c++) {
    const csv_cell *h = &p->header.cells[c];
    if (p->role[c] != CSV_ROLE_EXTRA) continue;
    for (int k = 0; k < p->n_cols; k++) {
      const csv_cell *used = &p->header.cells[k];
      if (p->role[k] == CSV_ROLE_EXTRA || used->len != h->len || memcmp(used->text, h->text, h->len) != 0) continue;
      return ddpc_error_set("%s:%d:%d: a second column named '%.*s' (the first is at column %d): which one holds "
                            "the %s is ambiguous", p->path, p->header_line, h->column, (int)h->len, h->text,
                            used->column, p->role[k] == CSV_ROLE_LABEL ? "label" : "feature");
    }
  }
  return 0;
}

/* The data rows after the header, as p's roles lay them out. */
typedef struct {
  uint32_t rows;       // data rows read
  int last_line;       // the number of the file's last line
  float *x;            // rows x p->features
  int32_t *labels;     // classification with a label column: rows labels
  float *targets;      // regression with a label column: rows targets
  csv_text extra;      // the passed-through cells, row after row
  size_t *extra_end;   // rows: where each row's cells end in extra; NULL when nothing passes through
  uint32_t *lines;     // rows: each row's line number (with a spec); else NULL
} csv_rows;

static void csv_rows_free(csv_rows *r) {
  free(r->x);
  free(r->labels);
  free(r->targets);
  free(r->extra.data);
  free(r->extra_end);
  free(r->lines);
  memset(r, 0, sizeof *r);
}

static int csv_parse_rows(const csv_parser *p, const char *data, size_t size, size_t pos, int line_no,
                          csv_rows *out) {
  memset(out, 0, sizeof *out);
  size_t len = 0;
  const char *line = NULL;
  bool has_extra = false;
  for (int c = 0; c < p->n_cols; c++) has_extra |= p->role[c] == CSV_ROLE_EXTRA;
  // Upper bound on rows: the remaining line ends, and no more rows than the bytes left
  // can hold (a row has n_cols - 1 commas and a line end), so that a header of a million
  // columns over blank lines cannot ask for rows x columns of memory the file never fills.
  size_t max_rows = 1;
  for (const char *s = data + pos; (s = memchr(s, '\n', size - (size_t)(s - data))) != NULL; s++) max_rows++;
  size_t fit_rows = (size - pos) / (size_t)p->n_cols + 1;
  if (fit_rows < max_rows) max_rows = fit_rows;
  size_t features = p->features ? p->features : 1;
  out->x = ddpc_malloc(max_rows * features * sizeof(float), "CSV features");
  bool labelled = p->label_index >= 0;
  if (labelled && p->task == DDPC_TASK_CLASSIFICATION)
    out->labels = ddpc_malloc(max_rows * sizeof *out->labels, "CSV labels");
  else if (labelled)
    out->targets = ddpc_malloc(max_rows * sizeof *out->targets, "CSV targets");
  if (has_extra) out->extra_end = ddpc_malloc(max_rows * sizeof *out->extra_end, "CSV text columns");
  if (p->found) out->lines = ddpc_malloc(max_rows * sizeof *out->lines, "CSV line numbers");
  csv_fields f = {0};
  int rc = (!out->x || (labelled && !out->labels && !out->targets) || (has_extra && !out->extra_end) ||
            (p->found && !out->lines))
               ? ddpc_error_prefix("%s: ", p->path)
               : 0;
  uint32_t rows = 0;
  while (rc == 0 && (line = ddpc_csv_next_line(data, size, &pos, &len)) != NULL) {
    line_no++;
    if (ddpc_csv_line_blank(line, len)) continue;
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
    rc = csv_parse_row(p, &f, line_no, out->x + (size_t)rows * p->features, out->labels ? out->labels + rows : NULL,
                       out->targets ? out->targets + rows : NULL, &out->extra);
    if (rc == 1) {  // dropped: the next row takes its place
      p->found->dropped++;
      rc = 0;
      continue;
    }
    if (out->extra_end) out->extra_end[rows] = out->extra.len;
    if (out->lines) out->lines[rows] = (uint32_t)line_no;
    rows++;
  }
  free(f.cells);
  if (rc != 0) {
    csv_rows_free(out);
    return -1;
  }
  out->rows = rows;
  out->last_line = line_no;
  return 0;
}

/* The column named `name` among the found feature columns, or -1. */
static int csv_found_column(const ddpc_csv_found *fd, const char *name) {
  for (uint32_t f = 0; f < fd->columns; f++)
    if (strcmp(fd->names[f], name) == 0) return (int)f;
  return -1;
}

static int csv_spec_unknown(const csv_parser *p, const char *at, const char *key, const char *name) {
  if (p->label_index >= 0 && strcmp(name, p->label_name) == 0)
    return ddpc_error_set("%s%s%s: column '%s' is the label column (data.label_column), not a feature", at ? at : "",
                          at ? ": " : "", key, name);
  char *have = csv_header_list(&p->header);
  ddpc_error_set("%s%s%s: no column named '%s' in %s; the header has: %s", at ? at : "", at ? ": " : "", key, name,
                 p->path, have ? have : "?");
  free(have);
  return -1;
}

/* Resolves the spec's column names against the feature columns into p->found. */
static int csv_apply_spec(csv_parser *p) {
  ddpc_csv_found *fd = p->found;
  const ddpc_csv_spec *sp = p->spec;
  uint32_t F = p->features;
  fd->columns = F;
  fd->names = ddpc_calloc(F ? F : 1, sizeof *fd->names, "CSV column names");
  fd->categorical = ddpc_calloc(F ? F : 1, sizeof *fd->categorical, "CSV column kinds");
  fd->missing = ddpc_calloc(F ? F : 1, sizeof *fd->missing, "CSV column policies");
  fd->categories = ddpc_calloc(F ? F : 1, sizeof *fd->categories, "CSV categories");
  fd->n_missing = ddpc_calloc(F ? F : 1, sizeof *fd->n_missing, "CSV missing counts");
  if (!fd->names || !fd->categorical || !fd->missing || !fd->categories || !fd->n_missing)
    return ddpc_error_prefix("%s: ", p->path);
  // The names in one allocation: a header of a million columns is not a million of them.
  size_t text = 1;
  for (int c = 0; c < p->n_cols; c++) text += p->role[c] >= 0 ? p->header.cells[c].len + 1 : 0;
  if (!(fd->name_text = ddpc_malloc(text, "CSV column names"))) return ddpc_error_prefix("%s: ", p->path);
  char *at = fd->name_text;
  for (int c = 0; c < p->n_cols; c++) {
    int f = p->role[c];
    if (f < 0) continue;
    const csv_cell *h = &p->header.cells[c];
    memcpy(at, h->text, h->len);
    at[h->len] = '\0';
    fd->names[f] = at;
    at += h->len + 1;
    fd->missing[f] = sp->missing;
  }
  const char *key = sp->config_key ? sp->config_key : "data.missing";
  for (int i = 0; i < sp->n_rules; i++) {
    int f = csv_found_column(fd, sp->rules[i].column);
    if (f < 0) return csv_spec_unknown(p, sp->rules[i].at, key, sp->rules[i].column);
    fd->missing[f] = sp->rules[i].policy;
  }
  for (int i = 0; i < sp->n_categorical; i++) {
    int f = csv_found_column(fd, sp->categorical[i]);
    if (f < 0)
      return csv_spec_unknown(p, sp->categorical_at ? sp->categorical_at[i] : NULL, "data.categorical",
                              sp->categorical[i]);
    fd->categorical[f] = true;
  }
  return 0;
}

/* Labels read as texts: when every text is a number they are class indices as without a
 * spec (checked at each text's first occurrence); when none is, they stay texts. Numbers
 * and texts together are refused: a mistyped cell in a column of class ids would
 * otherwise become a class of its own and renumber the others. */
static int csv_finish_labels(const csv_parser *p, int32_t *labels, uint32_t rows) {
  ddpc_vocab *v = &p->found->labels;
  double d;
  int64_t number = -1, text = -1;  // the first of each, in order of appearance
  for (uint32_t id = 0; id < v->count && (number < 0 || text < 0); id++) {
    csv_cell c = {v->text[id], strlen(v->text[id]), v->column[id], false};
    if (csv_number(&c, &d)) number = number < 0 ? id : number;
    else text = text < 0 ? id : text;
  }
  if (text >= 0 && number >= 0) {
    uint32_t t = (uint32_t)text, n = (uint32_t)number;
    return ddpc_error_set("%s:%d:%d: column '%s': class label '%s' is a text, but '%s' at %d:%d is a number: the "
                          "labels must be all class ids (integers) or all texts", p->path, v->line[t], v->column[t],
                          p->label_name, v->text[t], v->text[n], v->line[n], v->column[n]);
  }
  if (text >= 0) {
    p->found->labels_are_text = true;
    return 0;
  }
  int32_t *value = ddpc_malloc((v->count ? v->count : 1) * sizeof *value, "class labels");
  if (!value) return -1;
  for (uint32_t id = 0; id < v->count; id++) {
    csv_cell c = {v->text[id], strlen(v->text[id]), v->column[id], false};
    if (!csv_number(&c, &d) || csv_class_label(p, v->line[id], &c, d, &value[id]) != 0) {
      free(value);
      return -1;
    }
  }
  for (uint32_t i = 0; i < rows; i++) labels[i] = value[labels[i]];
  free(value);
  return 0;
}

void ddpc_csv_found_free(ddpc_csv_found *f) {
  if (!f) return;
  for (uint32_t c = 0; c < f->columns; c++) {
    // Only a categorical column's vocabulary was used: the others' pages stay untouched (a
    // CSV of a million columns).
    if (f->categories && f->categorical && f->categorical[c]) ddpc_vocab_free(&f->categories[c]);
  }
  free(f->names);
  free(f->name_text);
  free(f->categorical);
  free(f->missing);
  free(f->categories);
  free(f->n_missing);
  ddpc_vocab_free(&f->labels);
  free(f->lines);
  memset(f, 0, sizeof *f);
}

static int csv_parse(csv_parser *p, const char *data, size_t size, const char *label_column, ddpc_table *out) {
  size_t pos = 0;
  int line_no = 0;
  if (csv_parse_header(p, data, size, label_column, &pos, &line_no) != 0) return -1;
  if (p->found && csv_apply_spec(p) != 0) return -1;
  csv_rows r;
  if (csv_parse_rows(p, data, size, pos, line_no, &r) != 0) return -1;
  if (r.rows == 0) {
    int next_line = r.last_line + 1;
    uint64_t dropped = p->found ? p->found->dropped : 0;
    csv_rows_free(&r);
    if (dropped)
      return ddpc_error_set("%s:%d: no data rows left: data.missing drop_rows dropped all %llu", p->path, next_line,
                            (unsigned long long)dropped);
    return ddpc_error_set("%s:%d: no data rows after the header", p->path, next_line);
  }
  if (p->found && r.labels && p->spec->text_labels && p->spec->labels_stay_text) p->found->labels_are_text = true;
  if (p->found && r.labels && p->spec->text_labels && !p->spec->labels_stay_text &&
      csv_finish_labels(p, r.labels, r.rows) != 0) {
    csv_rows_free(&r);
    return -1;
  }
  if (p->found) {
    p->found->lines = r.lines;
    r.lines = NULL;
  }
  out->rows = r.rows;
  out->features = p->features;
  out->dtype = DDPC_DTYPE_F32;
  out->x = r.x;
  out->labels = r.labels;
  out->targets = r.targets;
  out->target_width = r.targets ? 1 : 0;
  return 0;
}

int ddpc_csv_read_checked(const char *path, const char *label_column, ddpc_task task, int num_classes,
                          ddpc_table *out) {
  return ddpc_csv_read_tabular(path, label_column, task, num_classes, NULL, out, NULL);
}

int ddpc_csv_read_tabular(const char *path, const char *label_column, ddpc_task task, int num_classes,
                          const ddpc_csv_spec *spec, ddpc_table *out, ddpc_csv_found *found) {
  memset(out, 0, sizeof *out);
  if (found) memset(found, 0, sizeof *found);
  if (!label_column || !*label_column)
    return ddpc_error_set("%s: data.label_column is not set: name the label column of the CSV", path);
  char *data = NULL;
  size_t size = 0;
  if (csv_read_file(path, &data, &size) != 0) return -1;
  csv_parser p = {.path = path, .task = task, .num_classes = num_classes, .spec = found ? spec : NULL,
                  .found = spec ? found : NULL};
  int rc = csv_parse(&p, data, size, label_column, out);
  if (rc != 0 && found) ddpc_csv_found_free(found);
  csv_parser_free(&p);
  free(data);
  return rc;
}

/* Text passed through must be text: a NUL byte would cut it short wherever it is printed. */
static int csv_check_no_nul(const char *path, const char *data, size_t size) {
  const char *nul = memchr(data, '\0', size);
  if (!nul) return 0;
  int line = 1;
  const char *start = data;
  for (const char *s = data; s < nul; s++)
    if (*s == '\n') line++, start = s + 1;
  return ddpc_error_set("%s:%d:%d: a NUL byte: not a CSV text file", path, line, (int)(nul - start) + 1);
}

int ddpc_csv_read_columns(const char *path, char *const *names, uint32_t n_names, const char *label_column,
                          ddpc_task task, int num_classes, ddpc_csv_columns *out) {
  return ddpc_csv_read_columns_tabular(path, names, n_names, label_column, task, num_classes, NULL, out, NULL);
}

int ddpc_csv_read_columns_tabular(const char *path, char *const *names, uint32_t n_names, const char *label_column,
                                  ddpc_task task, int num_classes, const ddpc_csv_spec *spec, ddpc_csv_columns *out,
                                  ddpc_csv_found *found) {
  memset(out, 0, sizeof *out);
  if (found) memset(found, 0, sizeof *found);
  char *data = NULL;
  size_t size = 0;
  if (csv_read_file(path, &data, &size) != 0) return -1;
  csv_parser p = {.path = path, .task = task, .num_classes = num_classes, .spec = found ? spec : NULL,
                  .found = spec ? found : NULL};
  size_t pos = 0;
  int line_no = 0;
  csv_rows r = {0};
  csv_text head = {0};
  int rc = csv_check_no_nul(path, data, size);
  if (rc == 0) rc = csv_read_header_line(&p, data, size, &pos, &line_no);
  if (rc == 0) rc = csv_match_columns(&p, names, n_names, label_column);
  if (rc == 0 && p.found) rc = csv_apply_spec(&p);
  if (rc == 0) rc = csv_parse_rows(&p, data, size, pos, line_no, &r);
  // A model of text labels maps the file's labels by text, numbers or not.
  if (rc == 0 && p.found && r.labels && spec->text_labels && spec->labels_stay_text) p.found->labels_are_text = true;
  else if (rc == 0 && p.found && r.labels && spec->text_labels) rc = csv_finish_labels(&p, r.labels, r.rows);
  if (rc == 0 && p.found) {
    p.found->lines = r.lines;
    r.lines = NULL;
  }
  bool first = true;
  for (int c = 0; rc == 0 && c < p.n_cols; c++) {
    if (p.role[c] != CSV_ROLE_EXTRA) continue;
    rc = csv_text_add_cell(&head, &p.header.cells[c], first);
    first = false;
  }
  // "" rather than NULL where nothing passes through, so callers print without checks.
  if (rc == 0 && !head.data && !(head.data = ddpc_strdup(""))) rc = -1;
  if (rc == 0 && !r.extra.data && !(r.extra.data = ddpc_strdup(""))) rc = -1;
  if (rc == 0) {
    out->rows = r.rows;
    out->features = n_names;
    out->x = r.x;
    out->labels = r.labels;
    out->targets = r.targets;
    out->extra_header = head.data;
    out->extra = r.extra.data;
    out->extra_end = r.extra_end;
  } else {
    csv_rows_free(&r);
    free(head.data);
    if (found) ddpc_csv_found_free(found);
  }
  csv_parser_free(&p);
  free(data);
  return rc;
}

void ddpc_csv_columns_free(ddpc_csv_columns *c) {
  free(c->x);
  free(c->labels);
  free(c->targets);
  free(c->extra_header);
  free(c->extra);
  free(c->extra_end);
  memset(c, 0, sizeof *c);
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
  while (rc == 0 && (text = ddpc_csv_next_line(data, size, &pos, &len)) != NULL) {
    line_no++;
    if (ddpc_csv_line_blank(text, len) || seen++ < row) continue;
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
  csv_parser_free(&p);
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
  csv_parser_free(&p);
  free(data);
  return rc;
}

int ddpc_csv_read(const char *path, const char *label_column, ddpc_task task, ddpc_table *out) {
  return ddpc_csv_read_checked(path, label_column, task, 0, out);
}
