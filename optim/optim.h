/* Optimizers, learning-rate schedules and gradient clipping over the model's flat
 * parameter and gradient buffers. State (momentum, Adam moments) is flat too, in the same
 * order, so it is checkpointed as one section per state buffer. */
#ifndef DDPC_OPTIM_OPTIM_H
#define DDPC_OPTIM_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buffer.h"
#include "core/settings.h"


typedef struct {
  ddpc_optimizer_config cfg;  // as configured
  ddpc_buffer m;              // sgd: momentum buffer; adam: first moment
  ddpc_buffer v;              // adam: second moment (empty for sgd)
  uint64_t steps;             // optimizer steps taken (Adam's bias correction uses it)
} ddpc_optimizer;

/* Checks the hyperparameters (lr >= 0, momentum >= 0, nesterov needs momentum > 0,
 * weight_decay >= 0, betas in [0, 1), eps >= 0) and allocates the zeroed state: m for SGD
 * with momentum and for Adam/AdamW, v for Adam/AdamW, on `device` (the parameters' device:
 * ddpc_optimizer_step runs the CUDA kernels of optim/optimizer_cuda.cu for GPU buffers). */
int ddpc_optimizer_init(ddpc_optimizer *opt, const ddpc_optimizer_config *cfg, size_t n_params,
                        ddpc_device device);
/* How many n_params-float buffers of state ddpc_optimizer_init allocates (0, 1 or 2), so
 * that memory can be checked before it is. */
int ddpc_optimizer_state_buffers(const ddpc_optimizer_config *cfg);
void ddpc_optimizer_free(ddpc_optimizer *opt);
/* One update of params from grads at learning rate lr (the scheduled value). The update
 * rules match torch.optim.SGD / Adam / AdamW with the same hyperparameters, computed per
 * element in float (t = steps after increment, wd = weight_decay):
 *   sgd:   d = g + wd*p; if momentum: b = (t == 1 ? d : momentum*b + d) (dampening 0),
 *          d = nesterov ? d + momentum*b : b;  p -= lr*d
 *   adam:  g += wd*p (L2);  adamw: p *= 1 - lr*wd (decoupled) and g unchanged; then
 *          m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g;
 *          p -= (lr / (1-beta1^t)) * m / (sqrt(v) / sqrt(1-beta2^t) + eps)
 * params, grads and the state must all hold the n_params floats given at init. */
void ddpc_optimizer_step(ddpc_optimizer *opt, ddpc_buffer *params, const ddpc_buffer *grads, float lr);
/* The same update where the gradient is scale * (parts[0] + ... + parts[n_parts-1]),
 * added per element in that order (the shared-memory gradient exchange hands every rank's
 * slot over instead of reducing them first; see comm/grad_sync.h). With one part and
 * scale 1 it is exactly ddpc_optimizer_step. */
void ddpc_optimizer_step_parts(ddpc_optimizer *opt, ddpc_buffer *params, const float *const *parts, int n_parts,
                               float scale, float lr);
/* The update of ddpc_optimizer_step for GPU buffers (params and grads on the GPU) with the
 * gradient scaled by the clipping factor ddpc_clip_grad_norm_cuda left on the device at
 * d_scale (NULL: no scaling), so a clipped step needs no host synchronisation. */
void ddpc_optimizer_step_device_scaled(ddpc_optimizer *opt, ddpc_buffer *params, const float *grads,
                                       const float *d_scale, float lr);
/* "sgd", "adam", "adamw" and back (exact, lower case); parse returns -1 for an unknown
 * name without recording an error, so the caller can name the file and place. */
const char *ddpc_optimizer_name(ddpc_optimizer_kind kind);
int ddpc_optimizer_parse(const char *name);


/* Learning rate for optimizer step `step` (0-based), given the base lr, the steps in one
 * epoch and the total steps of the run. Pure function: resuming needs no schedule state.
 * Computed in double, W = warmup_steps:
 *   step < W (warmup):  base_lr * (step + 1) / W
 *   constant:           base_lr
 *   step:               base_lr * gamma^floor(epoch / step_size), epoch = step / steps_per_epoch
 *                       (integer division; step counts from 0, warmup included)
 *   cosine:             min_lr + (base_lr - min_lr) * 0.5 * (1 + cos(pi * t / T)),
 *                       t = min(step - W, T), T = max(1, total_steps - W)
 * steps_per_epoch and step_size below 1 count as 1; past total_steps cosine stays at
 * min_lr (torch's CosineAnnealingLR would rise again). */
float ddpc_schedule_lr(const ddpc_schedule_config *cfg, float base_lr, int64_t step,
                       int64_t steps_per_epoch, int64_t total_steps);
/* "constant", "step", "cosine" and back; parse returns -1 for an unknown name (no error). */
const char *ddpc_schedule_name(ddpc_schedule_kind kind);
int ddpc_schedule_parse(const char *name);

/* Scales grads so their global L2 norm is at most max_norm (no-op when max_norm <= 0).
 * Returns the norm before clipping, computed in double. As torch.nn.utils.clip_grad_norm_:
 * coef = max_norm / (norm + 1e-6), and grads *= coef when coef < 1 (so whenever
 * norm > max_norm). A non-finite norm leaves grads untouched; the caller sees it returned. */
double ddpc_clip_grad_norm(ddpc_buffer *grads, double max_norm);
/* Norm of the summed parts (as ddpc_optimizer_step_parts adds them), and in *scale the
 * factor clipping asks for (1 when no clipping is needed or max_norm <= 0); the caller
 * passes it to ddpc_optimizer_step_parts instead of rescaling the parts. */
double ddpc_clip_grad_norm_parts(const float *const *parts, int n_parts, size_t count, double max_norm,
                                 float *scale);

#endif
