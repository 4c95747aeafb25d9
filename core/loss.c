/* Losses fused with their gradient (see loss.h). Cross-entropy subtracts each row's maximum
 * before exponentiating, so logits in the thousands neither overflow nor lose the answer;
 * per-sample losses are summed in double so a shard's sum adds up exactly across ranks. */
#include "core/loss.h"

#include "core/names.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static ddpc_loss_result loss_cross_entropy(const float *out, const int32_t *labels, int batch, int width,
                                           float *dout, double grad_scale) {
  ddpc_loss_result res = {0.0, 0};
  float inv_scale = (float)(1.0 / grad_scale);
  for (int b = 0; b < batch; b++) {
    const float *o = out + (size_t)b * width;
    int arg = 0;
    float max = o[0];
    for (int j = 1; j < width; j++)
      if (o[j] > max) {  // strict: the first maximum wins
        max = o[j];
        arg = j;
      }
    // With dout, the exponentials are stored there and normalised in place below.
    float *d = dout ? dout + (size_t)b * width : NULL;
    float sum = 0.0f;
    for (int j = 0; j < width; j++) {
      float e = expf(o[j] - max);
      if (d) d[j] = e;
      sum += e;
    }
    int32_t label = labels[b];
    // A label outside [0, width) is a data bug the loader should have caught; make the
    // loss NaN (which the divergence check reports) rather than read out of bounds.
    bool valid = label >= 0 && label < width;
    res.loss_sum += valid ? (double)max + log((double)sum) - (double)o[label] : NAN;
    if (valid && arg == label) res.correct++;
    if (d) {
      float norm = inv_scale / sum;
      for (int j = 0; j < width; j++) d[j] *= norm;
      if (valid) d[label] -= inv_scale;
    }
  }
  return res;
}

static ddpc_loss_result loss_mse(const float *out, const float *targets, int batch, int width, float *dout,
                                 double grad_scale) {
  ddpc_loss_result res = {0.0, 0};
  float gscale = (float)(2.0 / ((double)width * grad_scale));
  for (int b = 0; b < batch; b++) {
    const float *o = out + (size_t)b * width, *t = targets + (size_t)b * width;
    double sq = 0.0;
    for (int j = 0; j < width; j++) {
      float diff = o[j] - t[j];
      sq += (double)diff * diff;
      if (dout) dout[(size_t)b * width + j] = diff * gscale;
    }
    res.loss_sum += sq / width;
  }
  return res;
}

ddpc_loss_result ddpc_loss_compute(ddpc_loss_kind kind, const float *out, const int32_t *labels,
                                   const float *targets, int batch, int width, float *dout,
                                   double grad_scale) {
  if (kind == DDPC_LOSS_MSE) return loss_mse(out, targets, batch, width, dout, grad_scale);
  return loss_cross_entropy(out, labels, batch, width, dout, grad_scale);
}

const char *const ddpc_loss_names[DDPC_LOSS_COUNT] = {[DDPC_LOSS_CROSS_ENTROPY] = "cross_entropy",
                                                     [DDPC_LOSS_MSE] = "mse"};

const char *ddpc_loss_name(ddpc_loss_kind kind) { return ddpc_names_get(ddpc_loss_names, DDPC_LOSS_COUNT, (int)kind); }

int ddpc_loss_parse(const char *name) { return ddpc_names_find(ddpc_loss_names, DDPC_LOSS_COUNT, name); }
