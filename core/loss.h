/* Losses, fused with their gradient: one pass computes the summed loss, the number of
 * correct predictions and d(mean loss)/d(output). Sums (not means) are returned so that
 * shards of an evaluation can be added up exactly across ranks. */
#ifndef DDPC_CORE_LOSS_H
#define DDPC_CORE_LOSS_H

#include <stdint.h>

typedef enum {
  DDPC_LOSS_CROSS_ENTROPY,  // softmax + negative log-likelihood over integer labels
  DDPC_LOSS_MSE,            // mean over elements of (output - target)^2
  DDPC_LOSS_COUNT
} ddpc_loss_kind;

/* Names in enum order, for configs and messages. */
extern const char *const ddpc_loss_names[DDPC_LOSS_COUNT];

typedef struct {
  double loss_sum;  // sum over the batch of per-sample losses
  int64_t correct;  // cross_entropy: samples whose argmax equals the label; mse: 0
} ddpc_loss_result;

/* out is (batch, width). For cross_entropy, labels holds batch integers in [0, width) and
 * targets is NULL; for mse, targets is (batch, width) and labels is NULL. When dout is not
 * NULL it receives d(loss_sum / grad_scale)/d(out): pass grad_scale = batch for the mean.
 * For mse the per-sample loss is the mean over its `width` elements. */
ddpc_loss_result ddpc_loss_compute(ddpc_loss_kind kind, const float *out, const int32_t *labels,
                                   const float *targets, int batch, int width, float *dout,
                                   double grad_scale);
const char *ddpc_loss_name(ddpc_loss_kind kind);
int ddpc_loss_parse(const char *name);

#endif
