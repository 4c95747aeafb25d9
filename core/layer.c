/* What all layer kinds share: spec defaults, kind names, the ops table, error messages that
 * name the layer, size limits, seeded weight initialisation and the dense (GEMM) product
 * that linear and conv2d (after im2col) both reduce to. */
#include "core/layer.h"

#include "core/gemm.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/names.h"
#include "core/rng.h"

// A single layer's parameters, activations or scratch may not exceed this many bytes:
// bigger is almost certainly a typo in the config, and failing with a message beats
// swapping or an allocation failure deep inside a run.
#define LAYER_MAX_BYTES (4.0 * 1024.0 * 1024.0 * 1024.0)

const char *const ddpc_layer_kind_names[DDPC_LAYER_COUNT] = {
    [DDPC_LAYER_LINEAR] = "linear",       [DDPC_LAYER_CONV2D] = "conv2d",
    [DDPC_LAYER_MAXPOOL2D] = "maxpool2d", [DDPC_LAYER_RELU] = "relu",
    [DDPC_LAYER_GELU] = "gelu",           [DDPC_LAYER_TANH] = "tanh",
    [DDPC_LAYER_DROPOUT] = "dropout",     [DDPC_LAYER_FLATTEN] = "flatten",
    [DDPC_LAYER_LAYERNORM] = "layernorm",
};

ddpc_layer_spec ddpc_layer_spec_default(ddpc_layer_kind kind) {
  ddpc_layer_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.kind = kind;
  spec.bias = true;
  spec.init = DDPC_INIT_DEFAULT;
  spec.stride = 1;
  spec.eps = 1e-5f;  // PyTorch's nn.LayerNorm default
  switch (kind) {
    case DDPC_LAYER_CONV2D:
      spec.kernel = 3;
      break;
    case DDPC_LAYER_MAXPOOL2D:
      spec.kernel = 2;
      spec.stride = 0;  // 0 = same as kernel, resolved in setup once the kernel is final
      break;
    case DDPC_LAYER_DROPOUT:
      spec.p = 0.5f;
      break;
    default:
      break;
  }
  return spec;
}

const char *ddpc_layer_kind_name(ddpc_layer_kind kind) {
  return ddpc_names_get(ddpc_layer_kind_names, DDPC_LAYER_COUNT, (int)kind);
}

int ddpc_layer_kind_parse(const char *name) { return ddpc_names_find(ddpc_layer_kind_names, DDPC_LAYER_COUNT, name); }

const ddpc_layer_ops *ddpc_layer_ops_for(ddpc_layer_kind kind) {
  switch (kind) {
    case DDPC_LAYER_LINEAR: return &ddpc_layer_linear_ops;
    case DDPC_LAYER_CONV2D: return &ddpc_layer_conv2d_ops;
    case DDPC_LAYER_MAXPOOL2D: return &ddpc_layer_maxpool2d_ops;
    case DDPC_LAYER_RELU: return &ddpc_layer_relu_ops;
    case DDPC_LAYER_GELU: return &ddpc_layer_gelu_ops;
    case DDPC_LAYER_TANH: return &ddpc_layer_tanh_ops;
    case DDPC_LAYER_DROPOUT: return &ddpc_layer_dropout_ops;
    case DDPC_LAYER_FLATTEN: return &ddpc_layer_flatten_ops;
    case DDPC_LAYER_LAYERNORM: return &ddpc_layer_layernorm_ops;
    default: return NULL;
  }
}

int ddpc_layer_fail(const ddpc_layer *layer, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *detail = NULL;
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n >= 0) {
    detail = malloc((size_t)n + 1);
    if (detail) {
      va_start(ap, fmt);
      vsnprintf(detail, (size_t)n + 1, fmt, ap);
      va_end(ap);
    }
  }
  ddpc_error_set("model layer %d (%s): %s", layer->index, ddpc_layer_kind_name(layer->spec.kind),
                 detail ? detail : fmt);
  free(detail);
  return -1;
}

int ddpc_layer_check_floats(const ddpc_layer *layer, const char *what, double count) {
  double bytes = count * (double)sizeof(float);
  if (bytes > LAYER_MAX_BYTES)
    return ddpc_layer_fail(layer, "%s would need %.0f bytes, more than the 4 GiB a layer may use",
                           what, bytes);
  return 0;
}

