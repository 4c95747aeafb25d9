/* Inverted dropout: in training each element is zeroed with probability p and the rest are
 * scaled by 1/(1-p), so evaluation is the identity. The mask is counter-based, drawn from
 * ddpc_rng_make(seed, DDPC_RNG_DROPOUT, step, layer index) at each element's place in the
 * global batch (ddpc_forward_ctx): the same step of a resumed run draws the same mask, and
 * N ranks draw the masks one rank draws for the same samples. It is saved as the
 * per-element factor (0 or 1/(1-p)) for backward. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"
#include "core/rng.h"

typedef struct {
  float *mask;    // (max_batch, in) factor applied in the last training forward
  bool training;  // whether the last forward applied the mask (else backward is the identity)
} dropout_state;

static int dropout_setup(ddpc_layer *layer, int max_batch) {
  float p = layer->spec.p;
  if (!(p >= 0.0f && p < 1.0f))
    return ddpc_layer_fail(layer, "p must be in [0, 1), got %g", (double)p);
  layer->out = layer->in;
  layer->n_params = 0;
  if (ddpc_layer_check_sizes(layer, max_batch) != 0) return -1;
  size_t mask_bytes = ddpc_shape_size(layer->in) * (size_t)max_batch * sizeof(float);
  if (ddpc_layer_claim(layer, "its mask", (double)mask_bytes) != 0) return -1;
  if (ddpc_layer_planning(layer)) return 0;
  dropout_state *st = ddpc_calloc(1, sizeof *st, "dropout state");
  if (!st) return -1;
  st->mask = ddpc_alloc_aligned(mask_bytes, "dropout mask");
  if (!st->mask) {
    free(st);
    return -1;
  }
  layer->state = st;
  return 0;
}

static void dropout_init_params(ddpc_layer *layer, uint64_t seed) { (void)layer, (void)seed; }

static void dropout_forward(ddpc_layer *layer, const float *x, float *y, int batch,
                            const ddpc_forward_ctx *ctx) {
  dropout_state *st = layer->state;
  size_t n = ddpc_shape_size(layer->in) * (size_t)batch;
  st->training = ctx && ctx->training && layer->spec.p > 0.0f;
  if (!st->training) {
    if (y != x) memcpy(y, x, n * sizeof(float));
    return;
  }
  ddpc_rng rng = ddpc_rng_make(ctx->seed, DDPC_RNG_DROPOUT, ctx->step, (uint64_t)layer->index);
  // Element e of global row g is element g * per + e of the stream; each 64-bit draw gives
  // two 32-bit uniforms, and an element is dropped when its uniform is below p * 2^32.
  uint64_t threshold = (uint64_t)((double)layer->spec.p * 4294967296.0);
  float scale = 1.0f / (1.0f - layer->spec.p);
  size_t per = ddpc_shape_size(layer->in);
  uint64_t world = ctx->world > 1 ? ctx->world : 1;
  for (int j = 0; j < batch; j++) {
    uint64_t first = ((uint64_t)j * world + ctx->rank) * per;
    size_t row = (size_t)j * per;
    uint64_t bits = 0;
    for (size_t e = 0; e < per; e++) {
      uint64_t at = first + e;
      if (e == 0 || (at & 1) == 0) bits = ddpc_rng_draw_at(&rng, at / 2);
      uint64_t u = (at & 1) ? bits >> 32 : bits & 0xffffffffu;
      float m = u >= threshold ? scale : 0.0f;
      st->mask[row + e] = m;
      y[row + e] = x[row + e] * m;
    }
  }
}

static void dropout_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                             int batch) {
  (void)x, (void)y;
  if (!dx) return;
  const dropout_state *st = layer->state;
  size_t n = ddpc_shape_size(layer->in) * (size_t)batch;
  if (!st->training) {
    if (dx != dy) memcpy(dx, dy, n * sizeof(float));
    return;
  }
  for (size_t i = 0; i < n; i++) dx[i] = dy[i] * st->mask[i];
}

static void dropout_free(ddpc_layer *layer) {
  dropout_state *st = layer->state;
  if (st) free(st->mask);
  free(st);
  layer->state = NULL;
}

const ddpc_layer_ops ddpc_layer_dropout_ops = {
    dropout_setup, dropout_init_params, dropout_forward, dropout_backward, dropout_free,
};
