/* 2-D convolution on channels-last (HWC) activations. The algorithm is chosen from the
 * layer's shape alone (never the batch, so every rank and step computes alike):
 *   - 3x3 stride 1 with enough input channels: Winograd F(2x2, 3x3) (conv_winograd.c,
 *     2.25x fewer multiplications);
 *   - 1x1 stride 1 without padding: the input already is the im2col matrix, one GEMM;
 *   - few input channels (a first layer): direct loops (conv_direct.c);
 *   - anything else: im2col and one GEMM, as described here.
 * Weights are (filters, kh, kw, cin) row-major, then bias (filters): with that order one
 * im2col row per output position, laid out (kh, kw, cin), makes the whole batch a single
 * GEMM, and each (kh) slice of a row is one contiguous run of kw*cin input floats. The
 * im2col matrix is zeroed once: the entries that fall on padding are the same for every
 * batch, so im2col only copies the in-range runs. Backward reuses the im2col matrix of the
 * last forward for the weight gradient; d(col) goes to its own scratch, except for layer 0
 * whose input gradient the model never asks for (there col itself is borrowed and
 * re-zeroed if that ever happens). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/conv_direct.h"
#include "core/conv_winograd.h"
#include "core/error.h"
#include "core/layer.h"

typedef enum {
  CONV_IM2COL,     // im2col, one GEMM
  CONV_POINTWISE,  // 1x1, stride 1, no padding: the GEMM straight on the input
  CONV_WINOGRAD,   // in wg
  CONV_DIRECT,     // in cd
} conv_algorithm;

typedef struct {
  int kernel;             // square window size
  int stride;             // step between windows
  int padding;            // zeros on each side
  int kkc;                // columns of the im2col matrix: kernel * kernel * in channels
  conv_algorithm algo;    // how forward and backward compute
  ddpc_conv_winograd wg;  // CONV_WINOGRAD's scratch
  ddpc_conv_direct cd;    // CONV_DIRECT's scratch
  bool col_valid;         // col holds im2col(x) of the last forward
  size_t col_dirty;       // leading floats of col overwritten when it was borrowed for d(col)
  float *col;             // (max_batch * out.h * out.w, kkc) im2col scratch, for CONV_IM2COL only
  float *dcol;            // same size, d(col) in backward; NULL for layer 0 (borrows col)
} conv_state;

static conv_algorithm conv_choose(const ddpc_layer_spec *s, ddpc_shape in) {
  if (ddpc_conv_winograd_applies(s->kernel, s->stride, in.c)) return CONV_WINOGRAD;
  if (s->kernel == 1 && s->stride == 1 && s->padding == 0) return CONV_POINTWISE;
  if (ddpc_conv_direct_applies(in.c)) return CONV_DIRECT;
  return CONV_IM2COL;
}

static conv_state *conv_state_new(const ddpc_layer *layer, int kkc, conv_algorithm algo) {
  conv_state *st = ddpc_calloc(1, sizeof *st, "conv2d state");
  if (!st) return NULL;
  st->kernel = layer->spec.kernel;
  st->stride = layer->spec.stride;
  st->padding = layer->spec.padding;
  st->kkc = kkc;
  st->algo = algo;
  return st;
}

/* Setup of CONV_WINOGRAD and CONV_DIRECT: claims their scratch, then allocates it. */
static int conv_setup_kernel(ddpc_layer *layer, int kkc, conv_algorithm algo, int max_batch) {
  const ddpc_layer_spec *s = &layer->spec;
  bool wg = algo == CONV_WINOGRAD;
  double floats = wg ? ddpc_conv_winograd_floats(layer->in, layer->out, max_batch)
                     : ddpc_conv_direct_floats(layer->in, layer->out, s->kernel, s->padding);
  if (ddpc_layer_check_floats(layer, "its convolution scratch for the batch", floats) != 0 ||
      ddpc_layer_claim(layer, "its convolution scratch", floats * sizeof(float)) != 0)
    return -1;
  if (ddpc_layer_planning(layer)) return 0;
  conv_state *st = conv_state_new(layer, kkc, algo);
  if (!st) return -1;
  int rc = wg ? ddpc_conv_winograd_init(&st->wg, layer->in, layer->out, s->padding, max_batch)
              : ddpc_conv_direct_init(&st->cd, layer->in, layer->out, s->kernel, s->stride, s->padding);
  if (rc != 0) {
    free(st);
    return -1;
  }
  layer->state = st;
  return 0;
}

