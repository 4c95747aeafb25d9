/* Direct convolution for few input channels (see conv_direct.h). The forward keeps
 * DIRECT_PIXELS output pixels times DIRECT_LANES filters of accumulators, which the
 * compiler holds in vector registers: independent sums hide the add latency, and each
 * weight vector loaded serves all pixels of the group. Reading from a zero-padded copy of
 * the image keeps the loops free of bounds tests. */
#include "core/conv_direct.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define DIRECT_LANES 16      // filters per accumulator vector (one AVX-512 register)
#define DIRECT_PIXELS 8      // output pixels computed together in the forward
#define DIRECT_TERMS 4       // window terms whose weight gradients are summed together

// DIRECT_LANES floats; GCC and Clang split it into whatever vectors the target has.
typedef float direct_vec __attribute__((vector_size(DIRECT_LANES * sizeof(float))));
#define DIRECT_MAX_IN_CHANNELS 4

bool ddpc_conv_direct_applies(int in_c) { return in_c <= DIRECT_MAX_IN_CHANNELS; }

static int direct_round_filters(int filters) { return (filters + DIRECT_LANES - 1) / DIRECT_LANES * DIRECT_LANES; }

static size_t direct_padded_floats(ddpc_shape in, int padding) {
  return (size_t)(in.h + 2 * padding) * (size_t)(in.w + 2 * padding) * (size_t)in.c;
}

double ddpc_conv_direct_floats(ddpc_shape in, ddpc_shape out, int kernel, int padding) {
  double fp = direct_round_filters(out.c), kkc = (double)kernel * kernel * in.c;
  return 2.0 * (double)direct_padded_floats(in, padding) + 3.0 * kkc * fp + 2.0 * fp + (double)out.h * out.w * kkc;
}

int ddpc_conv_direct_init(ddpc_conv_direct *cd, ddpc_shape in, ddpc_shape out, int kernel, int stride, int padding) {
  memset(cd, 0, sizeof *cd);
  cd->in = in;
  cd->out = out;
  cd->kernel = kernel;
  cd->stride = stride;
  cd->padding = padding;
  cd->kkc = kernel * kernel * in.c;
  cd->fp = direct_round_filters(out.c);
  size_t img = direct_padded_floats(in, padding), w = (size_t)cd->kkc * cd->fp;
  // One block, zeroed: the padding of xp and dxp and the columns beyond the filters stay 0.
  size_t dcol = (size_t)out.h * out.w * cd->kkc;
  float *all = ddpc_alloc_aligned((2 * img + 3 * w + 2 * (size_t)cd->fp + dcol) * sizeof(float), "conv2d direct scratch");
  if (!all) return -1;
  cd->wt = all;  // first, so that free(cd->wt) releases the block
  cd->dwt = cd->wt + w;
  cd->part = cd->dwt + w;
  cd->bp = cd->part + w;
  cd->gp = cd->bp + cd->fp;
  cd->xp = cd->gp + cd->fp;
  cd->dxp = cd->xp + img;
  cd->dcol = cd->dxp + img;
  return 0;
}

void ddpc_conv_direct_free(ddpc_conv_direct *cd) {
  free(cd->wt);
  memset(cd, 0, sizeof *cd);
}

/* xp's interior = image b of x; its border keeps the zeros of the allocation. */
static void direct_pad_image(ddpc_conv_direct *cd, const float *x, int b) {
  ddpc_shape in = cd->in;
  size_t row = (size_t)in.w * in.c, wp = (size_t)(in.w + 2 * cd->padding) * in.c;
  const float *src = x + (size_t)b * ddpc_shape_size(in);
  for (int h = 0; h < in.h; h++)
    memcpy(cd->xp + (size_t)(h + cd->padding) * wp + (size_t)cd->padding * in.c, src + h * row, row * sizeof(float));
}

/* wt (kkc, fp) = w (filters, kkc) transposed; bp = bias. */
static void direct_transpose_weights(ddpc_conv_direct *cd, const float *w, const float *bias) {
  int F = cd->out.c;
  for (int f = 0; f < F; f++) {
    for (int k = 0; k < cd->kkc; k++) cd->wt[(size_t)k * cd->fp + f] = w[(size_t)f * cd->kkc + k];
    cd->bp[f] = bias ? bias[f] : 0.0f;
  }
}

