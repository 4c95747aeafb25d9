/* export/export_tensors.c: the parameters in PyTorch's nn.Sequential layout. A direct
 * forward pass in PyTorch's terms (channels-first images, flatten in (C, H, W) order,
 * conv weights [out, in, kh, kw], FlattenLinear and ChannelLayerNorm on images as
 * docs/export.md defines them) over the exported tensors must give ddpc's own outputs,
 * for models where the permutations matter: conv + flatten + linear, a layernorm over a
 * flattened image, a linear and a layernorm straight on an image, a 1x1 image after
 * pooling, bias-less layers, an output that is still an image. Also the names, which
 * layers take images (ddpc_export_layer_images), and the refusal of a model PyTorch cannot
 * express. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "export/export.h"
#include "testing.h"

/* One sample in PyTorch's terms: (C, H, W) when image, else (C) features. */
typedef struct {
  bool image;
  int c, h, w;
  float *d;
} ref_tensor;

static size_t ref_size(const ref_tensor *x) { return (size_t)x->c * (size_t)(x->image ? x->h * x->w : 1); }

static const ddpc_export_tensor *ref_find(const ddpc_export_tensor *t, int n, int index, const char *suffix) {
  char name[32];
  snprintf(name, sizeof name, "%d.%s", index, suffix);
  for (int i = 0; i < n; i++)
    if (strcmp(t[i].name, name) == 0) return &t[i];
  return NULL;
}

/* y = layer(x) as PyTorch computes it with the exported tensors; frees x->d. */
static ref_tensor ref_layer(const ddpc_layer *l, ref_tensor x, const ddpc_export_tensor *t, int n) {
  const ddpc_layer_spec *s = &l->spec;
  const ddpc_export_tensor *w = ref_find(t, n, l->index, "weight"), *b = ref_find(t, n, l->index, "bias");
  ref_tensor y = x;
  size_t size = ref_size(&x);
  switch (s->kind) {
    case DDPC_LAYER_CONV2D: {
      int K = s->kernel, S = s->stride, P = s->padding;
      y.c = s->filters;
      y.h = (x.h + 2 * P - K) / S + 1;
      y.w = (x.w + 2 * P - K) / S + 1;
      y.d = calloc(ref_size(&y), sizeof(float));
      for (int f = 0; f < y.c; f++)
        for (int oh = 0; oh < y.h; oh++)
          for (int ow = 0; ow < y.w; ow++) {
            double acc = b ? b->data[f] : 0.0;
            for (int c = 0; c < x.c; c++)
              for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) {
                  int ih = oh * S - P + kh, iw = ow * S - P + kw;
                  if (ih < 0 || ih >= x.h || iw < 0 || iw >= x.w) continue;
                  acc += (double)w->data[(((size_t)f * x.c + c) * K + kh) * K + kw] * x.d[((size_t)c * x.h + ih) * x.w + iw];
                }
            y.d[((size_t)f * y.h + oh) * y.w + ow] = (float)acc;
          }
      break;
    }
    case DDPC_LAYER_MAXPOOL2D: {
      int K = s->kernel, S = s->stride ? s->stride : s->kernel;
      y.h = (x.h - K) / S + 1;
      y.w = (x.w - K) / S + 1;
      y.d = calloc(ref_size(&y), sizeof(float));
      for (int c = 0; c < y.c; c++)
        for (int oh = 0; oh < y.h; oh++)
          for (int ow = 0; ow < y.w; ow++) {
            float m = -INFINITY;
            for (int kh = 0; kh < K; kh++)
              for (int kw = 0; kw < K; kw++) m = fmaxf(m, x.d[((size_t)c * x.h + oh * S + kh) * x.w + ow * S + kw]);
            y.d[((size_t)c * y.h + oh) * y.w + ow] = m;
          }
      break;
    }
    case DDPC_LAYER_FLATTEN:  // (C, H, W) memory is already the flattened order
      y.image = false;
      y.c = (int)size;
      y.d = malloc(size * sizeof(float));
      memcpy(y.d, x.d, size * sizeof(float));
      break;
    case DDPC_LAYER_LINEAR:  // FlattenLinear: x.flatten(1) @ W^T + b
      y.image = false;
      y.c = s->units;
      y.d = calloc((size_t)y.c, sizeof(float));
      for (int o = 0; o < y.c; o++) {
        double acc = b ? b->data[o] : 0.0;
        for (size_t j = 0; j < size; j++) acc += (double)w->data[(size_t)o * size + j] * x.d[j];
        y.d[o] = (float)acc;
      }
      break;
    case DDPC_LAYER_LAYERNORM: {  // over C: at each (h, w) of an image (ChannelLayerNorm), or the vector
      size_t hw = x.image ? (size_t)x.h * x.w : 1;
      y.d = malloc(size * sizeof(float));
      for (size_t p = 0; p < hw; p++) {
        double mean = 0, var = 0;
        for (int c = 0; c < x.c; c++) mean += x.d[c * hw + p];
        mean /= x.c;
        for (int c = 0; c < x.c; c++) var += (x.d[c * hw + p] - mean) * (x.d[c * hw + p] - mean);
        var /= x.c;
        for (int c = 0; c < x.c; c++)
          y.d[c * hw + p] = (float)((x.d[c * hw + p] - mean) / sqrt(var + s->eps) * w->data[c] + b->data[c]);
      }
      break;
    }
    default:  // relu, gelu, tanh, dropout (identity at inference)
      y.d = malloc(size * sizeof(float));
      for (size_t i = 0; i < size; i++) {
        float v = x.d[i];
        if (s->kind == DDPC_LAYER_RELU) v = v > 0 ? v : 0;
        else if (s->kind == DDPC_LAYER_GELU) v = 0.5f * v * (1.0f + erff(v / sqrtf(2.0f)));
        else if (s->kind == DDPC_LAYER_TANH) v = tanhf(v);
        y.d[i] = v;
      }
      break;
  }
  free(x.d);
  return y;
}

