/* The metadata both export formats carry (export.h): string keys and string values, the
 * structured ones as JSON text, so that safetensors' __metadata__ (strings only) and ONNX's
 * metadata_props hold the same thing under the same names. docs/export.md lists the keys.
 * The PyTorch-only part (the nn.Sequential's modules, the shapes and the preprocessing with
 * its constants) goes only where asked: the ONNX graph computes those itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_tree.h"
#include "core/data_tabular.h"
#include "core/error.h"
#include "core/json.h"
#include "export/export.h"

/* What the metadata writers read: the model and which of its layers take images. */
typedef struct {
  const ddpc_predictor *p;  // the model, its config and input description
  const bool *image_in;     // per layer: takes (N, C, H, W) in PyTorch (ddpc_export_layer_images)
} meta_model;

typedef void (*meta_value_fn)(ddpc_json *j, const meta_model *m);

static void meta_shape_hwc(ddpc_json *j, ddpc_shape s) {
  ddpc_json_int(j, NULL, s.h);
  ddpc_json_int(j, NULL, s.w);
  ddpc_json_int(j, NULL, s.c);
}
static void meta_raw_shape(ddpc_json *j, const meta_model *m) { meta_shape_hwc(j, m->p->input.raw_shape); }
static void meta_prepared_shape(ddpc_json *j, const meta_model *m) { meta_shape_hwc(j, m->p->input.shape); }

/* Per sample, the tensor nn.Sequential takes: [features], or an image channels-first. */
static void meta_input_shape(ddpc_json *j, const meta_model *m) {
  ddpc_shape s = m->p->input.shape;
  if (s.h == 1 && s.w == 1) {
    ddpc_json_int(j, NULL, s.c);
    return;
  }
  ddpc_json_int(j, NULL, s.c);
  ddpc_json_int(j, NULL, s.h);
  ddpc_json_int(j, NULL, s.w);
}

static void meta_floats(ddpc_json *j, const float *v, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) ddpc_json_number(j, NULL, v[i]);
}
static void meta_scale(ddpc_json *j, const meta_model *m) { meta_floats(j, m->p->input.scale, m->p->input.features); }
static void meta_shift(ddpc_json *j, const meta_model *m) { meta_floats(j, m->p->input.shift, m->p->input.features); }

static void meta_target_mean(ddpc_json *j, const meta_model *m) {
  meta_floats(j, m->p->input.target_mean, m->p->input.target_width);
}
static void meta_target_std(ddpc_json *j, const meta_model *m) {
  meta_floats(j, m->p->input.target_std, m->p->input.target_width);
}

/* [0, 1, ...], or the class texts of a model trained on text labels (class k is the k-th). */
static void meta_classes(ddpc_json *j, const meta_model *m) {
  const ddpc_tabular *t = m->p->input.tabular;
  for (int k = 0; k < m->p->input.num_classes; k++)
    if (t && t->n_labels) ddpc_json_string(j, NULL, t->labels[k]);
    else ddpc_json_int(j, NULL, k);
}

/* A CSV model's column encoding (data.categorical, data.missing): the columns a raw row has
 * and how they become the model's inputs (feature_names). The exported graphs take those
 * inputs, already encoded: ONNX tensors are of one element type, so the text of a category
 * cannot be an input next to the numbers. */
static void meta_columns(ddpc_json *j, const meta_model *m) {
  ddpc_tabular_json_columns(j, m->p->input.tabular);
}

static void meta_feature_names(ddpc_json *j, const meta_model *m) {
  for (uint32_t i = 0; i < m->p->input.features; i++) ddpc_json_string(j, NULL, m->p->input.feature_names[i]);
}

/* The config's preprocess steps as its YAML writes them, one object each. */
static void meta_preprocess(ddpc_json *j, const meta_model *m) {
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
      meta_shape_hwc(j, s->shape);
      ddpc_json_end_array(j);
    }
    ddpc_json_end_object(j);
  }
}

/* One constructor per layer, {"type": a torch.nn class (or docs/export.md's FlattenLinear,
 * ChannelLayerNorm), its keyword arguments...}: the nn.Sequential whose state_dict the
 * tensors are. A model whose output is an image ends with one more module, without
 * parameters: ChannelsLastFlatten, so that its outputs come in ddpc's order. */