void ddpc_layer_init_weights(const ddpc_layer *layer, float *w, size_t count, int fan_in, int fan_out,
                             uint64_t seed) {
  ddpc_rng rng = ddpc_rng_make(seed, DDPC_RNG_INIT, (uint64_t)layer->index, 0);
  if (layer->spec.init == DDPC_INIT_XAVIER) {
    float limit = (float)sqrt(6.0 / ((double)fan_in + (double)fan_out));
    for (size_t i = 0; i < count; i++) w[i] = (2.0f * ddpc_rng_next_float(&rng) - 1.0f) * limit;
  } else {  // DEFAULT and HE: Kaiming normal, the right scale in front of ReLU
    float std = (float)sqrt(2.0 / (double)fan_in);
    for (size_t i = 0; i < count; i++) w[i] = ddpc_rng_next_normal(&rng) * std;
  }
}

void ddpc_layer_dense_forward(const float *x, const float *w, const float *b, float *y, int m, int n, int k) {
  float beta = 0.0f;
  if (b) {
    // Start from the bias and let the GEMM accumulate onto it: no second pass over y.
    for (int i = 0; i < m; i++) memcpy(y + (size_t)i * n, b, (size_t)n * sizeof(float));
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, beta, y, n);
}

void ddpc_layer_linear_forward(const float *x, const float *w, const float *b, float *y, int m, int n, int k) {
  if (ddpc_gemm_available() && ddpc_gemm_xwt(m, n, k, x, w, b, y) == 0) return;
  ddpc_layer_dense_forward(x, w, b, y, m, n, k);
}

void ddpc_layer_bias_gradient(const float *dy, float *db, int m, int n) {
  memcpy(db, dy, (size_t)n * sizeof(float));
  for (int i = 1; i < m; i++) {
    const float *row = dy + (size_t)i * n;
    for (int j = 0; j < n; j++) db[j] += row[j];
  }
}

void ddpc_layer_dense_backward(const float *x, const float *w, const float *dy, float *dw, float *db,
                               float *dx, int m, int n, int k) {
  const bool own = ddpc_gemm_available();  // ddpc's kernel: no packing, dw written once
  if (own)
    ddpc_gemm_ab(n, k, m, (ddpc_gemm_operand){.data = dy, .ld = (size_t)n, .transposed = true}, x, (size_t)k, dw,
                 (size_t)k);
  else
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1.0f, dy, n, x, k, 0.0f, dw, k);
  if (db) ddpc_layer_bias_gradient(dy, db, m, n);
  if (!dx) return;
  if (own)
    ddpc_gemm_ab(m, k, n, (ddpc_gemm_operand){.data = dy, .ld = (size_t)n, .transposed = false}, w, (size_t)k, dx,
                 (size_t)k);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0f, dy, n, w, k, 0.0f, dx, k);
}

int ddpc_layer_check_sizes(const ddpc_layer *layer, int max_batch) {
  ddpc_shape o = layer->out;
  if (o.h < 1 || o.w < 1 || o.c < 1)
    return ddpc_layer_fail(layer, "output shape %dx%dx%d is empty", o.h, o.w, o.c);
  if (ddpc_layer_check_floats(layer, "its parameters", (double)layer->n_params) != 0) return -1;
  double act = (double)o.h * (double)o.w * (double)o.c * (double)max_batch;
  if (ddpc_layer_check_floats(layer, "its output for the batch", act) != 0) return -1;
  // The model allocates these after every layer is set up; they are claimed now so that
  // the layers' own scratch is refused too once the total would not fit.
  if (ddpc_layer_claim(layer, "its parameters and their gradients", 2.0 * (double)layer->n_params * sizeof(float)))
    return -1;
  return ddpc_layer_claim(layer, "its output for the batch", act * sizeof(float));
}

int ddpc_layer_claim(const ddpc_layer *layer, const char *what, double bytes) {
  ddpc_memory_budget *b = layer->budget;
  if (!b) return 0;
  b->used += bytes;
  if (b->limit <= 0.0 || b->used <= b->limit) return 0;
  return ddpc_layer_fail(layer,
                         "with %s the model needs %.0f bytes (%.1f GiB: parameters, gradients, activations and "
                         "scratch for batches of %d), more than the %.0f bytes (%.1f GiB) of %s; use fewer or "
                         "smaller layers or a smaller batch",
                         what, b->used, b->used / 1073741824.0, b->max_batch, b->limit, b->limit / 1073741824.0,
                         b->limit_what);
}

bool ddpc_layer_planning(const ddpc_layer *layer) { return layer->budget && layer->budget->planning; }
