/* The input description of a trained model (model_input.h): built from the loaded data,
 * and its checkpoint section, written and read back.
 *
 * Section layout (every integer little-endian u32, floats as their IEEE bits):
 *   magic "DDPCINPT" | version (1) | format | task | dtype | features
 *   | raw_shape h, w, c | shape h, w, c | num_classes | target_width
 *   | label_column: length, bytes (length 0: none) | name count, then per name length, bytes
 *   | scale (features floats) | shift (features floats)
 * version 2 (written only for a model trained on standardized targets) then adds
 *   | target count (= target_width) | target means (floats) | target standard deviations
 * version 3 (written only for a CSV model with text labels, categorical columns or a
 * missing-cell policy) adds instead
 *   | parts (bit 0: the target constants follow, as in version 2; bit 1: the encoding)
 *   | [target constants] | [encoding: column count, per column its name, categorical (0/1),
 *     missing policy (0 error, 1 drop_rows, 2 mean), fill (float), category count and the
 *     categories (sorted); then the label count and the labels (sorted)]
 * Nothing follows. The reader trusts no count: each is checked against the bytes left.
 * Version 1 sections (every other model, and every checkpoint of an older ddpc) read as
 * before: no target constants. */
#include "core/model_input.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/config_tree.h"  // ddpc_config_missing_names
#include "core/data_tabular.h"
#include "core/error.h"

#define MODEL_INPUT_MAGIC "DDPCINPT"
#define MODEL_INPUT_VERSION 1u          // without target constants
#define MODEL_INPUT_VERSION_TARGETS 2u  // with them
#define MODEL_INPUT_VERSION_PARTS 3u    // parts flagged: target constants, column encoding
#define MODEL_INPUT_PART_TARGETS 1u
#define MODEL_INPUT_PART_TABULAR 2u

int ddpc_model_input_from_data(const ddpc_config *cfg, const ddpc_dataset *ds, ddpc_model_input *out) {
  memset(out, 0, sizeof *out);
  const ddpc_data_config *dc = &cfg->data;
  uint32_t F = ds->fit.features;
  out->format = dc->format;
  out->task = dc->task;
  out->dtype = ds->fit.dtype;
  out->features = F;
  out->shape = ds->shape;
  out->num_classes = dc->task == DDPC_TASK_CLASSIFICATION ? ds->num_classes : 0;
  out->target_width = dc->task == DDPC_TASK_REGRESSION ? ds->target_width : 0;
  out->scale = ddpc_malloc(2 * (size_t)F * sizeof(float), "model input constants");
  if (!out->scale) return -1;
  out->shift = out->scale + F;
  memcpy(out->scale, ds->scale, F * sizeof(float));
  memcpy(out->shift, ds->shift, F * sizeof(float));
  if (dc->task == DDPC_TASK_REGRESSION && ds->target_standardized) {
    uint32_t W = ds->target_width;
    if (!(out->target_mean = ddpc_malloc(2 * (size_t)W * sizeof(float), "target constants"))) {
      ddpc_model_input_free(out);
      return -1;
    }
    out->target_std = out->target_mean + W;
    memcpy(out->target_mean, ds->target_mean, W * sizeof(float));
    memcpy(out->target_std, ds->target_std, W * sizeof(float));
  }
  int rc = 0;
  if (dc->format == DDPC_DATA_FORMAT_IDX) {
    rc = ddpc_idx_read_image_shape(dc->train.images, &out->raw_shape, NULL);
    if (rc == 0 && ddpc_shape_size(out->raw_shape) != F)
      rc = ddpc_error_set("%s: images of %dx%d, but the loaded data has %u values per sample (the file changed?)",
                          dc->train.images, out->raw_shape.h, out->raw_shape.w, F);
  } else if (ds->tabular) {
    // The encoding names every input; a copy (through its bytes) travels when it changes anything.
    out->raw_shape = ddpc_shape_vector((int)F);
    out->label_column = ddpc_strdup(dc->label_column);
    out->feature_names = ddpc_calloc(F, sizeof *out->feature_names, "feature names");
    rc = out->label_column && out->feature_names ? 0 : -1;
    for (uint32_t i = 0; rc == 0 && i < F; i++)
      if (!(out->feature_names[i] = ddpc_tabular_input_name(ds->tabular, i))) rc = -1;
    if (rc == 0 && ds->tabular->width != F)
      rc = ddpc_error_set("%s: the encoding has %u inputs, the loaded data %u", dc->train.path, ds->tabular->width, F);
    if (rc == 0 && !ddpc_tabular_is_plain(ds->tabular)) {
      unsigned char *bytes = NULL;
      size_t n = 0, used = 0;
      rc = ddpc_tabular_write(ds->tabular, &bytes, &n);
      if (rc == 0 && !(out->tabular = ddpc_calloc(1, sizeof *out->tabular, "tabular encoding"))) rc = -1;
      if (rc == 0) rc = ddpc_tabular_read(bytes, n, dc->train.path, out->tabular, &used);
      free(bytes);
    }
  } else {
    out->raw_shape = ddpc_shape_vector((int)F);
    uint32_t n = 0;
    out->label_column = ddpc_strdup(dc->label_column);
    rc = out->label_column ? ddpc_csv_read_header(dc->train.path, dc->label_column, &out->feature_names, &n) : -1;
    if (rc == 0 && n != F)
      rc = ddpc_error_set("%s: the header has %u feature columns, the loaded data %u (the file changed?)",
                          dc->train.path, n, F);
  }
  if (rc != 0) ddpc_model_input_free(out);
  return rc;
}

