/* The losses on the GPU (see core/loss_cuda.h; the math is core/loss.c's). One warp per
 * sample computes its loss and gradient; a single block then adds the per-sample losses in
 * double, each thread a fixed strided subset and a fixed tree after, so the sum does not
 * depend on scheduling. Differences from the CPU are float rounding only: the warp adds a
 * row's exponentials in another order than the CPU's left-to-right loop. */
#include <math.h>
#include <stdlib.h>

extern "C" {
#include "core/error.h"
}
#include "core/device_cuda_internal.h"
#include "core/loss_cuda.h"

#define WARP 32
#define SUM_THREADS 256

typedef struct {
  double loss_sum;  // running sum of per-sample losses
  long long correct;  // running count of correct predictions
} loss_totals;

struct ddpc_loss_cuda {
  int max_batch;        // largest batch the scratch holds
  double *row_loss;     // (max_batch) per-sample loss of the last batch
  int *row_correct;     // (max_batch) 1 when the sample's argmax was its label
  loss_totals *totals;  // running sums on the device
};

__device__ static float warp_sum(float v) {
  for (int off = WARP / 2; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

/* The row's maximum and where it first occurs: ties go to the lower index, like the
 * CPU's strict comparison in a left-to-right scan. */
__device__ static void warp_argmax(float *v, int *at) {
  for (int off = WARP / 2; off > 0; off /= 2) {
    float ov = __shfl_xor_sync(0xffffffffu, *v, off);
    int oat = __shfl_xor_sync(0xffffffffu, *at, off);
    if (ov > *v || (ov == *v && oat < *at)) {
      *v = ov;
      *at = oat;
    }
  }
}

__global__ static void cross_entropy_kernel(const float *out, const int32_t *labels, int batch, int width, float *dout,
                                            float inv_scale, double *row_loss, int *row_correct) {
  int lane = threadIdx.x % WARP;
  int b = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP);
  if (b >= batch) return;  // whole warps leave together
  const float *o = out + (size_t)b * width;
  float max = o[0];
  int arg = 0;
  for (int j = lane; j < width; j += WARP)
    if (o[j] > max) {
      max = o[j];
      arg = j;
    }
  warp_argmax(&max, &arg);
  float *d = dout ? dout + (size_t)b * width : NULL;
  float part = 0.0f;
  for (int j = lane; j < width; j += WARP) {
    float e = expf(o[j] - max);
    if (d) d[j] = e;
    part += e;
  }
  float sum = warp_sum(part);
  int32_t label = labels[b];
  // A label outside [0, width) makes the loss NaN, as on the CPU, rather than a bad read.
  bool valid = label >= 0 && label < width;
  if (lane == 0) {
    row_loss[b] = valid ? (double)max + log((double)sum) - (double)o[label] : nan("");
    row_correct[b] = valid && arg == label;
  }
  if (!d) return;
  float norm = inv_scale / sum;
  for (int j = lane; j < width; j += WARP) d[j] = d[j] * norm - (valid && j == label ? inv_scale : 0.0f);
}

__global__ static void mse_kernel(const float *out, const float *targets, int batch, int width, float *dout,
                                  float gscale, double *row_loss, int *row_correct) {
  int lane = threadIdx.x % WARP;
  int b = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP);
  if (b >= batch) return;
  const float *o = out + (size_t)b * width, *t = targets + (size_t)b * width;
  double sq = 0.0;
  for (int j = lane; j < width; j += WARP) {
    float diff = o[j] - t[j];
    sq += (double)diff * diff;
    if (dout) dout[(size_t)b * width + j] = diff * gscale;
  }
  for (int off = WARP / 2; off > 0; off /= 2) sq += __shfl_xor_sync(0xffffffffu, sq, off);
  if (lane == 0) {
    row_loss[b] = sq / width;
    row_correct[b] = 0;
  }
}

