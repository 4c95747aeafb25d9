/* CUDA implementations of every layer kind (contract: core/layer_cuda.h; the math each
 * must match is in the CPU file core/layer_<kind>.c). Matrix products are cuBLAS SGEMMs in
 * pedantic float32 (no TF32), the rest are kernels; everything is queued on the compute
 * stream, so a training step never waits for the GPU here.
 *
 * What the CPU implementation already decides is taken from it rather than written again:
 * setup runs the CPU setup for a single sample (its spec checks, output shape and
 * parameter count; the host scratch it made is freed at once) and init_params runs the
 * CPU initialiser on a host copy, so GPU and CPU runs start from bitwise the same weights.
 *
 * Reductions are deterministic (no atomics): each output is summed by one thread or one
 * warp in a fixed order, so a GPU run repeats bitwise. Where the CPU adds in a plain loop
 * (bias and layernorm parameter gradients, col2im, the max-pool scatter) the kernels add
 * in the same order, and agree with it bitwise given the same inputs. */
#include <stdint.h>
#include <stdlib.h>

extern "C" {
#include "core/error.h"
#include "core/layer.h"
#include "core/rng.h"
}
#include "core/device_cuda_internal.h"
#include "core/layer_cuda.h"

#define WARP 32

/* ---- shared helpers ---------------------------------------------------------------- */

/* Loops over [0, n) with every thread of the grid. */
#define GRID_STRIDE_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

/* Loops a warp over rows [0, rows) (one row per warp) with `lane` its thread's lane. */
#define WARP_ROW_LOOP(r, rows)                                                                       \
  for (size_t r = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP; r < (rows);               \
       r += (size_t)blockDim.x * gridDim.x / WARP)

