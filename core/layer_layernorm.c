/* Layer normalisation over the channel dimension C at each (h, w) position of each sample:
 * y = gamma * (x - mean) / sqrt(var + eps) + beta, with biased variance like PyTorch's
 * nn.LayerNorm(C). Parameters are gamma (C) then beta (C). Forward saves each position's
 * mean and 1/std so backward need not recompute the statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"

typedef struct {
  float *mean;  // (max_batch * h * w) per-position mean of the last forward
  float *rstd;  // (max_batch * h * w) per-position 1 / sqrt(var + eps)
} norm_state;

static int norm_setup(ddpc_layer *layer, int max_batch) {
  float eps = layer->spec.eps;
  if (!(eps >= 0.0f) || isinf(eps))
    return ddpc_layer_fail(layer, "eps must be a finite number >= 0, got %g", (double)eps);
  layer->out = layer->in;
  layer->n_params = 2 * (size_t)layer->in.c;
  if (ddpc_layer_check_sizes(layer, max_batch) != 0) return -1;
  size_t rows = (size_t)layer->in.h * (size_t)layer->in.w * (size_t)max_batch;
  if (ddpc_layer_claim(layer, "its statistics", 2.0 * (double)rows * sizeof(float)) != 0) return -1;
  if (ddpc_layer_planning(layer)) return 0;
  norm_state *st = ddpc_calloc(1, sizeof *st, "layernorm state");
  if (!st) return -1;
  st->mean = ddpc_alloc_aligned(2 * rows * sizeof(float), "layernorm statistics");
  if (!st->mean) {
    free(st);
    return -1;
  }
  st->rstd = st->mean + rows;
  layer->state = st;
  return 0;
}

static void norm_init_params(ddpc_layer *layer, uint64_t seed) {
  (void)seed;
  int C = layer->in.c;
  for (int i = 0; i < C; i++) {
    layer->params[i] = 1.0f;      // gamma
    layer->params[C + i] = 0.0f;  // beta
  }
}

static void norm_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  (void)ctx;
  norm_state *st = layer->state;
  int C = layer->in.c;
  size_t rows = (size_t)layer->in.h * (size_t)layer->in.w * (size_t)batch;
  const float *gamma = layer->params, *beta = layer->params + C;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    float sum = 0.0f;
    for (int i = 0; i < C; i++) sum += xr[i];
    float mean = sum / (float)C;
    float sq = 0.0f;  // two passes: no cancellation for inputs with a large mean
    for (int i = 0; i < C; i++) sq += (xr[i] - mean) * (xr[i] - mean);
    float rstd = 1.0f / sqrtf(sq / (float)C + layer->spec.eps);
    st->mean[r] = mean;
    st->rstd[r] = rstd;
    for (int i = 0; i < C; i++) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
  }
}

static void norm_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                          int batch) {
  (void)y;
  const norm_state *st = layer->state;
  int C = layer->in.c;
  size_t rows = (size_t)layer->in.h * (size_t)layer->in.w * (size_t)batch;
  const float *gamma = layer->params;
  float *dgamma = layer->grads, *dbeta = layer->grads + C;
  memset(layer->grads, 0, 2 * (size_t)C * sizeof(float));
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * C, *dyr = dy + r * C;
    float mean = st->mean[r], rstd = st->rstd[r];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int i = 0; i < C; i++) {
      float xhat = (xr[i] - mean) * rstd;
      dgamma[i] += dyr[i] * xhat;
      dbeta[i] += dyr[i];
      float g = dyr[i] * gamma[i];
      sum_g += g;
      sum_gx += g * xhat;
    }
    if (!dx) continue;
    float *dxr = dx + r * C;
    float mg = sum_g / (float)C, mgx = sum_gx / (float)C;
    for (int i = 0; i < C; i++) {
      float xhat = (xr[i] - mean) * rstd;
      dxr[i] = rstd * (dyr[i] * gamma[i] - mg - xhat * mgx);
    }
  }
}

static void norm_free(ddpc_layer *layer) {
  norm_state *st = layer->state;
  if (st) free(st->mean);
  free(st);
  layer->state = NULL;
}

const ddpc_layer_ops ddpc_layer_layernorm_ops = {
    norm_setup, norm_init_params, norm_forward, norm_backward, norm_free,
};
