/* ddpc's matrix products (core/gemm.c) against a plain double-precision triple loop on
 * shapes that are not multiples of the kernel's tile (rows, panel width, k):
 * - the predictor's product with packed weights, with and without bias and ReLU: nothing
 *   written past y, and a row's result independent of its place in the batch (ddpc
 *   predict with N ranks writes the 1-rank file);
 * - the gradients' product c = a b with a row-major or read transposed, b and c with row
 *   strides wider than their rows: nothing written outside c's rows, and both readings of
 *   a giving the same bits;
 * - the packed chain of a predictor (predict/predict_plan.c) against the model's own
 *   layer-by-layer forward pass, for an MLP, a CNN and other layers between linear ones.
 * The linear layers' gradients as a whole are checked against finite differences in
 * test_layers_gradcheck. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"
#include "core/layer.h"
#include "core/model.h"
#include "predict/predict_plan.h"
#include "testing.h"

#define CANARY 12345.0f  // written past y, must survive

static float draw(uint64_t *s) {  // xorshift, uniform in [-1, 1)
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return (float)((*s >> 40) / 8388608.0 - 1.0);
}

static void check_shape(int m, int n, int k, bool bias, bool relu) {
  uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)(m * 7919 + n * 104729 + k);
  float *x = malloc(sizeof(float) * (size_t)m * k), *w = malloc(sizeof(float) * (size_t)n * k);
  float *b = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * ((size_t)m * n + 64));
  float *y1 = malloc(sizeof(float) * (size_t)n), *yf = malloc(sizeof(float) * ((size_t)m * n + 64));
  for (size_t i = 0; i < (size_t)m * k; i++) x[i] = draw(&s);
  for (size_t i = 0; i < (size_t)n * k; i++) w[i] = draw(&s);
  for (int j = 0; j < n; j++) b[j] = draw(&s);
  for (int i = 0; i < 64; i++) y[(size_t)m * n + i] = yf[(size_t)m * n + i] = CANARY;
  ddpc_gemm_packed pw;
  CHECK(ddpc_gemm_pack(w, bias ? b : NULL, n, k, &pw) == 0, "pack %d x %d", n, k);
  ddpc_gemm_packed_run(&pw, x, m, y, relu);
  double worst = 0;
  int beyond = 0, moved = 0;
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      double ref = bias ? b[j] : 0.0, mag = fabs(ref);
      for (int p = 0; p < k; p++) {
        ref += (double)x[(size_t)i * k + p] * w[(size_t)j * k + p];
        mag += fabs((double)x[(size_t)i * k + p] * w[(size_t)j * k + p]);
      }
      if (relu && ref < 0) ref = 0;
      // float accumulation of k terms: within k * 2^-24 of the magnitudes summed
      double err = fabs(y[(size_t)i * n + j] - ref) / (mag * (k + 1) * 6e-8 + 1e-30);
      worst = err > worst ? err : worst;
    }
    // The same row alone (the first tile row, a short tile) gives the same bits.
    ddpc_gemm_packed_run(&pw, x + (size_t)i * k, 1, y1, relu);
    moved += memcmp(y1, y + (size_t)i * n, sizeof(float) * (size_t)n) != 0;
  }
  // Training's forward pass (y^T = w x^T, x^T packed) adds the same products in the same
  // order: the same bits, after the ReLU the packed product applies itself.
  CHECK(ddpc_gemm_xwt(m, n, k, x, w, bias ? b : NULL, yf) == 0, "xwt m %d n %d k %d", m, n, k);
  int differ = 0;
  for (size_t i = 0; i < (size_t)m * n; i++) {
    float v = relu && !(yf[i] > 0.0f) ? 0.0f : yf[i];
    differ += memcmp(&v, &y[i], sizeof v) != 0;
  }
  CHECK(differ == 0, "m %d n %d k %d bias %d relu %d: %d outputs of the forward pass differ from the packed product",
        m, n, k, bias, relu, differ);
  for (int i = 0; i < 64; i++) beyond += y[(size_t)m * n + i] != CANARY || yf[(size_t)m * n + i] != CANARY;
  CHECK(worst <= 1.0, "m %d n %d k %d bias %d relu %d: error %.2f x the float bound", m, n, k, bias, relu, worst);
  CHECK(beyond == 0, "m %d n %d k %d: %d floats written past y", m, n, k, beyond);
  CHECK(moved == 0, "m %d n %d k %d: %d rows differ when predicted alone", m, n, k, moved);
  ddpc_gemm_packed_free(&pw);
  free(x), free(w), free(b), free(y), free(y1), free(yf);
}

/* c = a b for a (m x k) stored row-major and stored as its transpose, b (k x n) with row
 * stride n + 3, c with row stride n + 5: within the float bound of the double loop,
 * canaries in c's gaps and past its end intact, the two readings of a bit for bit equal. */
