/* The matrix-product bound of an MLP training step: times only the GEMMs one step of
 * ddpc's MLP does (forward x W^T per layer, backward dW = dy^T x per layer, dx = dy W for
 * every layer but the first) through the linear layer's own product functions, so on the
 * kernels training runs (core/gemm.c where the build has a vectorized one, else OpenBLAS), so a benchmark can say what fraction of that
 * bound the whole step reaches.  usage: bench_gemm_bound BATCH DIM0 DIM1 ... (e.g. 64 784
 * 256 128 10) */
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/gemm.h"
#include "core/layer.h"

static double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *bench_random(size_t n) {
  float *p = malloc(n * sizeof *p);
  if (!p) {
    fputs("bench_gemm_bound: out of memory\n", stderr);
    exit(1);
  }
  for (size_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  return p;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fputs("usage: bench_gemm_bound BATCH DIM0 DIM1 [DIM2 ...]\n", stderr);
    return 2;
  }
  int batch = atoi(argv[1]);
  int layers = argc - 3;
  int *dim = malloc((size_t)(layers + 1) * sizeof *dim);
  float **act = malloc((size_t)(layers + 1) * sizeof *act), **grad = malloc((size_t)(layers + 1) * sizeof *grad);
  float **w = malloc((size_t)layers * sizeof *w), **dw = malloc((size_t)layers * sizeof *dw);
  for (int i = 0; i <= layers; i++) {
    dim[i] = atoi(argv[i + 2]);
    if (batch <= 0 || dim[i] <= 0) {
      fprintf(stderr, "bench_gemm_bound: sizes must be positive, got '%s'\n", argv[i + 2]);
      return 2;
    }
    act[i] = bench_random((size_t)batch * (size_t)dim[i]);
    grad[i] = bench_random((size_t)batch * (size_t)dim[i]);
  }
  for (int l = 0; l < layers; l++) {
    w[l] = bench_random((size_t)dim[l] * (size_t)dim[l + 1]);
    dw[l] = bench_random((size_t)dim[l] * (size_t)dim[l + 1]);
  }
  const bool own = ddpc_gemm_available();  // which kernels the layers' functions below run
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    int iters = 400;
    double t0 = bench_now();
    for (int it = 0; it < iters; it++) {
      for (int l = 0; l < layers; l++)
        ddpc_layer_linear_forward(act[l], w[l], NULL, act[l + 1], batch, dim[l + 1], dim[l]);
      for (int l = layers - 1; l >= 0; l--)
        ddpc_layer_dense_backward(act[l], w[l], grad[l + 1], dw[l], NULL, l > 0 ? grad[l] : NULL, batch, dim[l + 1],
                                  dim[l]);
    }
    double t = (bench_now() - t0) / iters;
    if (t < best) best = t;
  }
  char core[96];
  snprintf(core, sizeof core, own ? "ddpc %s" : "OpenBLAS %s", own ? ddpc_gemm_kernel() : openblas_get_corename());
  printf("{\"core\": \"%s\", \"gemm_ms_per_step\": %.4f, \"bound_samples_per_s\": %.0f}\n", core, best * 1e3,
         batch / best);
  return 0;
}
