/* CPU implementation of ddpc_buffer (see buffer.h); CUDA joins in a later issue. */
#include "core/buffer.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int ddpc_buffer_alloc(ddpc_buffer *buf, size_t count, ddpc_device device, const char *what) {
  memset(buf, 0, sizeof *buf);
  if (device != DDPC_DEVICE_CPU)
    return ddpc_error_set("%s: device '%s' is not available in this build", what,
                          ddpc_device_name(device));
  buf->data = ddpc_alloc_aligned(count * sizeof(float), what);
  if (!buf->data) return -1;
  buf->count = count;
  buf->device = device;
  buf->owned = true;
  return 0;
}

ddpc_buffer ddpc_buffer_view(const ddpc_buffer *parent, size_t offset, size_t count) {
  ddpc_buffer view = {parent->data + offset, count, parent->device, false};
  return view;
}

void ddpc_buffer_free(ddpc_buffer *buf) {
  if (buf->owned) free(buf->data);
  memset(buf, 0, sizeof *buf);
}

void ddpc_buffer_zero(ddpc_buffer *buf) {
  if (buf->data) memset(buf->data, 0, buf->count * sizeof(float));
}

const char *ddpc_device_name(ddpc_device device) {
  return device == DDPC_DEVICE_CUDA ? "cuda" : "cpu";
}
