/* The safetensors export (export.h): the format of the safetensors library, which
 * safetensors.torch.load_file reads into a state_dict. An 8-byte little-endian header length
 * N, N bytes of JSON header (padded with spaces so the data starts 8-byte aligned), then the
 * tensors' raw little-endian bytes packed in state_dict order. The header maps each name to
 * {"dtype":"F32","shape":[...],"data_offsets":[begin,end]} (offsets from the data's start)
 * and "__metadata__" to string values only: everything needed to rebuild the nn.Sequential
 * and its input without ddpc (structured values are JSON text; docs/export.md lists them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/config_tree.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "export/export.h"

/* What the metadata writers read: the model and which of its layers take images. */
typedef struct {
  const ddpc_predictor *p;  // the model, its config and input description
  const bool *image_in;     // per layer: takes (N, C, H, W) in PyTorch (ddpc_export_layer_images)
} st_model;

typedef void (*st_value_fn)(ddpc_json *j, const st_model *m);

static void st_shape_hwc(ddpc_json *j, ddpc_shape s) {
  ddpc_json_int(j, NULL, s.h);
  ddpc_json_int(j, NULL, s.w);
  ddpc_json_int(j, NULL, s.c);
}
static void st_raw_shape(ddpc_json *j, const st_model *m) { st_shape_hwc(j, m->p->input.raw_shape); }
static void st_prepared_shape(ddpc_json *j, const st_model *m) { st_shape_hwc(j, m->p->input.shape); }

/* Per sample, the tensor nn.Sequential takes: [features], or an image channels-first. */
static void st_input_shape(ddpc_json *j, const st_model *m) {
  ddpc_shape s = m->p->input.shape;
  if (s.h == 1 && s.w == 1) {
    ddpc_json_int(j, NULL, s.c);
    return;
  }
  ddpc_json_int(j, NULL, s.c);
  ddpc_json_int(j, NULL, s.h);
  ddpc_json_int(j, NULL, s.w);
}

static void st_floats(ddpc_json *j, const float *v, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) ddpc_json_number(j, NULL, v[i]);
}
static void st_scale(ddpc_json *j, const st_model *m) { st_floats(j, m->p->input.scale, m->p->input.features); }
static void st_shift(ddpc_json *j, const st_model *m) { st_floats(j, m->p->input.shift, m->p->input.features); }

static void st_classes(ddpc_json *j, const st_model *m) {
  for (int k = 0; k < m->p->input.num_classes; k++) ddpc_json_int(j, NULL, k);
}

static void st_feature_names(ddpc_json *j, const st_model *m) {
  for (uint32_t i = 0; i < m->p->input.features; i++) ddpc_json_string(j, NULL, m->p->input.feature_names[i]);
}

/* The config's preprocess steps as its YAML writes them, one object each. */
static void st_preprocess(ddpc_json *j, const st_model *m) {
  const ddpc_data_config *dc = &m->p->cfg.data;
  static const char *const ops[] = {"scale", "standardize", "flatten", "reshape"};  // ddpc_prep_kind order
  for (int i = 0; i < dc->n_prep; i++) {
    const ddpc_prep_step *s = &dc->prep[i];
    ddpc_json_begin_object(j, NULL);
    ddpc_json_string(j, "op", ops[s->kind]);
    if (s->kind == DDPC_PREP_SCALE && s->divide != 0) ddpc_json_number(j, "divide", s->divide);
    else if (s->kind == DDPC_PREP_SCALE) ddpc_json_number(j, "multiply", s->multiply);
    if (s->kind == DDPC_PREP_STANDARDIZE) ddpc_json_string(j, "mode", ddpc_config_standardize_names[s->standardize]);
    if (s->kind == DDPC_PREP_RESHAPE) {
      ddpc_json_begin_array(j, "shape");
      st_shape_hwc(j, s->shape);
      ddpc_json_end_array(j);
    }
    ddpc_json_end_object(j);
  }
}

/* One constructor per layer, {"type": a torch.nn class (or docs/export.md's FlattenLinear,
 * ChannelLayerNorm), its keyword arguments...}: the nn.Sequential whose state_dict the
 * tensors are. A model whose output is an image ends with one more module, without
 * parameters: ChannelsLastFlatten, so that its outputs come in ddpc's order. */
