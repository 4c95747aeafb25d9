/* Forming the gradient from parts (see ddpc_optimizer_step_parts): one block at a time,
 * so the optimizer and the clipping norm add the parts in the same order and a block of
 * the sum stays in L1 cache between being formed and being used. Internal to optim/. */
#ifndef DDPC_OPTIM_GRAD_PARTS_H
#define DDPC_OPTIM_GRAD_PARTS_H

#include <stddef.h>

/* Elements per block: a multiple of the SIMD widths and of clip.c's lanes, and small
 * enough (2 KiB) that a block of the sum and of sqrt(v) stay in L1. */
#define DDPC_GRAD_BLOCK 512

/* The gradient of elements [start, start + len), len <= DDPC_GRAD_BLOCK:
 * scale * (parts[0] + parts[1] + ...), added left to right per element in float. With one
 * part and scale 1 that is parts[0] itself, returned without a copy; otherwise the sum is
 * formed in `buf`. */
static inline const float *ddpc_grad_parts_block(const float *const *parts, int n_parts, float scale,
                                                 size_t start, size_t len, float *restrict buf) {
  const float *restrict first = parts[0] + start;
  if (n_parts == 1 && scale == 1.0f) return first;
  if (n_parts == 1) {
    for (size_t i = 0; i < len; i++) buf[i] = first[i] * scale;
    return buf;
  }
  // The first two parts in one pass: the common two-rank case reads each slot once.
  const float *restrict second = parts[1] + start;
  for (size_t i = 0; i < len; i++) buf[i] = first[i] + second[i];
  for (int k = 2; k < n_parts; k++) {
    const float *restrict next = parts[k] + start;
    for (size_t i = 0; i < len; i++) buf[i] += next[i];
  }
  if (scale != 1.0f)
    for (size_t i = 0; i < len; i++) buf[i] *= scale;
  return buf;
}

#endif
