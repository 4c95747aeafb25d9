/* ONNX export (export.h): a trained model's whole inference path as one ONNX graph, from raw
 * samples to logits and class probabilities (or the regression output), built as messages of
 * ONNX's own schema (export/onnx/onnx.proto, whose C bindings protoc-c generates at build
 * time) and serialized by libprotobuf-c.
 *
 * The graph (IR version 8, opset 17, batch dimension "N"; docs/export.md):
 *   input     IDX: uint8 (N, rows, cols), the pixels as stored in the IDX file;
 *             CSV: float (N, features), the feature columns in the training header's order
 *   → Cast to float (IDX) → Mul(scale) → Add(shift): the fitted preprocessing, per feature,
 *     in the order ddpc applies it (prepared = raw * scale + shift, two roundings)
 *   → Reshape (and Transpose) to (N, C, H, W) when the model sees images, else (N, features)
 *   → each layer's ONNX form, in NCHW like PyTorch, with the parameters of export_tensors.c
 *     as initializers named as the safetensors export names them ("0.weight", "0.bias", ...)
 *   → logits, and probabilities = Softmax(logits, axis 1); or predictions (regression; with
 *   data.target_standardize, * the target's std + its mean, in the target's units).
 * ddpc's activations are channels-last (HWC); the graph keeps PyTorch's channels-first, so
 * Flatten on NCHW yields (C, H, W) order, the order export_tensors.c gives a linear layer's
 * input columns. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "export/export.h"
#include "export/onnx/onnx.pb-c.h"  // generated from export/onnx/onnx.proto into the build tree

enum {
  ONNX_IR_VERSION = 8,   // onnx.proto's IR_VERSION (ONNX 1.10 to 1.12)
  ONNX_OPSET = 17,       // the minimum; onnx 1.12's checker and onnxruntime 1.20 both take it
  ONNX_MAX_ATTRS = 4,    // attributes of any node this writer makes (Conv: kernel, strides, pads)
  ONNX_MAX_INPUTS = 3,   // inputs of any node (Gemm, Conv: x, weight, bias)
  ONNX_MAX_METADATA = 12, // metadata_props entries (onnx_add_metadata makes at most 9)
};

/* The model under construction. Every message, string and array is allocated through it and
 * released at once by onnx_builder_free; the parameter floats stay the export tensors'. After a
 * failed allocation `failed` is set and every later call does nothing, so the graph is built
 * without a check per call and the failure reported once, at the end. */
typedef struct {
  Onnx__ModelProto model;    // the root message
  Onnx__GraphProto graph;    // model.graph
  size_t cap_nodes;          // room in graph.node
  size_t cap_inits;          // room in graph.initializer
  void **owned;              // every allocation made for the model
  size_t n_owned, cap_owned;
  bool failed;               // an allocation failed or a plan was outgrown (message recorded)
  const char *gelu_consts[3]; // GELU's 1/sqrt(2), 1 and 0.5, made once when a gelu layer needs them
} onnx_builder;

/* The activations between two layers. */
typedef struct {
  const char *name;  // ONNX value holding them
  bool nchw;         // (N, C, H, W) image; else (N, features)
} onnx_value;

/* ---- allocation ---- */

static void *onnx_alloc(onnx_builder *b, size_t bytes) {
  if (b->failed) return NULL;
  if (b->n_owned == b->cap_owned) {
    size_t cap = b->cap_owned ? 2 * b->cap_owned : 256;
    void **grown = realloc(b->owned, cap * sizeof *grown);
    if (!grown) {
      b->failed = true;
      ddpc_error_set("out of memory building the ONNX graph");
      return NULL;
    }
    b->owned = grown;
    b->cap_owned = cap;
  }
  void *p = ddpc_calloc(1, bytes ? bytes : 1, "the ONNX graph");
  if (!p) {
    b->failed = true;
    return NULL;
  }
  b->owned[b->n_owned++] = p;
  return p;
}