/* DIRECT_PIXELS outputs of one row, filters f0 .. f0 + DIRECT_LANES: src[p] is pixel p's
 * window corner in xp; n of them are stored (the others repeat the last pixel). */
static void direct_forward_group(const ddpc_conv_direct *cd, const float *const src[DIRECT_PIXELS], int f0,
                                 float *y, int n) {
  int K = cd->kernel, C = cd->in.c, F = cd->out.c, fp = cd->fp;
  size_t wp = (size_t)(cd->in.w + 2 * cd->padding) * C;
  direct_vec acc[DIRECT_PIXELS], wv;
  memcpy(&wv, cd->bp + f0, sizeof wv);
  for (int p = 0; p < DIRECT_PIXELS; p++) acc[p] = wv;
  const float *wr = cd->wt + f0;
  for (int kh = 0; kh < K; kh++)
    for (int kw = 0; kw < K; kw++)
      for (int c = 0; c < C; c++, wr += fp) {
        size_t off = kh * wp + (size_t)kw * C + c;
        memcpy(&wv, wr, sizeof wv);
        for (int p = 0; p < DIRECT_PIXELS; p++) acc[p] += src[p][off] * wv;
      }
  size_t nf = (size_t)(F - f0 < DIRECT_LANES ? F - f0 : DIRECT_LANES);
  for (int p = 0; p < n; p++) {
    direct_vec v = acc[p];
    // A constant size compiles to one vector store; a variable one calls memcpy.
    if (nf == DIRECT_LANES) memcpy(y + (size_t)p * F + f0, &v, sizeof v);
    else memcpy(y + (size_t)p * F + f0, &v, nf * sizeof(float));
  }
}

void ddpc_conv_direct_forward(ddpc_conv_direct *cd, const float *w, const float *bias, const float *x, float *y,
                              int batch) {
  ddpc_shape out = cd->out;
  int S = cd->stride, C = cd->in.c;
  size_t wp = (size_t)(cd->in.w + 2 * cd->padding) * C;
  direct_transpose_weights(cd, w, bias);
  for (int b = 0; b < batch; b++) {
    direct_pad_image(cd, x, b);
    for (int oh = 0; oh < out.h; oh++) {
      float *yrow = y + ((size_t)b * out.h + oh) * out.w * out.c;
      for (int ow0 = 0; ow0 < out.w; ow0 += DIRECT_PIXELS) {
        int n = out.w - ow0 < DIRECT_PIXELS ? out.w - ow0 : DIRECT_PIXELS;
        const float *src[DIRECT_PIXELS];
        for (int p = 0; p < DIRECT_PIXELS; p++)
          src[p] = cd->xp + (size_t)oh * S * wp + (size_t)(ow0 + (p < n ? p : n - 1)) * S * C;
        for (int f0 = 0; f0 < cd->fp; f0 += DIRECT_LANES)
          direct_forward_group(cd, src, f0, yrow + (size_t)ow0 * out.c, n);
      }
    }
  }
}

/* part[k] += x_k * g summed over one output row, k the window's (kh, kw, c) and g each
 * pixel's gradient (filters f0 .. f0 + DIRECT_LANES); DIRECT_TERMS k at a time, so that
 * as many independent sums run while each g is loaded once. */
static void direct_row_weight_gradient(ddpc_conv_direct *cd, const float *xrow, const float *dyrow, int f0) {
  int K = cd->kernel, S = cd->stride, C = cd->in.c, F = cd->out.c, OW = cd->out.w, fp = cd->fp;
  size_t wp = (size_t)(cd->in.w + 2 * cd->padding) * C, pix = (size_t)S * C;
  size_t offs[DIRECT_TERMS];
  for (int k0 = 0; k0 < cd->kkc; k0 += DIRECT_TERMS) {
    int nk = cd->kkc - k0 < DIRECT_TERMS ? cd->kkc - k0 : DIRECT_TERMS;
    direct_vec acc[DIRECT_TERMS], g;
    for (int t = 0; t < DIRECT_TERMS; t++) {
      int k = k0 + (t < nk ? t : nk - 1), kh = k / (K * C), kw = k / C % K, c = k % C;
      offs[t] = kh * wp + (size_t)kw * C + c;
      memcpy(&acc[t], cd->part + (size_t)k * fp + f0, sizeof acc[t]);
    }
    for (int ow = 0; ow < OW; ow++) {
      if (F - f0 >= DIRECT_LANES) {
        memcpy(&g, dyrow + (size_t)ow * F + f0, sizeof g);
      } else {
        memcpy(cd->gp, dyrow + (size_t)ow * F + f0, (size_t)(F - f0) * sizeof(float));
        memcpy(&g, cd->gp, sizeof g);
      }
      const float *xw = xrow + ow * pix;
      for (int t = 0; t < DIRECT_TERMS; t++) acc[t] += xw[offs[t]] * g;
    }
    for (int t = 0; t < nk; t++) memcpy(cd->part + (size_t)(k0 + t) * fp + f0, &acc[t], sizeof acc[t]);
  }
}

