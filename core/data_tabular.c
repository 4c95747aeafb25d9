/* Tabular data as it comes (data_tabular.h): the vocabularies the CSV reader interns texts
 * into, and the fitted encoding of a CSV's columns. Every fitted constant comes from the
 * training split's rows only (validation and test must not leak into the inputs), except
 * the label list, which is the training file's: stratifying needs class ids before the
 * split, and a class seen only in validation still needs an output. Sums are taken in
 * row order in double, so every rank fits the same floats. */
#include "core/data_tabular.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_tree.h"  // ddpc_config_missing_names
#include "core/error.h"
#include "core/hash.h"

/* ---- vocabularies ---- */

static uint32_t vocab_hash(const char *s, size_t len) { return (uint32_t)ddpc_hash_bytes(s, len, 0x766f6362u); }

static bool vocab_equal(const char *a, const char *s, size_t len) { return strncmp(a, s, len) == 0 && !a[len]; }

static int vocab_rehash(ddpc_vocab *v, uint32_t n_slots) {
  uint32_t *slots = ddpc_calloc(n_slots, sizeof *slots, "vocabulary");
  if (!slots) return -1;
  for (uint32_t id = 0; id < v->count; id++) {
    uint32_t at = vocab_hash(v->text[id], strlen(v->text[id])) & (n_slots - 1);
    while (slots[at]) at = (at + 1) & (n_slots - 1);
    slots[at] = id + 1;
  }
  free(v->slots);
  v->slots = slots;
  v->n_slots = n_slots;
  return 0;
}

int64_t ddpc_vocab_find(const ddpc_vocab *v, const char *s, size_t len) {
  if (!v->n_slots) return -1;
  for (uint32_t at = vocab_hash(s, len) & (v->n_slots - 1); v->slots[at]; at = (at + 1) & (v->n_slots - 1))
    if (vocab_equal(v->text[v->slots[at] - 1], s, len)) return (int64_t)v->slots[at] - 1;
  return -1;
}

int ddpc_vocab_intern(ddpc_vocab *v, const char *s, size_t len, int line, int column, uint32_t *id) {
  if (memchr(s, '\0', len)) return ddpc_error_set("a NUL byte in a text");  // texts are compared as C strings
  int64_t found = ddpc_vocab_find(v, s, len);
  if (found >= 0) {
    *id = (uint32_t)found;
    return 0;
  }
  if (v->count >= (1u << 24)) return ddpc_error_set("more than %u distinct texts in one column", 1u << 24);
  if (v->count == v->cap) {
    uint32_t cap = v->cap ? v->cap * 2 : 16;
    char **text = realloc(v->text, cap * sizeof *text);
    if (text) v->text = text;
    int *l = text ? realloc(v->line, cap * sizeof *l) : NULL;
    if (l) v->line = l;
    int *c = l ? realloc(v->column, cap * sizeof *c) : NULL;
    if (!c) return ddpc_error_set("out of memory (vocabulary)");
    v->column = c;
    v->cap = cap;
  }
  if (2 * (v->count + 1) > v->n_slots && vocab_rehash(v, v->n_slots ? 2 * v->n_slots : 32) != 0) return -1;
  char *copy = ddpc_format("%.*s", (int)len, s);
  if (!copy) return -1;
  uint32_t at = vocab_hash(s, len) & (v->n_slots - 1);
  while (v->slots[at]) at = (at + 1) & (v->n_slots - 1);
  v->slots[at] = v->count + 1;
  v->text[v->count] = copy;
  v->line[v->count] = line;
  v->column[v->count] = column;
  *id = v->count++;
  return 0;
}

void ddpc_vocab_free(ddpc_vocab *v) {
  for (uint32_t i = 0; i < v->count; i++) free(v->text[i]);
  free(v->text);
  free(v->line);
  free(v->column);
  free(v->slots);
  memset(v, 0, sizeof *v);
}

/* ---- the fitted encoding ---- */