/* A string owned by the builder, printf-style. */
__attribute__((format(printf, 2, 3))) static char *onnx_str(onnx_builder *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = n >= 0 ? onnx_alloc(b, (size_t)n + 1) : NULL;
  if (!s) return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

static void onnx_builder_free(onnx_builder *b) {
  for (size_t i = 0; i < b->n_owned; i++) free(b->owned[i]);
  free(b->owned);
}

/* ---- graph pieces ---- */

/* Adds node `op` reading n_in values and writing the new value `out` (also the node's name);
 * NULL after a failure. */
static Onnx__NodeProto *onnx_node(onnx_builder *b, const char *op, const char *out, const char *const *in,
                                  int n_in) {
  Onnx__NodeProto *n = onnx_alloc(b, sizeof *n);
  char **inputs = onnx_alloc(b, ONNX_MAX_INPUTS * sizeof *inputs);
  char **outputs = onnx_alloc(b, sizeof *outputs);
  Onnx__AttributeProto **attrs = onnx_alloc(b, ONNX_MAX_ATTRS * sizeof *attrs);
  if (!n || !inputs || !outputs || !attrs || !out) return NULL;
  bool missing = false;  // an input that was never made (a parameter export_tensors.c lacks)
  for (int i = 0; i < n_in; i++) missing = missing || !in[i];
  if (b->graph.n_node == b->cap_nodes || n_in > ONNX_MAX_INPUTS || missing) {
    b->failed = true;
    ddpc_error_set("internal error: ONNX node %s (%s) %s", out, op,
                   missing ? "lacks an input" : "does not fit the graph's plan");
    return NULL;
  }
  onnx__node_proto__init(n);
  // Names are shared, not copied: protobuf-c's fields are not const, and the builder frees.
  for (int i = 0; i < n_in; i++) inputs[i] = (char *)in[i];
  outputs[0] = (char *)out;
  n->n_input = (size_t)n_in;
  n->input = inputs;
  n->n_output = 1;
  n->output = outputs;
  n->name = (char *)out;
  n->op_type = (char *)op;
  n->attribute = attrs;
  b->graph.node[b->graph.n_node++] = n;
  return n;
}

/* A new attribute `name` of `type` on node n; NULL after a failure. */
static Onnx__AttributeProto *onnx_attr(onnx_builder *b, Onnx__NodeProto *n, const char *name,
                                       Onnx__AttributeProto__AttributeType type) {
  Onnx__AttributeProto *a = n ? onnx_alloc(b, sizeof *a) : NULL;
  if (!a) return NULL;
  onnx__attribute_proto__init(a);
  a->name = (char *)name;
  a->has_type = 1;
  a->type = type;
  n->attribute[n->n_attribute++] = a;  // ONNX_MAX_ATTRS is above what any node gets
  return a;
}

static void onnx_attr_int(onnx_builder *b, Onnx__NodeProto *n, const char *name, int64_t v) {
  Onnx__AttributeProto *a = onnx_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  if (!a) return;
  a->has_i = 1;
  a->i = v;
}

static void onnx_attr_ints(onnx_builder *b, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t count) {
  Onnx__AttributeProto *a = onnx_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  int64_t *ints = onnx_alloc(b, count * sizeof *ints);
  if (!a || !ints) return;
  memcpy(ints, v, count * sizeof *ints);
  a->n_ints = count;
  a->ints = ints;
}

/* A new initializer `name` of type `elem` and shape dims (ndim 0: a scalar); its values are
 * set by the caller. NULL after a failure. */
static Onnx__TensorProto *onnx_init(onnx_builder *b, const char *name, int32_t elem, const int64_t *dims,
                                    int ndim) {
  Onnx__TensorProto *t = onnx_alloc(b, sizeof *t);
  int64_t *d = onnx_alloc(b, (size_t)ndim * sizeof *d);
  char *key = onnx_str(b, "%s", name);
  if (!t || !d || !key) return NULL;
  if (b->graph.n_initializer == b->cap_inits) {
    b->failed = true;
    ddpc_error_set("internal error: the ONNX graph outgrew its plan at initializer %s", name);
    return NULL;
  }
  onnx__tensor_proto__init(t);
  if (ndim > 0) memcpy(d, dims, (size_t)ndim * sizeof *d);  // a scalar has no dims (and dims may be NULL)
  t->n_dims = (size_t)ndim;
  t->dims = d;
  t->has_data_type = 1;
  t->data_type = elem;
  t->name = key;
  b->graph.initializer[b->graph.n_initializer++] = t;
  return t;
}

/* A float initializer that points at `data` (count floats, which must outlive the packing);
 * returns its name, NULL after a failure. */
static const char *onnx_init_floats(onnx_builder *b, const char *name, const float *data, size_t count,
                                    const int64_t *dims, int ndim) {
  Onnx__TensorProto *t = onnx_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, ndim);
  if (!t) return NULL;
  t->n_float_data = count;
  t->float_data = (float *)data;
  return t->name;
}

