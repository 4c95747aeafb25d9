/* The CUDA runtime side of core/device.h, as a C interface without CUDA headers: the
 * process-wide GPU context (one GPU per process: the device, the compute stream every
 * kernel and cuBLAS call is queued on, the cuBLAS handle), device and pinned memory, and
 * the sticky first error of the void kernel launchers. Implemented in core/device_cuda.cu,
 * built only with CUDA; callers outside the CUDA files go through core/device.h. */
#ifndef DDPC_CORE_DEVICE_CUDA_H
#define DDPC_CORE_DEVICE_CUDA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* GPUs visible to this process. No driver or no GPU is not an error here: *count is 0 and
 * *why says why (a static string from cudaGetErrorString, "" when there are GPUs). */
void ddpc_cuda_device_count(int *count, const char **why);
/* Selects GPU `index` (cudaSetDevice) and creates the compute stream and the cuBLAS handle
 * (pedantic float32 math: no TF32, so products match the CPU's). Opening the same GPU
 * again is a no-op; another one is an error. */
int ddpc_cuda_open(int index);
bool ddpc_cuda_is_open(void);
void ddpc_cuda_close(void);
/* Zeroed device memory; NULL with "out of GPU memory (N bytes for WHAT): ..." recorded. */
void *ddpc_cuda_alloc(size_t bytes, const char *what);
void ddpc_cuda_free(void *p);
/* Page-locked host memory: copies from it to the GPU are truly asynchronous. Zeroed. */
void *ddpc_cuda_alloc_pinned(size_t bytes, const char *what);
void ddpc_cuda_free_pinned(void *p);
/* Queues a copy (any direction, unified addressing) or a zeroing on the compute stream. */
int ddpc_cuda_copy_async(void *dst, const void *src, size_t bytes);
int ddpc_cuda_zero_async(void *p, size_t bytes);
/* Waits for the compute stream; returns -1 with the first error recorded since the last
 * call (launch failures, cuBLAS errors, asynchronous kernel faults). */
int ddpc_cuda_sync(void);
/* The first recorded error without waiting: -1 (and ddpc_error_message set) when one is
 * pending, which clears it. */
int ddpc_cuda_take_error(void);

#ifdef __cplusplus
}
#endif

#endif
