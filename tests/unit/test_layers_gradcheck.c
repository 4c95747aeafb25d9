/* Gradient checks for every layer kind and both losses: analytic input and parameter
 * gradients against central finite differences of the scalar objective sum_i w_i * y_i
 * (random w), plus forward values of conv2d and maxpool2d against naive direct loops.
 *
 * Why float forwards with eps = 1e-2 and tolerance 1e-3 + 1e-2 * |g|: the layers only exist
 * in float, so the finite difference re-runs the real float forward and sums the objective
 * in double. Rounding in the objective is about n * 6e-8 ~ 1e-5, i.e. < 1e-3 after dividing by
 * 2 * eps; the truncation error of the central difference is O(eps^2) = 1e-4 times a third
 * derivative of order one. A wrong index, a missing term or a wrong factor changes an entry
 * by O(|g|) ~ 0.1..1, far outside that tolerance, and each check also requires the
 * gradient to be non-trivial so an all-zero backward cannot pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"
#include "core/loss.h"
#include "core/rng.h"
#include "testing.h"

#define FD_EPS 1e-2
#define FD_ABS_TOL 1e-3
#define FD_REL_TOL 1e-2

typedef enum {
  INPUT_UNIFORM,    // uniform in [-1.5, 1.5]
  INPUT_AWAY_ZERO,  // |x| in [0.1, 1.5]: relu's kink is never crossed by +-eps
  INPUT_DISTINCT,   // a permutation of values 0.05 apart: no ties, maxima never swap under +-eps
} input_kind;

static ddpc_rng test_rng;

static float uniform(float lo, float hi) { return lo + (hi - lo) * ddpc_rng_next_float(&test_rng); }

static void fill_input(float *x, size_t n, input_kind kind) {
  if (kind == INPUT_DISTINCT) {
    uint32_t *perm = malloc(n * sizeof *perm);
    ddpc_rng_permutation(&test_rng, perm, (uint32_t)n);
    for (size_t i = 0; i < n; i++) x[i] = 0.05f * (float)perm[i] - 0.025f * (float)n;
    free(perm);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    x[i] = uniform(-1.5f, 1.5f);
    if (kind == INPUT_AWAY_ZERO && fabsf(x[i]) < 0.1f) x[i] = x[i] < 0 ? -0.1f - 0.5f * fabsf(x[i]) : 0.1f + x[i];
  }
}

/* A layer set up outside any model, with its own parameter and gradient arrays. */
typedef struct {
  ddpc_layer layer;  // the layer under test
  int batch;         // samples per forward
  size_t n_in;       // batch * input size
  size_t n_out;      // batch * output size
  float *x, *y, *dx, *w;
} layer_rig;

static int rig_make_at(layer_rig *rig, ddpc_layer_spec spec, ddpc_shape in, int batch, int index) {
  memset(rig, 0, sizeof *rig);
  rig->layer.spec = spec;
  rig->layer.index = index;
  rig->layer.in = in;
  rig->layer.ops = ddpc_layer_ops_for(spec.kind);
  rig->batch = batch;
  if (rig->layer.ops->setup(&rig->layer, batch) != 0) return -1;
  rig->n_in = ddpc_shape_size(in) * (size_t)batch;
  rig->n_out = ddpc_shape_size(rig->layer.out) * (size_t)batch;
  rig->layer.params = calloc(rig->layer.n_params + 1, sizeof(float));
  rig->layer.grads = calloc(rig->layer.n_params + 1, sizeof(float));
  rig->x = calloc(rig->n_in, sizeof(float));
  rig->dx = calloc(rig->n_in, sizeof(float));
  rig->y = calloc(rig->n_out, sizeof(float));
  rig->w = calloc(rig->n_out, sizeof(float));
  return 0;
}

static int rig_make(layer_rig *rig, ddpc_layer_spec spec, ddpc_shape in, int batch) {
  return rig_make_at(rig, spec, in, batch, 3);
}

static void rig_free(layer_rig *rig) {
  rig->layer.ops->free(&rig->layer);
  free(rig->layer.params);
  free(rig->layer.grads);
  free(rig->x);
  free(rig->dx);
  free(rig->y);
  free(rig->w);
}

static const ddpc_forward_ctx train_ctx = {.training = true, .seed = 1234, .step = 7};

