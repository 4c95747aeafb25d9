/* ddpc's own matrix products (core/gemm.h). One micro-kernel, gemm_tile, keeps a tile of
 * GEMM_MR rows x GEMM_NR columns of the output in registers while it walks k: per step it
 * loads one row of B's column panel (GEMM_NR floats) and broadcasts one element of A per
 * tile row. B is read in place when it is row-major already (the gradients dW = dy^T x and
 * dx = dy w), or packed into panels once for weights used many times (the predictor).
 * OpenBLAS packs both operands and zeroes the output on every call.
 *
 * Loop order: column panel outside, row blocks inside, so one panel of B (k x GEMM_NR
 * floats) stays in cache while every row block of A passes it. */
#include "core/gemm.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define GEMM_NR 32  // two zmm registers of floats
#define GEMM_MR 12  // 24 accumulators of the 32 zmm registers
#define GEMM_KERNEL "avx512"
#define GEMM_FAST true
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GEMM_NR 16  // two ymm registers
#define GEMM_MR 6   // 12 accumulators of the 16 ymm registers
#define GEMM_KERNEL "avx2"
#define GEMM_FAST true
#else
#define GEMM_NR 16
#define GEMM_MR 4
#define GEMM_KERNEL "c"
#define GEMM_FAST false
#endif

/* The vector operations the kernel is written in, one set per instruction set, so that a
 * single kernel body serves both: a tile row is two vectors of GEMM_VL floats, and a mask
 * says which of a vector's lanes exist (the last panel may be narrower than GEMM_NR). */
