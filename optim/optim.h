/* Optimizers, learning-rate schedules and gradient clipping over the model's flat
 * parameter and gradient buffers. State (momentum, Adam moments) is flat too, in the same
 * order, so it can be checkpointed as one section and sharded later. */
#ifndef DDPC_OPTIM_OPTIM_H
#define DDPC_OPTIM_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buffer.h"

typedef enum {
  DDPC_OPTIMIZER_SGD,
  DDPC_OPTIMIZER_ADAM,
  DDPC_OPTIMIZER_ADAMW,
} ddpc_optimizer_kind;

typedef struct {
  ddpc_optimizer_kind kind;  // which update rule
  float lr;                  // base learning rate (the schedule scales it)
  float momentum;            // sgd: momentum factor (0 = plain SGD)
  bool nesterov;             // sgd: Nesterov momentum (needs momentum > 0)
  float weight_decay;        // sgd/adam: L2 added to the gradient; adamw: decoupled decay
  float beta1;               // adam/adamw
  float beta2;               // adam/adamw
  float eps;                 // adam/adamw
} ddpc_optimizer_config;

typedef struct {
  ddpc_optimizer_config cfg;  // as configured
  ddpc_buffer m;              // sgd: momentum buffer; adam: first moment
  ddpc_buffer v;              // adam: second moment (empty for sgd)
  uint64_t steps;             // optimizer steps taken (Adam's bias correction uses it)
} ddpc_optimizer;

int ddpc_optimizer_init(ddpc_optimizer *opt, const ddpc_optimizer_config *cfg, size_t n_params,
                        ddpc_device device);
void ddpc_optimizer_free(ddpc_optimizer *opt);
/* One update of params from grads at learning rate lr (the scheduled value). The update
 * rules match torch.optim.SGD / Adam / AdamW with the same hyperparameters. */
void ddpc_optimizer_step(ddpc_optimizer *opt, ddpc_buffer *params, const ddpc_buffer *grads, float lr);
const char *ddpc_optimizer_name(ddpc_optimizer_kind kind);
int ddpc_optimizer_parse(const char *name);

typedef enum {
  DDPC_SCHEDULE_CONSTANT,
  DDPC_SCHEDULE_STEP,
  DDPC_SCHEDULE_COSINE,
} ddpc_schedule_kind;

typedef struct {
  ddpc_schedule_kind kind;  // shape after warmup
  int64_t warmup_steps;     // linear warmup from lr/warmup_steps up to lr (0 = none)
  int step_size;            // step: epochs between decays
  float gamma;              // step: decay factor
  float min_lr;             // cosine: floor reached at the last step
} ddpc_schedule_config;

/* Learning rate for optimizer step `step` (0-based), given the base lr, the steps in one
 * epoch and the total steps of the run. Pure function: resuming needs no schedule state. */
float ddpc_schedule_lr(const ddpc_schedule_config *cfg, float base_lr, int64_t step,
                       int64_t steps_per_epoch, int64_t total_steps);
const char *ddpc_schedule_name(ddpc_schedule_kind kind);
int ddpc_schedule_parse(const char *name);

/* Scales grads so their global L2 norm is at most max_norm (no-op when max_norm <= 0).
 * Returns the norm before clipping, computed in double. */
double ddpc_clip_grad_norm(ddpc_buffer *grads, double max_norm);

#endif