/* part = this image's weight gradient, (kkc, fp). */
static void direct_image_weight_gradient(ddpc_conv_direct *cd, const float *dyb) {
  ddpc_shape out = cd->out;
  size_t wp = (size_t)(cd->in.w + 2 * cd->padding) * cd->in.c;
  memset(cd->part, 0, (size_t)cd->kkc * cd->fp * sizeof(float));
  for (int f0 = 0; f0 < cd->fp; f0 += DIRECT_LANES)
    for (int oh = 0; oh < out.h; oh++)
      direct_row_weight_gradient(cd, cd->xp + (size_t)oh * cd->stride * wp, dyb + (size_t)oh * out.w * out.c, f0);
}

/* dxp += the window's share of every output pixel's gradient, over one image: one GEMM
 * d(col) = dy w for the image's pixels (a pixel's row is its window's gradient), then each
 * row added onto its window, one contiguous run of kernel * cin floats per window row. */
static void direct_image_input_gradient(ddpc_conv_direct *cd, const float *w, const float *dyb) {
  ddpc_shape out = cd->out;
  int K = cd->kernel, S = cd->stride, C = cd->in.c, F = out.c, kkc = cd->kkc, run = K * C;
  size_t wp = (size_t)(cd->in.w + 2 * cd->padding) * C;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out.h * out.w, kkc, F, 1.0f, dyb, F, w, kkc, 0.0f, cd->dcol,
              kkc);
  const float *r = cd->dcol;
  for (int oh = 0; oh < out.h; oh++)
    for (int ow = 0; ow < out.w; ow++, r += kkc) {
      float *dst = cd->dxp + (size_t)oh * S * wp + (size_t)ow * S * C;
      for (int kh = 0; kh < K; kh++) {
        float *restrict d = dst + kh * wp;
        const float *restrict src = r + kh * run;
        for (int j = 0; j < run; j++) d[j] += src[j];
      }
    }
}

void ddpc_conv_direct_backward(ddpc_conv_direct *cd, const float *w, const float *x, const float *dy, float *dw,
                               float *dx, int batch) {
  ddpc_shape in = cd->in, out = cd->out;
  int F = out.c, P = cd->padding;
  size_t kf = (size_t)cd->kkc * cd->fp, row = (size_t)in.w * in.c, wp = (size_t)(in.w + 2 * P) * in.c;
  memset(cd->dwt, 0, kf * sizeof(float));
  for (int b = 0; b < batch; b++) {
    const float *dyb = dy + (size_t)b * ddpc_shape_size(out);
    direct_pad_image(cd, x, b);
    direct_image_weight_gradient(cd, dyb);
    for (size_t i = 0; i < kf; i++) cd->dwt[i] += cd->part[i];
    if (!dx) continue;
    memset(cd->dxp, 0, direct_padded_floats(in, P) * sizeof(float));
    direct_image_input_gradient(cd, w, dyb);
    float *dxb = dx + (size_t)b * ddpc_shape_size(in);
    for (int h = 0; h < in.h; h++)
      memcpy(dxb + h * row, cd->dxp + (size_t)(h + P) * wp + (size_t)P * in.c, row * sizeof(float));
  }
  for (int f = 0; f < F; f++)
    for (int k = 0; k < cd->kkc; k++) dw[(size_t)f * cd->kkc + k] = cd->dwt[(size_t)k * cd->fp + f];
}
