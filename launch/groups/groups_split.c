/* The split of a CSV file by the group column (see groups_internal.h). It works on the
 * text, not on parsed numbers: each group's file holds its rows as the file has them, less
 * the group's cell, so the training session reads a group's file exactly as it would read a
 * file of that group's rows made by hand, whatever columns the CSV reader understands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data_tabular.h"
#include "core/error.h"
#include "core/hash.h"
#include "launch/groups/groups_internal.h"

/* Longest directory name a group value may take (NAME_MAX is 255 on Linux; the rest is
 * headroom for the temporary names of atomic writes). */
#define GROUPS_MAX_DIR_NAME 200

char *groups_encode_name(const char *value) {
  size_t n = strlen(value);
  char *out = malloc(3 * n + 1);
  if (!out) return NULL;
  bool dots = strcmp(value, ".") == 0 || strcmp(value, "..") == 0;
  size_t k = 0;
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
    bool safe = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                *p == '_' || *p == '-';
    if (safe && !dots) out[k++] = (char)*p;
    else k += (size_t)sprintf(out + k, "%%%02X", *p);
  }
  out[k] = '\0';
  return out;
}

/* One cell of a line: raw spans the cell as written (blanks and quotes included); text is
 * its value without blanks and quotes. */
typedef struct {
  size_t raw_start, raw_end;  // [start, end) in the line; end is at the comma or the line end
  size_t text_start, text_end;
  bool quoted;
} groups_cell;

/* The cell at `index` of line[0, len) (commas inside quotes do not separate), and how many
 * cells the line has. Returns false when the line has fewer than index + 1 cells. */
static bool groups_find_cell(const char *line, size_t len, int index, groups_cell *out, int *cells) {
  size_t i = 0;
  int k = 0;
  bool found = false;
  for (;; k++) {
    groups_cell c = {i, i, i, i, false};
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    c.quoted = i < len && line[i] == '"';
    if (c.quoted) {
      c.text_start = ++i;
      while (i < len && !(line[i] == '"' && (i + 1 >= len || line[i + 1] != '"'))) i += line[i] == '"' ? 2 : 1;
      c.text_end = i < len ? i : len;
      while (i < len && line[i] != ',') i++;
    } else {
      c.text_start = i;
      while (i < len && line[i] != ',') i++;
      c.text_end = i;
      while (c.text_end > c.text_start && (line[c.text_end - 1] == ' ' || line[c.text_end - 1] == '\t')) c.text_end--;
    }
    c.raw_end = i;
    if (k == index) {
      *out = c;
      found = true;
    }
    if (i >= len) break;
    i++;  // the comma
  }
  *cells = k + 1;
  return found;
}

/* The cell's value: quotes removed, "" unescaped. */
static char *groups_cell_value(const char *line, const groups_cell *c) {
  size_t n = c->text_end - c->text_start;
  char *v = ddpc_malloc(n + 1, "group value");
  if (!v) return NULL;
  size_t k = 0;
  for (size_t i = c->text_start; i < c->text_end; i++) {
    v[k++] = line[i];
    if (c->quoted && line[i] == '"' && i + 1 < c->text_end && line[i + 1] == '"') i++;
  }
  v[k] = '\0';
  return v;
}

/* Appends line[0, len) without the cell c (and one comma next to it; with c NULL, whole),
 * and a line end. */
static int groups_append_without(char **text, size_t *len, size_t *cap, const char *line, size_t n,
                                 const groups_cell *c) {
  size_t cut_start = c ? c->raw_start : n, cut_end = c ? c->raw_end : n;
  if (!c) {
  } else if (cut_end < n) {
    cut_end++;  // the comma after it
  } else if (cut_start > 0) {
    cut_start--;  // the last cell: the comma before it
  }
  size_t add = n - (cut_end - cut_start) + 1;
  if (*len + add + 1 > *cap) {
    size_t grown = (*cap ? *cap * 2 : 4096);
    while (grown < *len + add + 1) grown *= 2;
    char *t = realloc(*text, grown);
    if (!t) return ddpc_error_set("out of memory splitting the data by group");
    *text = t;
    *cap = grown;
  }
  memcpy(*text + *len, line, cut_start);
  *len += cut_start;
  memcpy(*text + *len, line + cut_end, n - cut_end);
  *len += n - cut_end;
  (*text)[(*len)++] = '\n';
  (*text)[*len] = '\0';
  return 0;
}

/* Value -> index of l's items while the training file is read (open addressing). */
typedef struct {
  int *slots;   // index + 1, 0 empty
  size_t size;  // a power of two
} groups_index;

