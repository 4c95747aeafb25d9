/* Max pooling over square windows of each channel (no padding). Forward records, per output
 * element, where its maximum came from (first maximum in window row-major order wins), so
 * backward is a plain scatter of dy to those positions. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"

typedef struct {
  int kernel;        // window size
  int stride;        // step between windows (spec stride 0 means kernel)
  uint32_t *argmax;  // (max_batch, out) offset of each maximum within its input sample
} pool_state;

static int pool_setup(ddpc_layer *layer, int max_batch) {
  const ddpc_layer_spec *s = &layer->spec;
  ddpc_shape in = layer->in;
  int stride = s->stride == 0 ? s->kernel : s->stride;
  if (s->kernel < 1) return ddpc_layer_fail(layer, "kernel must be at least 1, got %d", s->kernel);
  if (stride < 1) return ddpc_layer_fail(layer, "stride must be at least 1, got %d", s->stride);
  if (s->kernel > in.h || s->kernel > in.w)
    return ddpc_layer_fail(layer, "kernel %d does not fit input %dx%dx%d", s->kernel, in.h, in.w, in.c);
  layer->out.h = (in.h - s->kernel) / stride + 1;
  layer->out.w = (in.w - s->kernel) / stride + 1;
  layer->out.c = in.c;
  layer->n_params = 0;
  if (ddpc_layer_check_sizes(layer, max_batch) != 0) return -1;
  size_t argmax_bytes = ddpc_shape_size(layer->out) * (size_t)max_batch * sizeof(uint32_t);
  if (ddpc_layer_claim(layer, "its argmax indices", (double)argmax_bytes) != 0) return -1;
  if (ddpc_layer_planning(layer)) return 0;
  pool_state *st = ddpc_calloc(1, sizeof *st, "maxpool2d state");
  if (!st) return -1;
  st->kernel = s->kernel;
  st->stride = stride;
  st->argmax = ddpc_alloc_aligned(argmax_bytes, "maxpool2d argmax");
  if (!st->argmax) {
    free(st);
    return -1;
  }
  layer->state = st;
  return 0;
}

static void pool_init_params(ddpc_layer *layer, uint64_t seed) { (void)layer, (void)seed; }

/* One output position: the maximum over the window of each of C channels. restrict and
 * branch-free selects let the compiler vectorise across channels (the branchy form with
 * possibly aliasing pointers ran ~10x slower). */
static void pool_window(const float *restrict xb, float *restrict yo, uint32_t *restrict am, uint32_t first,
                        int K, int W, int C) {
  for (int c = 0; c < C; c++) {
    yo[c] = xb[(size_t)first + (size_t)c];
    am[c] = first + (uint32_t)c;
  }
  for (int kh = 0; kh < K; kh++) {
    for (int kw = kh == 0 ? 1 : 0; kw < K; kw++) {
      uint32_t base = first + (uint32_t)(((size_t)kh * W + kw) * C);
      const float *xw = xb + base;  // a pointer, not xb[base + c], which may wrap and blocks SIMD
      for (int c = 0; c < C; c++) {
        float v = xw[c];
        bool better = v > yo[c];  // strict: the first maximum wins
        yo[c] = better ? v : yo[c];
        am[c] = better ? base + (uint32_t)c : am[c];
      }
    }
  }
}

static void pool_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  (void)ctx;
  pool_state *st = layer->state;
  int W = layer->in.w, C = layer->in.c, OH = layer->out.h, OW = layer->out.w;
  int K = st->kernel, S = st->stride;
  size_t in_size = ddpc_shape_size(layer->in);
  float *yo = y;
  uint32_t *am = st->argmax;
  for (int b = 0; b < batch; b++) {
    const float *xb = x + (size_t)b * in_size;
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++, yo += C, am += C)
        pool_window(xb, yo, am, (uint32_t)(((size_t)oh * S * W + (size_t)ow * S) * C), K, W, C);
  }
}

static void pool_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                          int batch) {
  (void)x, (void)y;
  if (!dx) return;
  const pool_state *st = layer->state;
  size_t in_size = ddpc_shape_size(layer->in), out_size = ddpc_shape_size(layer->out);
  memset(dx, 0, in_size * (size_t)batch * sizeof(float));
  for (int b = 0; b < batch; b++) {
    float *dxb = dx + (size_t)b * in_size;
    const float *dyb = dy + (size_t)b * out_size;
    const uint32_t *am = st->argmax + (size_t)b * out_size;
    for (size_t i = 0; i < out_size; i++) dxb[am[i]] += dyb[i];
  }
}

static void pool_free(ddpc_layer *layer) {
  pool_state *st = layer->state;
  if (st) free(st->argmax);
  free(st);
  layer->state = NULL;
}

const ddpc_layer_ops ddpc_layer_maxpool2d_ops = {
    pool_setup, pool_init_params, pool_forward, pool_backward, pool_free,
};