/* A scalar float initializer holding v (copied). */
static const char *onnx_init_scalar(onnx_builder *b, const char *name, float v) {
  float *data = onnx_alloc(b, sizeof *data);
  if (!data) return NULL;
  *data = v;
  return onnx_init_floats(b, name, data, 1, NULL, 0);
}

/* A 1-D int64 initializer (a shape for Reshape), copied. */
static const char *onnx_init_shape(onnx_builder *b, const char *name, const int64_t *v, int count) {
  int64_t dims[1] = {count};
  Onnx__TensorProto *t = onnx_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, 1);
  int64_t *data = onnx_alloc(b, (size_t)count * sizeof *data);
  if (!t || !data) return NULL;
  memcpy(data, v, (size_t)count * sizeof *data);
  t->n_int64_data = (size_t)count;
  t->int64_data = data;
  return t->name;
}

/* A graph input or output: a tensor of `elem` with dims, where a dim of -1 is the batch "N". */
static Onnx__ValueInfoProto *onnx_value_info(onnx_builder *b, const char *name, int32_t elem, const int64_t *dims,
                                             int ndim, const char *doc) {
  Onnx__ValueInfoProto *v = onnx_alloc(b, sizeof *v);
  Onnx__TypeProto *type = onnx_alloc(b, sizeof *type);
  Onnx__TypeProto__Tensor *tensor = onnx_alloc(b, sizeof *tensor);
  Onnx__TensorShapeProto *shape = onnx_alloc(b, sizeof *shape);
  Onnx__TensorShapeProto__Dimension **dim = onnx_alloc(b, (size_t)ndim * sizeof *dim);
  char *key = onnx_str(b, "%s", name), *batch = onnx_str(b, "N");
  if (!v || !type || !tensor || !shape || !dim || !key || !batch) return NULL;
  for (int i = 0; i < ndim; i++) {
    dim[i] = onnx_alloc(b, sizeof *dim[i]);
    if (!dim[i]) return NULL;
    onnx__tensor_shape_proto__dimension__init(dim[i]);
    if (dims[i] < 0) {
      dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      dim[i]->dim_param = batch;
    } else {
      dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      dim[i]->dim_value = dims[i];
    }
  }
  onnx__tensor_shape_proto__init(shape);
  shape->n_dim = (size_t)ndim;
  shape->dim = dim;
  onnx__type_proto__tensor__init(tensor);
  tensor->has_elem_type = 1;
  tensor->elem_type = elem;
  tensor->shape = shape;
  onnx__type_proto__init(type);
  type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  type->tensor_type = tensor;
  onnx__value_info_proto__init(v);
  v->name = key;
  v->type = type;
  v->doc_string = doc ? onnx_str(b, "%s", doc) : NULL;
  return v;
}

/* One entry of the model's metadata_props. */
static void onnx_metadata(onnx_builder *b, const char *key, const char *value) {
  Onnx__StringStringEntryProto *e = onnx_alloc(b, sizeof *e);
  char *k = onnx_str(b, "%s", key), *v = value ? onnx_str(b, "%s", value) : NULL;
  if (!e || !k || !v) return;
  if (b->model.n_metadata_props == ONNX_MAX_METADATA) {
    b->failed = true;
    ddpc_error_set("internal error: more ONNX metadata than planned (%s)", key);
    return;
  }
  onnx__string_string_entry_proto__init(e);
  e->key = k;
  e->value = v;
  b->model.metadata_props[b->model.n_metadata_props++] = e;
}

