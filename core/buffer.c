/* ddpc_buffer (see buffer.h): the memory itself comes from core/device.c, host memory for
 * the CPU, GPU memory for CUDA. */
#include "core/buffer.h"

#include <stdint.h>
#include <string.h>

#include "core/device.h"
#include "core/error.h"

int ddpc_buffer_alloc(ddpc_buffer *buf, size_t count, ddpc_device device, const char *what) {
  memset(buf, 0, sizeof *buf);
  buf->data = ddpc_device_alloc(device, count * sizeof(float), what);
  if (!buf->data) return -1;
  buf->count = count;
  buf->device = device;
  buf->owned = true;
  return 0;
}

void ddpc_buffer_free(ddpc_buffer *buf) {
  if (buf->owned) ddpc_device_free(buf->device, buf->data);
  memset(buf, 0, sizeof *buf);
}

void ddpc_buffer_zero(ddpc_buffer *buf) {
  // A CUDA zeroing is queued on the compute stream, ordered like the kernels around it.
  if (buf->data) ddpc_device_zero(buf->device, buf->data, buf->count * sizeof(float));
}

bool ddpc_floats_all_finite(const float *x, size_t n) {
  uint32_t bad = 0;
  // All exponent bits set is inf or NaN; an integer OR over the buffer vectorizes, where
  // isfinite's branch per element would not.
  for (size_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, &x[i], sizeof bits);
    bad |= (bits & 0x7f800000u) == 0x7f800000u;
  }
  return bad == 0;
}