__device__ static float warp_sum(float v) {
  for (int off = WARP / 2; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

/* Blocks for one warp per row. */
static unsigned warp_blocks(size_t rows) { return ddpc_cuda_blocks(rows * WARP); }

static size_t layer_count(ddpc_shape s, int batch) { return ddpc_shape_size(s) * (size_t)batch; }

__global__ static void fill_rows_kernel(float *y, const float *b, size_t m, int n) {
  GRID_STRIDE_LOOP(i, m * (size_t)n) y[i] = b[i % (size_t)n];
}

/* db[j] = sum over rows of dy[r][j], rows in order, starting from row 0 like the CPU. */
__global__ static void column_sums_kernel(const float *dy, float *db, int m, int n) {
  GRID_STRIDE_LOOP(j, (size_t)n) {
    float s = dy[j];
    for (int r = 1; r < m; r++) s += dy[(size_t)r * n + j];
    db[j] = s;
  }
}

/* y (m x n) = x (m x k) w^T + b, all row-major as ddpc_layer_dense_forward. cuBLAS is
 * column-major: a row-major (r x c) matrix is a column-major (c x r) one, so this is
 * y^T = w x^T, i.e. gemm(T, N) with w as the k x n column-major operand. */
static void dense_forward(const float *x, const float *w, const float *b, float *y, int m, int n, int k) {
  const float one = 1.0f;
  float beta = 0.0f;
  if (b) {
    // Start from the bias and let the GEMM accumulate onto it, as the CPU does.
    fill_rows_kernel<<<ddpc_cuda_blocks((size_t)m * n), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(y, b, (size_t)m, n);
    DDPC_CUDA_CHECK_LAUNCH("fill_rows_kernel");
    beta = 1.0f;
  }
  DDPC_CUBLAS_CHECK(ddpc_cuda_sgemm(CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w, k, x, k, &beta, y, n));
}

/* dw = dy^T x (overwritten), db = column sums of dy, dx = dy w, as ddpc_layer_dense_backward;
 * dx may not alias x here (the CUDA model never asks for it). */
static void dense_backward(const float *x, const float *w, const float *dy, float *dw, float *db, float *dx, int m,
                           int n, int k) {
  const float one = 1.0f, zero = 0.0f;
  DDPC_CUBLAS_CHECK(ddpc_cuda_sgemm(CUBLAS_OP_N, CUBLAS_OP_T, k, n, m, &one, x, k, dy, n, &zero, dw, k));
  if (db) {
    column_sums_kernel<<<ddpc_cuda_blocks((size_t)n), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(dy, db, m, n);
    DDPC_CUDA_CHECK_LAUNCH("column_sums_kernel");
  }
  if (dx) DDPC_CUBLAS_CHECK(ddpc_cuda_sgemm(CUBLAS_OP_N, CUBLAS_OP_N, k, m, n, &one, w, k, dy, n, &zero, dx, k));
}

/* The CPU setup for one sample: spec checks, out and n_params; its scratch is dropped.
 * Then the size limits for the real batch, which the one-sample setup did not see. */
static int cuda_shape(ddpc_layer *layer, int max_batch) {
  const ddpc_layer_ops *cpu = ddpc_layer_ops_for(layer->spec.kind);
  if (!cpu) return ddpc_layer_fail(layer, "no CPU implementation to take the shapes from");
  if (cpu->setup(layer, 1) != 0) return -1;
  cpu->free(layer);
  layer->state = NULL;
  return ddpc_layer_check_sizes(layer, max_batch);
}

/* Device memory for a layer's scratch, the failure naming the layer. */
static void *cuda_scratch(const ddpc_layer *layer, size_t bytes, const char *what) {
  void *p = ddpc_cuda_alloc(bytes, what);
  if (!p) ddpc_layer_fail(layer, "%s", ddpc_error_message());
  return p;
}

/* The CPU initialiser, run on a host twin of the layer (with its own CPU state, which
 * conv2d's initialiser reads), then copied up: both devices start from the same bits. */
static void cuda_init_params(ddpc_layer *layer, uint64_t seed) {
  if (layer->n_params == 0) return;
  const ddpc_layer_ops *cpu = ddpc_layer_ops_for(layer->spec.kind);
  ddpc_layer twin = *layer;
  twin.ops = cpu;
  twin.state = NULL;
  float *host = (float *)ddpc_alloc_aligned(layer->n_params * sizeof(float), "initial parameters");
  if (!host || cpu->setup(&twin, 1) != 0) {
    ddpc_cuda_keep_error();
    free(host);
    return;
  }
  twin.params = host;
  cpu->init_params(&twin, seed);
  cpu->free(&twin);
  if (DDPC_CUDA_CHECK(cudaMemcpyAsync(layer->params, host, layer->n_params * sizeof(float), cudaMemcpyHostToDevice,
                                      ddpc_cuda_stream())) == 0)
    DDPC_CUDA_CHECK(cudaStreamSynchronize(ddpc_cuda_stream()));  // host is freed next
  free(host);
}

static void cuda_no_state_free(ddpc_layer *layer) { (void)layer; }

static int cuda_plain_setup(ddpc_layer *layer, int max_batch) { return cuda_shape(layer, max_batch); }

/* ---- linear -------------------------------------------------------------------------- */

static void linear_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  int in = (int)ddpc_shape_size(layer->in), out = layer->spec.units;
  const float *b = layer->spec.bias ? layer->params + (size_t)out * in : NULL;
  dense_forward(x, layer->params, b, y, batch, out, in);
}

static void linear_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx, int batch) {
  int in = (int)ddpc_shape_size(layer->in), out = layer->spec.units;
  float *db = layer->spec.bias ? layer->grads + (size_t)out * in : NULL;
  dense_backward(x, layer->params, dy, layer->grads, db, dx, batch, out, in);
}

/* ---- conv2d: im2col + one GEMM, as core/layer_conv2d.c ----------------------------- */

typedef struct {
  int kernel;   // square window size
  int stride;   // step between windows
  int padding;  // zeros on each side
  int kkc;      // im2col columns: kernel * kernel * in channels
  bool direct;  // 1x1, stride 1, no padding: the input already is the im2col matrix
  float *col;   // (max_batch * out.h * out.w, kkc) im2col of the last forward; NULL when direct
  float *dcol;  // same size, d(col) in backward; NULL when direct or for layer 0 (no dx)
} conv_state;

