/* Every algorithm of the conv2d layer (Winograd F(2x2, 3x3) in core/conv_winograd.c, the
 * direct loops for few channels in core/conv_direct.c, im2col and the 1x1 GEMM in
 * core/layer_conv2d.c) against a direct convolution computed in double: forward, weight,
 * bias and input gradients, for shapes with whole and cut Winograd tiles, paddings 0 to 2,
 * strides 1 to 3, at layer 0 (no input gradient) and beyond; a sample of entries against
 * central finite differences; the same bits run after run and after a backward that
 * reused its scratch.
 *
 * Tolerance: each entry may differ from the double reference by 2e-6 times the sum of the
 * absolute values of its terms (plus 1e-6). Float rounding of the direct method is about
 * n * 6e-8 of that sum; Winograd's transforms add up to 4 inputs and scale the weights
 * by up to 9/4 before the products, which multiplies the rounding by about 10 (measured
 * worst here: see the printed ratios, well under 1). A wrong tile offset, transform
 * coefficient or missing term errs by a sizeable fraction of an entry's magnitude. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conv_direct.h"
#include "core/conv_winograd.h"
#include "core/error.h"
#include "core/layer.h"
#include "core/rng.h"
#include "testing.h"

#define REL_TOL 2e-6
#define ABS_TOL 1e-6

static ddpc_rng test_rng;

static float uniform(float lo, float hi) { return lo + (hi - lo) * ddpc_rng_next_float(&test_rng); }

static void fill(float *v, size_t n, float scale) {
  for (size_t i = 0; i < n; i++) v[i] = uniform(-scale, scale);
}

/* One conv2d layer outside a model, with its own parameters and buffers. */
typedef struct {
  ddpc_layer layer;
  int batch;
  size_t n_in, n_out, n_w;  // floats of x, of y, of the weights (bias follows them)
  float *x, *y, *dy, *dx;
} conv_rig;

/* A convolution's shape: kernel, stride, padding, and whether it has no bias. */
typedef struct {
  int kernel, stride, padding;
  bool no_bias;
} conv_geometry;

static int rig_make(conv_rig *rig, ddpc_shape in, int filters, conv_geometry g, int batch, int index) {
  memset(rig, 0, sizeof *rig);
  ddpc_layer_spec spec = ddpc_layer_spec_default(DDPC_LAYER_CONV2D);
  spec.filters = filters;
  spec.kernel = g.kernel;
  spec.stride = g.stride;
  spec.padding = g.padding;
  spec.bias = !g.no_bias;
  rig->layer.spec = spec;
  rig->layer.index = index;
  rig->layer.in = in;
  rig->layer.ops = ddpc_layer_ops_for(DDPC_LAYER_CONV2D);
  rig->batch = batch;
  if (rig->layer.ops->setup(&rig->layer, batch) != 0) return -1;
  rig->n_in = ddpc_shape_size(in) * (size_t)batch;
  rig->n_out = ddpc_shape_size(rig->layer.out) * (size_t)batch;
  rig->n_w = (size_t)filters * g.kernel * g.kernel * in.c;
  rig->layer.params = calloc(rig->layer.n_params, sizeof(float));
  rig->layer.grads = calloc(rig->layer.n_params, sizeof(float));
  rig->x = calloc(rig->n_in, sizeof(float));
  rig->dx = calloc(rig->n_in, sizeof(float));
  rig->y = calloc(rig->n_out, sizeof(float));
  rig->dy = calloc(rig->n_out, sizeof(float));
  fill(rig->layer.params, rig->layer.n_params, 1.0f);
  fill(rig->x, rig->n_in, 1.5f);
  fill(rig->dy, rig->n_out, 1.0f);
  return 0;
}

static void rig_free(conv_rig *rig) {
  rig->layer.ops->free(&rig->layer);
  free(rig->layer.params);
  free(rig->layer.grads);
  free(rig->x);
  free(rig->dx);
  free(rig->y);
  free(rig->dy);
}

static const ddpc_forward_ctx train_ctx = {.training = true, .seed = 1, .step = 1};

/* The reference: direct convolution in double, each value with the sum of the absolute
 * values of its terms (the scale its rounding is relative to). */
typedef struct {
  double *y, *y_abs, *dw, *dw_abs, *dx, *dx_abs, *db;
} conv_reference;