void ddpc_model_input_free(ddpc_model_input *in) {
  if (!in) return;
  if (in->feature_names)
    for (uint32_t i = 0; i < in->features; i++) free(in->feature_names[i]);
  free(in->feature_names);
  free(in->label_column);
  free(in->scale);        // shift lives in the same allocation
  free(in->target_mean);  // and target_std in this one
  ddpc_tabular_free(in->tabular);
  free(in->tabular);
  memset(in, 0, sizeof *in);
}

void ddpc_model_input_print(const ddpc_model_input *in, FILE *out) {
  bool csv = in->format == DDPC_DATA_FORMAT_CSV;
  fprintf(out, "input: %s %s, %u raw %s values per sample", csv ? "csv" : "idx",
          in->task == DDPC_TASK_CLASSIFICATION ? "classification" : "regression", in->features,
          in->dtype == DDPC_DTYPE_U8 ? "uint8" : "float32");
  if (!csv) fprintf(out, " (images %dx%d)", in->raw_shape.h, in->raw_shape.w);
  fprintf(out, ", prepared shape (%d, %d, %d)\n", in->shape.h, in->shape.w, in->shape.c);
  const ddpc_tabular *t = in->tabular;
  if (in->task == DDPC_TASK_CLASSIFICATION && t && t->n_labels) {
    fprintf(out, "  classes: %d, text labels (sorted; class k is the k-th):", in->num_classes);
    for (uint32_t k = 0; k < t->n_labels; k++) fprintf(out, "%s %s", k ? "," : "", t->labels[k]);
    fputc('\n', out);
  } else if (in->task == DDPC_TASK_CLASSIFICATION) {
    fprintf(out, "  classes: %d (labels 0 to %d)\n", in->num_classes, in->num_classes - 1);
  } else {
    fprintf(out, "  targets: %u\n", in->target_width);
  }
  if (in->label_column) fprintf(out, "  label column: %s\n", in->label_column);
  for (uint32_t c = 0; t && c < t->n_columns; c++) {
    const ddpc_tabular_column *col = &t->columns[c];
    fprintf(out, "  column %s: %s, missing %s", col->name, col->categorical ? "categorical" : "numeric",
            ddpc_config_missing_names[col->missing]);
    if (col->missing == DDPC_MISSING_MEAN && !col->categorical) fprintf(out, " (fill %.9g)", (double)col->fill);
    if (col->missing == DDPC_MISSING_MEAN && col->categorical && col->n_categories)
      fprintf(out, " (fill %s)", col->categories[(uint32_t)col->fill]);
    if (col->categorical) {
      fprintf(out, "; categories (%u):", col->n_categories);
      for (uint32_t k = 0; k < col->n_categories; k++) fprintf(out, "%s %s", k ? "," : "", col->categories[k]);
    }
    fputc('\n', out);
  }
  if (in->feature_names) {
    fputs(t ? "  model inputs:" : "  feature columns:", out);
    for (uint32_t f = 0; f < in->features; f++) fprintf(out, "%s %s", f ? "," : "", in->feature_names[f]);
    fputc('\n', out);
  }
  float lo = in->scale[0], hi = in->scale[0], slo = in->shift[0], shi = in->shift[0];
  for (uint32_t f = 1; f < in->features; f++) {
    lo = in->scale[f] < lo ? in->scale[f] : lo, hi = in->scale[f] > hi ? in->scale[f] : hi;
    slo = in->shift[f] < slo ? in->shift[f] : slo, shi = in->shift[f] > shi ? in->shift[f] : shi;
  }
  fprintf(out, "  preprocessing: prepared = raw * scale + shift, scale in [%.6g, %.6g], shift in [%.6g, %.6g]\n",
          (double)lo, (double)hi, (double)slo, (double)shi);
  if (in->target_mean)
    fprintf(out, "  target: standardized in training; target = output * %.9g + %.9g\n", (double)in->target_std[0],
            (double)in->target_mean[0]);
}