/* Geometry the two im2col kernels need, passed by value. */
typedef struct {
  int H, W, C;     // input
  int OH, OW;      // output positions
  int K, S, P;     // kernel, stride, padding
  int kkc;         // K * K * C
} conv_geom;

static conv_geom conv_geometry(const ddpc_layer *layer) {
  const conv_state *st = (const conv_state *)layer->state;
  conv_geom g = {layer->in.h, layer->in.w, layer->in.c, layer->out.h, layer->out.w,
                 st->kernel, st->stride, st->padding, st->kkc};
  return g;
}

/* col[row][(kh, kw, c)] = x[b][oh*S - P + kh][ow*S - P + kw][c], 0 over the padding. */
__global__ static void im2col_kernel(const float *x, float *col, conv_geom g, size_t total) {
  GRID_STRIDE_LOOP(i, total) {
    size_t row = i / g.kkc;
    int j = (int)(i % g.kkc);
    int kh = j / (g.K * g.C), kw = j / g.C % g.K, c = j % g.C;
    size_t b = row / ((size_t)g.OH * g.OW);
    int p = (int)(row % ((size_t)g.OH * g.OW));
    int ih = p / g.OW * g.S - g.P + kh, iw = p % g.OW * g.S - g.P + kw;
    bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
    col[i] = inside ? x[((b * g.H + ih) * g.W + iw) * g.C + c] : 0.0f;
  }
}

/* dx = col2im(dcol), gathered per input element: the windows that cover it are visited in
 * (oh, ow) order, which is the order the CPU scatter adds them in. */
__global__ static void col2im_kernel(const float *dcol, float *dx, conv_geom g, size_t total) {
  GRID_STRIDE_LOOP(i, total) {
    int c = (int)(i % g.C);
    size_t pix = i / g.C;
    int iw = (int)(pix % g.W), ih = (int)(pix / g.W % g.H);
    size_t b = pix / ((size_t)g.W * g.H);
    float s = 0.0f;
    for (int kh = g.K - 1; kh >= 0; kh--) {  // descending kh: ascending oh
      int t = ih + g.P - kh;
      if (t < 0 || t % g.S != 0 || t / g.S >= g.OH) continue;
      int oh = t / g.S;
      for (int kw = g.K - 1; kw >= 0; kw--) {
        int u = iw + g.P - kw;
        if (u < 0 || u % g.S != 0 || u / g.S >= g.OW) continue;
        int ow = u / g.S;
        s += dcol[((b * g.OH + oh) * g.OW + ow) * g.kkc + (kh * g.K + kw) * g.C + c];
      }
    }
    dx[i] = s;
  }
}

static int conv_setup(ddpc_layer *layer, int max_batch) {
  if (cuda_shape(layer, max_batch) != 0) return -1;
  const ddpc_layer_spec *s = &layer->spec;
  conv_state *st = (conv_state *)ddpc_calloc(1, sizeof *st, "conv2d state");
  if (!st) return -1;
  st->kernel = s->kernel;
  st->stride = s->stride;
  st->padding = s->padding;
  st->kkc = s->kernel * s->kernel * layer->in.c;
  st->direct = s->kernel == 1 && s->stride == 1 && s->padding == 0;
  layer->state = st;
  if (st->direct) return 0;
  double col_floats = (double)max_batch * layer->out.h * layer->out.w * st->kkc;
  if (ddpc_layer_check_floats(layer, "its im2col scratch for the batch", col_floats) != 0) return -1;
  size_t bytes = (size_t)col_floats * sizeof(float);
  if (!(st->col = (float *)cuda_scratch(layer, bytes, "conv2d im2col scratch"))) return -1;
  if (layer->index > 0 && !(st->dcol = (float *)cuda_scratch(layer, bytes, "conv2d im2col gradient"))) return -1;
  return 0;
}