static double rig_objective(layer_rig *rig) {
  rig->layer.ops->forward(&rig->layer, rig->x, rig->y, rig->batch, &train_ctx);
  double sum = 0.0;
  for (size_t i = 0; i < rig->n_out; i++) sum += (double)rig->w[i] * rig->y[i];
  return sum;
}

/* Central difference of the objective with respect to v[i], restoring v[i]. */
static double central_difference(layer_rig *rig, float *v, size_t i) {
  float saved = v[i];
  v[i] = saved + (float)FD_EPS;
  double plus = rig_objective(rig);
  v[i] = saved - (float)FD_EPS;
  double minus = rig_objective(rig);
  v[i] = saved;
  return (plus - minus) / (2.0 * FD_EPS);
}

/* Compares analytic gradient g (a copy) with finite differences over v, one CHECK per array. */
static void compare_with_fd(const char *name, const char *what, layer_rig *rig, float *v, const float *g,
                            size_t n) {
  size_t bad = 0, worst = 0;
  double worst_excess = -1.0, g_max = 0.0;
  for (size_t i = 0; i < n; i++) {
    double fd = central_difference(rig, v, i);
    double err = fabs(fd - g[i]), tol = FD_ABS_TOL + FD_REL_TOL * fabs(fd);
    if (err > tol) bad++;
    if (err - tol > worst_excess) {
      worst_excess = err - tol;
      worst = i;
    }
    if (fabs(g[i]) > g_max) g_max = fabs(g[i]);
  }
  CHECK(bad == 0, "%s: %zu of %zu %s gradients differ from finite differences (worst index %zu: %g)",
        name, bad, n, what, worst, (double)g[worst]);
  CHECK(g_max > 0.05, "%s: %s gradient is trivially small (max %g)", name, what, g_max);
}

static void gradcheck_layer_at(const char *name, ddpc_layer_spec spec, ddpc_shape in, int batch,
                               input_kind kind, int index) {
  layer_rig rig;
  if (rig_make_at(&rig, spec, in, batch, index) != 0) {
    CHECK(0, "%s: setup failed: %s", name, ddpc_error_message());
    return;
  }
  // Random parameters (not the init): non-zero biases and gammas away from 1 exercise every term.
  for (size_t i = 0; i < rig.layer.n_params; i++) rig.layer.params[i] = uniform(-1.0f, 1.0f);
  fill_input(rig.x, rig.n_in, kind);
  for (size_t i = 0; i < rig.n_out; i++) rig.w[i] = uniform(-1.0f, 1.0f);

  rig_objective(&rig);
  // Poison the outputs so a backward that forgets to overwrite shows up.
  for (size_t i = 0; i < rig.n_in; i++) rig.dx[i] = 1e6f;
  for (size_t i = 0; i < rig.layer.n_params; i++) rig.layer.grads[i] = 1e6f;
  rig.layer.ops->backward(&rig.layer, rig.x, rig.y, rig.w, rig.dx, batch);
  float *g_params = malloc((rig.layer.n_params + 1) * sizeof(float));
  memcpy(g_params, rig.layer.grads, rig.layer.n_params * sizeof(float));

  compare_with_fd(name, "input", &rig, rig.x, rig.dx, rig.n_in);
  if (rig.layer.n_params > 0) compare_with_fd(name, "parameter", &rig, rig.layer.params, g_params, rig.layer.n_params);

  // dx == NULL must still produce the same parameter gradients (the first layer's case).
  if (rig.layer.n_params > 0) {
    rig_objective(&rig);
    rig.layer.ops->backward(&rig.layer, rig.x, rig.y, rig.w, NULL, batch);
    CHECK(memcmp(g_params, rig.layer.grads, rig.layer.n_params * sizeof(float)) == 0,
          "%s: parameter gradients change when dx is NULL", name);
  }
  free(g_params);
  rig_free(&rig);
}

static void gradcheck_layer(const char *name, ddpc_layer_spec spec, ddpc_shape in, int batch,
                            input_kind kind) {
  gradcheck_layer_at(name, spec, in, batch, kind, 3);
}

static ddpc_layer_spec conv_spec(int filters, int kernel, int stride, int padding) {
  ddpc_layer_spec s = ddpc_layer_spec_default(DDPC_LAYER_CONV2D);
  s.filters = filters;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  return s;
}