/* ---- writing ---- */

typedef struct {
  unsigned char *p;  // buffer (NULL while measuring)
  size_t at;         // bytes written (or measured)
} input_writer;

static void put_u32(input_writer *w, uint32_t v) {
  if (w->p) ddpc_put_u32(w->p + w->at, v);
  w->at += 4;
}
static void put_int(input_writer *w, int v) { put_u32(w, (uint32_t)v); }
static void put_bytes(input_writer *w, const void *b, size_t n) {
  if (w->p && n) memcpy(w->p + w->at, b, n);
  w->at += n;
}
static void put_string(input_writer *w, const char *s) {
  size_t n = s ? strlen(s) : 0;
  put_u32(w, (uint32_t)n);
  put_bytes(w, s, n);
}
static void put_floats(input_writer *w, const float *f, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, &f[i], 4);
    put_u32(w, bits);
  }
}
static void put_shape(input_writer *w, ddpc_shape s) {
  put_int(w, s.h);
  put_int(w, s.w);
  put_int(w, s.c);
}

static void tabular_put(input_writer *w, const ddpc_tabular *t) {
  put_u32(w, t->n_columns);
  for (uint32_t c = 0; c < t->n_columns; c++) {
    const ddpc_tabular_column *col = &t->columns[c];
    put_string(w, col->name);
    put_u32(w, col->categorical ? 1 : 0);
    put_u32(w, (uint32_t)col->missing);
    put_floats(w, &col->fill, 1);
    put_u32(w, col->n_categories);
    for (uint32_t k = 0; k < col->n_categories; k++) put_string(w, col->categories[k]);
  }
  put_u32(w, t->n_labels);
  for (uint32_t k = 0; k < t->n_labels; k++) put_string(w, t->labels[k]);
}

int ddpc_tabular_write(const ddpc_tabular *t, unsigned char **bytes, size_t *n_bytes) {
  input_writer w = {NULL, 0};
  tabular_put(&w, t);  // measure first
  unsigned char *buf = ddpc_malloc(w.at, "column encoding");
  if (!buf) return -1;
  *n_bytes = w.at;
  w = (input_writer){buf, 0};
  tabular_put(&w, t);
  *bytes = buf;
  return 0;
}