static int groups_index_find(groups_index *ix, const groups_list *l, const char *value, bool *found) {
  size_t mask = ix->size - 1, h = (size_t)ddpc_hash_bytes(value, strlen(value), 0) & mask;
  while (ix->slots[h] && strcmp(l->items[ix->slots[h] - 1].value, value) != 0) h = (h + 1) & mask;
  *found = ix->slots[h] != 0;
  return (int)h;
}

static int groups_index_grow(groups_index *ix, const groups_list *l) {
  groups_index bigger = {ddpc_calloc(ix->size * 2, sizeof(int), "group index"), ix->size * 2};
  if (!bigger.slots) return -1;
  for (int i = 0; i < l->count; i++) {
    bool found;
    bigger.slots[groups_index_find(&bigger, l, l->items[i].value, &found)] = i + 1;
  }
  free(ix->slots);
  *ix = bigger;
  return 0;
}

static int groups_compare(const void *a, const void *b) {
  return strcmp(((const groups_entry *)a)->value, ((const groups_entry *)b)->value);
}

/* The entry of `value`, created (training file) or found (test file, NULL when absent). */
static groups_entry *groups_entry_of(groups_list *l, groups_index *ix, size_t *cap, char *value, bool test) {
  if (test) {
    groups_entry key = {.value = value};
    groups_entry *e = l->count == 0 ? NULL : bsearch(&key, l->items, (size_t)l->count, sizeof *l->items, groups_compare);
    free(value);
    return e;
  }
  bool found;
  int slot = groups_index_find(ix, l, value, &found);
  if (found) {
    free(value);
    return &l->items[ix->slots[slot] - 1];
  }
  if ((size_t)l->count == *cap) {
    size_t grown = *cap ? *cap * 2 : 16;
    groups_entry *items = realloc(l->items, grown * sizeof *items);
    if (!items) {
      free(value);
      ddpc_error_set("out of memory (groups)");
      return NULL;
    }
    l->items = items;
    *cap = grown;
  }
  groups_entry *e = &l->items[l->count++];
  memset(e, 0, sizeof *e);
  e->value = value;
  e->rank = -1;
  e->created = l->count - 1;
  ix->slots[slot] = l->count;
  if ((size_t)l->count * 2 > ix->size && groups_index_grow(ix, l) != 0) return NULL;
  return e;
}

/* The group column's place in the header, and the header text without it (with it: keep). */
static int groups_header(const char *path, int line_no, const char *line, size_t n, const char *column, bool keep,
                         int *index, char **header, size_t *header_len) {
  int found = -1, cells = 1;
  for (int k = 0; k < cells; k++) {
    groups_cell c;
    if (!groups_find_cell(line, n, k, &c, &cells)) break;
    char *name = groups_cell_value(line, &c);
    if (!name) return -1;
    bool match = strcmp(name, column) == 0;
    free(name);
    if (match && found >= 0)
      return ddpc_error_set("%s:%d: two columns are named '%s' (data.group_by): rename one", path, line_no, column);
    if (match) found = k;
  }
  if (found < 0)
    return ddpc_error_set("%s:%d: no column named '%s' (data.group_by); the header is: %.*s", path, line_no, column,
                          (int)(n > 300 ? 300 : n), line);
  groups_cell c;
  groups_find_cell(line, n, found, &c, &cells);
  *index = found;
  size_t cap = 0;
  *header = NULL;
  *header_len = 0;
  return groups_append_without(header, header_len, &cap, line, n, keep ? NULL : &c);
}

/* Predict mode: each row's entry, from creation order to the sorted order. */
static int groups_remap_rows(groups_list *l) {
  int *to_sorted = ddpc_calloc(l->count ? (size_t)l->count : 1, sizeof(int), "group rows");
  if (!to_sorted) return -1;
  for (int i = 0; i < l->count; i++) to_sorted[l->items[i].created] = i;
  for (uint32_t r = 0; r < l->n_rows; r++) l->row_group[r] = to_sorted[l->row_group[r]];
  free(to_sorted);
  return 0;
}

/* Predict mode: records data row l->n_rows (its entry, its line). */
static int groups_note_row(groups_list *l, size_t *cap, int entry, int line_no) {
  if (l->n_rows == *cap) {
    size_t grown = *cap ? *cap * 2 : 1024;
    int *g = realloc(l->row_group, grown * sizeof *g);
    if (g) l->row_group = g;
    int *ln = g ? realloc(l->row_line, grown * sizeof *ln) : NULL;
    if (ln) l->row_line = ln;
    if (!g || !ln) return ddpc_error_set("out of memory (group rows)");
    *cap = grown;
  }
  l->row_group[l->n_rows] = entry;
  l->row_line[l->n_rows++] = line_no;
  return 0;
}