/* Direct convolution with weights (F, kh, kw, cin), zero padding, HWC layout. */
static void conv_reference(const float *x, const float *wgt, const float *bias, float *y, int batch,
                           ddpc_shape in, ddpc_shape out, int K, int S, int P) {
  for (int b = 0; b < batch; b++)
    for (int oh = 0; oh < out.h; oh++)
      for (int ow = 0; ow < out.w; ow++)
        for (int f = 0; f < out.c; f++) {
          double acc = bias ? bias[f] : 0.0;
          for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++)
              for (int c = 0; c < in.c; c++) {
                int ih = oh * S - P + kh, iw = ow * S - P + kw;
                if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
                acc += (double)x[((b * in.h + ih) * in.w + iw) * in.c + c] *
                       wgt[((f * K + kh) * K + kw) * in.c + c];
              }
          y[((b * out.h + oh) * out.w + ow) * out.c + f] = (float)acc;
        }
}

/* index 0 matters: conv2d at layer 0 has no d(col) scratch and borrows its im2col matrix
 * when asked for dx anyway, so a forward after such a backward must still see zero padding. */
static void check_conv_forward(int filters, int kernel, int stride, int padding, ddpc_shape in, int batch,
                               int index) {
  layer_rig rig;
  ddpc_layer_spec spec = conv_spec(filters, kernel, stride, padding);
  if (rig_make_at(&rig, spec, in, batch, index) != 0) {
    CHECK(0, "conv forward setup: %s", ddpc_error_message());
    return;
  }
  ddpc_shape out = rig.layer.out;
  CHECK(out.h == (in.h + 2 * padding - kernel) / stride + 1 && out.c == filters, "conv output shape %dx%dx%d",
        out.h, out.w, out.c);
  for (size_t i = 0; i < rig.layer.n_params; i++) rig.layer.params[i] = uniform(-1.0f, 1.0f);
  fill_input(rig.x, rig.n_in, INPUT_UNIFORM);
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, batch, &train_ctx);
  for (size_t i = 0; i < rig.n_out; i++) rig.w[i] = uniform(-1.0f, 1.0f);
  rig.layer.ops->backward(&rig.layer, rig.x, rig.y, rig.w, rig.dx, batch);
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, batch, &train_ctx);
  float *ref = calloc(rig.n_out, sizeof(float));
  size_t nw = (size_t)filters * kernel * kernel * in.c;
  conv_reference(rig.x, rig.layer.params, rig.layer.params + nw, ref, batch, in, out, kernel, stride, padding);
  double worst = 0.0;
  for (size_t i = 0; i < rig.n_out; i++) worst = fmax(worst, fabs(ref[i] - rig.y[i]));
  CHECK(worst < 1e-4, "conv k%d s%d p%d on %dx%dx%d: forward differs from direct loop by %g", kernel, stride,
        padding, in.h, in.w, in.c, worst);
  free(ref);
  rig_free(&rig);
}

static void check_maxpool_forward(int kernel, int stride, ddpc_shape in, int batch) {
  layer_rig rig;
  ddpc_layer_spec spec = ddpc_layer_spec_default(DDPC_LAYER_MAXPOOL2D);
  spec.kernel = kernel;
  spec.stride = stride;
  if (rig_make(&rig, spec, in, batch) != 0) {
    CHECK(0, "maxpool setup: %s", ddpc_error_message());
    return;
  }
  int S = stride ? stride : kernel;
  ddpc_shape out = rig.layer.out;
  CHECK(out.h == (in.h - kernel) / S + 1 && out.w == (in.w - kernel) / S + 1 && out.c == in.c,
        "maxpool output shape %dx%dx%d", out.h, out.w, out.c);
  fill_input(rig.x, rig.n_in, INPUT_DISTINCT);
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, batch, &train_ctx);
  size_t bad = 0;
  for (int b = 0; b < batch; b++)
    for (int oh = 0; oh < out.h; oh++)
      for (int ow = 0; ow < out.w; ow++)
        for (int c = 0; c < in.c; c++) {
          float m = -INFINITY;
          for (int kh = 0; kh < kernel; kh++)
            for (int kw = 0; kw < kernel; kw++)
              m = fmaxf(m, rig.x[((b * in.h + oh * S + kh) * in.w + ow * S + kw) * in.c + c]);
          if (rig.y[((b * out.h + oh) * out.w + ow) * out.c + c] != m) bad++;
        }
  CHECK(bad == 0, "maxpool k%d s%d: %zu outputs differ from the direct loop", kernel, S, bad);
  rig_free(&rig);
}