static void reference_compute(const conv_rig *rig, conv_reference *r) {
  ddpc_shape in = rig->layer.in, out = rig->layer.out;
  int K = rig->layer.spec.kernel, S = rig->layer.spec.stride, P = rig->layer.spec.padding, F = out.c, C = in.c;
  const float *w = rig->layer.params, *bias = rig->layer.spec.bias ? w + rig->n_w : NULL;
  r->y = calloc(rig->n_out, sizeof(double));
  r->y_abs = calloc(rig->n_out, sizeof(double));
  r->dw = calloc(rig->n_w, sizeof(double));
  r->dw_abs = calloc(rig->n_w, sizeof(double));
  r->dx = calloc(rig->n_in, sizeof(double));
  r->dx_abs = calloc(rig->n_in, sizeof(double));
  r->db = calloc((size_t)F, sizeof(double));
  for (int b = 0; b < rig->batch; b++)
    for (int oh = 0; oh < out.h; oh++)
      for (int ow = 0; ow < out.w; ow++)
        for (int f = 0; f < F; f++) {
          size_t yi = (((size_t)b * out.h + oh) * out.w + ow) * F + f;
          double g = rig->dy[yi];
          r->y[yi] = bias ? bias[f] : 0.0;
          r->y_abs[yi] = bias ? fabs(bias[f]) : 0.0;
          r->db[f] += g;
          for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
              int ih = oh * S - P + kh, iw = ow * S - P + kw;
              if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
              for (int c = 0; c < C; c++) {
                size_t xi = (((size_t)b * in.h + ih) * in.w + iw) * C + c, wi = (((size_t)f * K + kh) * K + kw) * C + c;
                r->y[yi] += (double)rig->x[xi] * w[wi];
                r->y_abs[yi] += fabs((double)rig->x[xi] * w[wi]);
                r->dw[wi] += g * rig->x[xi];
                r->dw_abs[wi] += fabs(g * rig->x[xi]);
                r->dx[xi] += g * w[wi];
                r->dx_abs[xi] += fabs(g * w[wi]);
              }
            }
        }
}

static void reference_free(conv_reference *r) {
  free(r->y);
  free(r->y_abs);
  free(r->dw);
  free(r->dw_abs);
  free(r->dx);
  free(r->dx_abs);
  free(r->db);
}

/* One CHECK per array: every entry within REL_TOL of its scale; prints the worst ratio. */
static void compare(const char *name, const char *what, const float *got, const double *ref, const double *scale,
                    size_t n) {
  size_t bad = 0;
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    double tol = ABS_TOL + REL_TOL * scale[i], err = fabs(got[i] - ref[i]);
    if (!(err <= tol)) bad++;
    if (err / tol > worst) worst = err / tol;
  }
  printf("%s: %s worst error / tolerance %.3f\n", name, what, worst);
  CHECK(bad == 0, "%s: %zu of %zu %s entries differ from the direct convolution", name, bad, n, what);
}

/* with_dx: ask for the input gradient (the model never does at layer 0, where im2col then
 * borrows its matrix for d(col) and must restore its zero padding for the next forward). */
static void check_shape_with(const char *name, ddpc_shape in, int filters, conv_geometry g, int batch, int index,
                             bool with_dx) {
  conv_rig rig;
  if (rig_make(&rig, in, filters, g, batch, index) != 0) {
    CHECK(0, "%s: setup failed: %s", name, ddpc_error_message());
    return;
  }
  conv_reference r;
  reference_compute(&rig, &r);
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, batch, &train_ctx);
  compare(name, "output", rig.y, r.y, r.y_abs, rig.n_out);
  // Poison what backward must overwrite.
  for (size_t i = 0; i < rig.n_in; i++) rig.dx[i] = 1e6f;
  for (size_t i = 0; i < rig.layer.n_params; i++) rig.layer.grads[i] = 1e6f;
  float *dx = with_dx ? rig.dx : NULL;
  rig.layer.ops->backward(&rig.layer, rig.x, rig.y, rig.dy, dx, batch);
  compare(name, "weight gradient", rig.layer.grads, r.dw, r.dw_abs, rig.n_w);
  double *db_abs = calloc((size_t)filters, sizeof(double));
  for (size_t i = 0; i < rig.n_out; i++) db_abs[i % (size_t)filters] += fabs(rig.dy[i]);
  if (rig.layer.spec.bias) compare(name, "bias gradient", rig.layer.grads + rig.n_w, r.db, db_abs, (size_t)filters);
  free(db_abs);
  if (dx) compare(name, "input gradient", rig.dx, r.dx, r.dx_abs, rig.n_in);

  // The same bits again, after the backward above overwrote the scratch.
  float *y1 = malloc(rig.n_out * sizeof(float)), *g1 = malloc(rig.layer.n_params * sizeof(float));
  float *dx1 = malloc(rig.n_in * sizeof(float));
  memcpy(y1, rig.y, rig.n_out * sizeof(float));
  memcpy(g1, rig.layer.grads, rig.layer.n_params * sizeof(float));
  memcpy(dx1, rig.dx, rig.n_in * sizeof(float));
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, batch, &train_ctx);
  CHECK(memcmp(y1, rig.y, rig.n_out * sizeof(float)) == 0, "%s: second forward differs in its bits", name);
  rig.layer.ops->backward(&rig.layer, rig.x, rig.y, rig.dy, dx, batch);
  CHECK(memcmp(g1, rig.layer.grads, rig.layer.n_params * sizeof(float)) == 0,
        "%s: second backward's parameter gradients differ in their bits", name);
  CHECK(memcmp(dx1, rig.dx, rig.n_in * sizeof(float)) == 0, "%s: second input gradient differs in its bits", name);
  // Without dx (the first layer's case) the parameter gradients keep their bits.
  rig.layer.ops->forward(&rig.layer, rig.x, rig.y, batch, &train_ctx);
  rig.layer.ops->backward(&rig.layer, rig.x, rig.y, rig.dy, NULL, batch);
  CHECK(memcmp(g1, rig.layer.grads, rig.layer.n_params * sizeof(float)) == 0,
        "%s: parameter gradients change when dx is NULL", name);
  free(y1);
  free(g1);
  free(dx1);
  reference_free(&r);
  rig_free(&rig);
}

