/* What the CUDA sources share and nothing else sees: the check macros that turn a failed
 * CUDA or cuBLAS call into a message with file, line, the call and the library's error
 * string, and the handles of the process-wide context (core/device_cuda.cu). Plain C, so
 * comm/comm_nccl.c can use it too; included only by files built with CUDA. */
#ifndef DDPC_CORE_DEVICE_CUDA_INTERNAL_H
#define DDPC_CORE_DEVICE_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>

#include "core/device_cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Record the first failure for ddpc_cuda_sync/take_error (and as the current error) and
 * return -1; return 0 for success. Use through the macros. */
int ddpc_cuda_check_runtime(cudaError_t rc, const char *file, int line, const char *call);
int ddpc_cuda_check_cublas(cublasStatus_t rc, const char *file, int line, const char *call);
/* Keeps the current ddpc_error_message() as the sticky first error: for a failure inside a
 * void launcher that is not a CUDA call (a host allocation, a misuse). Returns -1. */
int ddpc_cuda_keep_error(void);

/* Each evaluates to 0 or -1: `if (DDPC_CUDA_CHECK(...)) return -1;` where the caller
 * returns a status, a plain statement in the void layer launchers (the error waits in the
 * sticky slot until the next sync). */
#define DDPC_CUDA_CHECK(call) ddpc_cuda_check_runtime((call), __FILE__, __LINE__, #call)
#define DDPC_CUBLAS_CHECK(call) ddpc_cuda_check_cublas((call), __FILE__, __LINE__, #call)
/* After a kernel launch: a bad configuration shows up only in cudaGetLastError. */
#define DDPC_CUDA_CHECK_LAUNCH(kernel) ddpc_cuda_check_runtime(cudaGetLastError(), __FILE__, __LINE__, kernel)

/* The compute stream; valid after ddpc_cuda_open. */
cudaStream_t ddpc_cuda_stream(void);
/* cublasSgemm on the context's handle (bound to the compute stream). cuBLAS is loaded at
 * run time (see device_cuda.cu), so this is the only way in. */
cublasStatus_t ddpc_cuda_sgemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha,
                               const float *a, int lda, const float *b, int ldb, const float *beta, float *c, int ldc);

#ifdef __cplusplus
}
#endif

/* Threads per block of the elementwise kernels, and the grid for n elements: grid-stride
 * loops cover any n, so the grid is capped rather than sized to n. */
#define DDPC_CUDA_THREADS 256
static inline unsigned ddpc_cuda_blocks(size_t n) {
  size_t b = (n + DDPC_CUDA_THREADS - 1) / DDPC_CUDA_THREADS;
  if (b < 1) b = 1;
  return b > 65535u * 16u ? 65535u * 16u : (unsigned)b;
}

#endif