static void input_write(input_writer *w, const ddpc_model_input *in) {
  put_bytes(w, MODEL_INPUT_MAGIC, 8);
  put_u32(w, in->tabular ? MODEL_INPUT_VERSION_PARTS
                         : in->target_mean ? MODEL_INPUT_VERSION_TARGETS : MODEL_INPUT_VERSION);
  put_u32(w, (uint32_t)in->format);
  put_u32(w, (uint32_t)in->task);
  put_u32(w, (uint32_t)in->dtype);
  put_u32(w, in->features);
  put_shape(w, in->raw_shape);
  put_shape(w, in->shape);
  put_int(w, in->num_classes);
  put_u32(w, in->target_width);
  put_string(w, in->label_column);
  put_u32(w, in->feature_names ? in->features : 0);
  for (uint32_t i = 0; in->feature_names && i < in->features; i++) put_string(w, in->feature_names[i]);
  put_floats(w, in->scale, in->features);
  put_floats(w, in->shift, in->features);
  if (in->tabular)
    put_u32(w, (in->target_mean ? MODEL_INPUT_PART_TARGETS : 0u) | MODEL_INPUT_PART_TABULAR);
  if (in->target_mean) {
    put_u32(w, in->target_width);
    put_floats(w, in->target_mean, in->target_width);
    put_floats(w, in->target_std, in->target_width);
  }
  if (in->tabular) tabular_put(w, in->tabular);
}

int ddpc_model_input_encode(const ddpc_model_input *in, unsigned char **bytes, size_t *n_bytes) {
  input_writer w = {NULL, 0};
  input_write(&w, in);  // measure first
  unsigned char *buf = ddpc_malloc(w.at, "model input section");
  if (!buf) return -1;
  *n_bytes = w.at;
  w = (input_writer){buf, 0};
  input_write(&w, in);
  *bytes = buf;
  return 0;
}

/* ---- reading ---- */

typedef struct {
  const unsigned char *p;  // the section
  size_t size;             // its bytes
  size_t at;               // read so far
  const char *what;        // for messages
  bool failed;             // an error is recorded; later reads return zeros
} input_reader;

static bool need(input_reader *r, size_t n, const char *field) {
  if (r->failed) return false;
  if (r->size - r->at < n) {
    ddpc_error_set("%s: section 'input' at byte %zu: truncated in %s (%zu bytes needed, %zu left)", r->what, r->at,
                   field, n, r->size - r->at);
    r->failed = true;
    return false;
  }
  return true;
}
static uint32_t get_u32(input_reader *r, const char *field) {
  if (!need(r, 4, field)) return 0;
  uint32_t v = ddpc_get_u32(r->p + r->at);
  r->at += 4;
  return v;
}
static bool bad(input_reader *r, size_t at, const char *fmt_field, long long value, const char *expected) {
  if (!r->failed)
    ddpc_error_set("%s: section 'input' at byte %zu: %s is %lld, expected %s", r->what, at, fmt_field, value, expected);
  r->failed = true;
  return false;
}
/* A u32 in [lo, hi]. */
static int get_ranged(input_reader *r, const char *field, uint32_t lo, uint32_t hi) {
  size_t at = r->at;
  uint32_t v = get_u32(r, field);
  if (!r->failed && (v < lo || v > hi)) {
    char range[64];
    snprintf(range, sizeof range, "%u to %u", lo, hi);
    bad(r, at, field, (long long)v, range);
  }
  return (int)v;
}
static char *get_string(input_reader *r, const char *field) {
  uint32_t n = get_u32(r, field);
  if (!need(r, n, field)) return NULL;
  if (memchr(r->p + r->at, '\0', n)) {  // a name is text: a NUL would cut it short unnoticed
    bad(r, r->at, field, (long long)n, "text without NUL bytes of that length");
    return NULL;
  }
  char *s = ddpc_format("%.*s", (int)n, (const char *)r->p + r->at);
  r->at += n;
  if (!s) r->failed = true;
  return s;
}
static ddpc_shape get_shape(input_reader *r, const char *field) {
  ddpc_shape s;
  s.h = get_ranged(r, field, 1, INT32_MAX);
  s.w = get_ranged(r, field, 1, INT32_MAX);
  s.c = get_ranged(r, field, 1, INT32_MAX);
  return s;
}
static void get_floats(input_reader *r, float *out, uint32_t n, const char *field) {
  if (!need(r, (size_t)n * 4, field)) return;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t bits = ddpc_get_u32(r->p + r->at + 4 * (size_t)i);
    memcpy(&out[i], &bits, 4);
  }
  r->at += (size_t)n * 4;
}