void ddpc_tabular_free(ddpc_tabular *t) {
  if (!t) return;
  for (uint32_t c = 0; t->columns && c < t->n_columns; c++) {
    ddpc_tabular_column *col = &t->columns[c];
    for (uint32_t k = 0; col->categories && k < col->n_categories; k++) free(col->categories[k]);
    free(col->categories);
    if (!t->name_text) free(col->name);
  }
  free(t->name_text);
  free(t->columns);
  for (uint32_t k = 0; t->labels && k < t->n_labels; k++) free(t->labels[k]);
  free(t->labels);
  memset(t, 0, sizeof *t);
}

bool ddpc_tabular_is_plain(const ddpc_tabular *t) {
  if (t->n_labels) return false;
  for (uint32_t c = 0; c < t->n_columns; c++)
    if (t->columns[c].categorical || t->columns[c].missing != DDPC_MISSING_ERROR) return false;
  return true;
}

char *ddpc_tabular_input_name(const ddpc_tabular *t, uint32_t i) {
  for (uint32_t c = 0; c < t->n_columns; c++) {
    const ddpc_tabular_column *col = &t->columns[c];
    uint32_t w = col->categorical ? col->n_categories : 1;
    if (i < w) return col->categorical ? ddpc_format("%s=%s", col->name, col->categories[i]) : ddpc_strdup(col->name);
    i -= w;
  }
  return NULL;
}

