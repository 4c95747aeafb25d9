/* Elementwise activations: relu, gelu and tanh. GELU is the exact form
 * 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's default nn.GELU(approximate='none'), not the
 * tanh approximation. Backward of relu and tanh reads the saved output only; gelu needs x. */
#include <math.h>
#include <stddef.h>

#include "core/layer.h"

static int act_setup(ddpc_layer *layer, int max_batch) {
  layer->out = layer->in;
  layer->n_params = 0;
  return ddpc_layer_check_sizes(layer, max_batch);
}

static void act_init_params(ddpc_layer *layer, uint64_t seed) { (void)layer, (void)seed; }
static void act_free(ddpc_layer *layer) { (void)layer; }

static size_t act_count(const ddpc_layer *layer, int batch) {
  return ddpc_shape_size(layer->in) * (size_t)batch;
}

static void relu_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  (void)ctx;
  size_t n = act_count(layer, batch);
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                          int batch) {
  (void)x;
  if (!dx) return;
  size_t n = act_count(layer, batch);
  for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static void gelu_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  (void)ctx;
  size_t n = act_count(layer, batch);
  for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

static void gelu_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                          int batch) {
  (void)y;
  if (!dx) return;
  size_t n = act_count(layer, batch);
  const float inv_sqrt_2pi = 0.3989422804014327f;
  for (size_t i = 0; i < n; i++) {
    // d/dx [x Phi(x)] = Phi(x) + x phi(x)
    float cdf = 0.5f * (1.0f + erff(x[i] * 0.70710678118654752f));
    float pdf = inv_sqrt_2pi * expf(-0.5f * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

static void tanh_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  (void)ctx;
  size_t n = act_count(layer, batch);
  for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

static void tanh_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                          int batch) {
  (void)x;
  if (!dx) return;
  size_t n = act_count(layer, batch);
  for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

const ddpc_layer_ops ddpc_layer_relu_ops = {act_setup, act_init_params, relu_forward, relu_backward, act_free};
const ddpc_layer_ops ddpc_layer_gelu_ops = {act_setup, act_init_params, gelu_forward, gelu_backward, act_free};
const ddpc_layer_ops ddpc_layer_tanh_ops = {act_setup, act_init_params, tanh_forward, tanh_backward, act_free};
