/* Flatten: (h, w, c) becomes the vector (1, 1, h*w*c). Activations are already stored HWC
 * and contiguous per sample, so both directions are a plain copy. */
#include <string.h>

#include "core/layer.h"

static int flatten_setup(ddpc_layer *layer, int max_batch) {
  layer->out = ddpc_shape_vector((int)ddpc_shape_size(layer->in));
  layer->n_params = 0;
  return ddpc_layer_check_sizes(layer, max_batch);
}

static void flatten_init_params(ddpc_layer *layer, uint64_t seed) { (void)layer, (void)seed; }
static void flatten_free(ddpc_layer *layer) { (void)layer; }

static void flatten_forward(ddpc_layer *layer, const float *x, float *y, int batch,
                            const ddpc_forward_ctx *ctx) {
  (void)ctx;
  if (y != x) memcpy(y, x, ddpc_shape_size(layer->in) * (size_t)batch * sizeof(float));
}

static void flatten_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                             int batch) {
  (void)x, (void)y;
  if (dx && dx != dy) memcpy(dx, dy, ddpc_shape_size(layer->in) * (size_t)batch * sizeof(float));
}

const ddpc_layer_ops ddpc_layer_flatten_ops = {
    flatten_setup, flatten_init_params, flatten_forward, flatten_backward, flatten_free,
};