static int groups_split_text(const char *path, const char *data, size_t size, const char *column,
                             groups_split_mode mode, groups_list *l) {
  bool test = mode == GROUPS_SPLIT_TEST, keep = mode == GROUPS_SPLIT_PREDICT;
  size_t pos = 0, cap = 0, header_len = 0, rows_cap = 0;
  if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) pos = 3;  // a UTF-8 byte-order mark
  groups_index ix = {NULL, 64};
  if (!test && !(ix.slots = ddpc_calloc(ix.size, sizeof(int), "group index"))) return -1;
  char *header = NULL;
  int index = -1, line_no = 0, rc = 0;
  const char *line;
  size_t n;
  while (rc == 0 && (line = ddpc_csv_next_line(data, size, &pos, &n)) != NULL) {
    line_no++;
    const char *nul = memchr(line, '\0', n);
    if (nul) {  // a text cut at it would be another group's value, or lose the row's end
      rc = ddpc_error_set("%s:%d:%zu: a NUL byte: expected CSV text", path, line_no, (size_t)(nul - line) + 1);
      break;
    }
    if (ddpc_csv_line_blank(line, n)) continue;
    if (!header) {
      rc = groups_header(path, line_no, line, n, column, keep, &index, &header, &header_len);
      continue;
    }
    groups_cell c;
    int cells;
    if (!groups_find_cell(line, n, index, &c, &cells)) {
      rc = ddpc_error_set("%s:%d: %d cells, but the group column '%s' (data.group_by) is column %d of the header",
                          path, line_no, cells, column, index + 1);
      break;
    }
    if (c.text_end == c.text_start) {
      rc = ddpc_error_set("%s:%d:%zu: column '%s' (data.group_by): expected a group value, got an empty cell", path,
                          line_no, c.text_start + 1, column);
      break;
    }
    char *value = groups_cell_value(line, &c);
    char *dir = value ? groups_encode_name(value) : NULL;
    size_t dir_len = dir ? strlen(dir) : 0;
    free(dir);
    if (!value) {
      rc = -1;
      break;
    }
    if (dir_len > GROUPS_MAX_DIR_NAME) {
      rc = ddpc_error_set("%s:%d:%zu: column '%s' (data.group_by): a group value of %zu bytes is too long for a "
                          "directory name (at most %d bytes once encoded)",
                          path, line_no, c.text_start + 1, column, strlen(value), GROUPS_MAX_DIR_NAME);
      free(value);
      break;
    }
    groups_entry *e = groups_entry_of(l, &ix, &cap, value, test);
    if (!e && !test) {
      rc = -1;
      break;
    }
    if (!e) {
      l->test_orphans++;
      continue;
    }
    char **text = test ? &e->test_text : &e->train_text;
    size_t *len = test ? &e->test_len : &e->train_len;
    size_t *text_cap = test ? &e->test_cap : &e->train_cap;
    if (*len == 0) {
      // Every group's file starts with the header.
      if (!(*text = ddpc_malloc(header_len + 1, "group data"))) {
        rc = -1;
        break;
      }
      memcpy(*text, header, header_len + 1);
      *len = header_len;
      *text_cap = header_len + 1;
    }
    rc = groups_append_without(text, len, text_cap, line, n, keep ? NULL : &c);
    if (rc == 0 && keep) rc = groups_note_row(l, &rows_cap, (int)(e - l->items), line_no);
    if (test) e->test_rows++;
    else e->rows++;
  }
  if (rc == 0 && !header) rc = ddpc_error_set("%s: no header line: the file is empty", path);
  free(header);
  free(ix.slots);
  if (rc == 0 && !test && l->count > 0) qsort(l->items, (size_t)l->count, sizeof *l->items, groups_compare);
  if (rc == 0 && keep) rc = groups_remap_rows(l);
  return rc;
}

int groups_split_csv(const char *path, const char *column, groups_split_mode mode, groups_list *l) {
  char *data = NULL;
  size_t size = 0;
  if (ddpc_csv_read_text(path, &data, &size) != 0) return -1;
  int rc = groups_split_text(path, data, size, column, mode, l);
  free(data);
  return rc;
}

void groups_list_free(groups_list *l) {
  for (int i = 0; i < l->count; i++) {
    free(l->items[i].value);
    free(l->items[i].dir);
    free(l->items[i].train_text);
    free(l->items[i].test_text);
    free(l->items[i].skip_reason);
  }
  free(l->items);
  free(l->row_group);
  free(l->row_line);
  memset(l, 0, sizeof *l);
}