static void check_dropout_mask(void) {
  layer_rig rig;
  ddpc_layer_spec spec = ddpc_layer_spec_default(DDPC_LAYER_DROPOUT);
  spec.p = 0.25f;
  ddpc_shape in = {4, 5, 100};
  if (rig_make(&rig, spec, in, 10) != 0) {
    CHECK(0, "dropout setup: %s", ddpc_error_message());
    return;
  }
  fill_input(rig.x, rig.n_in, INPUT_AWAY_ZERO);
  ddpc_forward_ctx ctx = {.training = true, .seed = 99, .step = 5};
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, 10, &ctx);
  size_t dropped = 0, wrong = 0;
  for (size_t i = 0; i < rig.n_out; i++) {
    if (rig.y[i] == 0.0f) dropped++;
    else if (rig.y[i] != rig.x[i] * (1.0f / 0.75f)) wrong++;
  }
  double frac = (double)dropped / (double)rig.n_out;  // 20000 draws: std of frac ~ 0.003
  CHECK(fabs(frac - 0.25) < 0.02, "dropout p=0.25 dropped a fraction %g", frac);
  CHECK(wrong == 0, "dropout: %zu kept elements not scaled by 1/(1-p)", wrong);
  float *first = malloc(rig.n_out * sizeof(float));
  memcpy(first, rig.y, rig.n_out * sizeof(float));
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, 10, &ctx);
  CHECK(memcmp(first, rig.y, rig.n_out * sizeof(float)) == 0, "dropout: same (seed, step, layer) gave another mask");
  ctx.step = 6;
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, 10, &ctx);
  CHECK(memcmp(first, rig.y, rig.n_out * sizeof(float)) != 0, "dropout: another step gave the same mask");
  ctx.training = false;
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, 10, &ctx);
  CHECK(memcmp(rig.x, rig.y, rig.n_out * sizeof(float)) == 0, "dropout: not the identity at eval");
  free(first);
  rig_free(&rig);
}

/* Loss gradients: the objective is loss_sum / grad_scale itself. */
static void gradcheck_loss(ddpc_loss_kind kind) {
  enum { B = 3, N = 5 };
  float out[B * N], targets[B * N], dout[B * N];
  int32_t labels[B] = {2, 0, 4};
  for (int i = 0; i < B * N; i++) {
    out[i] = uniform(-2.0f, 2.0f);
    targets[i] = uniform(-1.0f, 1.0f);
  }
  const int32_t *lab = kind == DDPC_LOSS_CROSS_ENTROPY ? labels : NULL;
  const float *tgt = kind == DDPC_LOSS_MSE ? targets : NULL;
  double scale = B;
  ddpc_loss_compute(kind, out, lab, tgt, B, N, dout, scale);
  size_t bad = 0;
  double g_max = 0.0;
  for (int i = 0; i < B * N; i++) {
    float saved = out[i];
    out[i] = saved + (float)FD_EPS;
    double plus = ddpc_loss_compute(kind, out, lab, tgt, B, N, NULL, scale).loss_sum / scale;
    out[i] = saved - (float)FD_EPS;
    double minus = ddpc_loss_compute(kind, out, lab, tgt, B, N, NULL, scale).loss_sum / scale;
    out[i] = saved;
    double fd = (plus - minus) / (2.0 * FD_EPS);
    if (fabs(fd - dout[i]) > FD_ABS_TOL + FD_REL_TOL * fabs(fd)) bad++;
    g_max = fmax(g_max, fabs(dout[i]));
  }
  CHECK(bad == 0, "%s: %zu of %d output gradients differ from finite differences", ddpc_loss_name(kind), bad,
        B * N);
  CHECK(g_max > 0.05, "%s: gradient trivially small (%g)", ddpc_loss_name(kind), g_max);
}

