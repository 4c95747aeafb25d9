/* Per-sample tensor shapes. Activations are stored batch-major and, within a sample, in
 * HWC order (channels last): a batch of images is (B,H,W,C) and a vector is (B,1,1,N).
 * Channels-last makes conv2d one GEMM over the whole batch and flatten a no-op. */
#ifndef DDPC_CORE_SHAPE_H
#define DDPC_CORE_SHAPE_H

#include <stddef.h>

typedef struct {
  int h;  // height (1 for vectors)
  int w;  // width (1 for vectors)
  int c;  // channels, or features for vectors
} ddpc_shape;

static inline size_t ddpc_shape_size(ddpc_shape s) { return (size_t)s.h * (size_t)s.w * (size_t)s.c; }
static inline ddpc_shape ddpc_shape_vector(int n) {
  ddpc_shape s = {1, 1, n};
  return s;
}

#endif