static ddpc_layer_spec spec(ddpc_layer_kind kind, int size, int kernel, int stride_or_padding) {
  ddpc_layer_spec s = ddpc_layer_spec_default(kind);
  if (kind == DDPC_LAYER_LINEAR) s.units = size;
  if (kind == DDPC_LAYER_CONV2D) {
    s.filters = size;
    s.kernel = kernel;
    s.padding = stride_or_padding;
  }
  if (kind == DDPC_LAYER_MAXPOOL2D) {
    s.kernel = kernel;
    s.stride = stride_or_padding;
  }
  return s;
}

/* Builds the model, sets random parameters, and compares ddpc's forward with the reference
 * forward over the exported tensors; `names` is the expected list "0.weight 0.bias ...". */
static void check_model(const char *what, const ddpc_layer_spec *specs, int n_layers, ddpc_shape in,
                        const char *names) {
  enum { N = 3 };
  ddpc_predictor p;
  memset(&p, 0, sizeof p);
  int rc = ddpc_model_create(specs, n_layers, in, N, DDPC_DEVICE_CPU, &p.model);
  CHECK(rc == 0, "%s: model: %s", what, ddpc_error_message());
  if (rc != 0) return;
  ddpc_buffer *params = ddpc_model_params(p.model);
  srand(7);
  for (size_t i = 0; i < params->count; i++) params->data[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
  size_t F = ddpc_shape_size(in);
  float *x = malloc(N * F * sizeof(float));
  for (size_t i = 0; i < N * F; i++) x[i] = (float)((double)rand() / RAND_MAX) * 2.0f - 1.0f;
  ddpc_forward_ctx ctx = {.training = false};
  const float *got = ddpc_model_forward(p.model, x, N, &ctx);
  size_t out = ddpc_shape_size(ddpc_model_output_shape(p.model));

  ddpc_export_tensor *t = NULL;
  int n = 0;
  rc = ddpc_export_tensors(&p, &t, &n);
  CHECK(rc == 0, "%s: export: %s", what, ddpc_error_message());
  char list[256] = "";
  for (int i = 0; rc == 0 && i < n; i++) {
    size_t len = strlen(list);
    snprintf(list + len, sizeof list - len, "%s%s", i ? " " : "", t[i].name);
  }
  CHECK(rc != 0 || strcmp(list, names) == 0, "%s: names '%s', expected '%s'", what, list, names);
  bool image_in[16];
  CHECK(ddpc_export_layer_images(&p, image_in) == 0, "%s: layer images: %s", what, ddpc_error_message());
  double worst = 0;
  for (int s = 0; rc == 0 && s < N; s++) {
    // PyTorch's input: the (H, W, C) sample moved channels-first, or the vector as is.
    ref_tensor r = {.image = !(in.h == 1 && in.w == 1), .c = in.c, .h = in.h, .w = in.w};
    r.d = malloc(F * sizeof(float));
    for (int c = 0; c < in.c; c++)
      for (int i = 0; i < in.h * in.w; i++) r.d[(size_t)c * in.h * in.w + i] = x[s * F + (size_t)i * in.c + c];
    for (int i = 0; i < n_layers; i++) r = ref_layer(ddpc_model_layer(p.model, i), r, t, n);
    CHECK(ref_size(&r) == out, "%s: reference output has %zu values, ddpc %zu", what, ref_size(&r), out);
    CHECK(r.image == image_in[n_layers], "%s: the output is %s in PyTorch, image_in[%d] says otherwise", what,
          r.image ? "an image" : "a vector", n_layers);
    // The last layer may be an image: ddpc's output is then (H, W, C), the reference's (C, H, W).
    ddpc_shape os = ddpc_model_output_shape(p.model);
    for (size_t j = 0; ref_size(&r) == out && j < out; j++) {
      size_t at = r.image ? (j % ((size_t)os.h * os.w)) * os.c + j / ((size_t)os.h * os.w) : j;
      double d = fabs((double)r.d[j] - got[s * out + at]);
      worst = d > worst ? d : worst;
    }
    free(r.d);
  }
  CHECK(rc != 0 || worst < 1e-5, "%s: PyTorch-layout forward differs from ddpc's by %g", what, worst);
  ddpc_export_tensors_free(t, n);
  free(x);
  ddpc_model_free(p.model);
}

int main(void) {
  ddpc_shape img = {5, 4, 3};
  ddpc_layer_spec conv_flatten_linear[] = {
      spec(DDPC_LAYER_CONV2D, 4, 3, 1), spec(DDPC_LAYER_RELU, 0, 0, 0), spec(DDPC_LAYER_MAXPOOL2D, 0, 2, 0),
      spec(DDPC_LAYER_CONV2D, 3, 1, 0), spec(DDPC_LAYER_FLATTEN, 0, 0, 0), spec(DDPC_LAYER_LINEAR, 6, 0, 0),
      spec(DDPC_LAYER_GELU, 0, 0, 0), spec(DDPC_LAYER_LINEAR, 2, 0, 0)};
  check_model("conv+flatten+linear", conv_flatten_linear, 8, img, "0.weight 0.bias 3.weight 3.bias 5.weight 5.bias 7.weight 7.bias");

  // A layernorm over the flattened image needs its gamma and beta reordered, and so does the
  // linear after it (flatten, dropout and tanh in between keep the order).
  ddpc_layer_spec norm_after_flatten[] = {
      spec(DDPC_LAYER_CONV2D, 2, 3, 0), spec(DDPC_LAYER_FLATTEN, 0, 0, 0), spec(DDPC_LAYER_DROPOUT, 0, 0, 0),
      spec(DDPC_LAYER_LAYERNORM, 0, 0, 0), spec(DDPC_LAYER_TANH, 0, 0, 0), spec(DDPC_LAYER_FLATTEN, 0, 0, 0),
      spec(DDPC_LAYER_LINEAR, 3, 0, 0)};
  norm_after_flatten[0].bias = false;
  check_model("layernorm over a flattened image", norm_after_flatten, 7, (ddpc_shape){6, 5, 2},
              "0.weight 3.weight 3.bias 6.weight 6.bias");

  // Straight on an image: ChannelLayerNorm, then FlattenLinear (no flatten layer).
  ddpc_layer_spec on_image[] = {spec(DDPC_LAYER_LAYERNORM, 0, 0, 0), spec(DDPC_LAYER_LINEAR, 5, 0, 0),
                                spec(DDPC_LAYER_RELU, 0, 0, 0), spec(DDPC_LAYER_LINEAR, 3, 0, 0)};
  on_image[3].bias = false;
  check_model("layernorm and linear on an image", on_image, 4, (ddpc_shape){4, 3, 2}, "0.weight 0.bias 1.weight 1.bias 3.weight");

  // Pooled to 1x1: ddpc calls that a vector, PyTorch still has (N, C, 1, 1); the image ends the model.
  ddpc_layer_spec to_1x1[] = {spec(DDPC_LAYER_CONV2D, 3, 2, 0), spec(DDPC_LAYER_MAXPOOL2D, 0, 3, 0),
                              spec(DDPC_LAYER_LAYERNORM, 0, 0, 0), spec(DDPC_LAYER_LINEAR, 2, 0, 0)};
  check_model("1x1 image", to_1x1, 4, (ddpc_shape){4, 4, 2}, "0.weight 0.bias 2.weight 2.bias 3.weight 3.bias");
  ddpc_layer_spec ends_on_image[] = {spec(DDPC_LAYER_CONV2D, 3, 3, 1), spec(DDPC_LAYER_RELU, 0, 0, 0)};
  check_model("ends on an image", ends_on_image, 2, (ddpc_shape){3, 4, 2}, "0.weight 0.bias");

  // An MLP on vectors: the layout is ddpc's own.
  ddpc_layer_spec mlp[] = {spec(DDPC_LAYER_LINEAR, 8, 0, 0), spec(DDPC_LAYER_RELU, 0, 0, 0),
                           spec(DDPC_LAYER_LAYERNORM, 0, 0, 0), spec(DDPC_LAYER_LINEAR, 3, 0, 0)};
  check_model("mlp", mlp, 4, ddpc_shape_vector(10), "0.weight 0.bias 2.weight 2.bias 3.weight 3.bias");

  // conv2d on a vector (a 1x1 image of 6 channels to ddpc) has no nn.Sequential form.
  ddpc_layer_spec conv_on_vector[] = {spec(DDPC_LAYER_LINEAR, 6, 0, 0), spec(DDPC_LAYER_CONV2D, 2, 1, 0)};
  ddpc_predictor p;
  memset(&p, 0, sizeof p);
  CHECK(ddpc_model_create(conv_on_vector, 2, ddpc_shape_vector(4), 2, DDPC_DEVICE_CPU, &p.model) == 0, "model: %s",
        ddpc_error_message());
  ddpc_export_tensor *t = NULL;
  int n = -1;
  int rc = p.model ? ddpc_export_tensors(&p, &t, &n) : 0;
  CHECK(rc != 0 && !t && n == 0, "conv2d on a vector refused");
  CHECK(strstr(ddpc_error_message(), "model layer 1 (conv2d)") && strstr(ddpc_error_message(), "nn.Conv2d"),
        "message names the layer: %s", ddpc_error_message());
  ddpc_model_free(p.model);
  return testing_finish();
}
