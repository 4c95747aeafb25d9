/* A model: layers in sequence over one flat parameter buffer and one flat gradient buffer
 * (layer 0 first), with every activation and gradient buffer allocated in create so that
 * forward and backward never allocate. Activations keep one buffer per layer output
 * because backward reads them all; input gradients only need two buffers, used in turn. */
#include "core/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/device.h"
#include "core/error.h"
#include "core/sysinfo.h"
#ifdef DDPC_HAVE_CUDA
#include "core/layer_cuda.h"
#endif

struct ddpc_model {
  int n_layers;              // number of layers
  ddpc_layer *layers;        // the layers, in model order
  ddpc_shape input;          // per-sample input shape
  int max_batch;             // largest batch forward accepts
  ddpc_device device;        // where every buffer lives and which layer implementations run
  size_t n_params;           // total parameters (the flat buffers' length)
  ddpc_buffer params;        // flat parameters, layer 0 first
  ddpc_buffer grads;         // flat gradients, same layout as params (owned, or bound)
  float *own_grads;          // the gradient memory create allocated, freed at the end
  ddpc_buffer *acts;         // acts[i]: output of layer i for max_batch samples
  ddpc_buffer dgrad[2];      // ping-pong input gradients; a layer writes the one its dy is not in
  size_t max_dgrad;          // floats of each dgrad buffer: the largest input but layer 0's, for max_batch
  const float *last_input;   // x of the last forward, which the first layer's backward reads
  ddpc_memory_budget budget; // host memory claimed by the layers as they are set up (CPU)
};

void ddpc_model_free(ddpc_model *model) {
  if (!model) return;
  for (int i = 0; i < model->n_layers; i++) {
    ddpc_layer *layer = &model->layers[i];
    if (layer->ops) layer->ops->free(layer);
    if (model->acts) ddpc_buffer_free(&model->acts[i]);
  }
  free(model->layers);
  free(model->acts);
  ddpc_buffer_free(&model->params);
  if (model->own_grads) ddpc_device_free(model->device, model->own_grads);
  ddpc_buffer_free(&model->dgrad[0]);
  ddpc_buffer_free(&model->dgrad[1]);
  free(model);
}

/* One pass of setup over every layer in turn (each one's input is the previous one's
 * output), then the claim of the two ping-pong input-gradient buffers, the one buffer no
 * layer claims, for the layer with the largest input. */
static int model_setup_pass(ddpc_model *model, const ddpc_layer_spec *specs) {
  ddpc_shape shape = model->input;
  model->n_params = 0;
  for (int i = 0; i < model->n_layers; i++) {
    ddpc_layer *layer = &model->layers[i];
    layer->spec = specs[i];
    layer->index = i;
    layer->in = shape;
    layer->ops = ddpc_layer_ops_for(specs[i].kind);
#ifdef DDPC_HAVE_CUDA
    if (model->device == DDPC_DEVICE_CUDA) layer->ops = ddpc_layer_cuda_ops_for(specs[i].kind);
#endif
    if (!layer->ops) return ddpc_error_set("model layer %d: unknown layer kind %d", i, (int)specs[i].kind);
    layer->budget = model->device == DDPC_DEVICE_CPU ? &model->budget : NULL;
    // Only the CPU layers fold a ReLU into their backward; the GPU ones take their shapes
    // from the CPU setup, which must not promise it for them.
    layer->input_relu = model->device == DDPC_DEVICE_CPU && i > 0 && specs[i - 1].kind == DDPC_LAYER_RELU;
    if (layer->ops->setup(layer, model->max_batch) != 0) return -1;
    layer->param_offset = model->n_params;
    model->n_params += layer->n_params;
    shape = layer->out;
  }
  model->max_dgrad = 0;
  int widest = 0;
  for (int i = 1; i < model->n_layers; i++) {  // layer 0's input gradient is never computed
    size_t in = ddpc_shape_size(model->layers[i].in) * (size_t)model->max_batch;
    if (in > model->max_dgrad) model->max_dgrad = in, widest = i;
  }
  return ddpc_layer_claim(&model->layers[widest], "the model's two input-gradient buffers sized for its input",
                          2.0 * (double)model->max_dgrad * sizeof(float));
}

/* Every buffer is zeroed as it is allocated, so a CPU model is first only planned: each
 * layer claims its memory and allocates nothing, and a model too big for the machine is
 * refused before any of it is touched. The second pass sets it up for real. */
