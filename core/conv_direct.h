/* Direct convolution for inputs with few channels (the first layer of an image model: 1
 * or 3), on channels-last (HWC) activations. There im2col makes a GEMM with only
 * kernel * kernel * cin columns, which BLAS runs far below its peak and which writes a
 * matrix kernel * kernel times the input's size; the direct loops instead keep a few
 * output pixels' filters in vector registers and read a zero-padded copy of one image at a
 * time. Sums run in a fixed order (bias, then kh, kw, channel; the weight gradient per
 * image, images in order), so results are the same bits run after run. */
#ifndef DDPC_CORE_CONV_DIRECT_H
#define DDPC_CORE_CONV_DIRECT_H

#include <stdbool.h>

#include "core/shape.h"

typedef struct {
  ddpc_shape in;   // per-sample input (H, W, cin)
  ddpc_shape out;  // per-sample output
  int kernel;      // square window
  int stride;      // step between windows
  int padding;     // zeros on each side
  int kkc;         // kernel * kernel * cin: one output's terms
  int fp;          // filters rounded up to whole vectors of 16
  float *xp;       // (H + 2p, W + 2p, cin): one image with its padding
  float *dxp;      // same: the gradient of xp
  float *wt;       // (kkc, fp) weights transposed, zero beyond the filters
  float *dwt;      // (kkc, fp) the weight gradient summed over the batch
  float *part;     // (kkc, fp) one image's share of it
  float *bp;       // (fp) the bias, zero beyond the filters (zero throughout without one)
  float *gp;       // (fp) one output pixel's gradient, zero beyond the filters
  float *dcol;     // (out.h * out.w, kkc) one image's window gradients
} ddpc_conv_direct;

/* Whether a convolution with this many input channels runs with the direct loops; a
 * property of the layer's shape only, never of the batch. */
bool ddpc_conv_direct_applies(int in_c);
/* Floats of scratch ddpc_conv_direct_init allocates. */
double ddpc_conv_direct_floats(ddpc_shape in, ddpc_shape out, int kernel, int padding);
/* Allocates the scratch; 0 or -1 with the error set. */
int ddpc_conv_direct_init(ddpc_conv_direct *cd, ddpc_shape in, ddpc_shape out, int kernel, int stride, int padding);
void ddpc_conv_direct_free(ddpc_conv_direct *cd);
/* y (batch, out) = conv(x, w) + bias; w is (filters, kh, kw, cin), bias (filters) or NULL. */
void ddpc_conv_direct_forward(ddpc_conv_direct *cd, const float *w, const float *bias, const float *x, float *y,
                              int batch);
/* dw (filters, kh, kw, cin) = the weight gradient (overwritten); dx (batch, in) the input
 * gradient (overwritten) when not NULL. The bias gradient is the caller's. */
void ddpc_conv_direct_backward(ddpc_conv_direct *cd, const float *w, const float *x, const float *dy, float *dw,
                               float *dx, int batch);

#endif
