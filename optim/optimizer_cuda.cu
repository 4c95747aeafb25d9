/* SGD, Adam and AdamW, and the clipping norm, on the GPU (see optim/optim_cuda.h). Each
 * kernel is the CPU loop of optimizer.c for one element, with the same float operands in
 * the same order (the scalars come from ddpc_optimizer_scalars_at, and the CUDA files are
 * built without fused multiply-adds), so a GPU step matches the CPU's to the last bit given
 * the same gradient. The norm is reduced in double over a fixed grid, so it repeats
 * bitwise run to run, though it is added in another order than clip.c's lanes. */
#include <math.h>
#include <stdlib.h>

extern "C" {
#include "core/error.h"
}
#include "core/device_cuda_internal.h"
#include "optim/optim_cuda.h"

#define GRID_STRIDE_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

/* The gradient element as ddpc_grad_parts_block forms it from one part. */
__device__ static float grad_at(const float *g, size_t i, float scale, const float *d_scale) {
  float s = d_scale ? scale * *d_scale : scale;
  return s == 1.0f ? g[i] : g[i] * s;
}

__global__ static void sgd_kernel(ddpc_optimizer_scalars k, bool nesterov, float *p, const float *g, float *b,
                                  float scale, const float *d_scale, size_t n) {
  GRID_STRIDE_LOOP(i, n) {
    float gi = grad_at(g, i, scale, d_scale);
    if (!b) {
      p[i] = p[i] + k.neg_lr * (gi + k.wd * p[i]);
    } else if (nesterov) {
      float d = gi + k.wd * p[i];
      float bi = b[i] * k.keep + d;
      b[i] = bi;
      p[i] = p[i] + k.neg_lr * (d + k.momentum * bi);
    } else {
      float bi = b[i] * k.keep + (gi + k.wd * p[i]);
      b[i] = bi;
      p[i] = p[i] + k.neg_lr * bi;
    }
  }
}

__global__ static void adam_kernel(ddpc_optimizer_scalars k, float *p, const float *g, float *m, float *v, float scale,
                                   const float *d_scale, size_t n) {
  GRID_STRIDE_LOOP(i, n) {
    float gi = grad_at(g, i, scale, d_scale) + k.l2 * (p[i] * k.decay);
    float vi = v[i] * k.b2 + k.one_minus_b2 * gi * gi;
    m[i] = m[i] * k.b1 + k.one_minus_b1 * gi;
    v[i] = vi;
    p[i] = p[i] * k.decay + k.neg_step * m[i] / (sqrtf(vi) / k.bias2_sqrt + k.eps);
  }
}

extern "C" void ddpc_optimizer_cuda_step(const ddpc_optimizer *opt, const ddpc_optimizer_scalars *k, float *p,
                                         const float *g, float scale, const float *d_scale, size_t n) {
  if (n == 0) return;
  cudaStream_t s = ddpc_cuda_stream();
  if (opt->cfg.kind == DDPC_OPTIMIZER_SGD) {
    sgd_kernel<<<ddpc_cuda_blocks(n), DDPC_CUDA_THREADS, 0, s>>>(*k, opt->cfg.nesterov, p, g, opt->m.data, scale,
                                                                 d_scale, n);
    DDPC_CUDA_CHECK_LAUNCH("sgd_kernel");
  } else {
    adam_kernel<<<ddpc_cuda_blocks(n), DDPC_CUDA_THREADS, 0, s>>>(*k, p, g, opt->m.data, opt->v.data, scale, d_scale,
                                                                  n);
    DDPC_CUDA_CHECK_LAUNCH("adam_kernel");
  }
}

/* ---- clipping norm -------------------------------------------------------------------- */

/* A fixed grid: the partial sums, and so the result's bits, do not depend on n's size. */
#define CLIP_BLOCKS 256
#define CLIP_THREADS 256
static_assert(CLIP_BLOCKS <= CLIP_THREADS, "clip_scale_kernel gives each partial sum a thread");

struct ddpc_clip_cuda {
  double *partial;  // (CLIP_BLOCKS) per-block sums of squares
  double *norm;     // the last norm
  float *scale;     // the last clipping factor
};

/* Sums a block's values in shared memory with a fixed tree; thread 0 gets the total. */
__device__ static double block_sum(double v) {
  __shared__ double part[CLIP_THREADS];
  part[threadIdx.x] = v;
  __syncthreads();
  for (int half = CLIP_THREADS / 2; half > 0; half /= 2) {
    if ((int)threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  return part[0];
}

__global__ static void sum_squares_kernel(const float *g, size_t n, double *partial) {
  double s = 0.0;
  GRID_STRIDE_LOOP(i, n) s += (double)g[i] * (double)g[i];
  double total = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

/* The factor as clip.c: max_norm / (norm + 1e-6) when that is below 1. */
__global__ static void clip_scale_kernel(const double *partial, double max_norm, double *norm_out, float *scale_out) {
  double total = block_sum(threadIdx.x < CLIP_BLOCKS ? partial[threadIdx.x] : 0.0);
  if (threadIdx.x != 0) return;
  double norm = sqrt(total);
  float scale = 1.0f;
  if (max_norm > 0.0 && isfinite(norm)) {
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) scale = (float)coef;
  }
  *norm_out = norm;
  *scale_out = scale;
}

extern "C" int ddpc_clip_cuda_create(ddpc_clip_cuda **out) {
  *out = NULL;
  ddpc_clip_cuda *c = (ddpc_clip_cuda *)ddpc_calloc(1, sizeof *c, "GPU gradient clipping");
  if (!c) return -1;
  c->partial = (double *)ddpc_cuda_alloc((CLIP_BLOCKS + 1) * sizeof(double), "gradient norm partial sums");
  c->scale = c->partial ? (float *)ddpc_cuda_alloc(sizeof(float), "clipping factor") : NULL;
  if (!c->scale) {
    ddpc_clip_cuda_free(c);
    return -1;
  }
  c->norm = c->partial + CLIP_BLOCKS;
  *out = c;
  return 0;
}

extern "C" void ddpc_clip_cuda_free(ddpc_clip_cuda *c) {
  if (!c) return;
  ddpc_cuda_free(c->partial);
  ddpc_cuda_free(c->scale);
  free(c);
}

extern "C" int ddpc_clip_grad_norm_cuda(ddpc_clip_cuda *c, const float *g, size_t n, double max_norm,
                                        const double **d_norm, const float **d_scale) {
  cudaStream_t s = ddpc_cuda_stream();
  sum_squares_kernel<<<CLIP_BLOCKS, CLIP_THREADS, 0, s>>>(g, n, c->partial);
  if (DDPC_CUDA_CHECK_LAUNCH("sum_squares_kernel")) return -1;
  clip_scale_kernel<<<1, CLIP_THREADS, 0, s>>>(c->partial, max_norm, c->norm, c->scale);
  if (DDPC_CUDA_CHECK_LAUNCH("clip_scale_kernel")) return -1;
  *d_norm = c->norm;
  *d_scale = c->scale;
  return 0;
}