/* ---- layout changes ---- */

/* Adds op on one value: cur → a new value named `out`. Returns the node (for attributes). */
static Onnx__NodeProto *onnx_unary(onnx_builder *b, const char *op, onnx_value *cur, const char *out) {
  Onnx__NodeProto *n = onnx_node(b, op, out, (const char *[]){cur->name}, 1);
  cur->name = out;
  return n;
}

/* Adds op on cur and `other` (in that order): cur → a new value named `out`. */
static void onnx_binary(onnx_builder *b, const char *op, onnx_value *cur, const char *other, const char *out) {
  onnx_node(b, op, out, (const char *[]){cur->name, other}, 2);
  cur->name = out;
}

static void onnx_reshape(onnx_builder *b, onnx_value *cur, const char *prefix, const int64_t *shape, int ndim) {
  const char *s = onnx_init_shape(b, onnx_str(b, "%s.shape", prefix), shape, ndim);
  onnx_binary(b, "Reshape", cur, s, onnx_str(b, "%s.reshape", prefix));
}

static void onnx_transpose(onnx_builder *b, onnx_value *cur, const char *out, const int64_t perm[4]) {
  onnx_attr_ints(b, onnx_unary(b, "Transpose", cur, out), "perm", perm, 4);
}

static const int64_t onnx_nhwc_to_nchw[4] = {0, 3, 1, 2};
static const int64_t onnx_nchw_to_nhwc[4] = {0, 2, 3, 1};

/* Activations whose values are in ddpc's order for shape s (batch-major, HWC within a sample)
 * become an NCHW image. When C is 1 or the image is 1x1 the two orders agree and a Reshape
 * is enough. */
static void onnx_to_nchw(onnx_builder *b, onnx_value *cur, const char *prefix, ddpc_shape s) {
  if (s.c == 1 || (s.h == 1 && s.w == 1)) {
    onnx_reshape(b, cur, prefix, (const int64_t[]){-1, s.c, s.h, s.w}, 4);
  } else {
    onnx_reshape(b, cur, prefix, (const int64_t[]){-1, s.h, s.w, s.c}, 4);
    onnx_transpose(b, cur, onnx_str(b, "%s.nchw", prefix), onnx_nhwc_to_nchw);
  }
  cur->nchw = true;
}

/* An NCHW image becomes (N, C*H*W) in PyTorch's flatten order (C, H, W). */
static void onnx_flatten(onnx_builder *b, onnx_value *cur, const char *out) {
  if (!cur->nchw) return;
  onnx_attr_int(b, onnx_unary(b, "Flatten", cur, out), "axis", 1);
  cur->nchw = false;
}

/* ---- the layers ---- */

/* The export tensor `<layer>.<what>` ("weight", "bias"), or NULL when the layer has none. */
static const ddpc_export_tensor *onnx_param(const ddpc_export_tensor *t, int n_t, int layer, const char *what) {
  char name[sizeof t->name];
  snprintf(name, sizeof name, "%d.%s", layer, what);
  for (int i = 0; i < n_t; i++)
    if (strcmp(t[i].name, name) == 0) return &t[i];
  return NULL;
}

/* The initializer of an export tensor (same name, same dims); NULL when t is. */
static const char *onnx_init_param(onnx_builder *b, const ddpc_export_tensor *t) {
  if (!t) return NULL;
  int64_t dims[4];
  for (int i = 0; i < t->ndim; i++) dims[i] = t->dims[i];
  return onnx_init_floats(b, t->name, t->data, t->count, dims, t->ndim);
}

/* GELU, exactly as core/layer_activation.c computes it: (0.5 x) (1 + erf(x / sqrt 2)). Opset 17
 * has no Gelu operator, so it is composed, with the constants shared by every gelu layer. */