/* Version 2: a regression model's target means and standard deviations, one per target. */
static void get_target_constants(input_reader *r, ddpc_model_input *out) {
  size_t at = r->at;
  uint32_t n = get_u32(r, "the target count");
  if (r->failed) return;
  if (out->task != DDPC_TASK_REGRESSION || n != out->target_width) {
    bad(r, at, "the target count", n, "the target width of a regression model");
    return;
  }
  if (!need(r, (size_t)n * 8, "the target constants")) return;
  if (!(out->target_mean = ddpc_malloc(2 * (size_t)n * sizeof(float), "target constants"))) {
    r->failed = true;
    return;
  }
  out->target_std = out->target_mean + n;
  get_floats(r, out->target_mean, n, "the target means");
  get_floats(r, out->target_std, n, "the target standard deviations");
}

/* A list of n texts in strictly ascending strcmp order (so lookups can bisect). */
static char **get_sorted_strings(input_reader *r, uint32_t n, const char *field) {
  if (r->failed) return NULL;
  if (n > (r->size - r->at) / 4) {  // each text takes at least its length
    bad(r, r->at - 4, field, n, "a count the section can hold");
    return NULL;
  }
  char **list = ddpc_calloc(n ? n : 1, sizeof *list, field);
  if (!list) {
    r->failed = true;
    return NULL;
  }
  for (uint32_t k = 0; k < n && !r->failed; k++) {
    size_t at = r->at;
    list[k] = get_string(r, field);
    if (!r->failed && k > 0 && strcmp(list[k - 1], list[k]) >= 0)
      bad(r, at, field, k, "texts in strictly ascending order");
  }
  return list;
}

static void tabular_get(input_reader *r, ddpc_tabular *t) {
  size_t at = r->at;
  uint32_t n = get_u32(r, "the column count");
  if (!r->failed && (n == 0 || n > (r->size - r->at) / 20)) {  // a column takes at least 20 bytes
    bad(r, at, "the column count", n, "at least 1 and at most what the section holds");
    return;
  }
  if (r->failed || !(t->columns = ddpc_calloc(n, sizeof *t->columns, "tabular columns"))) {
    r->failed = true;
    return;
  }
  t->n_columns = n;
  for (uint32_t c = 0; c < n && !r->failed; c++) {
    ddpc_tabular_column *col = &t->columns[c];
    col->name = get_string(r, "a column name");
    col->categorical = get_ranged(r, "a column's kind", 0, 1) == 1;
    col->missing = (ddpc_missing_policy)get_ranged(r, "a column's missing policy", 0, 2);
    at = r->at;
    get_floats(r, &col->fill, 1, "a column's fill");
    if (!r->failed && !isfinite(col->fill)) bad(r, at, "a column's fill", 0, "a finite number");
    col->n_categories = get_u32(r, "a category count");
    if (!r->failed && !col->categorical && col->n_categories) {
      bad(r, r->at - 4, "a category count", col->n_categories, "0 for a numeric column");
      col->n_categories = 0;
    }
    if (!r->failed) col->categories = get_sorted_strings(r, col->n_categories, "a category");
    if (!r->failed && col->categorical && col->n_categories && !(col->fill >= 0 && col->fill < col->n_categories))
      bad(r, at, "a categorical column's fill", (long long)fmax(-1e15, fmin(1e15, col->fill)),  // finite here
          "the index of one of its categories");
    uint32_t w = col->categorical ? col->n_categories : 1;
    if (!r->failed && t->width > UINT32_MAX / 2 - w) bad(r, at, "a category count", w, "fewer inputs in all");
    t->width += w;
  }
  t->n_labels = get_u32(r, "the label count");
  if (!r->failed) t->labels = get_sorted_strings(r, t->n_labels, "a class label");
  if (r->failed) t->n_labels = t->labels ? t->n_labels : 0;
}

