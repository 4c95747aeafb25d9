/* Compute devices: which ones there are (the ddpc_device enum, which every buffer carries:
 * core/buffer.h), which ones this build and this machine offer, and making one the
 * process's device. Always compiled: in a build without CUDA every CUDA request fails with
 * DDPC_DEVICE_NO_CUDA_MESSAGE instead of the symbol going missing, so callers need no
 * #ifdef. The CUDA side itself is core/device_cuda.h. */
#ifndef DDPC_CORE_DEVICE_H
#define DDPC_CORE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  DDPC_DEVICE_CPU = 0,
  DDPC_DEVICE_CUDA = 1,
} ddpc_device;

#define DDPC_DEVICE_COUNT 2
/* What a CUDA request says in a build without CUDA. */
#define DDPC_DEVICE_NO_CUDA_MESSAGE "this ddpc was built without CUDA (cmake -DDDPC_CUDA=ON)"

/* "cpu", "cuda" in enum order, for configs and messages. */
extern const char *const ddpc_device_names[DDPC_DEVICE_COUNT];
/* The name of `device` ("cpu", "cuda"). */
const char *ddpc_device_name(ddpc_device device);
/* -1 for an unknown name, without recording an error (the caller names file and place). */
int ddpc_device_parse(const char *name);
/* Whether this build has the code for `device` (cpu always, cuda with -DDDPC_CUDA). */
bool ddpc_device_built(ddpc_device device);
/* 0 when `device` can be used by this process: cpu always; cuda when built with CUDA and
 * cudaGetDeviceCount reports a GPU (*count gets how many; may be NULL). Otherwise -1 with
 * the reason recorded, never a crash: no driver, no GPU, or a build without CUDA. */
int ddpc_device_probe(ddpc_device device, int *count);
/* Makes `device` this process's device. cuda: GPU number local_rank (the rank among the
 * processes of this node, so each rank of a node gets its own GPU; more ranks than GPUs is
 * an error), with its compute stream and cuBLAS handle. cpu: nothing to do. */
int ddpc_device_open(ddpc_device device, int local_rank);
/* Releases what open made (no-op for cpu or when nothing is open). */
void ddpc_device_close(ddpc_device device);
/* Waits until the device has finished everything queued; -1 with the first CUDA error
 * recorded since the last call (kernel launches report theirs here). */
int ddpc_device_sync(ddpc_device device);

/* Raw memory on a device: zeroed, 64-byte aligned on the host. NULL with a message. */
void *ddpc_device_alloc(ddpc_device device, size_t bytes, const char *what);
void ddpc_device_free(ddpc_device device, void *p);
/* Zeroes `bytes` at p (queued on the compute stream for cuda). */
int ddpc_device_zero(ddpc_device device, void *p, size_t bytes);
/* Host memory for data on its way to `device`: page-locked for cuda, so that copies from it
 * are truly asynchronous; plain 64-byte aligned memory for cpu. Zeroed; NULL with a message. */
void *ddpc_device_alloc_staging(ddpc_device device, size_t bytes, const char *what);
void ddpc_device_free_staging(ddpc_device device, void *p);
/* Copies `bytes` from host memory src to dst on `device`: for cuda queued on the compute
 * stream (src must stay unchanged until the stream has passed the copy), for cpu at once. */
int ddpc_device_upload_async(void *dst, const void *src, size_t bytes, ddpc_device device);
/* Copies between any two devices and returns when dst holds the bytes (a checkpoint of a
 * GPU run copies its parameters to the host this way). */
int ddpc_device_copy(void *dst, ddpc_device dst_device, const void *src, ddpc_device src_device, size_t bytes);

#endif