static int conv_setup(ddpc_layer *layer, int max_batch) {
  const ddpc_layer_spec *s = &layer->spec;
  ddpc_shape in = layer->in;
  if (s->filters < 1) return ddpc_layer_fail(layer, "filters must be at least 1, got %d", s->filters);
  if (s->kernel < 1) return ddpc_layer_fail(layer, "kernel must be at least 1, got %d", s->kernel);
  if (s->stride < 1) return ddpc_layer_fail(layer, "stride must be at least 1, got %d", s->stride);
  if (s->padding < 0) return ddpc_layer_fail(layer, "padding must be at least 0, got %d", s->padding);
  if ((double)in.h + 2.0 * s->padding < s->kernel || (double)in.w + 2.0 * s->padding < s->kernel)
    return ddpc_layer_fail(layer, "kernel %d with padding %d does not fit input %dx%dx%d", s->kernel,
                           s->padding, in.h, in.w, in.c);
  double kkc = (double)s->kernel * s->kernel * in.c;
  double count = (double)s->filters * (kkc + (s->bias ? 1.0 : 0.0));
  if (ddpc_layer_check_floats(layer, "its parameters", count) != 0) return -1;
  layer->out.h = (in.h + 2 * s->padding - s->kernel) / s->stride + 1;
  layer->out.w = (in.w + 2 * s->padding - s->kernel) / s->stride + 1;
  layer->out.c = s->filters;
  layer->n_params = (size_t)count;
  if (ddpc_layer_check_sizes(layer, max_batch) != 0) return -1;
  conv_algorithm algo = conv_choose(s, in);
  if (algo == CONV_WINOGRAD || algo == CONV_DIRECT) return conv_setup_kernel(layer, (int)kkc, algo, max_batch);
  bool pointwise = algo == CONV_POINTWISE;
  double col_floats = (double)max_batch * layer->out.h * layer->out.w * kkc;
  if (!pointwise && ddpc_layer_check_floats(layer, "its im2col scratch for the batch", col_floats) != 0)
    return -1;
  // Both im2col buffers are claimed before either is allocated (and zeroed).
  bool has_dcol = !pointwise && layer->index > 0;
  double col_bytes = pointwise ? 0.0 : col_floats * sizeof(float) * (has_dcol ? 2.0 : 1.0);
  if (ddpc_layer_claim(layer, has_dcol ? "its im2col scratch and gradient" : "its im2col scratch", col_bytes) != 0)
    return -1;
  if (ddpc_layer_planning(layer)) return 0;
  conv_state *st = conv_state_new(layer, (int)kkc, algo);
  if (!st) return -1;
  if (!pointwise) {
    st->col = ddpc_alloc_aligned((size_t)col_floats * sizeof(float), "conv2d im2col scratch");
    if (st->col && has_dcol) st->dcol = ddpc_alloc_aligned((size_t)col_floats * sizeof(float), "conv2d im2col gradient");
    if (!st->col || (has_dcol && !st->dcol)) {
      free(st->col);
      free(st);
      return -1;
    }
  }
  layer->state = st;
  return 0;
}

/* Copies (or, with add, accumulates) n floats. Runs are often a handful of floats (cin 1
 * gives kernel-wide runs), where a library call costs more than the copy. */
static inline void conv_run(float *restrict dst, const float *restrict src, size_t n, bool add) {
  if (add) {
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
  } else if (n <= 16) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
  } else {
    memcpy(dst, src, n * sizeof(float));
  }
}

/* gather (scatter == false): col = im2col(x); entries over the padding are left untouched,
 * they are zero from the allocation. scatter (scatter == true): x += col2im(col), the
 * adjoint; x must be zeroed by the caller. One traversal for both keeps the two index
 * computations identical by construction. */
static void conv_im2col(const ddpc_layer *layer, float *x, float *col, int batch, bool scatter) {
  const conv_state *st = layer->state;
  int H = layer->in.h, W = layer->in.w, C = layer->in.c;
  int OH = layer->out.h, OW = layer->out.w, K = st->kernel, S = st->stride, P = st->padding;
  size_t kc = (size_t)K * C;
  float *row = col;
  for (int b = 0; b < batch; b++) {
    float *xb = x + (size_t)b * H * W * C;
    for (int oh = 0; oh < OH; oh++) {
      for (int ow = 0; ow < OW; ow++, row += st->kkc) {
        int iw0 = ow * S - P;
        int kw_lo = iw0 < 0 ? -iw0 : 0;
        int kw_hi = W - iw0 < K ? W - iw0 : K;
        if (kw_hi <= kw_lo) continue;
        size_t lo = (size_t)kw_lo * C, n = (size_t)(kw_hi - kw_lo) * C;
        for (int kh = 0; kh < K; kh++) {
          int ih = oh * S - P + kh;
          if (ih < 0 || ih >= H) continue;
          float *in = xb + ((size_t)ih * W + (size_t)(iw0 + kw_lo)) * C;
          float *c = row + kh * kc + lo;
          if (scatter) conv_run(in, c, n, true);
          else conv_run(c, in, n, false);
        }
      }
    }
  }
}