static int tabular_cmp_text(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted copy of the texts v->text[ids[0..n)]. */
static char **tabular_sorted_copy(const ddpc_vocab *v, const uint32_t *ids, uint32_t n) {
  char **out = ddpc_calloc(n ? n : 1, sizeof *out, "sorted texts");
  if (!out) return NULL;
  for (uint32_t i = 0; i < n; i++)
    if (!(out[i] = ddpc_strdup(v->text[ids ? ids[i] : i]))) {
      for (uint32_t k = 0; k < i; k++) free(out[k]);
      free(out);
      return NULL;
    }
  qsort(out, n, sizeof *out, tabular_cmp_text);
  return out;
}

/* The index of s in the sorted list, or -1. */
static int64_t tabular_lookup(char *const *list, uint32_t n, const char *s) {
  char *const *hit = bsearch(&s, list, n, sizeof *list, tabular_cmp_text);
  return hit ? hit - list : -1;
}

int ddpc_tabular_fit_labels(ddpc_tabular *t, ddpc_csv_found *found, int32_t *labels, uint32_t rows) {
  if (!found->labels_are_text) return 0;
  const ddpc_vocab *v = &found->labels;
  if (!(t->labels = tabular_sorted_copy(v, NULL, v->count))) return -1;
  t->n_labels = v->count;
  int32_t *to = ddpc_malloc((v->count ? v->count : 1) * sizeof *to, "label map");
  if (!to) return -1;
  for (uint32_t id = 0; id < v->count; id++) to[id] = (int32_t)tabular_lookup(t->labels, t->n_labels, v->text[id]);
  for (uint32_t i = 0; i < rows; i++) labels[i] = to[labels[i]];
  free(to);
  return 0;
}

int ddpc_tabular_map_labels(const ddpc_tabular *t, const ddpc_csv_found *found, int32_t *labels, uint32_t rows,
                            const char *path, const char *label_column) {
  const ddpc_vocab *v = &found->labels;
  if (!found->labels_are_text) return 0;
  int32_t *to = ddpc_malloc((v->count ? v->count : 1) * sizeof *to, "label map");
  if (!to) return -1;
  for (uint32_t id = 0; id < v->count; id++) {
    int64_t k = tabular_lookup(t->labels, t->n_labels, v->text[id]);
    if (k < 0) {
      free(to);
      return ddpc_error_set("%s:%d:%d: column '%s': class '%s' is not one of the %u classes the training file holds "
                            "('%s' ... '%s')",
                            path, v->line[id], v->column[id], label_column, v->text[id], t->n_labels,
                            t->n_labels ? t->labels[0] : "", t->n_labels ? t->labels[t->n_labels - 1] : "");
    }
    to[id] = (int32_t)k;
  }
  for (uint32_t i = 0; i < rows; i++) labels[i] = to[labels[i]];
  free(to);
  return 0;
}

/* One column's fitted constants from the training rows: a categorical column's sorted
 * categories and most frequent one, a numeric column's mean (for the mean policy). */
static int tabular_fit_column(ddpc_tabular_column *col, const ddpc_table *fit, ddpc_csv_found *found, uint32_t c,
                              const uint32_t *train, uint32_t n_train) {
  uint32_t F = fit->features;
  const float *x = fit->x;
  col->categorical = found->categorical[c];
  col->missing = found->missing[c];
  col->fill = 0.0f;
  col->name = found->names[c];  // in found's name_text, which ddpc_tabular_fit takes over
  if (!col->categorical) {
    double sum = 0.0;
    uint64_t n = 0;
    for (uint32_t i = 0; i < n_train; i++) {
      float v = x[(size_t)train[i] * F + c];
      if (!isnan(v)) sum += v, n++;
    }
    col->fill = n ? (float)(sum / (double)n) : 0.0f;  // a column missing in every training row: 0
    return 0;
  }
  const ddpc_vocab *v = &found->categories[c];
  uint64_t *seen = ddpc_calloc(v->count ? v->count : 1, sizeof *seen, "category counts");
  uint32_t *ids = ddpc_malloc((v->count ? v->count : 1) * sizeof *ids, "categories");
  int rc = seen && ids ? 0 : -1;
  for (uint32_t i = 0; rc == 0 && i < n_train; i++) {
    float id = x[(size_t)train[i] * F + c];
    if (!isnan(id)) seen[(uint32_t)id]++;
  }
  uint32_t n = 0;
  for (uint32_t id = 0; rc == 0 && id < v->count; id++)
    if (seen[id]) ids[n++] = id;
  if (rc == 0 && !(col->categories = tabular_sorted_copy(v, ids, n))) rc = -1;
  if (rc == 0) {
    col->n_categories = n;
    uint64_t most = 0;  // the most frequent; a tie goes to the first in sorted order
    for (uint32_t k = 0; k < n; k++) {
      int64_t id = ddpc_vocab_find(v, col->categories[k], strlen(col->categories[k]));
      uint64_t count = id >= 0 ? seen[id] : 0;  // always found: the texts hold no NUL byte
      if (count > most) most = count, col->fill = (float)k;
    }
  }
  free(seen);
  free(ids);
  return rc;
}

int ddpc_tabular_fit(ddpc_tabular *t, const ddpc_table *fit, ddpc_csv_found *found, const uint32_t *train,
                     uint32_t n_train) {
  t->n_columns = found->columns;
  if (!(t->columns = ddpc_calloc(t->n_columns ? t->n_columns : 1, sizeof *t->columns, "tabular columns"))) return -1;
  t->name_text = found->name_text;  // the names, not copied: a million columns are a million names
  found->name_text = NULL;
  t->width = 0;
  for (uint32_t c = 0; c < t->n_columns; c++) {
    if (tabular_fit_column(&t->columns[c], fit, found, c, train, n_train) != 0) return -1;
    uint32_t w = t->columns[c].categorical ? t->columns[c].n_categories : 1;
    if (t->width > UINT32_MAX / 2 - w) return ddpc_error_set("too many model inputs after one-hot encoding");
    t->width += w;
  }
  if (t->width == 0)
    return ddpc_error_set("data.categorical: the training split holds no category of the feature columns");
  return 0;
}

int ddpc_tabular_encode(const ddpc_tabular *t, const float *raw, uint32_t rows, const ddpc_csv_found *found,
                        float **x, uint64_t *unseen) {
  uint32_t F = found->columns, W = t->width;
  *x = NULL;
  if (F != t->n_columns) return ddpc_error_set("%u columns read, the encoding has %u", F, t->n_columns);
  // Each column's texts as read -> the index in the fitted list (-1: unseen there).
  int64_t **to = ddpc_calloc(F ? F : 1, sizeof *to, "category maps");
  float *out = to ? ddpc_calloc((size_t)rows * W + 1, sizeof *out, "encoded features") : NULL;
  int rc = out ? 0 : -1;
  for (uint32_t c = 0; rc == 0 && c < F; c++) {
    const ddpc_tabular_column *col = &t->columns[c];
    if (col->categorical != found->categorical[c])
      rc = ddpc_error_set("column '%s': read as %s, the encoding has it %s", col->name,
                          found->categorical[c] ? "categorical" : "numeric", col->categorical ? "categorical" : "numeric");
    if (rc != 0 || !col->categorical) continue;
    const ddpc_vocab *v = &found->categories[c];
    if (!(to[c] = ddpc_malloc((v->count ? v->count : 1) * sizeof *to[c], "category map"))) rc = -1;
    for (uint32_t id = 0; rc == 0 && id < v->count; id++)
      to[c][id] = tabular_lookup(col->categories, col->n_categories, v->text[id]);
  }
  for (uint32_t i = 0; rc == 0 && i < rows; i++) {
    const float *src = raw + (size_t)i * F;
    float *dst = out + (size_t)i * W;
    for (uint32_t c = 0; c < F; c++) {
      const ddpc_tabular_column *col = &t->columns[c];
      float v = src[c];
      if (!col->categorical) {
        *dst++ = isnan(v) ? col->fill : v;
        continue;
      }
      int64_t k = isnan(v) ? (int64_t)col->fill : to[c][(uint32_t)v];
      if (k >= 0 && (uint64_t)k < col->n_categories)
        dst[k] = 1.0f;
      else if (unseen)
        unseen[c]++;
      dst += col->n_categories;
    }
  }
  for (uint32_t c = 0; to && c < F; c++) free(to[c]);
  free(to);
  if (rc != 0) {
    free(out);
    return -1;
  }
  *x = out;
  return 0;
}

int ddpc_tabular_encode_text(const ddpc_tabular *t, const char *const *cells, float *out, uint64_t *unseen) {
  for (uint32_t c = 0; c < t->n_columns; c++) {
    const ddpc_tabular_column *col = &t->columns[c];
    const char *text = cells[c] ? cells[c] : "";
    size_t len = strlen(text);
    bool missing = ddpc_csv_text_missing(text, len);
    if (missing && col->missing != DDPC_MISSING_MEAN)
      return ddpc_error_set("column '%s': a missing value ('%s'), and the model was trained with data.missing %s for "
                            "it (mean fills one)", col->name, text, ddpc_config_missing_names[col->missing]);
    if (!col->categorical) {
      double v = col->fill;
      if (!missing && !ddpc_csv_text_number(text, len, &v))
        return ddpc_error_set("column '%s': expected a finite number, got '%s'", col->name, text);
      *out++ = (float)v;
      continue;
    }
    int64_t k = missing ? (int64_t)col->fill : tabular_lookup(col->categories, col->n_categories, text);
    for (uint32_t i = 0; i < col->n_categories; i++) out[i] = (int64_t)i == k ? 1.0f : 0.0f;
    if ((k < 0 || (uint64_t)k >= col->n_categories) && unseen) (*unseen)++;
    out += col->n_categories;
  }
  return 0;
}

void ddpc_tabular_json_columns(ddpc_json *j, const ddpc_tabular *t) {
  for (uint32_t c = 0; c < t->n_columns; c++) {
    const ddpc_tabular_column *col = &t->columns[c];
    ddpc_json_begin_object(j, NULL);
    ddpc_json_string(j, "name", col->name);
    ddpc_json_string(j, "kind", col->categorical ? "categorical" : "numeric");
    ddpc_json_string(j, "missing", ddpc_config_missing_names[col->missing]);
    if (col->missing == DDPC_MISSING_MEAN && col->categorical && col->n_categories)
      ddpc_json_string(j, "fill", col->categories[(uint32_t)col->fill]);
    else if (col->missing == DDPC_MISSING_MEAN && !col->categorical)
      ddpc_json_number(j, "fill", col->fill);
    if (col->categorical)
      ddpc_json_string_array(j, "categories", (const char *const *)col->categories, (int)col->n_categories);
    ddpc_json_end_object(j);
  }
}