static void conv_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  conv_state *st = (conv_state *)layer->state;
  int F = layer->spec.filters, rows = batch * layer->out.h * layer->out.w;
  const float *col = x;
  if (!st->direct) {
    size_t total = (size_t)rows * st->kkc;
    im2col_kernel<<<ddpc_cuda_blocks(total), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(x, st->col,
                                                                                       conv_geometry(layer), total);
    DDPC_CUDA_CHECK_LAUNCH("im2col_kernel");
    col = st->col;
  }
  const float *b = layer->spec.bias ? layer->params + (size_t)F * st->kkc : NULL;
  dense_forward(col, layer->params, b, y, rows, F, st->kkc);
}

static void conv_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx, int batch) {
  conv_state *st = (conv_state *)layer->state;
  int F = layer->spec.filters, rows = batch * layer->out.h * layer->out.w;
  float *db = layer->spec.bias ? layer->grads + (size_t)F * st->kkc : NULL;
  if (st->direct) {
    dense_backward(x, layer->params, dy, layer->grads, db, dx, rows, F, st->kkc);
    return;
  }
  // col still holds im2col(x) from this batch's forward.
  dense_backward(st->col, layer->params, dy, layer->grads, db, dx ? st->dcol : NULL, rows, F, st->kkc);
  if (!dx) return;
  if (!st->dcol) {  // setup made no d(col) scratch for layer 0, whose dx the model never asks for
    ddpc_layer_fail(layer, "asked for the input gradient of the first layer");
    ddpc_cuda_keep_error();
    return;
  }
  size_t total = layer_count(layer->in, batch);
  col2im_kernel<<<ddpc_cuda_blocks(total), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(st->dcol, dx,
                                                                                     conv_geometry(layer), total);
  DDPC_CUDA_CHECK_LAUNCH("col2im_kernel");
}

static void conv_free(ddpc_layer *layer) {
  conv_state *st = (conv_state *)layer->state;
  if (st) {
    ddpc_cuda_free(st->col);
    ddpc_cuda_free(st->dcol);
  }
  free(st);
  layer->state = NULL;
}

/* ---- maxpool2d ---------------------------------------------------------------------- */

typedef struct {
  int kernel;        // window size
  int stride;        // step between windows (resolved: never 0)
  uint32_t *argmax;  // (max_batch, out) offset of each maximum within its input sample
} pool_state;

/* One thread per output element; the first maximum in window row-major order wins. */
__global__ static void pool_forward_kernel(const float *x, float *y, uint32_t *argmax, conv_geom g, size_t total) {
  GRID_STRIDE_LOOP(i, total) {
    int c = (int)(i % g.C);
    size_t pos = i / g.C;
    int ow = (int)(pos % g.OW), oh = (int)(pos / g.OW % g.OH);
    size_t b = pos / ((size_t)g.OW * g.OH);
    const float *xb = x + b * (size_t)g.H * g.W * g.C;
    uint32_t best_at = (uint32_t)(((size_t)oh * g.S * g.W + (size_t)ow * g.S) * g.C + c);
    float best = xb[best_at];
    for (int kh = 0; kh < g.K; kh++)
      for (int kw = kh == 0 ? 1 : 0; kw < g.K; kw++) {
        uint32_t at = (uint32_t)((((size_t)oh * g.S + kh) * g.W + (size_t)ow * g.S + kw) * g.C + c);
        if (xb[at] > best) {  // strict: the first maximum wins
          best = xb[at];
          best_at = at;
        }
      }
    y[i] = best;
    argmax[i] = best_at;
  }
}

/* One thread per input element: adds dy of every window whose maximum it was, windows in
 * (oh, ow) order like the CPU scatter. */
