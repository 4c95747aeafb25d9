/* Max pooling over square windows of each channel (no padding). Forward records, per output
 * element, where its maximum came from (first maximum in window row-major order wins), so
 * backward only routes dy to those positions.
 *
 * Windows that tile the input (stride == kernel, the usual 2x2 stride 2) take a path of
 * their own: the maximum's place is a one-byte index within its window, and backward
 * writes every element of dx once, in order (each input position lies in at most one
 * window), instead of zeroing dx and scattering into it. Overlapping or gapped windows
 * keep a 32-bit offset per output and the zero-and-scatter backward, whose sums over
 * overlapping windows must stay in the same order. Both give the same bits.
 *
 * Where the input is a ReLU's output (layer->input_relu), the tiled backward also applies
 * that ReLU's backward, and the model skips it: the ReLU passes dx where its output is > 0;
 * at a window's maximum its output is the pool's output y, and everywhere else dx is 0
 * already, so masking by y > 0 gives exactly the bits the ReLU would, without a pass over
 * the ReLU-sized gradient. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"

/* Largest tiling kernel whose window index (kernel * kernel - 1) fits the byte. */
#define POOL_TILED_MAX_KERNEL 16

typedef struct {
  int kernel;      // window size
  int stride;      // step between windows (spec stride 0 means kernel)
  bool tiled;      // stride == kernel <= POOL_TILED_MAX_KERNEL: argmax is uint8, else uint32
  void *argmax;    // (max_batch, out): tiled, index kh * kernel + kw of each maximum in its
                   // window; otherwise its offset within its input sample
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
  bool tiled = stride == s->kernel && s->kernel <= POOL_TILED_MAX_KERNEL;
  layer->dx_relu_applied = tiled && layer->input_relu;
  size_t argmax_bytes = ddpc_shape_size(layer->out) * (size_t)max_batch * (tiled ? sizeof(uint8_t) : sizeof(uint32_t));
  if (ddpc_layer_claim(layer, "its argmax indices", (double)argmax_bytes) != 0) return -1;
  if (ddpc_layer_planning(layer)) return 0;
  pool_state *st = ddpc_calloc(1, sizeof *st, "maxpool2d state");
  if (!st) return -1;
  st->kernel = s->kernel;
  st->stride = stride;
  st->tiled = tiled;
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

/* GCC/Clang generic vectors of 16 lanes (one AVX-512 register; narrower targets split them). */
typedef float pool_vf __attribute__((vector_size(64)));
typedef int32_t pool_vi __attribute__((vector_size(64)));
typedef uint8_t pool_vb __attribute__((vector_size(16)));

/* b ? v : m, lane by lane (b all ones or all zeros), bits untouched. A macro: vectors passed
 * to a function change the ABI on targets without AVX-512 (-Wpsabi). */
#define POOL_VSELECT(b, v, m) ((pool_vf)(((pool_vi)(v) & (b)) | ((pool_vi)(m) & ~(b))))

/* The 2x2 window at x0 (row stride WC floats): the same comparisons in the same order as
 * pool_tiled_window, but 16 channels at once with the maximum and its index kept in
 * registers. Written with explicit vectors because the compiler will not vectorise the
 * plain chain of selects (a float compare may trap, under the default -ftrapping-math,
 * which blocks its if-conversion): this is 2.6x faster than the generic window loop on
 * data in cache. */
static void pool_tiled_window2(const float *restrict x0, size_t WC, float *restrict yo, uint8_t *restrict am,
                               int C) {
  const float *x1 = x0 + WC;
  int c = 0;
  for (; c + 16 <= C; c += 16) {
    pool_vf m, v;
    pool_vi b, i;
    memcpy(&m, x0 + c, sizeof m);
    memcpy(&v, x0 + C + c, sizeof v);
    b = v > m;  // strict: the first maximum wins
    m = POOL_VSELECT(b, v, m);
    i = b & 1;
    memcpy(&v, x1 + c, sizeof v);
    b = v > m;
    m = POOL_VSELECT(b, v, m);
    i = (i & ~b) | (b & 2);
    memcpy(&v, x1 + C + c, sizeof v);
    b = v > m;
    m = POOL_VSELECT(b, v, m);
    i = (i & ~b) | (b & 3);
    memcpy(yo + c, &m, sizeof m);
    pool_vb ib = __builtin_convertvector(i, pool_vb);
    memcpy(am + c, &ib, sizeof ib);
  }
  for (; c < C; c++) {  // the channels past the last 16
    float m = x0[c];
    uint8_t i = 0;
    if (x0[C + c] > m) m = x0[C + c], i = 1;
    if (x1[c] > m) m = x1[c], i = 2;
    if (x1[C + c] > m) m = x1[C + c], i = 3;
    yo[c] = m;
    am[c] = i;
  }
}

/* Any tiling window (K x K at x0, row stride WC floats): one sweep over C per position. */
static void pool_tiled_window(const float *restrict x0, size_t WC, float *restrict yo, uint8_t *restrict am,
                              int K, int C) {
  for (int c = 0; c < C; c++) {
    yo[c] = x0[c];
    am[c] = 0;
  }
  for (int kh = 0; kh < K; kh++) {
    for (int kw = kh == 0 ? 1 : 0; kw < K; kw++) {
      const float *xw = x0 + (size_t)kh * WC + (size_t)kw * C;
      uint8_t idx = (uint8_t)(kh * K + kw);
      for (int c = 0; c < C; c++) {
        float v = xw[c];
        bool better = v > yo[c];  // strict: the first maximum wins
        yo[c] = better ? v : yo[c];
        am[c] = better ? idx : am[c];
      }
    }
  }
}

static void pool_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  (void)ctx;
  pool_state *st = layer->state;
  int W = layer->in.w, C = layer->in.c, OH = layer->out.h, OW = layer->out.w;
  int K = st->kernel, S = st->stride;
  size_t in_size = ddpc_shape_size(layer->in), WC = (size_t)W * C;
  float *yo = y;
  for (int b = 0; b < batch; b++) {
    const float *xb = x + (size_t)b * in_size;
    if (st->tiled) {
      uint8_t *am = (uint8_t *)st->argmax + (size_t)b * ddpc_shape_size(layer->out);
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++, yo += C, am += C) {
          const float *x0 = xb + (size_t)oh * K * WC + (size_t)ow * K * C;
          if (K == 2)
            pool_tiled_window2(x0, WC, yo, am, C);
          else
            pool_tiled_window(x0, WC, yo, am, K, C);
        }
      continue;
    }
    uint32_t *am = (uint32_t *)st->argmax + (size_t)b * ddpc_shape_size(layer->out);
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++, yo += C, am += C)
        pool_window(xb, yo, am, (uint32_t)(((size_t)oh * S * W + (size_t)ow * S) * C), K, W, C);
  }
}