int ddpc_tabular_read(const unsigned char *bytes, size_t n_bytes, const char *what, ddpc_tabular *out, size_t *used) {
  memset(out, 0, sizeof *out);
  input_reader r = {bytes, n_bytes, 0, what, false};
  tabular_get(&r, out);
  if (r.failed) {
    ddpc_tabular_free(out);
    return -1;
  }
  *used = r.at;
  return 0;
}

/* Version 3's parts: the target constants and the column encoding, each when flagged. */
static void get_parts(input_reader *r, ddpc_model_input *out) {
  size_t at = r->at;
  uint32_t parts = (uint32_t)get_ranged(r, "the parts", 0, MODEL_INPUT_PART_TARGETS | MODEL_INPUT_PART_TABULAR);
  if (!r->failed && (parts & MODEL_INPUT_PART_TARGETS)) get_target_constants(r, out);
  if (r->failed) return;
  if (!(parts & MODEL_INPUT_PART_TABULAR)) {  // version 2 says "target constants only"
    bad(r, at, "the parts", parts, "the column encoding (bit 1) in a version 3 section");
    return;
  }
  if (out->format != DDPC_DATA_FORMAT_CSV) {
    bad(r, at, "the parts", parts, "no column encoding for an IDX model");
    return;
  }
  if (!(out->tabular = ddpc_calloc(1, sizeof *out->tabular, "tabular encoding"))) {
    r->failed = true;
    return;
  }
  at = r->at;
  tabular_get(r, out->tabular);
  if (r->failed) return;
  if (out->tabular->width != out->features)
    bad(r, at, "the encoding's input count", out->tabular->width, "the feature count");
  else if (out->tabular->n_labels &&
           (out->task != DDPC_TASK_CLASSIFICATION || (int)out->tabular->n_labels != out->num_classes))
    bad(r, at, "the label count", out->tabular->n_labels, "the class count of a classification model");
  // The inputs' names are the encoding's ("color=red"): a section where they differ was not
  // written by ddpc, and its columns could not be trusted to mean the inputs.
  for (uint32_t i = 0; !r->failed && out->feature_names && i < out->features; i++) {
    char *name = ddpc_tabular_input_name(out->tabular, i);
    if (!name) r->failed = true;
    else if (strcmp(name, out->feature_names[i]) != 0) bad(r, at, "the encoding of feature", i, "its feature name");
    free(name);
  }
}

char *ddpc_model_input_class_name(const ddpc_model_input *in, int k) {
  if (in->tabular && in->tabular->n_labels && k >= 0 && (uint32_t)k < in->tabular->n_labels)
    return ddpc_strdup(in->tabular->labels[k]);
  return ddpc_format("%d", k);
}