static void st_modules(ddpc_json *j, const st_model *m) {
  const ddpc_model *model = m->p->model;
  for (int i = 0; i < ddpc_model_layer_count(model); i++) {
    const ddpc_layer *l = ddpc_model_layer(model, i);
    const ddpc_layer_spec *s = &l->spec;
    ddpc_json_begin_object(j, NULL);
    switch (s->kind) {
      case DDPC_LAYER_LINEAR:
        ddpc_json_string(j, "type", m->image_in[i] ? "FlattenLinear" : "Linear");
        ddpc_json_int(j, "in_features", (int64_t)ddpc_shape_size(l->in));
        ddpc_json_int(j, "out_features", s->units);
        ddpc_json_bool(j, "bias", s->bias);
        break;
      case DDPC_LAYER_CONV2D:
        ddpc_json_string(j, "type", "Conv2d");
        ddpc_json_int(j, "in_channels", l->in.c);
        ddpc_json_int(j, "out_channels", s->filters);
        ddpc_json_int(j, "kernel_size", s->kernel);
        ddpc_json_int(j, "stride", s->stride);
        ddpc_json_int(j, "padding", s->padding);
        ddpc_json_bool(j, "bias", s->bias);
        break;
      case DDPC_LAYER_MAXPOOL2D:
        ddpc_json_string(j, "type", "MaxPool2d");
        ddpc_json_int(j, "kernel_size", s->kernel);
        ddpc_json_int(j, "stride", s->stride == 0 ? s->kernel : s->stride);
        break;
      case DDPC_LAYER_RELU:
        ddpc_json_string(j, "type", "ReLU");
        break;
      case DDPC_LAYER_GELU:  // ddpc's is the exact erf form, nn.GELU's default
        ddpc_json_string(j, "type", "GELU");
        break;
      case DDPC_LAYER_TANH:
        ddpc_json_string(j, "type", "Tanh");
        break;
      case DDPC_LAYER_DROPOUT:
        ddpc_json_string(j, "type", "Dropout");
        ddpc_json_number(j, "p", s->p);
        break;
      case DDPC_LAYER_FLATTEN:
        ddpc_json_string(j, "type", "Flatten");
        break;
      case DDPC_LAYER_LAYERNORM:
        ddpc_json_string(j, "type", m->image_in[i] ? "ChannelLayerNorm" : "LayerNorm");
        ddpc_json_int(j, "normalized_shape", l->in.c);
        ddpc_json_number(j, "eps", s->eps);
        break;
      case DDPC_LAYER_COUNT:
        break;
    }
    ddpc_json_end_object(j);
  }
  if (m->image_in[ddpc_model_layer_count(model)]) {  // outputs in ddpc's order, not nn's (C, H, W)
    ddpc_json_begin_object(j, NULL);
    ddpc_json_string(j, "type", "ChannelsLastFlatten");
    ddpc_json_end_object(j);
  }
}

static void st_checkpoint(ddpc_json *j, const st_model *m) {
  const ddpc_predictor *p = m->p;
  ddpc_json_string(j, "path", p->checkpoint_path);
  ddpc_json_int(j, "epoch", p->meta.epoch);
  ddpc_json_int(j, "step", p->meta.step);
  ddpc_json_bool(j, "best", p->is_best);
}

/* The text `write` makes, as a JSON array (or object) of its own; NULL when out of memory. */
static char *st_json_text(bool array, st_value_fn write, const st_model *m) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  ddpc_json j;
  if (array) ddpc_json_begin_top_array(&j, f);
  else ddpc_json_begin(&j, f);
  write(&j, m);
  ddpc_json_end(&j);
  bool failed = ferror(f) != 0;
  if (fclose(f) != 0 || failed) {
    free(text);
    return NULL;
  }
  return text;
}

/* Adds the metadata value `key` made by `write`; false when out of memory. */
static bool st_meta_json(ddpc_json *h, const char *key, bool array, st_value_fn write, const st_model *m) {
  char *text = st_json_text(array, write, m);
  if (text) ddpc_json_string(h, key, text);
  free(text);
  return text != NULL;
}

/* The resolved config's model section (its "model:" line to the next top-level key), the
 * YAML the run's config.yaml has; NULL when out of memory. */
static char *st_model_yaml(const char *yaml) {
  const char *at = yaml;
  while (at && strncmp(at, "model:", 6) != 0) {
    at = strchr(at, '\n');
    if (at) at++;
  }
  if (!at) return ddpc_strdup("");
  const char *end = strchr(at, '\n');
  while (end && (end[1] == ' ' || end[1] == '-')) end = strchr(end + 1, '\n');
  size_t n = end ? (size_t)(end + 1 - at) : strlen(at);
  char *out = ddpc_malloc(n + 1, "model section");
  if (out) {
    memcpy(out, at, n);
    out[n] = '\0';
  }
  return out;
}

