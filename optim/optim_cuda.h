/* The optimizers and gradient clipping on the GPU: the update rules of optim.h as kernels
 * over device buffers, queued on the compute stream (core/device_cuda.h), with the
 * optimizer state on the GPU too. ddpc_optimizer_step calls the step for GPU buffers; the
 * clipping norm stays on the device, so neither needs a host synchronisation. Built only
 * with CUDA (optim/optimizer_cuda.cu). */
#ifndef DDPC_OPTIM_OPTIM_CUDA_H
#define DDPC_OPTIM_OPTIM_CUDA_H

#include <stddef.h>

#include "optim/optim.h"
#include "optim/optimizer_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One update of the n floats at p (device) from the gradient scale * g (* *d_scale when
 * d_scale is not NULL: the clipping factor ddpc_clip_grad_norm_cuda left on the device),
 * with opt's state (device buffers) and the step's scalars k. opt->steps is already
 * counted. Failures surface at the next ddpc_device_sync. */
void ddpc_optimizer_cuda_step(const ddpc_optimizer *opt, const ddpc_optimizer_scalars *k, float *p, const float *g,
                              float scale, const float *d_scale, size_t n);

/* Device scratch of the clipping norm. */
typedef struct ddpc_clip_cuda ddpc_clip_cuda;
int ddpc_clip_cuda_create(ddpc_clip_cuda **out);
void ddpc_clip_cuda_free(ddpc_clip_cuda *clip);
/* Queues the global L2 norm of g (n floats, device) in double, summed in a fixed order,
 * and the clipping factor as ddpc_clip_grad_norm_parts computes it (1 when max_norm <= 0,
 * the norm is not finite, or no clipping is needed). Both stay on the device: *d_scale
 * gets the factor's device address for ddpc_optimizer_cuda_step, *d_norm the norm's. */
int ddpc_clip_grad_norm_cuda(ddpc_clip_cuda *clip, const float *g, size_t n, double max_norm,
                             const double **d_norm, const float **d_scale);

#ifdef __cplusplus
}
#endif

#endif