static void onnx_gelu(onnx_builder *b, onnx_value *cur, const char *prefix) {
  const char **k = b->gelu_consts;
  if (!k[0]) {
    k[0] = onnx_init_scalar(b, "gelu.rsqrt2", 0.70710678118654752f);
    k[1] = onnx_init_scalar(b, "gelu.one", 1.0f);
    k[2] = onnx_init_scalar(b, "gelu.half", 0.5f);
  }
  const char *x = cur->name;
  const char *scaled = onnx_str(b, "%s.scaled", prefix), *erf = onnx_str(b, "%s.erf", prefix);
  const char *cdf = onnx_str(b, "%s.cdf", prefix), *half = onnx_str(b, "%s.half", prefix);
  const char *out = onnx_str(b, "%s", prefix);
  onnx_node(b, "Mul", scaled, (const char *[]){x, k[0]}, 2);
  onnx_node(b, "Erf", erf, (const char *[]){scaled}, 1);
  onnx_node(b, "Add", cdf, (const char *[]){k[1], erf}, 2);
  onnx_node(b, "Mul", half, (const char *[]){k[2], x}, 2);
  onnx_node(b, "Mul", out, (const char *[]){half, cdf}, 2);
  cur->name = out;
}

/* Layer normalisation over C, as core/layer_layernorm.c computes it: mean, then the variance
 * from the deviations (two passes), then (x - mean) * (1 / sqrt(var + eps)) * gamma + beta.
 * ONNX's LayerNormalization would do, but ONNX Runtime's takes the variance as
 * E[x^2] - mean^2, which loses digits when the variance is small next to the mean; spelled
 * out, the graph rounds as ddpc does. Over the last axis of (N, features); an image is moved
 * to NHWC and back, so gamma and beta keep their PyTorch shape (C). */
static void onnx_layernorm(onnx_builder *b, onnx_value *cur, const char *prefix, const ddpc_layer *layer,
                           const char *gamma, const char *beta) {
  bool image = cur->nchw;
  if (image) onnx_transpose(b, cur, onnx_str(b, "%s.nhwc", prefix), onnx_nchw_to_nhwc);
  const char *x = cur->name, *eps = onnx_init_scalar(b, onnx_str(b, "%s.eps", prefix), layer->spec.eps);
  const int64_t last[1] = {-1};
  onnx_attr_ints(b, onnx_unary(b, "ReduceMean", cur, onnx_str(b, "%s.mean", prefix)), "axes", last, 1);
  const char *dev = onnx_str(b, "%s.dev", prefix);
  onnx_node(b, "Sub", dev, (const char *[]){x, cur->name}, 2);
  cur->name = dev;
  onnx_binary(b, "Mul", cur, dev, onnx_str(b, "%s.sq", prefix));
  onnx_attr_ints(b, onnx_unary(b, "ReduceMean", cur, onnx_str(b, "%s.var", prefix)), "axes", last, 1);
  onnx_binary(b, "Add", cur, eps, onnx_str(b, "%s.var_eps", prefix));
  onnx_unary(b, "Sqrt", cur, onnx_str(b, "%s.std", prefix));
  onnx_unary(b, "Reciprocal", cur, onnx_str(b, "%s.rstd", prefix));
  const char *rstd = cur->name;
  cur->name = dev;
  onnx_binary(b, "Mul", cur, rstd, onnx_str(b, "%s.norm", prefix));
  onnx_binary(b, "Mul", cur, gamma, onnx_str(b, "%s.scaled", prefix));
  onnx_binary(b, "Add", cur, beta, onnx_str(b, image ? "%s.nhwc_out" : "%s", prefix));
  if (image) onnx_transpose(b, cur, onnx_str(b, "%s", prefix), onnx_nhwc_to_nchw);
}

