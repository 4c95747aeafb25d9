/* A model: a sequence of layers whose parameters and gradients live in one flat buffer
 * each, in model order (layer 0's weights first). Gradient buckets of the communicator
 * are views into that gradient buffer; backward reports each layer's finished gradient
 * range so an all-reduce can start while earlier layers are still being computed. */
#ifndef DDPC_CORE_MODEL_H
#define DDPC_CORE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buffer.h"
#include "core/layer.h"
#include "core/shape.h"

typedef struct ddpc_model ddpc_model;

/* Called by backward after layer `layer_index` has written its gradients, which occupy
 * [offset, offset + count) of the gradient buffer. Layers are reported last to first. */
typedef void (*ddpc_grad_ready_fn)(void *user, int layer_index, size_t offset, size_t count);

/* Builds the model for inputs of per-sample shape `input` and batches up to max_batch.
 * Errors (a spec that does not fit its input, absurd sizes) name the layer by index and
 * kind. On success *out owns all buffers. With DDPC_DEVICE_CUDA (the GPU opened first with
 * ddpc_device_open) every buffer is GPU memory and the CUDA layers run (core/layer_cuda.h):
 * the pointers forward and backward take and return are device pointers, and their
 * failures surface at the next ddpc_device_sync. */
int ddpc_model_create(const ddpc_layer_spec *specs, int n_layers, ddpc_shape input, int max_batch, ddpc_device device,
                      ddpc_model **out);
void ddpc_model_free(ddpc_model *model);

/* Seeded initialisation of every layer's parameters. */
void ddpc_model_init_params(ddpc_model *model, uint64_t seed);

/* x is (batch, input size). Returns the output (batch, output size), owned by the model and
 * valid until the next forward. batch <= max_batch. */
const float *ddpc_model_forward(ddpc_model *model, const float *x, int batch, const ddpc_forward_ctx *ctx);
/* dout is d(loss)/d(output), (batch, output size). Overwrites the gradient buffer. The
 * first layer's input gradient is never computed. on_ready may be NULL. */
void ddpc_model_backward(ddpc_model *model, const float *dout, int batch, ddpc_grad_ready_fn on_ready,
                         void *user);
/* True where backward leaves out layer `index`: a ReLU whose next layer's backward already
 * applied it (ddpc_layer.dx_relu_applied), so that its dx is the dy it would be given. */
bool ddpc_model_backward_skips(const ddpc_model *model, int index);

/* Makes backward write gradients into `grads` (n_params floats, e.g. a slot of a
 * shared-memory segment the communicator owns) instead of the model's own buffer;
 * NULL returns to the own buffer. Cheap: it re-points the per-layer views. */
void ddpc_model_bind_grads(ddpc_model *model, float *grads);

ddpc_buffer *ddpc_model_params(ddpc_model *model);
/* zlib CRC32 of the parameter bytes in model order: the replica's fingerprint
 * (summary.json's params_crc32, the per-epoch lockstep check). */
uint32_t ddpc_model_params_crc32(const ddpc_model *model);
ddpc_buffer *ddpc_model_grads(ddpc_model *model);
size_t ddpc_model_param_count(const ddpc_model *model);
/* Bytes of host memory the model holds (parameters, gradients, activations, scratch);
 * 0 for a GPU model, whose buffers are on the device. */
double ddpc_model_host_bytes(const ddpc_model *model);
ddpc_shape ddpc_model_input_shape(const ddpc_model *model);
ddpc_shape ddpc_model_output_shape(const ddpc_model *model);
int ddpc_model_layer_count(const ddpc_model *model);
const ddpc_layer *ddpc_model_layer(const ddpc_model *model, int index);
/* One line per layer (kind, output shape, parameter count) for logs and --help output. */
void ddpc_model_describe(const ddpc_model *model, char *out, size_t out_size);

#endif