int ddpc_model_input_decode(const unsigned char *bytes, size_t n_bytes, const char *what, ddpc_model_input *out) {
  memset(out, 0, sizeof *out);
  input_reader r = {bytes, n_bytes, 0, what, false};
  if (!need(&r, 8, "the magic")) return -1;
  if (memcmp(bytes, MODEL_INPUT_MAGIC, 8) != 0)
    return ddpc_error_set("%s: section 'input' at byte 0: wrong magic (expected \"%s\")", what, MODEL_INPUT_MAGIC);
  r.at = 8;
  size_t at = r.at;
  uint32_t version = get_u32(&r, "the version");
  if (!r.failed && version != MODEL_INPUT_VERSION && version != MODEL_INPUT_VERSION_TARGETS &&
      version != MODEL_INPUT_VERSION_PARTS)
    return ddpc_error_set("%s: section 'input' at byte %zu: version %u, this ddpc reads versions %u to %u (a newer "
                          "ddpc wrote it)", what, at, version, MODEL_INPUT_VERSION, MODEL_INPUT_VERSION_PARTS);
  out->format = (ddpc_data_format)get_ranged(&r, "the format", DDPC_DATA_FORMAT_IDX, DDPC_DATA_FORMAT_CSV);
  out->task = (ddpc_task)get_ranged(&r, "the task", DDPC_TASK_CLASSIFICATION, DDPC_TASK_REGRESSION);
  out->dtype = (ddpc_dtype)get_ranged(&r, "the dtype", DDPC_DTYPE_U8, DDPC_DTYPE_F32);
  at = r.at;
  out->features = get_u32(&r, "the feature count");
  // Two float arrays of that length must still fit in what is left.
  if (!r.failed && (out->features == 0 || out->features > (r.size - r.at) / 8))
    bad(&r, at, "the feature count", out->features, "at least 1 and at most what the section holds");
  out->raw_shape = get_shape(&r, "the raw shape");
  out->shape = get_shape(&r, "the shape");
  if (!r.failed && (ddpc_shape_size(out->raw_shape) != out->features || ddpc_shape_size(out->shape) != out->features))
    bad(&r, at, "the feature count", out->features, "the size of the raw and prepared shapes");
  out->num_classes = get_ranged(&r, "the class count", 0, INT32_MAX);
  out->target_width = (uint32_t)get_ranged(&r, "the target width", 0, INT32_MAX);
  if (!r.failed && (out->task == DDPC_TASK_CLASSIFICATION ? out->num_classes < 1 : out->target_width < 1))
    bad(&r, at, out->task == DDPC_TASK_CLASSIFICATION ? "the class count" : "the target width", 0, "at least 1");
  char *label = get_string(&r, "the label column");
  if (label && *label) out->label_column = label;
  else free(label);
  at = r.at;
  uint32_t n_names = get_u32(&r, "the name count");
  if (!r.failed && n_names != 0 && n_names != out->features)
    bad(&r, at, "the name count", n_names, "0 or the feature count");
  if (!r.failed && n_names) {
    out->feature_names = ddpc_calloc(n_names, sizeof *out->feature_names, "feature names");
    if (!out->feature_names) r.failed = true;
    for (uint32_t i = 0; i < n_names && !r.failed; i++) out->feature_names[i] = get_string(&r, "a feature name");
  }
  if (!r.failed) {
    out->scale = ddpc_malloc(2 * (size_t)out->features * sizeof(float), "model input constants");
    if (!out->scale) r.failed = true;
    else out->shift = out->scale + out->features;
  }
  if (!r.failed) get_floats(&r, out->scale, out->features, "the scale");
  if (!r.failed) get_floats(&r, out->shift, out->features, "the shift");
  if (!r.failed && version == MODEL_INPUT_VERSION_TARGETS) get_target_constants(&r, out);
  if (!r.failed && version == MODEL_INPUT_VERSION_PARTS) get_parts(&r, out);
  if (!r.failed && r.at != r.size)
    bad(&r, r.at, "the section's length", (long long)r.size,
        version == MODEL_INPUT_VERSION_TARGETS ? "no bytes after the target constants"
        : version == MODEL_INPUT_VERSION_PARTS ? "no bytes after the parts"
                                               : "no bytes after the shift");
  if (r.failed) {
    ddpc_model_input_free(out);
    return -1;
  }
  return 0;
}