int main(void) {
  test_rng = ddpc_rng_make(2024, 100, 0, 0);
  ddpc_shape vec6 = ddpc_shape_vector(6), img = {5, 5, 3}, img2 = {4, 6, 2};

  ddpc_layer_spec lin = ddpc_layer_spec_default(DDPC_LAYER_LINEAR);
  lin.units = 4;
  gradcheck_layer("linear", lin, vec6, 3, INPUT_UNIFORM);
  gradcheck_layer("linear on 4x6x2 input", lin, img2, 2, INPUT_UNIFORM);
  lin.bias = false;
  gradcheck_layer("linear without bias", lin, vec6, 3, INPUT_UNIFORM);

  for (int stride = 1; stride <= 2; stride++)
    for (int padding = 0; padding <= 1; padding++) {
      char name[64];
      snprintf(name, sizeof name, "conv2d k3 s%d p%d", stride, padding);
      gradcheck_layer(name, conv_spec(4, 3, stride, padding), img, 2, INPUT_UNIFORM);
      check_conv_forward(4, 3, stride, padding, img, 2, 0);
      check_conv_forward(4, 3, stride, padding, img, 2, 1);
    }
  gradcheck_layer("conv2d k2 s1 p0 1 channel", conv_spec(2, 2, 1, 0), (ddpc_shape){4, 3, 1}, 2, INPUT_UNIFORM);
  gradcheck_layer("conv2d 1x1", conv_spec(3, 1, 1, 0), img2, 2, INPUT_UNIFORM);
  ddpc_layer_spec conv_nb = conv_spec(3, 3, 2, 1);
  conv_nb.bias = false;
  gradcheck_layer("conv2d without bias", conv_nb, img2, 2, INPUT_UNIFORM);
  check_conv_forward(5, 3, 1, 1, (ddpc_shape){7, 6, 4}, 3, 0);
  check_conv_forward(3, 1, 1, 0, img2, 2, 0);
  check_conv_forward(2, 5, 3, 2, (ddpc_shape){8, 9, 2}, 2, 0);
  // Six channels and stride 2 keep the im2col path (fewer channels take the direct loops,
  // stride 1 Winograd), whose layer 0 borrows its im2col matrix for d(col).
  gradcheck_layer_at("conv2d k3 s2 p1 at layer 0 (im2col, borrowed d(col))", conv_spec(3, 3, 2, 1),
                     (ddpc_shape){5, 5, 6}, 2, INPUT_UNIFORM, 0);

  ddpc_layer_spec pool = ddpc_layer_spec_default(DDPC_LAYER_MAXPOOL2D);
  gradcheck_layer("maxpool2d k2", pool, (ddpc_shape){4, 6, 3}, 2, INPUT_DISTINCT);
  pool.kernel = 3;
  pool.stride = 2;
  gradcheck_layer("maxpool2d k3 s2 (overlapping)", pool, (ddpc_shape){5, 7, 2}, 2, INPUT_DISTINCT);
  check_maxpool_forward(2, 0, (ddpc_shape){6, 5, 3}, 2);
  check_maxpool_forward(3, 2, (ddpc_shape){7, 7, 2}, 2);

  gradcheck_layer("relu", ddpc_layer_spec_default(DDPC_LAYER_RELU), img, 2, INPUT_AWAY_ZERO);
  gradcheck_layer("gelu", ddpc_layer_spec_default(DDPC_LAYER_GELU), img, 2, INPUT_UNIFORM);
  gradcheck_layer("tanh", ddpc_layer_spec_default(DDPC_LAYER_TANH), img, 2, INPUT_UNIFORM);
  ddpc_layer_spec drop = ddpc_layer_spec_default(DDPC_LAYER_DROPOUT);
  drop.p = 0.3f;
  gradcheck_layer("dropout (training)", drop, img, 2, INPUT_UNIFORM);
  gradcheck_layer("flatten", ddpc_layer_spec_default(DDPC_LAYER_FLATTEN), img, 2, INPUT_UNIFORM);
  gradcheck_layer("layernorm", ddpc_layer_spec_default(DDPC_LAYER_LAYERNORM), (ddpc_shape){2, 3, 5}, 2,
                  INPUT_UNIFORM);

  check_dropout_mask();
  gradcheck_loss(DDPC_LOSS_CROSS_ENTROPY);
  gradcheck_loss(DDPC_LOSS_MSE);

  // GELU is the exact erf form: gelu(1) = 0.5 * (1 + erf(1/sqrt 2)) = 0.841344746, whereas the
  // tanh approximation gives 0.841191990.
  layer_rig rig;
  if (rig_make(&rig, ddpc_layer_spec_default(DDPC_LAYER_GELU), vec6, 1) == 0) {
    rig.x[0] = 1.0f;
    rig.layer.ops->forward(&rig.layer, rig.x, rig.y, 1, &train_ctx);
    CHECK_NEAR(rig.y[0], 0.841344746, 1e-6, "gelu(1)");
    rig_free(&rig);
  }
  return testing_finish();
}
