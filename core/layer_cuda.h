/* The CUDA implementations of the layer kinds: the same ddpc_layer_ops contract as the CPU
 * ones (core/layer.h), with x, y, dy, dx, layer->params and layer->grads all device
 * pointers and the work queued on the compute stream of core/device_cuda.h. forward and
 * backward do not wait for the GPU; their failures surface at the next ddpc_device_sync.
 * Built only with CUDA (core/layer_cuda.cu). */
#ifndef DDPC_CORE_LAYER_CUDA_H
#define DDPC_CORE_LAYER_CUDA_H

#include "core/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CUDA ops of `kind`, NULL for an unknown kind. */
const ddpc_layer_ops *ddpc_layer_cuda_ops_for(ddpc_layer_kind kind);

#ifdef __cplusplus
}
#endif

#endif
