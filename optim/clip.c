/* Global-norm gradient clipping over the flat gradient buffer, as
 * torch.nn.utils.clip_grad_norm_ does it over all parameters' gradients together. The
 * norm is taken of the gradient summed from parts (one per rank under the shared-memory
 * exchange); a single buffer is the one-part case. */
#include <math.h>

#include "optim/grad_parts.h"
#include "optim/optim.h"

/* Sum of squares in double with a fixed set of partial sums: independent lanes let the
 * compiler vectorise without -ffast-math, and the fixed order keeps it deterministic.
 * The block size is a multiple of the lanes, so lane j sees elements j, j+8, ... whatever
 * the blocking, and only the last block has a tail. */
#define CLIP_LANES 8
_Static_assert(DDPC_GRAD_BLOCK % CLIP_LANES == 0, "blocks must keep the lanes aligned");

static double sum_of_squares_parts(const float *const *parts, int n_parts, size_t n) {
  double lane[CLIP_LANES] = {0};
  double total = 0.0;
  const bool direct = n_parts == 1;
  // One buffer needs no blocking; the sum of several is formed a block at a time in L1.
  const size_t block = direct ? n : DDPC_GRAD_BLOCK;
  float sum[DDPC_GRAD_BLOCK];  // this block's summed gradient (unused for one part)
  for (size_t start = 0; start < n; start += block) {
    const size_t len = n - start < block ? n - start : block;
    const float *x = ddpc_grad_parts_block(parts, n_parts, 1.0f, start, len, sum);
    size_t i = 0;
    for (; i + CLIP_LANES <= len; i += CLIP_LANES)
      for (size_t j = 0; j < CLIP_LANES; j++) lane[j] += (double)x[i + j] * (double)x[i + j];
    for (; i < len; i++) total += (double)x[i] * (double)x[i];
  }
  for (size_t j = 0; j < CLIP_LANES; j++) total += lane[j];
  return total;
}

double ddpc_clip_grad_norm_parts(const float *const *parts, int n_parts, size_t count, double max_norm,
                                 float *scale) {
  *scale = 1.0f;
  const double norm = count && n_parts > 0 ? sqrt(sum_of_squares_parts(parts, n_parts, count)) : 0.0;
  if (!(max_norm > 0.0) || !isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) *scale = (float)coef;
  return norm;
}

double ddpc_clip_grad_norm(ddpc_buffer *grads, double max_norm) {
  const size_t n = grads->count;
  float *g = grads->data;
  const float *const parts[1] = {g};
  float scale;
  const double norm = ddpc_clip_grad_norm_parts(parts, 1, n, max_norm, &scale);
  if (scale != 1.0f)
    for (size_t i = 0; i < n; i++) g[i] *= scale;
  return norm;
}