/* Layer i's ONNX form, applied to cur. The value names start with "<i>.<kind>". */
static void onnx_add_layer(onnx_builder *b, const ddpc_layer *layer, const ddpc_export_tensor *t, int n_t,
                           onnx_value *cur) {
  int i = layer->index;
  const ddpc_layer_spec *s = &layer->spec;
  const char *prefix = onnx_str(b, "%d.%s", i, ddpc_layer_kind_name(s->kind));
  const char *w = onnx_init_param(b, onnx_param(t, n_t, i, "weight"));
  const char *bias = onnx_init_param(b, onnx_param(t, n_t, i, "bias"));
  switch (s->kind) {
  case DDPC_LAYER_LINEAR: {
    onnx_flatten(b, cur, onnx_str(b, "%s.flatten", prefix));
    Onnx__NodeProto *n = onnx_node(b, "Gemm", prefix, (const char *[]){cur->name, w, bias}, bias ? 3 : 2);
    onnx_attr_int(b, n, "transB", 1);  // the weight is [out, in], like nn.Linear's
    cur->name = prefix;
    break;
  }
  case DDPC_LAYER_CONV2D: {  // cur is an image: ddpc_export_tensors refused conv2d on a vector
    int64_t k = s->kernel, st = s->stride, p = s->padding;
    Onnx__NodeProto *n = onnx_node(b, "Conv", prefix, (const char *[]){cur->name, w, bias}, bias ? 3 : 2);
    onnx_attr_ints(b, n, "kernel_shape", (const int64_t[]){k, k}, 2);
    onnx_attr_ints(b, n, "strides", (const int64_t[]){st, st}, 2);
    onnx_attr_ints(b, n, "pads", (const int64_t[]){p, p, p, p}, 4);
    cur->name = prefix;
    break;
  }
  case DDPC_LAYER_MAXPOOL2D: {  // on an image, as conv2d
    int64_t k = s->kernel, st = s->stride == 0 ? s->kernel : s->stride;
    Onnx__NodeProto *n = onnx_unary(b, "MaxPool", cur, prefix);  // no padding, floor: as ddpc
    onnx_attr_ints(b, n, "kernel_shape", (const int64_t[]){k, k}, 2);
    onnx_attr_ints(b, n, "strides", (const int64_t[]){st, st}, 2);
    break;
  }
  case DDPC_LAYER_RELU: onnx_unary(b, "Relu", cur, prefix); break;
  case DDPC_LAYER_TANH: onnx_unary(b, "Tanh", cur, prefix); break;
  case DDPC_LAYER_GELU: onnx_gelu(b, cur, prefix); break;
  case DDPC_LAYER_DROPOUT: break;  // identity at inference
  case DDPC_LAYER_FLATTEN: onnx_flatten(b, cur, prefix); break;
  case DDPC_LAYER_LAYERNORM: onnx_layernorm(b, cur, prefix, layer, w, bias); break;
  case DDPC_LAYER_COUNT: break;
  }
}

/* ---- the model ---- */

/* The preprocessing: raw input → float → * scale + shift → the first layer's layout. The
 * constants have the raw sample's dims, so they broadcast over the batch. */