static void check_product(int m, int n, int k) {
  uint64_t s = 0x2545f4914f6cdd1dull ^ (uint64_t)(m * 7919 + n * 104729 + k);
  size_t ldb = (size_t)n + 3, ldc = (size_t)n + 5, c_size = (size_t)m * ldc + 64;
  float *a = malloc(sizeof(float) * (size_t)m * k), *at = malloc(sizeof(float) * (size_t)m * k);
  float *b = malloc(sizeof(float) * (size_t)k * ldb);
  float *c = malloc(sizeof(float) * c_size), *ct = malloc(sizeof(float) * c_size);
  for (int i = 0; i < m; i++)
    for (int p = 0; p < k; p++) a[(size_t)i * k + p] = at[(size_t)p * m + i] = draw(&s);
  for (size_t i = 0; i < (size_t)k * ldb; i++) b[i] = draw(&s);
  for (size_t i = 0; i < c_size; i++) c[i] = ct[i] = CANARY;
  ddpc_gemm_ab(m, n, k, (ddpc_gemm_operand){.data = a, .ld = (size_t)k, .transposed = false}, b, ldb, c, ldc);
  ddpc_gemm_ab(m, n, k, (ddpc_gemm_operand){.data = at, .ld = (size_t)m, .transposed = true}, b, ldb, ct, ldc);
  double worst = 0;
  int outside = 0;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double ref = 0.0, mag = 0.0;
      for (int p = 0; p < k; p++) {
        double term = (double)a[(size_t)i * k + p] * b[(size_t)p * ldb + j];
        ref += term, mag += fabs(term);
      }
      double err = fabs(c[(size_t)i * ldc + j] - ref) / (mag * (k + 1) * 6e-8 + 1e-30);
      worst = err > worst ? err : worst;
    }
  for (size_t i = 0; i < c_size; i++) {
    bool inside = i < (size_t)m * ldc && i % ldc < (size_t)n;
    if (!inside) outside += c[i] != CANARY || ct[i] != CANARY;
  }
  CHECK(worst <= 1.0, "product m %d n %d k %d: error %.2f x the float bound", m, n, k, worst);
  CHECK(outside == 0, "product m %d n %d k %d: %d floats written outside c", m, n, k, outside);
  CHECK(memcmp(c, ct, sizeof(float) * c_size) == 0, "product m %d n %d k %d: a read transposed gives other bits",
        m, n, k);
  free(a), free(at), free(b), free(c), free(ct);
}

static ddpc_layer_spec spec_of(ddpc_layer_kind kind, int units) {
  ddpc_layer_spec s = ddpc_layer_spec_default(kind);
  s.units = units;
  if (kind == DDPC_LAYER_CONV2D) s.filters = 4, s.kernel = 3, s.padding = 1;
  return s;
}

/* The plan of model (specs, input) against ddpc_model_forward on B rows: `steps` steps
 * (0: no plan expected). */
