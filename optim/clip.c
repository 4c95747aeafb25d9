/* Global-norm gradient clipping over the flat gradient buffer, as
 * torch.nn.utils.clip_grad_norm_ does it over all parameters' gradients together. */
#include <math.h>

#include "optim/optim.h"

/* Sum of squares in double with a fixed set of partial sums: independent lanes let the
 * compiler vectorise without -ffast-math, and the fixed order keeps it deterministic. */
#define CLIP_LANES 8

static double sum_of_squares(const float *x, size_t n) {
  double lane[CLIP_LANES] = {0};
  size_t i = 0;
  for (; i + CLIP_LANES <= n; i += CLIP_LANES)
    for (size_t j = 0; j < CLIP_LANES; j++) lane[j] += (double)x[i + j] * (double)x[i + j];
  double total = 0.0;
  for (; i < n; i++) total += (double)x[i] * (double)x[i];
  for (size_t j = 0; j < CLIP_LANES; j++) total += lane[j];
  return total;
}

double ddpc_clip_grad_norm(ddpc_buffer *grads, double max_norm) {
  const size_t n = grads->count;
  float *g = grads->data;
  const double norm = n ? sqrt(sum_of_squares(g, n)) : 0.0;
  if (!(max_norm > 0.0) || !isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    const float scale = (float)coef;
    for (size_t i = 0; i < n; i++) g[i] *= scale;
  }
  return norm;
}
