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
 * Nothing follows. The reader trusts no count: each is checked against the bytes left.
 * Version 1 sections (every other model, and every checkpoint of an older ddpc) read as
 * before: no target constants. */
#include "core/model_input.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"

#define MODEL_INPUT_MAGIC "DDPCINPT"
#define MODEL_INPUT_VERSION 1u          // without target constants
#define MODEL_INPUT_VERSION_TARGETS 2u  // with them

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
  memset(in, 0, sizeof *in);
}

void ddpc_model_input_print(const ddpc_model_input *in, FILE *out) {
  bool csv = in->format == DDPC_DATA_FORMAT_CSV;
  fprintf(out, "input: %s %s, %u raw %s values per sample", csv ? "csv" : "idx",
          in->task == DDPC_TASK_CLASSIFICATION ? "classification" : "regression", in->features,
          in->dtype == DDPC_DTYPE_U8 ? "uint8" : "float32");
  if (!csv) fprintf(out, " (images %dx%d)", in->raw_shape.h, in->raw_shape.w);
  fprintf(out, ", prepared shape (%d, %d, %d)\n", in->shape.h, in->shape.w, in->shape.c);
  if (in->task == DDPC_TASK_CLASSIFICATION) fprintf(out, "  classes: %d (labels 0 to %d)\n", in->num_classes,
                                                    in->num_classes - 1);
  else fprintf(out, "  targets: %u\n", in->target_width);
  if (in->label_column) fprintf(out, "  label column: %s\n", in->label_column);
  if (in->feature_names) {
    fputs("  feature columns:", out);
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

static void input_write(input_writer *w, const ddpc_model_input *in) {
  put_bytes(w, MODEL_INPUT_MAGIC, 8);
  put_u32(w, in->target_mean ? MODEL_INPUT_VERSION_TARGETS : MODEL_INPUT_VERSION);
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
  if (!in->target_mean) return;
  put_u32(w, in->target_width);
  put_floats(w, in->target_mean, in->target_width);
  put_floats(w, in->target_std, in->target_width);
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

int ddpc_model_input_decode(const unsigned char *bytes, size_t n_bytes, const char *what, ddpc_model_input *out) {
  memset(out, 0, sizeof *out);
  input_reader r = {bytes, n_bytes, 0, what, false};
  if (!need(&r, 8, "the magic")) return -1;
  if (memcmp(bytes, MODEL_INPUT_MAGIC, 8) != 0)
    return ddpc_error_set("%s: section 'input' at byte 0: wrong magic (expected \"%s\")", what, MODEL_INPUT_MAGIC);
  r.at = 8;
  size_t at = r.at;
  uint32_t version = get_u32(&r, "the version");
  if (!r.failed && version != MODEL_INPUT_VERSION && version != MODEL_INPUT_VERSION_TARGETS)
    return ddpc_error_set("%s: section 'input' at byte %zu: version %u, this ddpc reads versions %u and %u (a newer "
                          "ddpc wrote it)", what, at, version, MODEL_INPUT_VERSION, MODEL_INPUT_VERSION_TARGETS);
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
  if (!r.failed && r.at != r.size)
    bad(&r, r.at, "the section's length", (long long)r.size,
        version == MODEL_INPUT_VERSION_TARGETS ? "no bytes after the target constants" : "no bytes after the shift");
  if (r.failed) {
    ddpc_model_input_free(out);
    return -1;
  }
  return 0;
}