static void check_plan_of(const char *what, ddpc_layer_spec *specs, int n_specs, ddpc_shape input, int steps) {
  ddpc_model *m = NULL;
  int B = 29;
  CHECK(ddpc_model_create(specs, n_specs, input, B, DDPC_DEVICE_CPU, &m) == 0, "%s: model", what);
  if (!m) return;
  ddpc_model_init_params(m, 7);
  ddpc_predict_plan *plan = NULL;
  int rc = ddpc_predict_plan_make(m, B, &plan);
  const char *mode = getenv("DDPC_PREDICT_GEMM");
  if (!ddpc_gemm_available() || (mode && strcmp(mode, "blas") == 0)) steps = 0;
  if (steps == 0) {
    CHECK(rc == 1 && !plan, "%s: no plan expected, rc %d", what, rc);
  } else {
    CHECK(rc == 0 && plan && plan->n_steps == steps, "%s: rc %d, %d steps, want %d", what, rc,
          plan ? plan->n_steps : -1, steps);
    size_t F = ddpc_shape_size(input), K = ddpc_shape_size(ddpc_model_output_shape(m));
    uint64_t s = 42;
    float *x = malloc(sizeof(float) * (size_t)B * F);
    for (size_t i = 0; i < (size_t)B * F; i++) x[i] = draw(&s) * 3.0f;
    ddpc_forward_ctx ctx = {.training = false};
    const float *want = ddpc_model_forward(m, x, B, &ctx);
    const float *got = plan ? ddpc_predict_plan_forward(plan, x, B) : want;
    double worst = 0;
    for (size_t i = 0; i < (size_t)B * K; i++) worst = fmax(worst, fabs(got[i] - want[i]) / (1.0 + fabs(want[i])));
    CHECK(worst < 1e-5, "%s: plan against the model's forward: %.3g", what, worst);
    // The model's linear layers run the same kernel with the same order of sums.
    CHECK(memcmp(got, want, sizeof(float) * (size_t)B * K) == 0, "%s: plan and model's forward differ in bits", what);
    free(x);
  }
  ddpc_predict_plan_free(plan);
  ddpc_model_free(m);
}

static void check_plans(void) {
  ddpc_layer_spec mlp[] = {spec_of(DDPC_LAYER_LINEAR, 45), spec_of(DDPC_LAYER_RELU, 0),
                           spec_of(DDPC_LAYER_DROPOUT, 0), spec_of(DDPC_LAYER_LINEAR, 19),
                           spec_of(DDPC_LAYER_RELU, 0),    spec_of(DDPC_LAYER_LINEAR, 3)};
  mlp[2].p = 0.5f;
  mlp[3].bias = false;
  check_plan_of("MLP with dropout", mlp, 6, ddpc_shape_vector(37), 3);
  // Convolution, pooling and the ReLU after them run by their own forward.
  ddpc_layer_spec cnn[] = {spec_of(DDPC_LAYER_CONV2D, 0),    spec_of(DDPC_LAYER_RELU, 0),
                           spec_of(DDPC_LAYER_MAXPOOL2D, 0), spec_of(DDPC_LAYER_FLATTEN, 0),
                           spec_of(DDPC_LAYER_LINEAR, 17),   spec_of(DDPC_LAYER_RELU, 0),
                           spec_of(DDPC_LAYER_LINEAR, 5)};
  cnn[2].kernel = 2, cnn[2].stride = 2;
  check_plan_of("CNN", cnn, 7, (ddpc_shape){.h = 6, .w = 6, .c = 2}, 5);
  ddpc_layer_spec first[] = {spec_of(DDPC_LAYER_RELU, 0), spec_of(DDPC_LAYER_LINEAR, 5),
                             spec_of(DDPC_LAYER_TANH, 0), spec_of(DDPC_LAYER_LINEAR, 4)};
  check_plan_of("ReLU on the raw input, tanh", first, 4, ddpc_shape_vector(8), 4);
  ddpc_layer_spec none[] = {spec_of(DDPC_LAYER_CONV2D, 0), spec_of(DDPC_LAYER_RELU, 0)};
  check_plan_of("no linear layer", none, 2, (ddpc_shape){.h = 5, .w = 5, .c = 1}, 0);
}

int main(void) {
  int nr = ddpc_gemm_panel_width();
  const int shapes[][3] = {{1, 1, 1},  {13, 33, 17}, {12, nr, 784}, {25, 10, 128}, {7, nr + 1, 3},
                           {37, 100, 259}, {1, 2 * nr - 1, 5}, {29, 256, 31}, {5, 3, 1000},
                           {64, 256, 784}, {70, 13, 48}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int v = 0; v < 4; v++) check_shape(shapes[i][0], shapes[i][1], shapes[i][2], v & 1, v & 2);
  // The gradients' shapes: dW = dy^T x (outputs x inputs, k = batch) and dx = dy w.
  const int products[][3] = {{1, 1, 1},       {13, 33, 17}, {256, 784, 64}, {64, 256, 128}, {10, 128, 64},
                             {7, nr + 1, 3},  {12, nr, 1},  {25, 2 * nr - 1, 29}, {3, 5, 1000}};
  for (size_t i = 0; i < sizeof products / sizeof products[0]; i++)
    check_product(products[i][0], products[i][1], products[i][2]);
  check_plans();
  return testing_finish();
}
