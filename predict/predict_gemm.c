/* Inference matrix product with weights packed once (predict_gemm.h). W^T is cut into
 * panels of GEMM_NR columns, each stored k rows of GEMM_NR contiguous floats: the
 * micro-kernel reads a panel front to back while it keeps a tile of GEMM_MR rows x GEMM_NR
 * columns of y in registers, started from the bias, and applies the ReLU before the one
 * store. The tile's x values are broadcast from x's rows as they are (no packing of x: it
 * changes with every call, and a row block is read once per panel from the cache).
 *
 * Loop order: panel outside, row blocks inside, so that one panel (k x GEMM_NR floats:
 * 100 KB for the MLP example's 784 inputs) stays in L2 while the batch's rows pass it. */
#include "predict/predict_gemm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define GEMM_NR 32  // two zmm registers of floats
#define GEMM_MR 12  // 24 accumulators of the 32 zmm registers
#define GEMM_KERNEL "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GEMM_NR 16  // two ymm registers
#define GEMM_MR 6   // 12 accumulators of the 16 ymm registers
#define GEMM_KERNEL "avx2"
#else
#define GEMM_NR 16
#define GEMM_MR 4
#define GEMM_KERNEL "c"
#endif

int ddpc_predict_gemm_panel_width(void) { return GEMM_NR; }
const char *ddpc_predict_gemm_kernel(void) { return GEMM_KERNEL; }

int ddpc_predict_gemm_pack(const float *w, const float *b, int n, int k, ddpc_predict_gemm_weights *out) {
  memset(out, 0, sizeof *out);
  if (n < 1 || k < 1) return ddpc_error_set("predict_gemm: a product needs n >= 1 and k >= 1, got %d and %d", n, k);
  int panels = (n + GEMM_NR - 1) / GEMM_NR;
  size_t packed = (size_t)panels * (size_t)k * GEMM_NR, bias = (size_t)panels * GEMM_NR;
  // 64-byte aligned, so that the kernel's loads of a panel row never split a cache line
  // (both sizes are whole multiples of GEMM_NR floats, so of 64 bytes, as C11 asks).
  out->packed = aligned_alloc(64, packed * sizeof(float));
  out->bias = aligned_alloc(64, bias * sizeof(float));
  if (!out->packed || !out->bias) {
    ddpc_predict_gemm_free(out);
    return ddpc_error_set("out of memory packing a %d x %d weight matrix for prediction", n, k);
  }
  out->n = n;
  out->k = k;
  out->panels = panels;
  for (int j0 = 0; j0 < panels * GEMM_NR; j0 += GEMM_NR) {
    float *dst = out->packed + (size_t)j0 * (size_t)k;  // panel j0 / GEMM_NR
    for (int p = 0; p < k; p++)
      for (int jj = 0; jj < GEMM_NR; jj++)
        dst[(size_t)p * GEMM_NR + jj] = j0 + jj < n ? w[(size_t)(j0 + jj) * (size_t)k + p] : 0.0f;
  }
  for (int j = 0; j < panels * GEMM_NR; j++) out->bias[j] = b && j < n ? b[j] : 0.0f;
  return 0;
}

void ddpc_predict_gemm_free(ddpc_predict_gemm_weights *pw) {
  free(pw->packed);
  free(pw->bias);
  memset(pw, 0, sizeof *pw);
}

/* One tile: y (mr x nr) = bias + x (mr x k) * panel (k x GEMM_NR), nr <= GEMM_NR columns
 * stored, ReLU when relu. Inlined into a copy per mr, so that the accumulators are registers. */
static inline __attribute__((always_inline)) void gemm_tile(int mr, const float *x, size_t ldx, const float *panel,
                                                            int k, const float *bias, float *y, size_t ldy, int nr,
                                                            bool relu) {
#if defined(__AVX512F__)
  __m512 acc[GEMM_MR][2];
  __m512 b0 = _mm512_load_ps(bias), b1 = _mm512_load_ps(bias + 16);
#pragma GCC unroll 12
  for (int i = 0; i < mr; i++) acc[i][0] = b0, acc[i][1] = b1;
  for (int p = 0; p < k; p++) {
    __m512 w0 = _mm512_load_ps(panel + (size_t)p * GEMM_NR), w1 = _mm512_load_ps(panel + (size_t)p * GEMM_NR + 16);
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
      __m512 a = _mm512_set1_ps(x[i * ldx + p]);
      acc[i][0] = _mm512_fmadd_ps(a, w0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, w1, acc[i][1]);
    }
  }
  __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
  __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
  __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int i = 0; i < mr; i++) {
    if (relu) acc[i][0] = _mm512_max_ps(acc[i][0], zero), acc[i][1] = _mm512_max_ps(acc[i][1], zero);
    _mm512_mask_storeu_ps(y + i * ldy, m0, acc[i][0]);
    _mm512_mask_storeu_ps(y + i * ldy + 16, m1, acc[i][1]);
  }
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 acc[GEMM_MR][2];
  __m256 b0 = _mm256_load_ps(bias), b1 = _mm256_load_ps(bias + 8);
