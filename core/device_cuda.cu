/* The process-wide GPU context (see core/device_cuda.h): one GPU per process, one compute
 * stream on which every kernel, cuBLAS call and copy of the training step is queued in
 * order (so the host never has to wait inside a step), one cuBLAS handle bound to that
 * stream. Errors of calls that cannot return a status (the void layer launchers) are kept
 * in a sticky slot, first one wins, until the next sync reports it: the first failure is
 * the cause, the later ones its consequences.
 *
 * cuBLAS is loaded with dlopen when a GPU is opened, not linked: loading it costs a process
 * about 210 MiB of resident memory at start (measured with CUDA 13), which every CPU run of
 * a CUDA build would otherwise pay. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "core/error.h"
}
#include "core/device_cuda_internal.h"

/* The cuBLAS functions ddpc uses, from the library loaded in ddpc_cuda_open. */
typedef struct {
  void *lib;  // dlopen handle, NULL until loaded
  cublasStatus_t (*create)(cublasHandle_t *);                     // cublasCreate_v2
  cublasStatus_t (*destroy)(cublasHandle_t);                      // cublasDestroy_v2
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);     // cublasSetStream_v2
  cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);  // cublasSetMathMode
  cublasStatus_t (*sgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,
                          const float *, int, const float *, int, const float *, float *, int);  // cublasSgemm_v2
  const char *(*status_string)(cublasStatus_t);                   // cublasGetStatusString
} cublas_api;

static cublas_api cublas = {};

/* Loads cuBLAS by its soname (the executable's rpath, LD_LIBRARY_PATH, ld.so.conf), then
 * from the toolkit this ddpc was built with. */
static int cublas_load(void) {
  if (cublas.lib) return 0;
  const char *names[] = {DDPC_CUBLAS_SONAME, DDPC_CUBLAS_PATH};
  void *lib = NULL;
  for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!lib) return ddpc_error_set("CUDA: cannot load cuBLAS (%s): %s", DDPC_CUBLAS_SONAME, dlerror());
  cublas_api api = {};
  api.lib = lib;
  // dlsym returns void *; POSIX guarantees the conversion to a function pointer works.
  *(void **)&api.create = dlsym(lib, "cublasCreate_v2");
  *(void **)&api.destroy = dlsym(lib, "cublasDestroy_v2");
  *(void **)&api.set_stream = dlsym(lib, "cublasSetStream_v2");
  *(void **)&api.set_math_mode = dlsym(lib, "cublasSetMathMode");
  *(void **)&api.sgemm = dlsym(lib, "cublasSgemm_v2");
  *(void **)&api.status_string = dlsym(lib, "cublasGetStatusString");
  if (!api.create || !api.destroy || !api.set_stream || !api.set_math_mode || !api.sgemm || !api.status_string) {
    dlclose(lib);
    return ddpc_error_set("CUDA: %s lacks a function ddpc needs (cublasCreate_v2, cublasSgemm_v2, ...)",
                          DDPC_CUBLAS_SONAME);
  }
  cublas = api;
  return 0;
}

typedef struct {
  int device;              // the GPU in use, -1 before ddpc_cuda_open
  cudaStream_t stream;     // the compute stream
  cublasHandle_t cublas;   // bound to stream, pedantic float32 math
  char *first_error;       // the first failure since the last sync (malloc'd), NULL when none
} cuda_context;

static cuda_context ctx = {-1, nullptr, nullptr, nullptr};

