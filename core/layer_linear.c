/* Fully connected layer: y = x W^T + b with W (out x in) row-major like PyTorch's
 * nn.Linear, then b (out). A non-vector input (h, w, c) is used as one vector of h*w*c
 * features in HWC order, so no flatten is needed in front of it. */
#include <stddef.h>

#include "core/layer.h"

static int linear_in_features(const ddpc_layer *layer) { return (int)ddpc_shape_size(layer->in); }

static int linear_setup(ddpc_layer *layer, int max_batch) {
  if (layer->spec.units < 1)
    return ddpc_layer_fail(layer, "units must be at least 1, got %d", layer->spec.units);
  double in = (double)ddpc_shape_size(layer->in);
  double count = (double)layer->spec.units * (in + (layer->spec.bias ? 1.0 : 0.0));
  if (ddpc_layer_check_floats(layer, "its parameters", count) != 0) return -1;
  layer->out = ddpc_shape_vector(layer->spec.units);
  layer->n_params = (size_t)count;
  return ddpc_layer_check_sizes(layer, max_batch);
}

static void linear_init_params(ddpc_layer *layer, uint64_t seed) {
  int in = linear_in_features(layer), out = layer->spec.units;
  size_t nw = (size_t)out * (size_t)in;
  ddpc_layer_init_weights(layer, layer->params, nw, in, out, seed);
  for (size_t i = nw; i < layer->n_params; i++) layer->params[i] = 0.0f;  // bias
}

static void linear_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  (void)ctx;
  int in = linear_in_features(layer), out = layer->spec.units;
  const float *b = layer->spec.bias ? layer->params + (size_t)out * in : NULL;
  ddpc_layer_linear_forward(x, layer->params, b, y, batch, out, in);
}

static void linear_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                            int batch) {
  (void)y;
  int in = linear_in_features(layer), out = layer->spec.units;
  float *db = layer->spec.bias ? layer->grads + (size_t)out * in : NULL;
  ddpc_layer_dense_backward(x, layer->params, dy, layer->grads, db, dx, batch, out, in);
}

static void linear_free(ddpc_layer *layer) { (void)layer; }

const ddpc_layer_ops ddpc_layer_linear_ops = {
    linear_setup, linear_init_params, linear_forward, linear_backward, linear_free,
};