/* One block: thread t adds rows t, t + SUM_THREADS, ...; then a fixed tree. */
__global__ static void sum_rows_kernel(const double *row_loss, const int *row_correct, int batch, loss_totals *totals) {
  __shared__ double loss[SUM_THREADS];
  __shared__ long long correct[SUM_THREADS];
  int t = threadIdx.x;
  double l = 0.0;
  long long c = 0;
  for (int b = t; b < batch; b += SUM_THREADS) {
    l += row_loss[b];
    c += row_correct[b];
  }
  loss[t] = l;
  correct[t] = c;
  __syncthreads();
  for (int half = SUM_THREADS / 2; half > 0; half /= 2) {
    if (t < half) {
      loss[t] += loss[t + half];
      correct[t] += correct[t + half];
    }
    __syncthreads();
  }
  if (t == 0) {
    totals->loss_sum += loss[0];
    totals->correct += correct[0];
  }
}

extern "C" int ddpc_loss_cuda_create(int max_batch, ddpc_loss_cuda **out) {
  *out = NULL;
  if (max_batch < 1) return ddpc_error_set("loss: max_batch must be at least 1, got %d", max_batch);
  ddpc_loss_cuda *l = (ddpc_loss_cuda *)ddpc_calloc(1, sizeof *l, "GPU loss");
  if (!l) return -1;
  l->max_batch = max_batch;
  l->row_loss = (double *)ddpc_cuda_alloc((size_t)max_batch * sizeof(double), "per-sample losses");
  l->row_correct = l->row_loss ? (int *)ddpc_cuda_alloc((size_t)max_batch * sizeof(int), "per-sample hits") : NULL;
  l->totals = l->row_correct ? (loss_totals *)ddpc_cuda_alloc(sizeof(loss_totals), "loss sums") : NULL;
  if (!l->totals) {
    ddpc_loss_cuda_free(l);
    return -1;
  }
  *out = l;
  return 0;
}

extern "C" void ddpc_loss_cuda_free(ddpc_loss_cuda *l) {
  if (!l) return;
  ddpc_cuda_free(l->row_loss);
  ddpc_cuda_free(l->row_correct);
  ddpc_cuda_free(l->totals);
  free(l);
}

extern "C" int ddpc_loss_cuda_compute(ddpc_loss_cuda *l, ddpc_loss_kind kind, const float *out, const int32_t *labels,
                                      const float *targets, int batch, int width, float *dout, double grad_scale) {
  if (batch < 1 || batch > l->max_batch)
    return ddpc_error_set("loss: batch %d is outside 1..%d (max_batch)", batch, l->max_batch);
  cudaStream_t s = ddpc_cuda_stream();
  unsigned blocks = ddpc_cuda_blocks((size_t)batch * WARP);
  if (kind == DDPC_LOSS_MSE) {
    // The scalars as loss.c derives them, in double then rounded once.
    float gscale = (float)(2.0 / ((double)width * grad_scale));
    mse_kernel<<<blocks, DDPC_CUDA_THREADS, 0, s>>>(out, targets, batch, width, dout, gscale, l->row_loss,
                                                    l->row_correct);
  } else {
    float inv_scale = (float)(1.0 / grad_scale);
    cross_entropy_kernel<<<blocks, DDPC_CUDA_THREADS, 0, s>>>(out, labels, batch, width, dout, inv_scale, l->row_loss,
                                                              l->row_correct);
  }
  if (DDPC_CUDA_CHECK_LAUNCH("loss kernel")) return -1;
  sum_rows_kernel<<<1, SUM_THREADS, 0, s>>>(l->row_loss, l->row_correct, batch, l->totals);
  return DDPC_CUDA_CHECK_LAUNCH("sum_rows_kernel");
}

extern "C" int ddpc_loss_cuda_take(ddpc_loss_cuda *l, ddpc_loss_result *sums) {
  loss_totals host = {0.0, 0};
  if (DDPC_CUDA_CHECK(cudaMemcpyAsync(&host, l->totals, sizeof host, cudaMemcpyDeviceToHost, ddpc_cuda_stream())) ||
      ddpc_cuda_sync() != 0 || DDPC_CUDA_CHECK(cudaMemsetAsync(l->totals, 0, sizeof host, ddpc_cuda_stream())))
    return -1;
  sums->loss_sum = host.loss_sum;
  sums->correct = host.correct;
  return 0;
}
