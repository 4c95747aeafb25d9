/* The trained parameters as PyTorch's nn.Sequential state_dict names and lays them out
 * (export.h), shared by the safetensors and ONNX writers so that both files, and the
 * nn.Sequential docs/export.md builds, agree. ddpc keeps activations channels-last (H, W, C)
 * and PyTorch channels-first (C, H, W): conv weights move their input channel ahead of the
 * window, and wherever an image has been flattened (ddpc: HWC order, PyTorch: CHW order) the
 * next layer that mixes features (linear, or a layernorm over the vector) has its feature
 * axis reordered to match. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "export/export.h"

static bool export_is_vector(ddpc_shape s) { return s.h == 1 && s.w == 1; }

int ddpc_export_layer_images(const ddpc_predictor *p, bool *image_in) {
  int n = ddpc_model_layer_count(p->model);
  bool image = !export_is_vector(ddpc_model_input_shape(p->model));
  for (int i = 0; i < n; i++) {
    const ddpc_layer *l = ddpc_model_layer(p->model, i);
    image_in[i] = image;
    switch (l->spec.kind) {
      case DDPC_LAYER_CONV2D:
      case DDPC_LAYER_MAXPOOL2D:
        if (!image)
          return ddpc_error_set("model layer %d (%s) works on a vector of %d features (1x1x%d): PyTorch's "
                                "nn.%s takes images, so the model has no nn.Sequential form",
                                i, ddpc_layer_kind_name(l->spec.kind), l->in.c, l->in.c,
                                l->spec.kind == DDPC_LAYER_CONV2D ? "Conv2d" : "MaxPool2d");
        break;
      case DDPC_LAYER_LINEAR:
      case DDPC_LAYER_FLATTEN:
        image = false;
        break;
      default:  // activations, dropout, layernorm keep the shape
        break;
    }
  }
  image_in[n] = image;
  return 0;
}

/* Where PyTorch's feature j of an (h, w, c) image flattened channels-first sits in ddpc's
 * channels-last flattening of the same image. */
static size_t export_chw_to_hwc(ddpc_shape s, size_t j) {
  size_t hw = (size_t)s.h * (size_t)s.w;
  return (j % hw) * (size_t)s.c + j / hw;
}

/* Adds tensor `suffix` of layer `index`: dims as PyTorch holds it; data left to the caller. */
static ddpc_export_tensor *export_add(ddpc_export_tensor *t, int *n, int index, const char *suffix, int ndim,
                                      const int *dims) {
  ddpc_export_tensor *x = &t[(*n)++];
  snprintf(x->name, sizeof x->name, "%d.%s", index, suffix);
  x->ndim = ndim;
  x->count = 1;
  for (int d = 0; d < ndim; d++) {
    x->dims[d] = dims[d];
    x->count *= (size_t)dims[d];
  }
  x->data = ddpc_malloc(x->count * sizeof(float), "exported tensor");
  return x->data ? x : NULL;
}

/* Layer l's tensors; `order` is the image whose flattening the layer's vector input follows
 * (a vector shape when it follows none). */
static int export_layer(const ddpc_layer *l, ddpc_shape order, ddpc_export_tensor *t, int *n) {
  const float *w = l->params;
  const ddpc_layer_spec *s = &l->spec;
  ddpc_export_tensor *x;
  switch (s->kind) {
    case DDPC_LAYER_LINEAR: {  // ddpc (out, in) -> [out, in], in columns in PyTorch's order
      int in = (int)ddpc_shape_size(l->in), out = s->units;
      if (!(x = export_add(t, n, l->index, "weight", 2, (int[]){out, in}))) return -1;
      for (int o = 0; o < out; o++)
        for (int j = 0; j < in; j++) x->data[(size_t)o * in + j] = w[(size_t)o * in + export_chw_to_hwc(order, j)];
      w += (size_t)out * in;
      if (s->bias) {
        if (!(x = export_add(t, n, l->index, "bias", 1, (int[]){out}))) return -1;
        memcpy(x->data, w, (size_t)out * sizeof(float));
      }
      return 0;
    }
    case DDPC_LAYER_CONV2D: {  // ddpc (filters, kh, kw, cin) -> [out, in, kh, kw]
      int F = s->filters, K = s->kernel, C = l->in.c;
      if (!(x = export_add(t, n, l->index, "weight", 4, (int[]){F, C, K, K}))) return -1;
      for (int f = 0; f < F; f++)
        for (int c = 0; c < C; c++)
          for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++)
              x->data[(((size_t)f * C + c) * K + kh) * K + kw] = w[(((size_t)f * K + kh) * K + kw) * C + c];
      w += (size_t)F * K * K * C;
      if (s->bias) {
        if (!(x = export_add(t, n, l->index, "bias", 1, (int[]){F}))) return -1;
        memcpy(x->data, w, (size_t)F * sizeof(float));
      }
      return 0;
    }
    case DDPC_LAYER_LAYERNORM: {  // gamma (C) then beta (C); C features of a vector in PyTorch's order
      int C = l->in.c;
      static const char *const names[2] = {"weight", "bias"};
      for (int k = 0; k < 2; k++, w += C) {
        if (!(x = export_add(t, n, l->index, names[k], 1, (int[]){C}))) return -1;
        for (int j = 0; j < C; j++) x->data[j] = w[export_is_vector(l->in) ? export_chw_to_hwc(order, j) : (size_t)j];
      }
      return 0;
    }
    default:
      return 0;  // no parameters
  }
}

int ddpc_export_tensors(const ddpc_predictor *p, ddpc_export_tensor **out, int *n_out) {
  *out = NULL;
  *n_out = 0;
  int layers = ddpc_model_layer_count(p->model);
  bool *image_in = ddpc_calloc((size_t)layers + 1, sizeof *image_in, "export layer shapes");
  ddpc_export_tensor *t = ddpc_calloc(2 * (size_t)layers + 1, sizeof *t, "exported tensors");
  int n = 0, rc = image_in && t ? ddpc_export_layer_images(p, image_in) : -1;
  ddpc_shape order = ddpc_model_input_shape(p->model);  // what a vector input's features follow
  for (int i = 0; rc == 0 && i < layers; i++) {
    const ddpc_layer *l = ddpc_model_layer(p->model, i);
    // A linear layer on an image flattens it itself (FlattenLinear), as a flatten does.
    ddpc_shape follows = image_in[i] ? l->in : order;
    rc = export_layer(l, follows, t, &n);
    if (l->spec.kind == DDPC_LAYER_FLATTEN && image_in[i]) order = l->in;
    else if (l->spec.kind == DDPC_LAYER_LINEAR) order = l->out;
  }
  free(image_in);
  if (rc != 0) {
    ddpc_export_tensors_free(t, n);
    return -1;
  }
  *out = t;
  *n_out = n;
  return 0;
}

void ddpc_export_tensors_free(ddpc_export_tensor *t, int n) {
  if (!t) return;
  for (int i = 0; i < n; i++) free(t[i].data);
  free(t);
}