/* dx of one sample for tiling windows, written row by row in memory order: each element is
 * dy of its window's output where it was the maximum (0 + dy, as the scatter onto zeros
 * gave, so a -0 becomes +0 the same way), else 0; rows and columns that no window covers
 * (the input's remainder past OH * K, OW * K) are 0. With y (the outputs) not NULL, a
 * maximum whose output is not > 0 gets 0 too (the ReLU before it, applied). */
static void pool_tiled_backward(const uint8_t *restrict am, const float *restrict y, const float *restrict dy,
                                float *restrict dx, int H, int W, int C, int OH, int OW, int K) {
  size_t WC = (size_t)W * C, OWC = (size_t)OW * C;
  for (int oh = 0; oh < OH; oh++) {
    const uint8_t *ar = am + (size_t)oh * OWC;
    const float *gr = dy + (size_t)oh * OWC, *yr = y ? y + (size_t)oh * OWC : NULL;
    for (int kh = 0; kh < K; kh++) {
      float *d = dx + ((size_t)oh * K + kh) * WC;
      for (int ow = 0; ow < OW; ow++)
        for (int kw = 0; kw < K; kw++, d += C) {
          uint8_t idx = (uint8_t)(kh * K + kw);
          const uint8_t *a = ar + (size_t)ow * C;
          const float *g = gr + (size_t)ow * C;
          if (yr) {
            const float *yo = yr + (size_t)ow * C;
            for (int c = 0; c < C; c++) d[c] = a[c] == idx && yo[c] > 0.0f ? 0.0f + g[c] : 0.0f;
          } else {
            for (int c = 0; c < C; c++) d[c] = a[c] == idx ? 0.0f + g[c] : 0.0f;
          }
        }
      memset(d, 0, (WC - (size_t)OW * K * C) * sizeof(float));
    }
  }
  memset(dx + (size_t)OH * K * WC, 0, (size_t)(H - OH * K) * WC * sizeof(float));
}

static void pool_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                          int batch) {
  (void)x;
  if (!dx) return;
  const pool_state *st = layer->state;
  size_t in_size = ddpc_shape_size(layer->in), out_size = ddpc_shape_size(layer->out);
  if (st->tiled) {
    for (int b = 0; b < batch; b++)
      pool_tiled_backward((const uint8_t *)st->argmax + (size_t)b * out_size,
                          layer->dx_relu_applied ? y + (size_t)b * out_size : NULL, dy + (size_t)b * out_size,
                          dx + (size_t)b * in_size, layer->in.h, layer->in.w, layer->in.c, layer->out.h,
                          layer->out.w, st->kernel);
    return;
  }
  memset(dx, 0, in_size * (size_t)batch * sizeof(float));
  for (int b = 0; b < batch; b++) {
    float *dxb = dx + (size_t)b * in_size;
    const float *dyb = dy + (size_t)b * out_size;
    const uint32_t *am = (const uint32_t *)st->argmax + (size_t)b * out_size;
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
