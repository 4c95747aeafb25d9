/* The matrix product of inference: y = x W^T + b (then max(0, y) when a ReLU follows),
 * with W packed once when the model is loaded. OpenBLAS packs W again on every sgemm call
 * and writes the bias and the ReLU in passes of their own; a predictor multiplies the same
 * weights thousands of times, so it packs them once, in the layout its micro-kernel reads,
 * and applies bias and ReLU to the accumulators before they are stored.
 *
 * Each output is the bias plus x[i][p] * W[j][p] added in the order p = 0, 1, ..., k-1,
 * in float, whatever the row's place in the batch or the batch size: a sample's prediction
 * does not depend on its neighbours (ddpc predict with N ranks writes the 1-rank file).
 * Training does not use it: its numerics stay OpenBLAS's. */
#ifndef DDPC_PREDICT_PREDICT_GEMM_H
#define DDPC_PREDICT_PREDICT_GEMM_H

#include <stdbool.h>

typedef struct {
  int n;          // outputs (W's rows)
  int k;          // inputs (W's columns)
  int panels;     // ceil(n / ddpc_predict_gemm_panel_width())
  float *packed;  // (panels, k, panel width): W^T in column panels, zero past n
  float *bias;    // (panels * panel width): b, zero where there is none or past n
} ddpc_predict_gemm_weights;

/* Packs w (n x k, row-major as nn.Linear's weight) and b (n, or NULL) into *out. -1 with
 * the error set when memory runs out. */
int ddpc_predict_gemm_pack(const float *w, const float *b, int n, int k, ddpc_predict_gemm_weights *out);
void ddpc_predict_gemm_free(ddpc_predict_gemm_weights *pw);

/* y (m x n) = x (m x k) W^T + b, then max(0, .) when relu. x and y may not overlap. */
void ddpc_predict_gemm_run(const ddpc_predict_gemm_weights *pw, const float *x, int m, float *y, bool relu);

/* Columns of W^T per packed panel: 32 with AVX-512, 16 with AVX2 or in portable C. */
int ddpc_predict_gemm_panel_width(void);
/* Which micro-kernel this build has ("avx512", "avx2" or "c"), for benchmarks and tests. */
const char *ddpc_predict_gemm_kernel(void);

#endif
