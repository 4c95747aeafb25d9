/* Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions on channels-last (HWC) activations:
 * the output is cut into 2x2 tiles, each read from a 4x4 input tile, and the 36
 * multiply-adds per tile, input channel and filter of the direct method become 16
 * (2.25x fewer). One batch is: input transform V = B^T d B of every tile, 16 GEMMs
 * M[e] (tiles x filters) = V[e] (tiles x cin) * U[e]^T with U = G g G^T the transformed
 * weights, output transform Y = A^T M A plus bias. Backward is the exact adjoint of those
 * three steps: dM = A dY A^T, then dU[e] = dM[e]^T V[e] and dV[e] = dM[e] U[e] (the same
 * GEMM pair as a dense layer's backward), dW = G^T dU G and dx += B dV B^T per tile.
 * The results equal the direct convolution's up to float rounding (the transforms add and
 * halve, the products are summed in another order); the order of every sum is fixed, so
 * they are bitwise the same run after run. */
#ifndef DDPC_CORE_CONV_WINOGRAD_H
#define DDPC_CORE_CONV_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/shape.h"

typedef struct {
  ddpc_shape in;       // per-sample input (H, W, cin)
  ddpc_shape out;      // per-sample output (H + 2p - 2, W + 2p - 2, filters)
  int padding;         // zeros on each side
  int tiles_h;         // 2x2 output tiles per column, the last one cut where out.h is odd
  int tiles_w;         // same per row
  int block_images;    // images per block (the scratch holds one block's tiles)
  float *v;            // (16, tiles, cin) transformed input tiles of a block, or their gradient
  float *m;            // (16, tiles, filters) a block's products, or their gradient
  float *u;            // (16, filters, cin) transformed weights
  float *du;           // (16, filters, cin) gradient of u
  float *zeros;        // max(cin, filters) zeros: stands in for the padding
  float *discard;      // max(cin, filters) floats: where the parts of cut tiles go
} ddpc_conv_winograd;

/* Whether a convolution of this shape runs with Winograd. The choice depends on the
 * layer's shape only, never on the batch, so every rank (whatever its share of the batch)
 * and every step round the same way. Few input channels make the 16 products too thin to
 * beat im2col's single GEMM. */
bool ddpc_conv_winograd_applies(int kernel, int stride, int in_c);
/* Floats of scratch ddpc_conv_winograd_init allocates for batches of up to max_batch. */
double ddpc_conv_winograd_floats(ddpc_shape in, ddpc_shape out, int max_batch);
/* Allocates the scratch; 0 or -1 with the error set. */
int ddpc_conv_winograd_init(ddpc_conv_winograd *wg, ddpc_shape in, ddpc_shape out, int padding, int max_batch);
void ddpc_conv_winograd_free(ddpc_conv_winograd *wg);
/* y (batch, out) = conv(x, w) + bias; w is (filters, 3, 3, cin), bias (filters) or NULL. */
void ddpc_conv_winograd_forward(ddpc_conv_winograd *wg, const float *w, const float *bias, const float *x,
                                float *y, int batch);
/* dw (filters, 3, 3, cin) = the weight gradient, db (filters) = the bias gradient when not
 * NULL, dx (batch, in) = the input gradient when not NULL; all overwritten. */
void ddpc_conv_winograd_backward(ddpc_conv_winograd *wg, const float *w, const float *x, const float *dy, float *dw,
                                 float *db, float *dx, int batch);

#endif