static void check_shape(const char *name, ddpc_shape in, int filters, conv_geometry g, int batch, int index) {
  check_shape_with(name, in, filters, g, batch, index, index > 0);
}

/* sum_i dy_i * y_i: its gradient is what backward computes with dy as the output gradient. */
static double objective(conv_rig *rig) {
  rig->layer.ops->forward(&rig->layer, rig->x, rig->y, rig->batch, &train_ctx);
  double s = 0.0;
  for (size_t i = 0; i < rig->n_out; i++) s += (double)rig->dy[i] * rig->y[i];
  return s;
}

/* Central differences (eps 1e-2; the layer is linear in x and in the parameters, so
 * only rounding remains: 1e-3 + 1e-2 |g| as in test_layers_gradcheck.c) at 40 random
 * entries of x and of the parameters. */
static void check_finite_differences(const char *name, ddpc_shape in, int filters, conv_geometry geo, int batch) {
  conv_rig rig;
  if (rig_make(&rig, in, filters, geo, batch, 1) != 0) {
    CHECK(0, "finite differences: setup failed: %s", ddpc_error_message());
    return;
  }
  objective(&rig);
  rig.layer.ops->backward(&rig.layer, rig.x, rig.y, rig.dy, rig.dx, batch);
  float *g = malloc(rig.layer.n_params * sizeof(float));
  memcpy(g, rig.layer.grads, rig.layer.n_params * sizeof(float));
  size_t bad = 0;
  for (int k = 0; k < 80; k++) {
    bool on_x = k < 40;
    float *v = on_x ? rig.x : rig.layer.params;
    size_t n = on_x ? rig.n_in : rig.layer.n_params;
    size_t i = k == 79 ? n - 1 : (size_t)(ddpc_rng_next_float(&test_rng) * (float)n) % n;  // 79: a bias
    float saved = v[i];
    v[i] = saved + 1e-2f;
    double plus = objective(&rig);
    v[i] = saved - 1e-2f;
    double minus = objective(&rig);
    v[i] = saved;
    double fd = (plus - minus) / 2e-2, an = on_x ? rig.dx[i] : g[i];
    if (fabs(fd - an) > 1e-3 + 1e-2 * fabs(fd)) bad++;
  }
  CHECK(bad == 0, "%s: %zu of 80 gradient entries differ from finite differences", name, bad);
  free(g);
  rig_free(&rig);
}