#pragma GCC unroll 6
  for (int i = 0; i < mr; i++) acc[i][0] = b0, acc[i][1] = b1;
  for (int p = 0; p < k; p++) {
    __m256 w0 = _mm256_load_ps(panel + (size_t)p * GEMM_NR), w1 = _mm256_load_ps(panel + (size_t)p * GEMM_NR + 8);
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
      __m256 a = _mm256_broadcast_ss(x + i * ldx + p);
      acc[i][0] = _mm256_fmadd_ps(a, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, w1, acc[i][1]);
    }
  }
  __m256 zero = _mm256_setzero_ps();
  __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
  __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
#pragma GCC unroll 6
  for (int i = 0; i < mr; i++) {
    if (relu) acc[i][0] = _mm256_max_ps(acc[i][0], zero), acc[i][1] = _mm256_max_ps(acc[i][1], zero);
    _mm256_maskstore_ps(y + i * ldy, m0, acc[i][0]);
    _mm256_maskstore_ps(y + i * ldy + 8, m1, acc[i][1]);
  }
#else
  float acc[GEMM_MR][GEMM_NR];
  for (int i = 0; i < mr; i++) memcpy(acc[i], bias, sizeof acc[i]);
  for (int p = 0; p < k; p++) {
    const float *w = panel + (size_t)p * GEMM_NR;
    for (int i = 0; i < mr; i++) {
      float a = x[i * ldx + p];
      for (int jj = 0; jj < GEMM_NR; jj++) acc[i][jj] += a * w[jj];
    }
  }
  for (int i = 0; i < mr; i++)
    for (int jj = 0; jj < nr; jj++) y[i * ldy + jj] = relu && !(acc[i][jj] > 0.0f) ? 0.0f : acc[i][jj];
#endif
}

/* gemm_tile with mr known at compile time: one copy per row count. */
#define GEMM_TILE_CASE(R) \
  case R: gemm_tile(R, x, ldx, panel, k, bias, y, ldy, nr, relu); break;

static void gemm_tile_rows(int mr, const float *x, size_t ldx, const float *panel, int k, const float *bias, float *y,
                           size_t ldy, int nr, bool relu) {
  switch (mr) {
    GEMM_TILE_CASE(1)
    GEMM_TILE_CASE(2)
    GEMM_TILE_CASE(3)
    GEMM_TILE_CASE(4)
#if GEMM_MR > 4
    GEMM_TILE_CASE(5)
    GEMM_TILE_CASE(6)
#endif
#if GEMM_MR > 6
    GEMM_TILE_CASE(7)
    GEMM_TILE_CASE(8)
    GEMM_TILE_CASE(9)
    GEMM_TILE_CASE(10)
    GEMM_TILE_CASE(11)
    GEMM_TILE_CASE(12)
#endif
    default: break;
  }
}

void ddpc_predict_gemm_run(const ddpc_predict_gemm_weights *pw, const float *x, int m, float *y, bool relu) {
  int n = pw->n, k = pw->k;
  for (int t = 0; t < pw->panels; t++) {
    int j0 = t * GEMM_NR, nr = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
    const float *panel = pw->packed + (size_t)j0 * (size_t)k;
    for (int i0 = 0; i0 < m; i0 += GEMM_MR) {
      int mr = m - i0 < GEMM_MR ? m - i0 : GEMM_MR;
      gemm_tile_rows(mr, x + (size_t)i0 * (size_t)k, (size_t)k, panel, k, pw->bias + j0, y + (size_t)i0 * (size_t)n + j0,
                     (size_t)n, nr, relu);
    }
  }
}