__global__ static void pool_backward_kernel(const float *dy, const uint32_t *argmax, float *dx, conv_geom g,
                                            size_t total) {
  GRID_STRIDE_LOOP(i, total) {
    size_t in_size = (size_t)g.H * g.W * g.C, out_size = (size_t)g.OH * g.OW * g.C;
    size_t b = i / in_size;
    uint32_t at = (uint32_t)(i % in_size);
    int c = (int)(at % g.C), iw = (int)(at / g.C % g.W), ih = (int)(at / g.C / g.W);
    int oh_lo = ih - g.K + 1 > 0 ? (ih - g.K + 1 + g.S - 1) / g.S : 0, oh_hi = min(ih / g.S, g.OH - 1);
    int ow_lo = iw - g.K + 1 > 0 ? (iw - g.K + 1 + g.S - 1) / g.S : 0, ow_hi = min(iw / g.S, g.OW - 1);
    float s = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; oh++)
      for (int ow = ow_lo; ow <= ow_hi; ow++) {
        size_t o = b * out_size + ((size_t)oh * g.OW + ow) * g.C + c;
        if (argmax[o] == at) s += dy[o];
      }
    dx[i] = s;
  }
}

static conv_geom pool_geometry(const ddpc_layer *layer) {
  const pool_state *st = (const pool_state *)layer->state;
  conv_geom g = {layer->in.h, layer->in.w, layer->in.c, layer->out.h, layer->out.w, st->kernel, st->stride, 0, 0};
  return g;
}

static int pool_setup(ddpc_layer *layer, int max_batch) {
  if (cuda_shape(layer, max_batch) != 0) return -1;
  pool_state *st = (pool_state *)ddpc_calloc(1, sizeof *st, "maxpool2d state");
  if (!st) return -1;
  st->kernel = layer->spec.kernel;
  st->stride = layer->spec.stride == 0 ? layer->spec.kernel : layer->spec.stride;
  layer->state = st;
  size_t bytes = layer_count(layer->out, max_batch) * sizeof(uint32_t);
  return (st->argmax = (uint32_t *)cuda_scratch(layer, bytes, "maxpool2d argmax")) ? 0 : -1;
}

static void pool_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  pool_state *st = (pool_state *)layer->state;
  size_t total = layer_count(layer->out, batch);
  pool_forward_kernel<<<ddpc_cuda_blocks(total), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(x, y, st->argmax,
                                                                                           pool_geometry(layer), total);
  DDPC_CUDA_CHECK_LAUNCH("pool_forward_kernel");
}

static void pool_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx, int batch) {
  if (!dx) return;
  pool_state *st = (pool_state *)layer->state;
  size_t total = layer_count(layer->in, batch);
  pool_backward_kernel<<<ddpc_cuda_blocks(total), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(
      dy, st->argmax, dx, pool_geometry(layer), total);
  DDPC_CUDA_CHECK_LAUNCH("pool_backward_kernel");
}

static void pool_free(ddpc_layer *layer) {
  pool_state *st = (pool_state *)layer->state;
  if (st) ddpc_cuda_free(st->argmax);
  free(st);
  layer->state = NULL;
}

/* ---- relu, gelu, tanh: one kernel pair, the activation a template parameter ---------- */

enum { ACT_RELU, ACT_GELU, ACT_TANH };

template <int OP>
__global__ static void act_forward_kernel(const float *x, float *y, size_t n) {
  GRID_STRIDE_LOOP(i, n) {
    float v = x[i];
    if (OP == ACT_RELU) y[i] = v > 0.0f ? v : 0.0f;
    if (OP == ACT_GELU) y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    if (OP == ACT_TANH) y[i] = tanhf(v);
  }
}

template <int OP>
__global__ static void act_backward_kernel(const float *x, const float *y, const float *dy, float *dx, size_t n) {
  GRID_STRIDE_LOOP(i, n) {
    if (OP == ACT_RELU) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    if (OP == ACT_GELU) {
      // d/dx [x Phi(x)] = Phi(x) + x phi(x)
      float v = x[i];
      float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
      float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
      dx[i] = dy[i] * (cdf + v * pdf);
    }
    if (OP == ACT_TANH) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
  }
}

template <int OP>
static void act_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  size_t n = layer_count(layer->in, batch);
  act_forward_kernel<OP><<<ddpc_cuda_blocks(n), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(x, y, n);
  DDPC_CUDA_CHECK_LAUNCH("act_forward_kernel");
}

