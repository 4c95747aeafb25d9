/* max-pooling and ReLU against straightforward reference loops, bit for bit: both are exact
 * operations (copies, comparisons and adds onto zero), so any faster path must give the
 * same bits as the plain algorithm: the maximum of each window with the first maximum in
 * row-major order winning ties, and backward as dy scattered (added) onto a zeroed dx at
 * those positions, overlapping windows adding in output order. Inputs are full of ties,
 * signed zeros, infinities and NaNs; shapes are odd, channel counts not multiples of the
 * vector width, strides below, equal to and above the kernel. Then the model's fusion: a
 * pool after a ReLU applies the ReLU's backward itself and the model skips the ReLU, which
 * must change no bit of any parameter gradient against the layers run one by one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"
#include "core/model.h"
#include "core/rng.h"
#include "testing.h"

static ddpc_rng test_rng;

/* Values with many exact ties: small integers, both zeros, and (when `special`) infinities
 * and NaN. */
static float tie_value(bool special) {
  static const float plain[] = {-2.0f, -1.0f, -0.0f, 0.0f, 0.0f, 1.0f, 1.0f, 2.0f, 0.5f, -0.5f};
  uint32_t r = (uint32_t)ddpc_rng_next_below(&test_rng, 13);
  if (r < 10) return plain[r];
  if (!special) return (float)(r - 10);
  return r == 10 ? INFINITY : r == 11 ? -INFINITY : NAN;
}

static void fill_ties(float *x, size_t n, bool special) {
  for (size_t i = 0; i < n; i++) x[i] = tie_value(special);
}

static void fill_garbage(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = 1e30f * (float)(i % 7 + 1);
}

/* The plain algorithm: per output, the first maximum's offset in its sample. */
static void ref_pool_forward(const float *x, float *y, uint32_t *am, int batch, ddpc_shape in, ddpc_shape out,
                             int K, int S) {
  for (int b = 0; b < batch; b++)
    for (int oh = 0; oh < out.h; oh++)
      for (int ow = 0; ow < out.w; ow++)
        for (int c = 0; c < in.c; c++) {
          const float *xb = x + (size_t)b * ddpc_shape_size(in);
          uint32_t best = (uint32_t)(((oh * S) * in.w + ow * S) * in.c + c);
          for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
              uint32_t at = (uint32_t)(((oh * S + kh) * in.w + ow * S + kw) * in.c + c);
              if (xb[at] > xb[best]) best = at;
            }
          size_t o = (size_t)b * ddpc_shape_size(out) + ((size_t)oh * out.w + ow) * out.c + c;
          y[o] = xb[best];
          am[o] = best;
        }
}

static void ref_pool_backward(const uint32_t *am, const float *dy, float *dx, int batch, ddpc_shape in,
                              ddpc_shape out) {
  size_t n_in = ddpc_shape_size(in), n_out = ddpc_shape_size(out);
  for (size_t i = 0; i < n_in * (size_t)batch; i++) dx[i] = 0.0f;
  for (int b = 0; b < batch; b++)
    for (size_t o = 0; o < n_out; o++) dx[(size_t)b * n_in + am[(size_t)b * n_out + o]] += dy[(size_t)b * n_out + o];
}