static int model_setup_layers(ddpc_model *model, const ddpc_layer_spec *specs) {
  if (model->device == DDPC_DEVICE_CPU) {
    model->budget.planning = true;
    int rc = model_setup_pass(model, specs);
    model->budget.planning = false;
    model->budget.used = 0.0;  // claimed again below, as it is allocated
    if (rc != 0) return -1;
  }
  return model_setup_pass(model, specs);
}

static int model_alloc_buffers(ddpc_model *model, ddpc_device device) {
  // A model without parameters (pooling only) still gets valid, empty buffers.
  size_t n = model->n_params ? model->n_params : 1;
  if (ddpc_buffer_alloc(&model->params, n, device, "model parameters") != 0) return -1;
  if (ddpc_buffer_alloc(&model->grads, n, device, "model gradients") != 0) return -1;
  // The model keeps the allocation in own_grads; grads may later point at bound memory.
  model->own_grads = model->grads.data;
  model->grads.owned = false;
  model->params.count = model->grads.count = model->n_params;
  model->acts = ddpc_calloc((size_t)model->n_layers, sizeof *model->acts, "model activations");
  if (!model->acts) return -1;
  for (int i = 0; i < model->n_layers; i++) {
    ddpc_layer *layer = &model->layers[i];
    layer->params = model->params.data + layer->param_offset;
    layer->grads = model->grads.data + layer->param_offset;
    size_t out = ddpc_shape_size(layer->out) * (size_t)model->max_batch;
    if (ddpc_buffer_alloc(&model->acts[i], out, device, "layer activations") != 0) return -1;
  }
  for (int k = 0; k < 2 && model->max_dgrad > 0; k++)
    if (ddpc_buffer_alloc(&model->dgrad[k], model->max_dgrad, device, "input gradients") != 0) return -1;
  return 0;
}

int ddpc_model_create(const ddpc_layer_spec *specs, int n_layers, ddpc_shape input, int max_batch, ddpc_device device,
                      ddpc_model **out) {
  *out = NULL;
  if (n_layers < 1 || !specs) return ddpc_error_set("model: needs at least one layer");
  if (max_batch < 1) return ddpc_error_set("model: max_batch must be at least 1, got %d", max_batch);
  if (input.h < 1 || input.w < 1 || input.c < 1)
    return ddpc_error_set("model: input shape %dx%dx%d is empty", input.h, input.w, input.c);
  if ((double)input.h * input.w * input.c * max_batch * sizeof(float) > 4.0 * 1024 * 1024 * 1024)
    return ddpc_error_set("model: input %dx%dx%d for a batch of %d exceeds 4 GiB", input.h, input.w,
                          input.c, max_batch);
  if (!ddpc_device_built(device)) return ddpc_error_set("model: device: %s: %s", ddpc_device_name(device),
                                                       DDPC_DEVICE_NO_CUDA_MESSAGE);
  ddpc_model *model = ddpc_calloc(1, sizeof *model, "model");
  if (!model) return -1;
  model->input = input;
  model->max_batch = max_batch;
  model->device = device;
  model->budget.limit = ddpc_memory_limit(&model->budget.limit_what);
  model->budget.max_batch = max_batch;
  model->layers = ddpc_calloc((size_t)n_layers, sizeof *model->layers, "model layers");
  if (!model->layers) {
    free(model);
    return -1;
  }
  model->n_layers = n_layers;
  if (model_setup_layers(model, specs) != 0 || model_alloc_buffers(model, device) != 0) {
    ddpc_model_free(model);
    return -1;
  }
  *out = model;
  return 0;
}

void ddpc_model_init_params(ddpc_model *model, uint64_t seed) {
  for (int i = 0; i < model->n_layers; i++) {
    ddpc_layer *layer = &model->layers[i];
    layer->ops->init_params(layer, seed);
  }
}

const float *ddpc_model_forward(ddpc_model *model, const float *x, int batch, const ddpc_forward_ctx *ctx) {
  if (batch < 1 || batch > model->max_batch) {
    ddpc_error_set("model: batch %d is outside 1..%d (max_batch)", batch, model->max_batch);
    return NULL;
  }
  model->last_input = x;
  const float *cur = x;
  for (int i = 0; i < model->n_layers; i++) {
    ddpc_layer *layer = &model->layers[i];
    layer->ops->forward(layer, cur, model->acts[i].data, batch, ctx);
    cur = model->acts[i].data;
  }
  return cur;
}