template <int OP>
static void act_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx, int batch) {
  if (!dx) return;
  size_t n = layer_count(layer->in, batch);
  act_backward_kernel<OP><<<ddpc_cuda_blocks(n), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(x, y, dy, dx, n);
  DDPC_CUDA_CHECK_LAUNCH("act_backward_kernel");
}

/* ---- dropout ------------------------------------------------------------------------ */

typedef struct {
  float *mask;    // (max_batch, in) factor applied in the last training forward
  bool training;  // whether the last forward applied the mask (else backward is the identity)
} dropout_state;

/* core/rng.c's generator, element by element: draw k of the stream is
 * mix(key + golden * (k + 1)); element e of row j sits at a = (j * world + rank) * per + e
 * of the global batch and takes the low (even a) or high (odd a) half of draw a / 2,
 * exactly as layer_dropout.c reads the stream. Keep the two in step: the parity test
 * compares the masks bitwise. */
__device__ static uint64_t rng_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

__global__ static void dropout_forward_kernel(const float *x, float *y, float *mask, size_t n, size_t per,
                                              uint64_t world, uint64_t rank, uint64_t key, uint64_t threshold,
                                              float scale) {
  GRID_STRIDE_LOOP(i, n) {
    uint64_t at = ((uint64_t)(i / per) * world + rank) * per + (uint64_t)(i % per);
    uint64_t bits = rng_mix(key + 0x9e3779b97f4a7c15ULL * (at / 2 + 1));
    uint64_t u = (at & 1) ? bits >> 32 : bits & 0xffffffffu;
    float m = u >= threshold ? scale : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

__global__ static void scale_by_kernel(const float *dy, const float *mask, float *dx, size_t n) {
  GRID_STRIDE_LOOP(i, n) dx[i] = dy[i] * mask[i];
}

/* y = x on the compute stream (identity layers, dropout outside training). */
static void copy_if_apart(float *y, const float *x, size_t n) {
  if (y != x) DDPC_CUDA_CHECK(cudaMemcpyAsync(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice, ddpc_cuda_stream()));
}

static int dropout_setup(ddpc_layer *layer, int max_batch) {
  if (cuda_shape(layer, max_batch) != 0) return -1;
  dropout_state *st = (dropout_state *)ddpc_calloc(1, sizeof *st, "dropout state");
  if (!st) return -1;
  layer->state = st;
  size_t bytes = layer_count(layer->in, max_batch) * sizeof(float);
  return (st->mask = (float *)cuda_scratch(layer, bytes, "dropout mask")) ? 0 : -1;
}

static void dropout_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  dropout_state *st = (dropout_state *)layer->state;
  size_t n = layer_count(layer->in, batch);
  st->training = ctx && ctx->training && layer->spec.p > 0.0f;
  if (!st->training) {
    copy_if_apart(y, x, n);
    return;
  }
  ddpc_rng rng = ddpc_rng_make(ctx->seed, DDPC_RNG_DROPOUT, ctx->step, (uint64_t)layer->index);
  // As layer_dropout.c: dropped when the 32-bit uniform is below p * 2^32.
  uint64_t threshold = (uint64_t)((double)layer->spec.p * 4294967296.0);
  float scale = 1.0f / (1.0f - layer->spec.p);
  size_t per = layer_count(layer->in, 1);
  uint64_t world = ctx->world > 1 ? ctx->world : 1;
  dropout_forward_kernel<<<ddpc_cuda_blocks(n), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(
      x, y, st->mask, n, per, world, ctx->rank, rng.key, threshold, scale);
  DDPC_CUDA_CHECK_LAUNCH("dropout_forward_kernel");
}

static void dropout_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx, int batch) {
  if (!dx) return;
  const dropout_state *st = (const dropout_state *)layer->state;
  size_t n = layer_count(layer->in, batch);
  if (!st->training) {
    copy_if_apart(dx, dy, n);
    return;
  }
  scale_by_kernel<<<ddpc_cuda_blocks(n), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(dy, st->mask, dx, n);
  DDPC_CUDA_CHECK_LAUNCH("scale_by_kernel");
}