#if defined(__AVX512F__)
#define GEMM_VL 16
typedef __m512 gemm_vec;
typedef __mmask16 gemm_mask;
static inline gemm_mask gemm_mask_first(int n) {  // lanes [0, n)
  return n >= 16 ? (gemm_mask)0xffff : n <= 0 ? (gemm_mask)0 : (gemm_mask)((1u << n) - 1);
}
static inline gemm_vec gemm_load(const float *p, gemm_mask m, bool full) {
  return full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
static inline void gemm_store(float *p, gemm_mask m, gemm_vec v) { _mm512_mask_storeu_ps(p, m, v); }
static inline gemm_vec gemm_set1(float x) { return _mm512_set1_ps(x); }
static inline gemm_vec gemm_fma(gemm_vec a, gemm_vec b, gemm_vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline gemm_vec gemm_max(gemm_vec a, gemm_vec b) { return _mm512_max_ps(a, b); }
static inline gemm_vec gemm_zero(void) { return _mm512_setzero_ps(); }
#elif GEMM_FAST
#define GEMM_VL 8
typedef __m256 gemm_vec;
typedef __m256i gemm_mask;
static inline gemm_mask gemm_mask_first(int n) {  // lanes [0, n): all ones where lane < n
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline gemm_vec gemm_load(const float *p, gemm_mask m, bool full) {
  return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
static inline void gemm_store(float *p, gemm_mask m, gemm_vec v) { _mm256_maskstore_ps(p, m, v); }
static inline gemm_vec gemm_set1(float x) { return _mm256_set1_ps(x); }
static inline gemm_vec gemm_fma(gemm_vec a, gemm_vec b, gemm_vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline gemm_vec gemm_max(gemm_vec a, gemm_vec b) { return _mm256_max_ps(a, b); }
static inline gemm_vec gemm_zero(void) { return _mm256_setzero_ps(); }
#endif

bool ddpc_gemm_available(void) { return GEMM_FAST; }
int ddpc_gemm_panel_width(void) { return GEMM_NR; }
const char *ddpc_gemm_kernel(void) { return GEMM_KERNEL; }

/* Where a tile's sums start: from zero (gradients), from a bias per column (the
 * predictor: c = x w^T) or from a bias per row (the forward pass: c = w x^T, stored
 * transposed). */
typedef enum { GEMM_START_ZERO, GEMM_START_BIAS, GEMM_START_ROW_BIAS } gemm_start;

typedef struct {
  const float *b;    // B(0, 0) of the panel; row p at b + p * ldb
  size_t ldb;
  const float *bias; // GEMM_START_BIAS: the panel's (nr floats); ROW_BIAS: the row block's
  float *c;          // the tile's first output; row i at c + i * ldc, or column i when
  bool c_transposed; // c_transposed (then output (i, j) goes to c[j * ldc + i])
  size_t ldc;
  int k, nr;         // steps of the sum; columns of the panel that exist (<= GEMM_NR)
  gemm_start start;
  bool relu;         // max(0, .) before the store
} gemm_panel;

/* A finished tile written transposed: its row i becomes column i of c. Scalar: it runs
 * once per tile, against k steps of GEMM_MR x GEMM_NR products. */
static void gemm_store_transposed(int mr, int nr, float tile[][GEMM_NR], float *c, size_t ldc) {
  for (int j = 0; j < nr; j++)
    for (int i = 0; i < mr; i++) c[(size_t)j * ldc + (size_t)i] = tile[i][j];
}

/* One tile: rows [0, mr) of A (row i at a + i * lda, or column i when transposed) times
 * the panel. Inlined into one copy per (mr, transposed, full) so that the accumulators are
 * registers and the broadcasts' addresses are constant offsets. `full`: nr == GEMM_NR, no
 * masks needed. */
static inline __attribute__((always_inline)) void gemm_tile(int mr, bool transposed, bool full, const float *a,
                                                            size_t lda, const gemm_panel *t) {
  const float *b = t->b;
  const size_t ldb = t->ldb, ldc = t->ldc;
  const int k = t->k, nr = t->nr;
  float *c = t->c;
  // A(i, p) for this tile: one pointer per step of k, constant offsets per row.
#define GEMM_A(i, p) (transposed ? a[(size_t)(p) * lda + (size_t)(i)] : a[(size_t)(i) * lda + (size_t)(p)])
#if GEMM_FAST
  const gemm_mask m0 = gemm_mask_first(full ? GEMM_NR : nr), m1 = gemm_mask_first((full ? GEMM_NR : nr) - GEMM_VL);
  gemm_vec acc[GEMM_MR][2];
  gemm_vec s0 = gemm_zero(), s1 = gemm_zero();
  if (t->start == GEMM_START_BIAS) s0 = gemm_load(t->bias, m0, false), s1 = gemm_load(t->bias + GEMM_VL, m1, false);
#pragma GCC unroll 12
  for (int i = 0; i < mr; i++) {
    if (t->start == GEMM_START_ROW_BIAS) s0 = s1 = gemm_set1(t->bias[i]);
    acc[i][0] = s0, acc[i][1] = s1;
  }
  for (int p = 0; p < k; p++) {
    const float *row = b + (size_t)p * ldb;
    gemm_vec w0 = gemm_load(row, m0, full), w1 = gemm_load(row + GEMM_VL, m1, full);
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
      gemm_vec x = gemm_set1(GEMM_A(i, p));
      acc[i][0] = gemm_fma(x, w0, acc[i][0]);
      acc[i][1] = gemm_fma(x, w1, acc[i][1]);
    }
  }
  const gemm_vec zero = gemm_zero();
  alignas(64) float tile[GEMM_MR][GEMM_NR];
#pragma GCC unroll 12
  for (int i = 0; i < mr; i++) {
    if (t->relu) acc[i][0] = gemm_max(acc[i][0], zero), acc[i][1] = gemm_max(acc[i][1], zero);
    float *dst = t->c_transposed ? tile[i] : c + i * ldc;
    gemm_store(dst, m0, acc[i][0]);
    gemm_store(dst + GEMM_VL, m1, acc[i][1]);
  }
  if (t->c_transposed) gemm_store_transposed(mr, nr, tile, c, ldc);
#else
  (void)full;
  float acc[GEMM_MR][GEMM_NR];
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++)
      acc[i][j] = t->start == GEMM_START_BIAS ? t->bias[j] : t->start == GEMM_START_ROW_BIAS ? t->bias[i] : 0.0f;
  for (int p = 0; p < k; p++) {
    const float *row = b + (size_t)p * ldb;
    for (int i = 0; i < mr; i++) {
      float x = GEMM_A(i, p);
      for (int j = 0; j < nr; j++) acc[i][j] = fmaf(x, row[j], acc[i][j]);
    }
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) acc[i][j] = t->relu && !(acc[i][j] > 0.0f) ? 0.0f : acc[i][j];
  if (t->c_transposed) {
    gemm_store_transposed(mr, nr, acc, c, ldc);
  } else {
    for (int i = 0; i < mr; i++) memcpy(c + i * ldc, acc[i], (size_t)nr * sizeof(float));
  }
#endif
#undef GEMM_A
}

/* gemm_tile with its shape known at compile time: one copy per row count. */
#define GEMM_ROWS_CASE(R)          \
  case R:                          \
    gemm_tile(R, transposed, full, a, lda, t); \
    break;
#define GEMM_ROWS_FN(name, T, F)                                                  \
  static void name(int mr, const float *a, size_t lda, const gemm_panel *t) {     \
    const bool transposed = T, full = F;                                          \
    switch (mr) {                                                                 \
      GEMM_ROWS_CASE(1)                                                           \
      GEMM_ROWS_CASE(2)                                                           \
      GEMM_ROWS_CASE(3)                                                           \
      GEMM_ROWS_CASE(4)                                                           \
      GEMM_ROWS_MORE                                                              \
      default:                                                                    \
        break;                                                                    \
    }                                                                             \
  }
#if GEMM_MR > 6
#define GEMM_ROWS_MORE                                                                            \
  GEMM_ROWS_CASE(5)                                                                               \
  GEMM_ROWS_CASE(6)                                                                               \
  GEMM_ROWS_CASE(7) GEMM_ROWS_CASE(8) GEMM_ROWS_CASE(9) GEMM_ROWS_CASE(10) GEMM_ROWS_CASE(11) \
      GEMM_ROWS_CASE(12)
#elif GEMM_MR > 4
#define GEMM_ROWS_MORE GEMM_ROWS_CASE(5) GEMM_ROWS_CASE(6)
#else
#define GEMM_ROWS_MORE
#endif
GEMM_ROWS_FN(gemm_rows_n_full, false, true)
GEMM_ROWS_FN(gemm_rows_n_part, false, false)
GEMM_ROWS_FN(gemm_rows_t_full, true, true)
GEMM_ROWS_FN(gemm_rows_t_part, true, false)

/* Every row block of A against one panel. */
static void gemm_panel_rows(int m, ddpc_gemm_operand a, gemm_panel t) {
  float *c = t.c;
  const float *bias = t.bias;
  for (int i0 = 0; i0 < m; i0 += GEMM_MR) {
    int mr = m - i0 < GEMM_MR ? m - i0 : GEMM_MR;
    // Row i0 of A: i0 rows down, or i0 columns across when A is read transposed.
    const float *ai = a.data + (a.transposed ? (size_t)i0 : (size_t)i0 * a.ld);
    t.c = c + (t.c_transposed ? (size_t)i0 : (size_t)i0 * t.ldc);
    if (t.start == GEMM_START_ROW_BIAS) t.bias = bias + i0;
    bool full = t.nr == GEMM_NR;
    if (a.transposed)
      (full ? gemm_rows_t_full : gemm_rows_t_part)(mr, ai, a.ld, &t);
    else
      (full ? gemm_rows_n_full : gemm_rows_n_part)(mr, ai, a.ld, &t);
  }
}

void ddpc_gemm_ab(int m, int n, int k, ddpc_gemm_operand a, const float *b, size_t ldb, float *c, size_t ldc) {
  for (int j0 = 0; j0 < n; j0 += GEMM_NR) {
    gemm_panel t = {.b = b + j0, .ldb = ldb, .c = c + j0, .ldc = ldc, .k = k,
                    .nr = n - j0 < GEMM_NR ? n - j0 : GEMM_NR, .start = GEMM_START_ZERO};
    gemm_panel_rows(m, a, t);
  }
}

#if defined(__AVX512F__)
/* 16 rows of 16 floats (row i at src + i * lds) transposed into dst: column e of the
 * block becomes the 16 floats at dst + e * GEMM_NR. Four rounds of shuffles, 64 in all. */
static void gemm_transpose16(const float *src, size_t lds, float *dst) {
  __m512 r[16], t[16], u[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * lds);
  // t: rows 2i and 2i+1 interleaved, columns 4l..4l+1 (lo) or 4l+2..4l+3 (hi) per lane l
  for (int i = 0; i < 8; i++)
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  // u[4g + e]: rows 4g..4g+3 of column e + 4l in lane l
  for (int g = 0; g < 4; g++) {
    __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // Lanes 0 and 2 (0x88) or 1 and 3 (0xdd) of two registers: rows 0-7, then all 16.
  for (int e = 0; e < 4; e++) {
    __m512 a = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88), b = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xdd);
    __m512 c = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88), d = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xdd);
    _mm512_store_ps(dst + (size_t)e * GEMM_NR, _mm512_shuffle_f32x4(a, c, 0x88));
    _mm512_store_ps(dst + (size_t)(e + 8) * GEMM_NR, _mm512_shuffle_f32x4(a, c, 0xdd));
    _mm512_store_ps(dst + (size_t)(e + 4) * GEMM_NR, _mm512_shuffle_f32x4(b, d, 0x88));
    _mm512_store_ps(dst + (size_t)(e + 12) * GEMM_NR, _mm512_shuffle_f32x4(b, d, 0xdd));
  }
}
#endif

