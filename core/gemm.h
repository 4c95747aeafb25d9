/* Single-precision matrix products with ddpc's own register-tiled micro-kernel: the
 * gradients of linear layers (dW = dy^T x and dx = dy w, both read in place), their
 * forward pass (y = x w^T + b), and the predictor's products with weights packed once.
 * On these shapes (a batch of tens of rows against hundreds to thousands of columns)
 * OpenBLAS spends a good part of each call packing both operands and zeroing the output
 * before it multiplies; here at most the smaller operand is packed.
 *
 * Every output element is its start value (the bias, or 0) plus its k products added one
 * by one in the order p = 0, 1, ..., k-1, with fused multiply-adds in float: the result
 * does not depend on the row's place in the batch, on the tile it falls in or on the batch
 * size (ddpc predict with N ranks writes the 1-rank file).
 *
 * Built for AVX-512 (12 x 32 tiles) or AVX2 with FMA (6 x 16); ddpc_gemm_available() is
 * false elsewhere (the portable C kernel is there for tests and for the predictor's
 * packed weights, not for speed), and the callers keep OpenBLAS then. */
#ifndef DDPC_CORE_GEMM_H
#define DDPC_CORE_GEMM_H

#include <stdbool.h>
#include <stddef.h>

/* The left operand, row-major with row stride ld, or read as the transpose of such a
 * matrix without a copy: A(i, p) = transposed ? data[p * ld + i] : data[i * ld + p]. */
typedef struct {
  const float *data;
  size_t ld;
  bool transposed;
} ddpc_gemm_operand;

/* c (m x n, row stride ldc) = a (m x k) b (k x n, row-major with row stride ldb). */
void ddpc_gemm_ab(int m, int n, int k, ddpc_gemm_operand a, const float *b, size_t ldb, float *c, size_t ldc);

/* y (m x n, row-major) = x (m x k, row-major) w^T + bias: the forward pass of a linear
 * layer, w (n x k) row-major as nn.Linear's weight, bias (n) or NULL. Computed as
 * y^T = w x^T with x^T packed per call; each output's sum in the same order as
 * ddpc_gemm_packed_run's, so the two give the same bits. Returns -1 (no error set: the
 * caller falls back to OpenBLAS) when its packing buffer cannot be allocated. */
int ddpc_gemm_xwt(int m, int n, int k, const float *x, const float *w, const float *bias, float *y);

/* For weights multiplied many times (the predictor): w^T in column panels of
 * ddpc_gemm_panel_width() floats, each k rows long, zero past n, 64-byte aligned. */
typedef struct {
  int n;          // outputs (w's rows)
  int k;          // inputs (w's columns)
  int panels;     // ceil(n / ddpc_gemm_panel_width())
  float *packed;  // (panels, k, panel width)
  float *bias;    // (panels * panel width): the bias, zero where there is none or past n
} ddpc_gemm_packed;

/* Packs w (n x k) and bias (n, or NULL) into *out; -1 with the error set when memory runs
 * out or a size is below 1. */
int ddpc_gemm_pack(const float *w, const float *bias, int n, int k, ddpc_gemm_packed *out);
void ddpc_gemm_packed_free(ddpc_gemm_packed *pw);
/* y (m x n) = x (m x k) w^T + bias, then max(0, .) when relu; x and y may not overlap. */
void ddpc_gemm_packed_run(const ddpc_gemm_packed *pw, const float *x, int m, float *y, bool relu);

/* Whether this build has a vectorized kernel (AVX-512, or AVX2 with FMA). */
bool ddpc_gemm_available(void);
/* Columns of a tile: 32 with AVX-512, 16 with AVX2 or in portable C. */
int ddpc_gemm_panel_width(void);
/* Which micro-kernel this build has ("avx512", "avx2" or "c"), for benchmarks and tests. */
const char *ddpc_gemm_kernel(void);

#endif
