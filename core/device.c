/* Device choice and raw memory on either device (see core/device.h). The CPU path is plain
 * host memory; the CUDA path forwards to core/device_cuda.cu. In a build without CUDA the
 * forwards below are stubs that refuse with DDPC_DEVICE_NO_CUDA_MESSAGE, which keeps every
 * caller, and this file's functions, free of #ifdef. */
#include "core/device.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/names.h"

#ifdef DDPC_HAVE_CUDA
#include "core/device_cuda.h"
#else
static void ddpc_cuda_device_count(int *count, const char **why) {
  *count = 0;
  *why = DDPC_DEVICE_NO_CUDA_MESSAGE;
}
static int ddpc_cuda_open(int index) { return ddpc_error_set("%s", DDPC_DEVICE_NO_CUDA_MESSAGE); }
static void ddpc_cuda_close(void) {}
static int ddpc_cuda_sync(void) { return 0; }
static void *ddpc_cuda_alloc(size_t bytes, const char *what) {
  ddpc_error_set("%s: %s", what, DDPC_DEVICE_NO_CUDA_MESSAGE);
  return NULL;
}
static void ddpc_cuda_free(void *p) {}
static void *ddpc_cuda_alloc_pinned(size_t bytes, const char *what) {
  ddpc_error_set("%s: %s", what, DDPC_DEVICE_NO_CUDA_MESSAGE);
  return NULL;
}
static void ddpc_cuda_free_pinned(void *p) {}
static int ddpc_cuda_zero_async(void *p, size_t bytes) { return ddpc_error_set("%s", DDPC_DEVICE_NO_CUDA_MESSAGE); }
static int ddpc_cuda_copy_async(void *dst, const void *src, size_t bytes) {
  return ddpc_error_set("%s", DDPC_DEVICE_NO_CUDA_MESSAGE);
}
#endif

const char *const ddpc_device_names[DDPC_DEVICE_COUNT] = {[DDPC_DEVICE_CPU] = "cpu", [DDPC_DEVICE_CUDA] = "cuda"};

int ddpc_device_parse(const char *name) { return ddpc_names_find(ddpc_device_names, DDPC_DEVICE_COUNT, name); }

const char *ddpc_device_name(ddpc_device device) {
  return ddpc_names_get(ddpc_device_names, DDPC_DEVICE_COUNT, (int)device);
}

bool ddpc_device_built(ddpc_device device) {
#ifdef DDPC_HAVE_CUDA
  return device == DDPC_DEVICE_CPU || device == DDPC_DEVICE_CUDA;
#else
  return device == DDPC_DEVICE_CPU;
#endif
}

int ddpc_device_probe(ddpc_device device, int *count) {
  int n = 1;
  if (device == DDPC_DEVICE_CUDA) {
    const char *why = "";
    ddpc_cuda_device_count(&n, &why);
    if (n < 1) {
      if (count) *count = 0;
      return ddpc_error_set("device: cuda: no usable GPU: %s", why);
    }
  }
  if (count) *count = n;
  return 0;
}

int ddpc_device_open(ddpc_device device, int local_rank) {
  if (device != DDPC_DEVICE_CUDA) return 0;
  int count = 0;
  if (ddpc_device_probe(device, &count) != 0) return -1;
  // NCCL refuses two ranks on one GPU, and sharing would halve each rank's memory anyway.
  if (local_rank < 0 || local_rank >= count)
    return ddpc_error_set("device: cuda: local rank %d has no GPU of its own: this node has %d (start at most %d "
                          "ranks per node, or limit them with CUDA_VISIBLE_DEVICES)",
                          local_rank, count, count);
  return ddpc_cuda_open(local_rank);
}

void ddpc_device_close(ddpc_device device) {
  if (device == DDPC_DEVICE_CUDA) ddpc_cuda_close();
}

int ddpc_device_sync(ddpc_device device) { return device == DDPC_DEVICE_CUDA ? ddpc_cuda_sync() : 0; }

void *ddpc_device_alloc(ddpc_device device, size_t bytes, const char *what) {
  return device == DDPC_DEVICE_CUDA ? ddpc_cuda_alloc(bytes, what) : ddpc_alloc_aligned(bytes, what);
}

void ddpc_device_free(ddpc_device device, void *p) {
  if (device == DDPC_DEVICE_CUDA) ddpc_cuda_free(p);
  else free(p);
}

int ddpc_device_zero(ddpc_device device, void *p, size_t bytes) {
  if (device == DDPC_DEVICE_CUDA) return ddpc_cuda_zero_async(p, bytes);
  if (p) memset(p, 0, bytes);
  return 0;
}

void *ddpc_device_alloc_staging(ddpc_device device, size_t bytes, const char *what) {
  return device == DDPC_DEVICE_CUDA ? ddpc_cuda_alloc_pinned(bytes, what) : ddpc_alloc_aligned(bytes, what);
}

void ddpc_device_free_staging(ddpc_device device, void *p) {
  if (device == DDPC_DEVICE_CUDA) ddpc_cuda_free_pinned(p);
  else free(p);
}

int ddpc_device_upload_async(void *dst, const void *src, size_t bytes, ddpc_device device) {
  if (device == DDPC_DEVICE_CUDA) return ddpc_cuda_copy_async(dst, src, bytes);
  if (bytes) memmove(dst, src, bytes);
  return 0;
}

int ddpc_device_copy(void *dst, ddpc_device dst_device, const void *src, ddpc_device src_device, size_t bytes) {
  if (dst_device == DDPC_DEVICE_CPU && src_device == DDPC_DEVICE_CPU) {
    if (bytes) memmove(dst, src, bytes);
    return 0;
  }
  // The compute stream orders the copy after the kernels that produced src; the sync
  // makes dst complete on return (and reports any earlier failure of those kernels).
  if (ddpc_cuda_copy_async(dst, src, bytes) != 0) {
    ddpc_cuda_sync();
    return -1;
  }
  return ddpc_cuda_sync();
}
