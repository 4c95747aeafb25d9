/* The per-step scalars of the update rules, derived once per step on the host the way
 * torch does (Python floats, i.e. double, then handed to float kernels) and shared by the
 * CPU loops (optimizer.c) and the CUDA kernels (optimizer_cuda.cu), so both devices feed
 * every element the same float operands. Internal to optim/. */
#ifndef DDPC_OPTIM_OPTIMIZER_INTERNAL_H
#define DDPC_OPTIM_OPTIMIZER_INTERNAL_H

#include <stdint.h>

#include "core/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  float neg_lr;        // sgd: -lr
  float wd;            // sgd: weight decay added to the gradient
  float momentum;      // sgd: momentum factor
  float keep;          // sgd: factor on the old momentum buffer (0 on step 1: torch starts it as a copy of d)
  float l2;            // adam: weight decay added to the gradient (0 for adamw)
  float decay;         // adamw: factor on the parameter before the update, 1 - lr*wd (1 for adam)
  float b1;            // adam: beta1
  float one_minus_b1;  // adam: 1 - beta1, rounded from double
  float b2;            // adam: beta2
  float one_minus_b2;  // adam: 1 - beta2, rounded from double
  float bias2_sqrt;    // adam: sqrt(1 - beta2^t)
  float neg_step;      // adam: -(lr / (1 - beta1^t))
  float eps;           // adam: added to the denominator
} ddpc_optimizer_scalars;

/* The scalars of step t (1-based: t = optimizer steps after this one is counted). */
ddpc_optimizer_scalars ddpc_optimizer_scalars_at(const ddpc_optimizer_config *cfg, float lr, uint64_t t);

#ifdef __cplusplus
}
#endif

#endif