static void dropout_free(ddpc_layer *layer) {
  dropout_state *st = (dropout_state *)layer->state;
  if (st) ddpc_cuda_free(st->mask);
  free(st);
  layer->state = NULL;
}

/* ---- flatten ------------------------------------------------------------------------ */

static void flatten_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  copy_if_apart(y, x, layer_count(layer->in, batch));
}

static void flatten_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx, int batch) {
  if (dx) copy_if_apart(dx, dy, layer_count(layer->in, batch));
}

/* ---- layernorm ---------------------------------------------------------------------- */

typedef struct {
  float *mean;  // (max_batch * h * w) per-position mean of the last forward
  float *rstd;  // (max_batch * h * w) per-position 1 / sqrt(var + eps)
} norm_state;

/* One warp per position: two-pass mean and variance, as layer_layernorm.c. */
__global__ static void norm_forward_kernel(const float *x, float *y, const float *gamma, const float *beta,
                                           float *mean_out, float *rstd_out, size_t rows, int C, float eps) {
  int lane = threadIdx.x % WARP;
  WARP_ROW_LOOP(r, rows) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    float sum = 0.0f;
    for (int i = lane; i < C; i += WARP) sum += xr[i];
    float mean = warp_sum(sum) / (float)C;
    float sq = 0.0f;
    for (int i = lane; i < C; i += WARP) sq += (xr[i] - mean) * (xr[i] - mean);
    float rstd = 1.0f / sqrtf(warp_sum(sq) / (float)C + eps);
    if (lane == 0) {
      mean_out[r] = mean;
      rstd_out[r] = rstd;
    }
    for (int i = lane; i < C; i += WARP) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
  }
}

/* dx, one warp per position. */
__global__ static void norm_backward_dx_kernel(const float *x, const float *dy, const float *gamma, const float *mean,
                                               const float *rstd, float *dx, size_t rows, int C) {
  int lane = threadIdx.x % WARP;
  WARP_ROW_LOOP(r, rows) {
    const float *xr = x + r * C, *dyr = dy + r * C;
    float m = mean[r], rs = rstd[r];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int i = lane; i < C; i += WARP) {
      float g = dyr[i] * gamma[i];
      sum_g += g;
      sum_gx += g * ((xr[i] - m) * rs);
    }
    float mg = warp_sum(sum_g) / (float)C, mgx = warp_sum(sum_gx) / (float)C;
    for (int i = lane; i < C; i += WARP) {
      float xhat = (xr[i] - m) * rs;
      dx[r * C + i] = rs * (dyr[i] * gamma[i] - mg - xhat * mgx);
    }
  }
}

/* d(gamma), d(beta): one thread per channel, positions in order (the CPU's order). */
__global__ static void norm_backward_params_kernel(const float *x, const float *dy, const float *mean,
                                                   const float *rstd, float *dgamma, float *dbeta, size_t rows, int C) {
  GRID_STRIDE_LOOP(i, (size_t)C) {
    float dg = 0.0f, db = 0.0f;
    for (size_t r = 0; r < rows; r++) {
      float xhat = (x[r * C + i] - mean[r]) * rstd[r];
      dg += dy[r * C + i] * xhat;
      db += dy[r * C + i];
    }
    dgamma[i] = dg;
    dbeta[i] = db;
  }
}

static size_t norm_rows(const ddpc_layer *layer, int batch) {
  return (size_t)layer->in.h * (size_t)layer->in.w * (size_t)batch;
}

static int norm_setup(ddpc_layer *layer, int max_batch) {
  if (cuda_shape(layer, max_batch) != 0) return -1;
  norm_state *st = (norm_state *)ddpc_calloc(1, sizeof *st, "layernorm state");
  if (!st) return -1;
  layer->state = st;
  size_t rows = norm_rows(layer, max_batch);
  if (!(st->mean = (float *)cuda_scratch(layer, 2 * rows * sizeof(float), "layernorm statistics"))) return -1;
  st->rstd = st->mean + rows;
  return 0;
}