static onnx_value onnx_add_input(onnx_builder *b, const ddpc_predictor *p, const int64_t *raw_dims, int raw_ndim) {
  const ddpc_model_input *in = &p->input;
  onnx_value cur = {"input", false};
  if (in->dtype != DDPC_DTYPE_F32) {
    onnx_attr_int(b, onnx_unary(b, "Cast", &cur, "input.float"), "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
  }
  const char *scale = onnx_init_floats(b, "input.scale", in->scale, in->features, raw_dims + 1, raw_ndim - 1);
  const char *shift = onnx_init_floats(b, "input.shift", in->shift, in->features, raw_dims + 1, raw_ndim - 1);
  onnx_node(b, "Mul", "input.scaled", (const char *[]){cur.name, scale}, 2);
  onnx_node(b, "Add", "input.prepared", (const char *[]){"input.scaled", shift}, 2);
  cur.name = "input.prepared";
  ddpc_shape s = in->shape;
  if (s.h != 1 || s.w != 1) {
    onnx_to_nchw(b, &cur, "input", s);
  } else if (raw_ndim != 2) {
    onnx_reshape(b, &cur, "input", (const int64_t[]){-1, s.c}, 2);
  }
  return cur;
}

/* The last layer's output in ddpc's order, (N, outputs), as the graph output `name`. */
static void onnx_add_output(onnx_builder *b, onnx_value *cur, ddpc_shape out, const char *name) {
  if (cur->nchw) {
    if (out.c != 1 && (out.h != 1 || out.w != 1))
      onnx_transpose(b, cur, "output.nhwc", onnx_nchw_to_nhwc);  // ddpc's outputs are HWC-ordered
    onnx_flatten(b, cur, "output.flatten");
  }
  // The value is renamed where it is made when possible, else copied by an Identity node.
  Onnx__NodeProto *last = b->graph.n_node ? b->graph.node[b->graph.n_node - 1] : NULL;
  if (!b->failed && last && strcmp(last->output[0], cur->name) == 0) {
    last->output[0] = last->name = (char *)name;
    cur->name = name;
  } else {
    onnx_unary(b, "Identity", cur, name);
  }
}

/* The metadata the safetensors export carries too (export_metadata.c), less what only
 * rebuilding the nn.Sequential needs: what the file came from, the input's columns and the
 * output's classes. */
static void onnx_add_metadata(onnx_builder *b, const ddpc_predictor *p) {
  ddpc_export_meta *meta = NULL;
  int n = 0;
  if (b->failed) return;
  if (ddpc_export_metadata(p, false, &meta, &n) != 0) {
    b->failed = true;
    return;
  }
  for (int i = 0; i < n; i++) onnx_metadata(b, meta[i].key, meta[i].value);
  ddpc_export_metadata_free(meta, n);
}

/* What the model takes and gives, for the model's doc_string and the input's. */
static const char *onnx_describe_input(onnx_builder *b, const ddpc_model_input *in) {
  if (in->format == DDPC_DATA_FORMAT_IDX)
    return onnx_str(b, "raw images: %s (N, %d, %d), the pixel values as stored in the IDX file",
                    in->dtype == DDPC_DTYPE_U8 ? "uint8" : "float", in->raw_shape.h, in->raw_shape.w);
  return onnx_str(b, "raw samples: float (N, %u), the CSV feature columns in the training header's order "
                     "(metadata feature_names)", in->features);
}

/* Builds the whole model into b; 0, or -1 with the reason in ddpc_error_message(). */
static int onnx_build(onnx_builder *b, const ddpc_predictor *p, const ddpc_export_tensor *t, int n_t) {
  const ddpc_model_input *in = &p->input;
  int n_layers = ddpc_model_layer_count(p->model);
  bool cls = in->task == DDPC_TASK_CLASSIFICATION;
  // At most 13 nodes (layernorm on an image) and 3 initializers per layer, plus the input's
  // and the output's.
  b->cap_nodes = 13 * (size_t)n_layers + 16;
  b->cap_inits = 3 * (size_t)n_layers + 16;
  b->graph.node = onnx_alloc(b, b->cap_nodes * sizeof *b->graph.node);
  b->graph.initializer = onnx_alloc(b, b->cap_inits * sizeof *b->graph.initializer);
  b->model.metadata_props = onnx_alloc(b, ONNX_MAX_METADATA * sizeof *b->model.metadata_props);
  b->graph.input = onnx_alloc(b, sizeof *b->graph.input);
  b->graph.output = onnx_alloc(b, 2 * sizeof *b->graph.output);
  Onnx__OperatorSetIdProto *opset = onnx_alloc(b, sizeof *opset);
  Onnx__OperatorSetIdProto **opsets = onnx_alloc(b, sizeof *opsets);
  if (b->failed) return -1;

  // IDX: (N, rows, cols) as the file stores an image; CSV: (N, features).
  int64_t raw_dims[3] = {-1, in->raw_shape.h, in->raw_shape.w};
  int raw_ndim = 3;
  if (in->format != DDPC_DATA_FORMAT_IDX) {
    raw_dims[1] = in->features;
    raw_ndim = 2;
  }
  int32_t in_elem = in->dtype == DDPC_DTYPE_F32 ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                                                 : ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
  const char *in_doc = onnx_describe_input(b, in);
  b->graph.input[b->graph.n_input++] = onnx_value_info(b, "input", in_elem, raw_dims, raw_ndim, in_doc);

  onnx_value cur = onnx_add_input(b, p, raw_dims, raw_ndim);
  for (int i = 0; i < n_layers; i++) onnx_add_layer(b, ddpc_model_layer(p->model, i), t, n_t, &cur);
  bool standardized = !cls && in->target_mean;  // data.target_standardize: back to the target's units
  onnx_add_output(b, &cur, ddpc_model_output_shape(p->model),
                  cls ? "logits" : standardized ? "output.standardized" : "predictions");
  int64_t out_dims[2] = {-1, p->out_width};
  if (standardized) {
    const char *std = onnx_init_floats(b, "target.std", in->target_std, in->target_width, out_dims + 1, 1);
    const char *mean = onnx_init_floats(b, "target.mean", in->target_mean, in->target_width, out_dims + 1, 1);
    onnx_node(b, "Mul", "output.scaled", (const char *[]){cur.name, std}, 2);
    onnx_node(b, "Add", "predictions", (const char *[]){"output.scaled", mean}, 2);
    cur.name = "predictions";
  }
  b->graph.output[b->graph.n_output++] =
      onnx_value_info(b, cur.name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, out_dims, 2,
                      cls ? "the last layer's outputs, one per class" : "the regression outputs");
  if (cls) {
    onnx_attr_int(b, onnx_unary(b, "Softmax", &cur, "probabilities"), "axis", 1);
    b->graph.output[b->graph.n_output++] = onnx_value_info(b, "probabilities", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                                           out_dims, 2, "softmax of logits: class probabilities");
  }

  b->graph.name = onnx_str(b, "%s", p->cfg.name ? p->cfg.name : "ddpc");
  b->graph.doc_string = onnx_str(b, "ddpc model from %s", p->checkpoint_path);
  onnx__operator_set_id_proto__init(opset);
  opset->domain = onnx_str(b, "%s", "");  // the default ONNX operator set
  opset->has_version = 1;
  opset->version = ONNX_OPSET;
  opsets[0] = opset;
  b->model.has_ir_version = 1;
  b->model.ir_version = ONNX_IR_VERSION;
  b->model.n_opset_import = 1;
  b->model.opset_import = opsets;
  b->model.producer_name = onnx_str(b, "ddpc");
  b->model.producer_version = onnx_str(b, "%s", ddpc_version());
  b->model.doc_string =
      onnx_str(b, "input: %s. outputs: %s (N, %d). Preprocessing (fitted in training) is part of the graph.", in_doc,
               cls ? "logits and probabilities" : "predictions", p->out_width);
  b->model.graph = &b->graph;
  onnx_add_metadata(b, p);
  return b->failed ? -1 : 0;
}

/* ---- writing ---- */

/* protobuf-c's output sink, appending to the temporary file; write errors show in ferror(). */
typedef struct {
  ProtobufCBuffer base;  // first: protobuf-c calls base.append
  FILE *out;             // the file being written
} onnx_file_sink;

static void onnx_sink_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data) {
  onnx_file_sink *sink = (onnx_file_sink *)buffer;
  fwrite(data, 1, len, sink->out);
}

static int onnx_write_model(FILE *out, void *user) {
  onnx_file_sink sink = {{onnx_sink_append}, out};
  onnx__model_proto__pack_to_buffer(user, &sink.base);
  return 0;
}

int ddpc_export_onnx(const ddpc_predictor *p, const char *path) {
  ddpc_export_tensor *t = NULL;
  int n_t = 0;
  if (ddpc_export_tensors(p, &t, &n_t) != 0) return -1;
  onnx_builder b = {.model = ONNX__MODEL_PROTO__INIT, .graph = ONNX__GRAPH_PROTO__INIT};
  int rc = onnx_build(&b, p, t, n_t);
  if (rc == 0) {
    // protobuf's 2 GiB message limit: consumers refuse larger files (ONNX's external data,
    // which would lift it, is not written).
    size_t bytes = onnx__model_proto__get_packed_size(&b.model);
    if (bytes > INT32_MAX)
      rc = ddpc_error_set("%s: the ONNX model would be %zu bytes, over protobuf's 2 GiB limit", path, bytes);
  }
  if (rc == 0) rc = ddpc_fs_write_atomic(path, onnx_write_model, &b.model);
  onnx_builder_free(&b);
  ddpc_export_tensors_free(t, n_t);
  return rc;
}