static void ref_relu_backward(const float *y, const float *dy, float *dx, size_t n) {
  for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

typedef struct {
  int kernel, stride;  // stride 0: the default (= kernel)
  ddpc_shape in;
  int batch;
} pool_case;

/* Pool forward and backward against the reference; with input_relu, the input is a ReLU's
 * output and dx must equal the reference pool backward followed by the ReLU's backward. */
static void check_pool_case(pool_case pc, bool input_relu) {
  ddpc_layer layer;
  memset(&layer, 0, sizeof layer);
  layer.spec = ddpc_layer_spec_default(DDPC_LAYER_MAXPOOL2D);
  layer.spec.kernel = pc.kernel;
  layer.spec.stride = pc.stride;
  layer.in = pc.in;
  layer.index = 1;
  layer.input_relu = input_relu;
  layer.ops = ddpc_layer_ops_for(DDPC_LAYER_MAXPOOL2D);
  char name[96];
  int S = pc.stride ? pc.stride : pc.kernel;
  snprintf(name, sizeof name, "maxpool k%d s%d on %dx%dx%d batch %d%s", pc.kernel, S, pc.in.h, pc.in.w, pc.in.c,
           pc.batch, input_relu ? " after relu" : "");
  if (layer.ops->setup(&layer, pc.batch) != 0) {
    CHECK(0, "%s: setup: %s", name, ddpc_error_message());
    return;
  }
  // Fusion is claimed exactly where windows tile the input and a ReLU comes before.
  CHECK(layer.dx_relu_applied == (input_relu && S == pc.kernel && pc.kernel <= 16), "%s: dx_relu_applied %d", name,
        (int)layer.dx_relu_applied);
  ddpc_shape out = layer.out;
  size_t n_in = ddpc_shape_size(pc.in) * (size_t)pc.batch, n_out = ddpc_shape_size(out) * (size_t)pc.batch;
  float *x = calloc(n_in, sizeof *x), *y = calloc(n_out, sizeof *y), *ry = calloc(n_out, sizeof *ry);
  float *dy = calloc(n_out, sizeof *dy), *dx = calloc(n_in, sizeof *dx), *rdx = calloc(n_in, sizeof *rdx);
  float *rdx2 = calloc(n_in, sizeof *rdx2);
  uint32_t *am = calloc(n_out, sizeof *am);
  fill_ties(x, n_in, !input_relu);
  if (input_relu)  // what a ReLU gives: never negative, never -0 or NaN
    for (size_t i = 0; i < n_in; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
  fill_ties(dy, n_out, true);
  for (int round = 0; round < 2; round++) {  // twice: the second forward and backward overwrite the first
    fill_garbage(y, n_out);
    fill_garbage(dx, n_in);
    layer.ops->forward(&layer, x, y, pc.batch, NULL);
    layer.ops->backward(&layer, x, y, dy, dx, pc.batch);
  }
  ref_pool_forward(x, ry, am, pc.batch, pc.in, out, pc.kernel, S);
  ref_pool_backward(am, dy, rdx, pc.batch, pc.in, out);
  if (layer.dx_relu_applied) {
    ref_relu_backward(x, rdx, rdx2, n_in);
    memcpy(rdx, rdx2, n_in * sizeof *rdx);
  }
  CHECK(memcmp(y, ry, n_out * sizeof *y) == 0, "%s: forward differs from the reference", name);
  size_t bad = 0;
  for (size_t i = 0; i < n_in; i++) bad += memcmp(&dx[i], &rdx[i], sizeof *dx) != 0;
  CHECK(bad == 0, "%s: %zu of %zu input gradients differ from the reference", name, bad, n_in);
  size_t nonzero = 0;
  for (size_t i = 0; i < n_in; i++) nonzero += rdx[i] != 0.0f;
  CHECK(nonzero > 0, "%s: the reference gradient is all zero (test input too tame)", name);
  free(x), free(y), free(ry), free(dy), free(dx), free(rdx), free(rdx2), free(am);
  layer.ops->free(&layer);
}

static void check_pools(void) {
  static const pool_case cases[] = {
      {2, 0, {28, 28, 32}, 3},  // the CNN example's first pool
      {2, 0, {14, 14, 64}, 2},  // and its second
      {2, 0, {7, 9, 3}, 3},     // odd sizes: last row and column in no window
      {2, 0, {5, 5, 33}, 2},    // channels past a vector width
      {2, 2, {6, 6, 1}, 4},     // one channel; stride given explicitly
      {3, 0, {9, 10, 5}, 2},    // tiling 3x3
      {3, 2, {7, 7, 2}, 2},     // overlapping windows: adds in output order
      {3, 1, {6, 5, 17}, 2},    // heavily overlapping
      {2, 3, {8, 8, 4}, 2},     // gaps between windows
      {1, 0, {4, 3, 6}, 2},     // 1x1: a copy
      {1, 2, {5, 5, 2}, 2},     // 1x1 with gaps
      {16, 0, {17, 33, 3}, 1},  // the largest tiling kernel (window index 255)
      {17, 0, {17, 17, 2}, 2},  // past it: offsets, the general path
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    check_pool_case(cases[i], false);
    check_pool_case(cases[i], true);
  }
}

/* ReLU is unchanged in kind, but its bits are pinned here too: +0 for -0, NaN and
 * negatives, and backward masked by y > 0. */
static void check_relu(void) {
  ddpc_layer layer;
  memset(&layer, 0, sizeof layer);
  layer.spec = ddpc_layer_spec_default(DDPC_LAYER_RELU);
  layer.in = (ddpc_shape){5, 7, 3};
  layer.ops = ddpc_layer_ops_for(DDPC_LAYER_RELU);
  int batch = 3;
  if (layer.ops->setup(&layer, batch) != 0) {
    CHECK(0, "relu setup: %s", ddpc_error_message());
    return;
  }
  size_t n = ddpc_shape_size(layer.in) * (size_t)batch;
  float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *dy = malloc(n * sizeof *dy);
  float *dx = malloc(n * sizeof *dx), *r = malloc(n * sizeof *r);
  fill_ties(x, n, true);
  fill_ties(dy, n, true);
  fill_garbage(y, n);
  layer.ops->forward(&layer, x, y, batch, NULL);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    float want = x[i] > 0.0f ? x[i] : 0.0f;
    bad += memcmp(&y[i], &want, sizeof want) != 0;
  }
  CHECK(bad == 0, "relu forward: %zu of %zu differ from x > 0 ? x : +0", bad, n);
  fill_garbage(dx, n);
  layer.ops->backward(&layer, x, y, dy, dx, batch);
  ref_relu_backward(y, dy, r, n);
  CHECK(memcmp(dx, r, n * sizeof *dx) == 0, "relu backward differs from y > 0 ? dy : +0");
  free(x), free(y), free(dy), free(dx), free(r);
  layer.ops->free(&layer);
}

/* A model conv -> relu -> pool -> relu -> pool (3x3 overlapping) -> flatten -> linear: the
 * model's backward (ReLU before the tiling pool skipped) against the same layers run one
 * by one, each ReLU's backward included, with the fusion turned off. Every parameter
 * gradient must have the same bits. */
static void check_model_fusion(void) {
  ddpc_layer_spec specs[8];
  int n = 0;
  specs[n] = ddpc_layer_spec_default(DDPC_LAYER_CONV2D);
  specs[n].filters = 6, specs[n].kernel = 3, specs[n].padding = 1, n++;
  specs[n++] = ddpc_layer_spec_default(DDPC_LAYER_RELU);
  specs[n] = ddpc_layer_spec_default(DDPC_LAYER_MAXPOOL2D);
  specs[n].kernel = 2, n++;
  specs[n++] = ddpc_layer_spec_default(DDPC_LAYER_RELU);  // relu after a pool: no fusion there
  specs[n] = ddpc_layer_spec_default(DDPC_LAYER_MAXPOOL2D);
  specs[n].kernel = 3, specs[n].stride = 2, n++;  // overlapping: no fusion either
  specs[n++] = ddpc_layer_spec_default(DDPC_LAYER_FLATTEN);
  specs[n] = ddpc_layer_spec_default(DDPC_LAYER_LINEAR);
  specs[n].units = 5, n++;
  ddpc_shape input = {11, 13, 2};
  int batch = 4;
  ddpc_model *model = NULL;
  if (ddpc_model_create(specs, n, input, batch, DDPC_DEVICE_CPU, &model) != 0) {
    CHECK(0, "model create: %s", ddpc_error_message());
    return;
  }
  ddpc_model_init_params(model, 7);
  CHECK(ddpc_model_backward_skips(model, 1), "the relu before the 2x2 pool is not skipped");
  CHECK(!ddpc_model_backward_skips(model, 3), "the relu before the overlapping pool is skipped");
  size_t n_x = ddpc_shape_size(input) * (size_t)batch;
  size_t n_out = ddpc_shape_size(ddpc_model_output_shape(model)) * (size_t)batch;
  float *x = malloc(n_x * sizeof *x), *dout = malloc(n_out * sizeof *dout);
  for (size_t i = 0; i < n_x; i++) x[i] = ddpc_rng_next_float(&test_rng) * 2.0f - 1.0f;
  for (size_t i = 0; i < n_out; i++) dout[i] = ddpc_rng_next_float(&test_rng) - 0.5f;
  ddpc_forward_ctx ctx = {.training = true, .seed = 7, .step = 0};
  ddpc_model_forward(model, x, batch, &ctx);
  ddpc_model_backward(model, dout, batch, NULL, NULL);
  size_t n_params = ddpc_model_param_count(model);
  float *fused = malloc(n_params * sizeof *fused);
  memcpy(fused, ddpc_model_grads(model)->data, n_params * sizeof *fused);

  // The same layers by hand, every backward run, the pool's fusion off (its flag only
  // picks the masked loop; its state is the same).
  float *acts[8], *grads[9];
  size_t widest = n_x;
  for (int i = 0; i < n; i++) {
    const ddpc_layer *l = ddpc_model_layer(model, i);
    size_t o = ddpc_shape_size(l->out) * (size_t)batch;
    if (o > widest) widest = o;
  }
  for (int i = 0; i < n; i++) acts[i] = malloc(widest * sizeof(float)), grads[i] = malloc(widest * sizeof(float));
  grads[n] = dout;
  for (int i = 0; i < n; i++) {
    ddpc_layer *l = (ddpc_layer *)ddpc_model_layer(model, i);
    l->dx_relu_applied = false;
    l->ops->forward(l, i ? acts[i - 1] : x, acts[i], batch, &ctx);
  }
  for (int i = n - 1; i >= 0; i--) {
    ddpc_layer *l = (ddpc_layer *)ddpc_model_layer(model, i);
    l->ops->backward(l, i ? acts[i - 1] : x, acts[i], grads[i + 1], i ? grads[i] : NULL, batch);
  }
  const float *plain = ddpc_model_grads(model)->data;
  size_t bad = 0, nonzero = 0;
  for (size_t i = 0; i < n_params; i++) {
    bad += memcmp(&fused[i], &plain[i], sizeof *plain) != 0;
    nonzero += plain[i] != 0.0f;
  }
  CHECK(bad == 0, "model with the relu skipped: %zu of %zu parameter gradients differ", bad, n_params);
  CHECK(nonzero > n_params / 2, "only %zu of %zu parameter gradients are non-zero", nonzero, n_params);
  for (int i = 0; i < n; i++) free(acts[i]), free(grads[i]);
  free(x), free(dout), free(fused);
  ddpc_model_free(model);
}

int main(void) {
  test_rng = ddpc_rng_make(17, 0, 0, 0);
  check_pools();
  check_relu();
  check_model_fusion();
  return testing_finish();
}