/* The transpose of nr rows of k floats (row j at src + j * lds) as one panel: panel row p
 * holds element p of every row. Columns nr.. are left as they are (the kernel masks them). */
static void gemm_pack_panel(const float *src, size_t lds, int nr, int k, float *panel) {
  int p_done = 0, j_done = 0;
#if defined(__AVX512F__)
  j_done = nr / 16 * 16;
  p_done = k / 16 * 16;
  for (int j = 0; j < j_done; j += 16)
    for (int p = 0; p < p_done; p += 16)
      gemm_transpose16(src + (size_t)j * lds + (size_t)p, lds, panel + (size_t)p * GEMM_NR + (size_t)j);
#endif
  // What the 16 x 16 blocks left: the last rows of the source (j >= j_done) for every p,
  // then the last elements (p >= p_done) of the others.
  for (int p = 0; p < k; p++)
    for (int j = p < p_done ? j_done : 0; j < nr; j++)
      panel[(size_t)p * GEMM_NR + (size_t)j] = src[(size_t)j * lds + (size_t)p];
}

int ddpc_gemm_xwt(int m, int n, int k, const float *x, const float *w, const float *bias, float *y) {
  // y^T = w x^T: w is read in place and only x^T is packed, a panel of GEMM_NR samples at a
  // time (a batch is smaller than w: packing w^T instead cost what the kernel saved).
  size_t bytes = (size_t)(k > 0 ? k : 1) * GEMM_NR * sizeof(float);
  float *panel = aligned_alloc(64, bytes);  // a whole number of 64-byte lines, as C11 asks
  if (!panel) return -1;
  ddpc_gemm_operand a = {.data = w, .ld = (size_t)k, .transposed = false};
  for (int j0 = 0; j0 < m; j0 += GEMM_NR) {
    int nr = m - j0 < GEMM_NR ? m - j0 : GEMM_NR;
    gemm_pack_panel(x + (size_t)j0 * (size_t)k, (size_t)k, nr, k, panel);
    gemm_panel t = {.b = panel, .ldb = GEMM_NR, .bias = bias, .c = y + (size_t)j0 * (size_t)n, .c_transposed = true,
                    .ldc = (size_t)n, .k = k, .nr = nr, .start = bias ? GEMM_START_ROW_BIAS : GEMM_START_ZERO};
    gemm_panel_rows(n, a, t);
  }
  free(panel);
  return 0;
}