static bool st_metadata(ddpc_json *h, const st_model *m) {
  const ddpc_predictor *p = m->p;
  const ddpc_model_input *in = &p->input;
  bool cls = in->task == DDPC_TASK_CLASSIFICATION;
  ddpc_json_begin_object(h, "__metadata__");
  ddpc_json_string(h, "format", "pt");  // what transformers and safetensors' own tools look for
  ddpc_json_string(h, "ddpc_version", ddpc_version());
  ddpc_json_string(h, "name", p->cfg.name);
  char *yaml = st_model_yaml(p->cfg.resolved_yaml);
  if (yaml) ddpc_json_string(h, "model", yaml);
  free(yaml);
  bool ok = yaml && st_meta_json(h, "checkpoint", false, st_checkpoint, m) &&
            st_meta_json(h, "modules", true, st_modules, m);
  ddpc_json_string(h, "task", ddpc_config_task_names[in->task]);
  if (ok && cls) ok = st_meta_json(h, "classes", true, st_classes, m);
  if (!cls) {
    char width[24];
    snprintf(width, sizeof width, "%u", (unsigned)in->target_width);
    ddpc_json_string(h, "target_width", width);
  }
  ddpc_json_string(h, "input_format", ddpc_config_format_names[in->format]);
  ok = ok && st_meta_json(h, "raw_shape", true, st_raw_shape, m) &&
       st_meta_json(h, "prepared_shape", true, st_prepared_shape, m) &&
       st_meta_json(h, "input_shape", true, st_input_shape, m) &&
       st_meta_json(h, "preprocess", true, st_preprocess, m) && st_meta_json(h, "scale", true, st_scale, m) &&
       st_meta_json(h, "shift", true, st_shift, m);
  if (ok && in->feature_names) ok = st_meta_json(h, "feature_names", true, st_feature_names, m);
  if (in->label_column) ddpc_json_string(h, "label_column", in->label_column);
  ddpc_json_end_object(h);
  return ok;
}

/* The header's JSON, padded with spaces to a multiple of 8 bytes; NULL when out of memory. */
static char *st_header(const st_model *m, const ddpc_export_tensor *t, int n, size_t *len) {
  char *text = NULL;
  FILE *f = open_memstream(&text, len);
  if (!f) return NULL;
  ddpc_json h;
  ddpc_json_begin(&h, f);
  bool ok = st_metadata(&h, m);
  uint64_t at = 0;
  for (int i = 0; i < n; i++) {
    ddpc_json_begin_object(&h, t[i].name);
    ddpc_json_string(&h, "dtype", "F32");
    ddpc_json_begin_array(&h, "shape");
    for (int d = 0; d < t[i].ndim; d++) ddpc_json_int(&h, NULL, t[i].dims[d]);
    ddpc_json_end_array(&h);
    ddpc_json_begin_array(&h, "data_offsets");
    ddpc_json_int(&h, NULL, (int64_t)at);
    at += t[i].count * sizeof(float);
    ddpc_json_int(&h, NULL, (int64_t)at);
    ddpc_json_end_array(&h);
    ddpc_json_end_object(&h);
  }
  ddpc_json_end(&h);
  // The format allows trailing spaces in the header: they align the data for readers that map it.
  for (long pad = (long)((8 - (ftell(f) % 8)) % 8); pad > 0; pad--) fputc(' ', f);
  ok = ok && ferror(f) == 0;
  if (fclose(f) != 0 || !ok) {
    free(text);
    return NULL;
  }
  return text;
}

typedef struct {
  const char *header;             // JSON, padded
  size_t header_len;              // its bytes
  const ddpc_export_tensor *t;    // the tensors in header order
  int n;                          // how many
} st_file;

static int st_write(FILE *out, void *user) {
  const st_file *f = user;
  unsigned char len[8], chunk[4096];
  ddpc_put_u64(len, f->header_len);
  fwrite(len, 1, sizeof len, out);
  fwrite(f->header, 1, f->header_len, out);
  for (int i = 0; i < f->n; i++) {  // little-endian whatever the host
    size_t used = 0;
    for (size_t k = 0; k < f->t[i].count; k++) {
      uint32_t bits;
      memcpy(&bits, &f->t[i].data[k], sizeof bits);
      ddpc_put_u32(chunk + used, bits);
      used += 4;
      if (used == sizeof chunk || k + 1 == f->t[i].count) {
        fwrite(chunk, 1, used, out);
        used = 0;
      }
    }
  }
  return 0;  // a failed write leaves ferror(out) set, which ddpc_fs_write_atomic reports with the file's name
}

int ddpc_export_safetensors(const ddpc_predictor *p, const char *path) {
  ddpc_export_tensor *t = NULL;
  int n = 0, layers = ddpc_model_layer_count(p->model);
  if (ddpc_export_tensors(p, &t, &n) != 0) return -1;
  bool *image_in = ddpc_calloc((size_t)layers + 1, sizeof *image_in, "export layer shapes");
  int rc = image_in ? ddpc_export_layer_images(p, image_in) : -1;
  st_model m = {p, image_in};
  st_file f = {.t = t, .n = n};
  char *header = NULL;
  if (rc == 0) {
    header = st_header(&m, t, n, &f.header_len);
    if (!header) rc = ddpc_error_set("%s: out of memory for the safetensors header", path);
  }
  f.header = header;
  if (rc == 0) rc = ddpc_fs_write_atomic(path, st_write, &f);
  free(header);
  free(image_in);
  ddpc_export_tensors_free(t, n);
  return rc;
}
