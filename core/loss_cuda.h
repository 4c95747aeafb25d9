/* The losses on the GPU (core/loss.h's math): gradient written on the device, sums kept
 * on the device until asked for, so a training step needs no host synchronisation for its
 * loss. Built only with CUDA (core/loss_cuda.cu). */
#ifndef DDPC_CORE_LOSS_CUDA_H
#define DDPC_CORE_LOSS_CUDA_H

#include <stdint.h>

#include "core/loss.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Device scratch for batches up to max_batch and the running sums. */
typedef struct ddpc_loss_cuda ddpc_loss_cuda;

int ddpc_loss_cuda_create(int max_batch, ddpc_loss_cuda **out);
void ddpc_loss_cuda_free(ddpc_loss_cuda *loss);
/* As ddpc_loss_compute with device pointers (labels: batch int32, targets: batch x width,
 * dout may be NULL): queues the work on the compute stream and adds the batch's loss sum
 * and correct count to the running sums on the device. Per-sample losses are summed in
 * double in a fixed order, so the sums repeat bitwise. */
int ddpc_loss_cuda_compute(ddpc_loss_cuda *loss, ddpc_loss_kind kind, const float *out, const int32_t *labels,
                           const float *targets, int batch, int width, float *dout, double grad_scale);
/* Waits for the queued work, returns the running sums and restarts them from zero: every
 * step for per-step logging, or once per epoch. */
int ddpc_loss_cuda_take(ddpc_loss_cuda *loss, ddpc_loss_result *sums);

#ifdef __cplusplus
}
#endif

#endif