int ddpc_gemm_pack(const float *w, const float *bias, int n, int k, ddpc_gemm_packed *out) {
  memset(out, 0, sizeof *out);
  if (n < 1 || k < 1) return ddpc_error_set("gemm: packed weights need n >= 1 and k >= 1, got %d and %d", n, k);
  int panels = (n + GEMM_NR - 1) / GEMM_NR;
  size_t packed = (size_t)panels * (size_t)k * GEMM_NR, biases = (size_t)panels * GEMM_NR;
  // 64-byte aligned, so that a panel row's loads never split a cache line (both sizes are
  // whole multiples of GEMM_NR floats, so of 64 bytes, as C11's aligned_alloc asks).
  out->packed = aligned_alloc(64, packed * sizeof(float));
  out->bias = aligned_alloc(64, biases * sizeof(float));
  if (!out->packed || !out->bias) {
    ddpc_gemm_packed_free(out);
    return ddpc_error_set("out of memory packing a %d x %d weight matrix", n, k);
  }
  out->n = n;
  out->k = k;
  out->panels = panels;
  for (int j0 = 0; j0 < n; j0 += GEMM_NR) {
    float *dst = out->packed + (size_t)j0 * (size_t)k;  // panel j0 / GEMM_NR
    int nr = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
    gemm_pack_panel(w + (size_t)j0 * (size_t)k, (size_t)k, nr, k, dst);
    for (int p = 0; p < k && nr < GEMM_NR; p++)  // zero past n, as the header promises
      memset(dst + (size_t)p * GEMM_NR + nr, 0, (size_t)(GEMM_NR - nr) * sizeof(float));
  }
  for (int j = 0; j < panels * GEMM_NR; j++) out->bias[j] = bias && j < n ? bias[j] : 0.0f;
  return 0;
}

void ddpc_gemm_packed_free(ddpc_gemm_packed *pw) {
  free(pw->packed);
  free(pw->bias);
  memset(pw, 0, sizeof *pw);
}

void ddpc_gemm_packed_run(const ddpc_gemm_packed *pw, const float *x, int m, float *y, bool relu) {
  ddpc_gemm_operand a = {.data = x, .ld = (size_t)pw->k, .transposed = false};
  for (int t = 0; t < pw->panels; t++) {
    int j0 = t * GEMM_NR;
    gemm_panel p = {.b = pw->packed + (size_t)j0 * (size_t)pw->k, .ldb = GEMM_NR, .bias = pw->bias + j0,
                    .c = y + j0, .ldc = (size_t)pw->n, .k = pw->k,
                    .nr = pw->n - j0 < GEMM_NR ? pw->n - j0 : GEMM_NR, .start = GEMM_START_BIAS, .relu = relu};
    gemm_panel_rows(m, a, p);
  }
}