static void meta_modules(ddpc_json *j, const meta_model *m) {
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

static void meta_checkpoint(ddpc_json *j, const meta_model *m) {
  const ddpc_predictor *p = m->p;
  ddpc_json_string(j, "path", p->checkpoint_path);
  ddpc_json_int(j, "epoch", p->meta.epoch);
  ddpc_json_int(j, "step", p->meta.step);
  ddpc_json_bool(j, "best", p->is_best);
}

/* The text `write` makes, as a JSON array (or object) of its own; NULL when out of memory. */
static char *meta_json_text(bool array, meta_value_fn write, const meta_model *m) {
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

/* The resolved config's model section (its "model:" line to the next top-level key), the
 * YAML the run's config.yaml has; NULL when out of memory. */
static char *meta_model_yaml(const char *yaml) {
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

/* The list being built; a failed allocation marks it failed and later adds do nothing. */
typedef struct {
  ddpc_export_meta *items;  // key/value pairs so far
  int n, cap;               // used and allocated
  bool failed;              // out of memory
} meta_list;

static void meta_add(meta_list *l, const char *key, char *value /* owned */) {
  if (!l->failed && !value) l->failed = true;
  if (!l->failed && l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    ddpc_export_meta *grown = realloc(l->items, (size_t)cap * sizeof *grown);
    if (grown) l->items = grown, l->cap = cap;
    else l->failed = true;
  }
  if (l->failed) {
    free(value);
    return;
  }
  l->items[l->n].key = key;
  l->items[l->n++].value = value;
}

static void meta_add_json(meta_list *l, const char *key, bool array, meta_value_fn write, const meta_model *m) {
  meta_add(l, key, meta_json_text(array, write, m));
}

int ddpc_export_metadata(const ddpc_predictor *p, bool for_torch, ddpc_export_meta **out, int *n_out) {
  *out = NULL;
  *n_out = 0;
  const ddpc_model_input *in = &p->input;
  bool cls = in->task == DDPC_TASK_CLASSIFICATION;
  bool *image_in = ddpc_calloc((size_t)ddpc_model_layer_count(p->model) + 1, sizeof *image_in, "export layer shapes");
  if (!image_in) return -1;
  if (ddpc_export_layer_images(p, image_in) != 0) {
    free(image_in);
    return -1;
  }
  meta_model m = {p, image_in};
  meta_list l = {0};
  if (for_torch) meta_add(&l, "format", ddpc_strdup("pt"));  // what transformers and safetensors' own tools look for
  meta_add(&l, "ddpc_version", ddpc_strdup(ddpc_version()));
  meta_add(&l, "name", ddpc_strdup(p->cfg.name ? p->cfg.name : ""));
  meta_add_json(&l, "checkpoint", false, meta_checkpoint, &m);
  if (for_torch) {
    meta_add(&l, "model", meta_model_yaml(p->cfg.resolved_yaml));
    meta_add_json(&l, "modules", true, meta_modules, &m);
  }
  meta_add(&l, "task", ddpc_strdup(ddpc_config_task_names[in->task]));
  if (cls) meta_add_json(&l, "classes", true, meta_classes, &m);
  else meta_add(&l, "target_width", ddpc_format("%u", (unsigned)in->target_width));
  meta_add(&l, "input_format", ddpc_strdup(ddpc_config_format_names[in->format]));
  if (for_torch) {
    meta_add_json(&l, "raw_shape", true, meta_raw_shape, &m);
    meta_add_json(&l, "prepared_shape", true, meta_prepared_shape, &m);
    meta_add_json(&l, "input_shape", true, meta_input_shape, &m);
    meta_add_json(&l, "preprocess", true, meta_preprocess, &m);
    meta_add_json(&l, "scale", true, meta_scale, &m);
    meta_add_json(&l, "shift", true, meta_shift, &m);
  }
  if (in->target_mean) {  // data.target_standardize: target = output * target_std + target_mean
    meta_add_json(&l, "target_mean", true, meta_target_mean, &m);
    meta_add_json(&l, "target_std", true, meta_target_std, &m);
  }
  if (in->feature_names) meta_add_json(&l, "feature_names", true, meta_feature_names, &m);
  if (in->label_column) meta_add(&l, "label_column", ddpc_strdup(in->label_column));
  if (in->tabular) meta_add_json(&l, "columns", true, meta_columns, &m);
  free(image_in);
  if (l.failed) {
    ddpc_export_metadata_free(l.items, l.n);
    return ddpc_error_set("out of memory building the export's metadata");
  }
  *out = l.items;
  *n_out = l.n;
  return 0;
}

void ddpc_export_metadata_free(ddpc_export_meta *m, int n) {
  for (int i = 0; i < n; i++) free(m[i].value);
  free(m);
}