extern "C" cublasStatus_t ddpc_cuda_sgemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                          const float *alpha, const float *a, int lda, const float *b, int ldb,
                                          const float *beta, float *c, int ldc) {
  if (!cublas.sgemm || !ctx.cublas) return CUBLAS_STATUS_NOT_INITIALIZED;  // no GPU opened
  return cublas.sgemm(ctx.cublas, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

extern "C" int ddpc_cuda_keep_error(void) {
  if (!ctx.first_error) ctx.first_error = ddpc_strdup(ddpc_error_message());
  return -1;
}

/* Keeps the first failure and makes it the current error message too. */
static int cuda_record(const char *file, int line, const char *call, const char *name, const char *text) {
  ddpc_error_set("CUDA error at %s:%d: %s failed: %s (%s)", file, line, call, text, name);
  return ddpc_cuda_keep_error();
}

extern "C" int ddpc_cuda_check_runtime(cudaError_t rc, const char *file, int line, const char *call) {
  if (rc == cudaSuccess) return 0;
  return cuda_record(file, line, call, cudaGetErrorName(rc), cudaGetErrorString(rc));
}

extern "C" int ddpc_cuda_check_cublas(cublasStatus_t rc, const char *file, int line, const char *call) {
  if (rc == CUBLAS_STATUS_SUCCESS) return 0;
  char name[32];  // cuBLAS has no name function; the number identifies the status
  snprintf(name, sizeof name, "cublasStatus_t %d", (int)rc);
  return cuda_record(file, line, call, name, cublas.status_string ? cublas.status_string(rc) : "cuBLAS error");
}

extern "C" void ddpc_cuda_device_count(int *count, const char **why) {
  *count = 0;
  *why = "";
  cudaError_t rc = cudaGetDeviceCount(count);
  if (rc != cudaSuccess) {
    *count = 0;
    *why = cudaGetErrorString(rc);
    cudaGetLastError();  // not sticky: leave no trace for later calls
  } else if (*count == 0) {
    *why = "cudaGetDeviceCount reports no GPU";
  }
}

extern "C" int ddpc_cuda_open(int index) {
  if (ctx.device == index) return 0;
  if (ctx.device >= 0)
    return ddpc_error_set("CUDA: GPU %d is already in use by this process, cannot open GPU %d", ctx.device, index);
  if (cublas_load() != 0 || DDPC_CUDA_CHECK(cudaSetDevice(index)) ||
      DDPC_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking)))
    return -1;
  if (DDPC_CUBLAS_CHECK(cublas.create(&ctx.cublas)) || DDPC_CUBLAS_CHECK(cublas.set_stream(ctx.cublas, ctx.stream)) ||
      // Pedantic: never TF32 or other reduced-precision tensor-core paths, even when
      // NVIDIA_TF32_OVERRIDE asks for them; float32 products then match the CPU to ~1e-6.
      DDPC_CUBLAS_CHECK(cublas.set_math_mode(ctx.cublas, CUBLAS_PEDANTIC_MATH))) {
    ctx.device = index;  // so close releases what was made
    ddpc_cuda_close();
    return -1;
  }
  ctx.device = index;
  return 0;
}

extern "C" bool ddpc_cuda_is_open(void) { return ctx.device >= 0; }

extern "C" void ddpc_cuda_close(void) {
  if (ctx.device < 0) return;
  if (ctx.stream) cudaStreamSynchronize(ctx.stream);
  if (ctx.cublas) cublas.destroy(ctx.cublas);
  if (ctx.stream) cudaStreamDestroy(ctx.stream);
  free(ctx.first_error);
  ctx = cuda_context{-1, nullptr, nullptr, nullptr};
}

extern "C" cudaStream_t ddpc_cuda_stream(void) { return ctx.stream; }

extern "C" void *ddpc_cuda_alloc(size_t bytes, const char *what) {
  // All GPU memory belongs to the GPU this process opened (its local rank's), never to
  // whichever one the runtime would default to.
  if (ctx.device < 0) {
    ddpc_error_set("%s: no GPU is open in this process (ddpc_device_open comes first)", what);
    return nullptr;
  }
  void *p = nullptr;
  cudaError_t rc = cudaMalloc(&p, bytes ? bytes : 1);
  if (rc != cudaSuccess) {
    cudaGetLastError();  // an out-of-memory failure is not sticky; say what it was for
    ddpc_error_set("out of GPU memory (%zu bytes for %s): %s", bytes, what, cudaGetErrorString(rc));
    return nullptr;
  }
  // Zeroed like the host allocations; synchronous, allocation is not on the step's path.
  if (DDPC_CUDA_CHECK(cudaMemset(p, 0, bytes ? bytes : 1))) {
    cudaFree(p);
    return nullptr;
  }
  return p;
}

extern "C" void ddpc_cuda_free(void *p) {
  if (p) cudaFree(p);
}

extern "C" void *ddpc_cuda_alloc_pinned(size_t bytes, const char *what) {
  void *p = nullptr;
  cudaError_t rc = cudaMallocHost(&p, bytes ? bytes : 1);
  if (rc != cudaSuccess) {
    cudaGetLastError();
    ddpc_error_set("out of pinned host memory (%zu bytes for %s): %s", bytes, what, cudaGetErrorString(rc));
    return nullptr;
  }
  memset(p, 0, bytes ? bytes : 1);
  return p;
}

extern "C" void ddpc_cuda_free_pinned(void *p) {
  if (p) cudaFreeHost(p);
}

extern "C" int ddpc_cuda_copy_async(void *dst, const void *src, size_t bytes) {
  if (bytes == 0) return 0;
  return DDPC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, ctx.stream));
}

extern "C" int ddpc_cuda_zero_async(void *p, size_t bytes) {
  if (bytes == 0) return 0;
  return DDPC_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx.stream));
}

extern "C" int ddpc_cuda_take_error(void) {
  if (!ctx.first_error) return 0;
  ddpc_error_set("%s", ctx.first_error);
  free(ctx.first_error);
  ctx.first_error = nullptr;
  return -1;
}

extern "C" int ddpc_cuda_sync(void) {
  if (ctx.device >= 0) DDPC_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  return ddpc_cuda_take_error();
}