static void conv_init_params(ddpc_layer *layer, uint64_t seed) {
  const conv_state *st = layer->state;
  int F = layer->spec.filters;
  size_t nw = (size_t)F * st->kkc;
  // fan_out as PyTorch counts it for conv: filters * kh * kw
  ddpc_layer_init_weights(layer, layer->params, nw, st->kkc, F * st->kernel * st->kernel, seed);
  for (size_t i = nw; i < layer->n_params; i++) layer->params[i] = 0.0f;
}

/* col = im2col(x), restoring the zero padding first if backward borrowed col. */
static void conv_gather(ddpc_layer *layer, const float *x, int batch) {
  conv_state *st = layer->state;
  if (st->col_dirty) {
    memset(st->col, 0, st->col_dirty * sizeof(float));
    st->col_dirty = 0;
  }
  // im2col only reads x in gather mode; the cast serves the shared traversal's signature
  conv_im2col(layer, (float *)x, st->col, batch, false);
  st->col_valid = true;
}

static void conv_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  (void)ctx;
  conv_state *st = layer->state;
  int F = layer->spec.filters, rows = batch * layer->out.h * layer->out.w;
  const float *b = layer->spec.bias ? layer->params + (size_t)F * st->kkc : NULL;
  if (st->algo == CONV_WINOGRAD) {
    ddpc_conv_winograd_forward(&st->wg, layer->params, b, x, y, batch);
    return;
  }
  if (st->algo == CONV_DIRECT) {
    ddpc_conv_direct_forward(&st->cd, layer->params, b, x, y, batch);
    return;
  }
  const float *col = x;
  if (st->algo == CONV_IM2COL) {
    conv_gather(layer, x, batch);
    col = st->col;
  }
  ddpc_layer_dense_forward(col, layer->params, b, y, rows, F, st->kkc);
}

static void conv_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                          int batch) {
  (void)y;
  conv_state *st = layer->state;
  int F = layer->spec.filters, rows = batch * layer->out.h * layer->out.w;
  float *db = layer->spec.bias ? layer->grads + (size_t)F * st->kkc : NULL;
  if (st->algo == CONV_WINOGRAD) {
    ddpc_conv_winograd_backward(&st->wg, layer->params, x, dy, layer->grads, db, dx, batch);
    return;
  }
  if (st->algo == CONV_DIRECT) {
    ddpc_conv_direct_backward(&st->cd, layer->params, x, dy, layer->grads, dx, batch);
    if (db) ddpc_layer_bias_gradient(dy, db, rows, F);
    return;
  }
  if (st->algo == CONV_POINTWISE) {
    ddpc_layer_dense_backward(x, layer->params, dy, layer->grads, db, dx, rows, F, st->kkc);
    return;
  }
  if (!st->col_valid) conv_gather(layer, x, batch);
  float *dcol = !dx ? NULL : st->dcol ? st->dcol : st->col;
  // dense_backward reads col for dW before it writes d(col), so borrowing col is safe.
  ddpc_layer_dense_backward(st->col, layer->params, dy, layer->grads, db, dcol, rows, F, st->kkc);
  if (!dx) return;
  if (dcol == st->col) {
    st->col_valid = false;
    st->col_dirty = (size_t)rows * st->kkc;
  }
  memset(dx, 0, ddpc_shape_size(layer->in) * (size_t)batch * sizeof(float));
  conv_im2col(layer, dx, dcol, batch, true);
}

static void conv_free(ddpc_layer *layer) {
  conv_state *st = layer->state;
  if (st) {
    if (st->algo == CONV_WINOGRAD) ddpc_conv_winograd_free(&st->wg);
    if (st->algo == CONV_DIRECT) ddpc_conv_direct_free(&st->cd);
    free(st->col);
    free(st->dcol);
  }
  free(st);
  layer->state = NULL;
}

const ddpc_layer_ops ddpc_layer_conv2d_ops = {
    conv_setup, conv_init_params, conv_forward, conv_backward, conv_free,
};