static void norm_forward(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx) {
  norm_state *st = (norm_state *)layer->state;
  int C = layer->in.c;
  size_t rows = norm_rows(layer, batch);
  norm_forward_kernel<<<warp_blocks(rows), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(
      x, y, layer->params, layer->params + C, st->mean, st->rstd, rows, C, layer->spec.eps);
  DDPC_CUDA_CHECK_LAUNCH("norm_forward_kernel");
}

static void norm_backward(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx, int batch) {
  const norm_state *st = (const norm_state *)layer->state;
  int C = layer->in.c;
  size_t rows = norm_rows(layer, batch);
  norm_backward_params_kernel<<<ddpc_cuda_blocks((size_t)C), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(
      x, dy, st->mean, st->rstd, layer->grads, layer->grads + C, rows, C);
  DDPC_CUDA_CHECK_LAUNCH("norm_backward_params_kernel");
  if (!dx) return;
  norm_backward_dx_kernel<<<warp_blocks(rows), DDPC_CUDA_THREADS, 0, ddpc_cuda_stream()>>>(
      x, dy, layer->params, st->mean, st->rstd, dx, rows, C);
  DDPC_CUDA_CHECK_LAUNCH("norm_backward_dx_kernel");
}

static void norm_free(ddpc_layer *layer) {
  norm_state *st = (norm_state *)layer->state;
  if (st) ddpc_cuda_free(st->mean);
  free(st);
  layer->state = NULL;
}

/* ---- the table ---------------------------------------------------------------------- */

static const ddpc_layer_ops cuda_linear_ops = {cuda_plain_setup, cuda_init_params, linear_forward, linear_backward,
                                               cuda_no_state_free};
static const ddpc_layer_ops cuda_conv2d_ops = {conv_setup, cuda_init_params, conv_forward, conv_backward, conv_free};
static const ddpc_layer_ops cuda_maxpool2d_ops = {pool_setup, cuda_init_params, pool_forward, pool_backward,
                                                  pool_free};
static const ddpc_layer_ops cuda_relu_ops = {cuda_plain_setup, cuda_init_params, act_forward<ACT_RELU>,
                                             act_backward<ACT_RELU>, cuda_no_state_free};
static const ddpc_layer_ops cuda_gelu_ops = {cuda_plain_setup, cuda_init_params, act_forward<ACT_GELU>,
                                             act_backward<ACT_GELU>, cuda_no_state_free};
static const ddpc_layer_ops cuda_tanh_ops = {cuda_plain_setup, cuda_init_params, act_forward<ACT_TANH>,
                                             act_backward<ACT_TANH>, cuda_no_state_free};
static const ddpc_layer_ops cuda_dropout_ops = {dropout_setup, cuda_init_params, dropout_forward, dropout_backward,
                                                dropout_free};
static const ddpc_layer_ops cuda_flatten_ops = {cuda_plain_setup, cuda_init_params, flatten_forward, flatten_backward,
                                                cuda_no_state_free};
static const ddpc_layer_ops cuda_layernorm_ops = {norm_setup, cuda_init_params, norm_forward, norm_backward,
                                                  norm_free};

extern "C" const ddpc_layer_ops *ddpc_layer_cuda_ops_for(ddpc_layer_kind kind) {
  switch (kind) {
    case DDPC_LAYER_LINEAR: return &cuda_linear_ops;
    case DDPC_LAYER_CONV2D: return &cuda_conv2d_ops;
    case DDPC_LAYER_MAXPOOL2D: return &cuda_maxpool2d_ops;
    case DDPC_LAYER_RELU: return &cuda_relu_ops;
    case DDPC_LAYER_GELU: return &cuda_gelu_ops;
    case DDPC_LAYER_TANH: return &cuda_tanh_ops;
    case DDPC_LAYER_DROPOUT: return &cuda_dropout_ops;
    case DDPC_LAYER_FLATTEN: return &cuda_flatten_ops;
    case DDPC_LAYER_LAYERNORM: return &cuda_layernorm_ops;
    default: return NULL;
  }
}