bool ddpc_model_backward_skips(const ddpc_model *model, int index) {
  return index >= 0 && index + 1 < model->n_layers && model->layers[index].spec.kind == DDPC_LAYER_RELU &&
         model->layers[index + 1].dx_relu_applied;
}

void ddpc_model_backward(ddpc_model *model, const float *dout, int batch, ddpc_grad_ready_fn on_ready,
                         void *user) {
  const float *dy = dout;
  for (int i = model->n_layers - 1; i >= 0; i--) {
    ddpc_layer *layer = &model->layers[i];
    if (ddpc_model_backward_skips(model, i)) {  // dy is already this ReLU's dx
      if (on_ready) on_ready(user, i, layer->param_offset, layer->n_params);
      continue;
    }
    const float *x = i == 0 ? model->last_input : model->acts[i - 1].data;
    // The ping-pong buffer dy is not in (a skipped layer breaks the alternation by index).
    float *dx = i == 0 ? NULL : model->dgrad[dy == model->dgrad[0].data ? 1 : 0].data;
    layer->ops->backward(layer, x, model->acts[i].data, dy, dx, batch);
    if (on_ready) on_ready(user, i, layer->param_offset, layer->n_params);
    dy = dx;
  }
}

double ddpc_model_host_bytes(const ddpc_model *model) { return model->budget.used; }

ddpc_buffer *ddpc_model_params(ddpc_model *model) { return &model->params; }
ddpc_buffer *ddpc_model_grads(ddpc_model *model) { return &model->grads; }

uint32_t ddpc_model_params_crc32(const ddpc_model *model) {
  // zlib takes at most 4 GiB per call; feed large models in pieces.
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t left = model->params.count * sizeof(float);
  const Bytef *p = (const Bytef *)model->params.data;
  float *host = NULL;  // a GPU model's parameters, copied down
  if (model->device != DDPC_DEVICE_CPU) {
    host = ddpc_malloc(left ? left : 1, "parameter checksum");
    // A failed copy is recorded (ddpc_error_message) and the checksum taken of zeros.
    if (host && ddpc_device_copy(host, DDPC_DEVICE_CPU, p, model->device, left) != 0) memset(host, 0, left);
    if (!host) return 0;
    p = (const Bytef *)host;
  }
  while (left > 0) {
    uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
    crc = crc32(crc, p, n);
    p += n;
    left -= n;
  }
  free(host);
  return (uint32_t)crc;
}

void ddpc_model_bind_grads(ddpc_model *model, float *grads) {
  model->grads.data = grads ? grads : model->own_grads;
  for (int i = 0; i < model->n_layers; i++)
    model->layers[i].grads = model->grads.data + model->layers[i].param_offset;
}
size_t ddpc_model_param_count(const ddpc_model *model) { return model->n_params; }
ddpc_shape ddpc_model_input_shape(const ddpc_model *model) { return model->input; }
ddpc_shape ddpc_model_output_shape(const ddpc_model *model) {
  return model->layers[model->n_layers - 1].out;
}
int ddpc_model_layer_count(const ddpc_model *model) { return model->n_layers; }
const ddpc_layer *ddpc_model_layer(const ddpc_model *model, int index) {
  if (index < 0 || index >= model->n_layers) return NULL;
  return &model->layers[index];
}

/* snprintf that appends at *used and keeps going (truncated) once out_size is reached. */
static void describe_append(char *out, size_t out_size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void describe_append(char *out, size_t out_size, size_t *used, const char *fmt, ...) {
  if (*used >= out_size) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + *used, out_size - *used, fmt, ap);
  va_end(ap);
  if (n > 0) *used += (size_t)n;
}

void ddpc_model_describe(const ddpc_model *model, char *out, size_t out_size) {
  if (!out || out_size == 0) return;
  out[0] = '\0';
  size_t used = 0;
  ddpc_shape in = model->input;
  describe_append(out, out_size, &used, "input %dx%dx%d\n", in.h, in.w, in.c);
  for (int i = 0; i < model->n_layers; i++) {
    const ddpc_layer *l = &model->layers[i];
    describe_append(out, out_size, &used, "%3d %-10s -> %dx%dx%d  params %zu\n", i,
                    ddpc_layer_kind_name(l->spec.kind), l->out.h, l->out.w, l->out.c, l->n_params);
  }
  describe_append(out, out_size, &used, "total params %zu\n", model->n_params);
}
