/* Device-aware float buffers. Every parameter, gradient, optimizer state and activation
 * lives in a ddpc_buffer that knows its device (host memory, or GPU memory in a build with
 * CUDA; see core/device.h), so callers do not change with the device. A buffer that does
 * not own its memory points into memory owned elsewhere (the model's gradients, bound to a
 * shared-memory slot); per-layer parameters and gradient buckets are plain ranges of the
 * model's flat buffers (core/model.h). */
#ifndef DDPC_CORE_BUFFER_H
#define DDPC_CORE_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/device.h"

typedef struct {
  float *data;         // first element (host or device pointer, per `device`)
  size_t count;        // number of floats
  ddpc_device device;  // where `data` lives
  bool owned;          // true when this buffer allocated `data` and must free it
} ddpc_buffer;

/* Allocates `count` zeroed floats on `device`, 64-byte aligned. 0 on success. */
int ddpc_buffer_alloc(ddpc_buffer *buf, size_t count, ddpc_device device, const char *what);
void ddpc_buffer_free(ddpc_buffer *buf);
void ddpc_buffer_zero(ddpc_buffer *buf);
/* Whether none of the n floats at x (host memory) is an infinity or a NaN. */
bool ddpc_floats_all_finite(const float *x, size_t n);

#endif