int main(void) {
  test_rng = ddpc_rng_make(2026, 17, 0, 0);
  conv_geometry k3p0 = {3, 1, 0, false}, k3p1 = {3, 1, 1, false}, k3p2 = {3, 1, 2, false};
  conv_geometry k3s2 = {3, 2, 1, false}, k5s3 = {5, 3, 2, false};
  // Which algorithm each shape below exercises (layer_conv2d.c picks in this order).
  CHECK(ddpc_conv_winograd_applies(3, 1, 5) && !ddpc_conv_winograd_applies(3, 1, 4), "Winograd from 5 channels");
  CHECK(!ddpc_conv_winograd_applies(3, 2, 32), "stride 2 must not run with Winograd");
  CHECK(!ddpc_conv_winograd_applies(5, 1, 32), "a 5x5 kernel must not run with Winograd");
  CHECK(ddpc_conv_direct_applies(1) && ddpc_conv_direct_applies(4) && !ddpc_conv_direct_applies(5),
        "direct loops up to 4 channels");

  // Winograd
  check_shape("winograd 8x8x8 -> 6, padding 1", (ddpc_shape){8, 8, 8}, 6, k3p1, 3, 1);
  check_shape("winograd 5x6x5 -> 9, padding 1 (5 channels)", (ddpc_shape){5, 6, 5}, 9, k3p1, 3, 1);
  check_shape("winograd 7x9x9 -> 5, padding 1 (cut tiles)", (ddpc_shape){7, 9, 9}, 5, k3p1, 2, 1);
  check_shape("winograd 6x7x8 -> 4, padding 0", (ddpc_shape){6, 7, 8}, 4, k3p0, 2, 2);
  check_shape("winograd 5x5x16 -> 3, padding 2", (ddpc_shape){5, 5, 16}, 3, k3p2, 2, 1);
  check_shape("winograd 6x6x8 -> 5 without bias", (ddpc_shape){6, 6, 8}, 5, (conv_geometry){3, 1, 1, true}, 2, 1);
  check_shape("direct 6x6x2 -> 5 without bias", (ddpc_shape){6, 6, 2}, 5, (conv_geometry){3, 1, 1, true}, 2, 1);
  check_shape("winograd 3x3x8 -> 7, padding 0 (one output)", (ddpc_shape){3, 3, 8}, 7, k3p0, 2, 1);
  check_shape("winograd 14x14x32 -> 64 at layer 0", (ddpc_shape){14, 14, 32}, 64, k3p1, 2, 0);
  check_shape("winograd 14x14x32 -> 64 (the example's conv2)", (ddpc_shape){14, 14, 32}, 64, k3p1, 4, 3);
  check_finite_differences("winograd 6x5x8 -> 3", (ddpc_shape){6, 5, 8}, 3, k3p1, 2);
  // Direct loops: filters not a multiple of 16, strides, a 5x5 kernel, odd widths
  check_shape("direct 28x28x1 -> 32 at layer 0 (the example's conv1)", (ddpc_shape){28, 28, 1}, 32, k3p1, 3, 0);
  check_shape("direct 9x11x3 -> 20, padding 1", (ddpc_shape){9, 11, 3}, 20, k3p1, 2, 1);
  check_shape("direct 9x10x2 -> 5, stride 2", (ddpc_shape){9, 10, 2}, 5, k3s2, 2, 1);
  check_shape("direct 11x12x4 -> 17, 5x5 stride 3 padding 2", (ddpc_shape){11, 12, 4}, 17, k5s3, 2, 2);
  check_finite_differences("direct 7x6x3 -> 18", (ddpc_shape){7, 6, 3}, 18, k3s2, 2);
  // im2col and the 1x1 GEMM
  check_shape("im2col 7x6x6 -> 5, 5x5 padding 2", (ddpc_shape){7, 6, 6}, 5, (conv_geometry){5, 1, 2, false}, 2, 1);
  check_shape("im2col 9x9x8 -> 4, stride 2", (ddpc_shape){9, 9, 8}, 4, k3s2, 2, 1);
  check_shape("im2col 9x9x8 -> 4, stride 2 at layer 0", (ddpc_shape){9, 9, 8}, 4, k3s2, 2, 0);
  check_shape_with("im2col 9x9x8 -> 4 at layer 0 asked for dx (borrowed im2col matrix)", (ddpc_shape){9, 9, 8}, 4,
                   k3s2, 2, 0, true);
  check_shape_with("winograd 6x6x8 -> 4 at layer 0 asked for dx", (ddpc_shape){6, 6, 8}, 4, k3p1, 2, 0, true);
  check_shape_with("direct 6x6x2 -> 4 at layer 0 asked for dx", (ddpc_shape){6, 6, 2}, 4, k3p1, 2, 0, true);
  check_shape("1x1 5x4x6 -> 7", (ddpc_shape){5, 4, 6}, 7, (conv_geometry){1, 1, 0, false}, 2, 1);
  check_finite_differences("im2col 6x6x5 -> 4", (ddpc_shape){6, 6, 5}, 4, k5s3, 2);
  return testing_finish();
}
