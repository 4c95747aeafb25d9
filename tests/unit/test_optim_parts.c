/* Tests for the optimizer and clipping over gradient parts (ddpc_optimizer_step_parts,
 * ddpc_clip_grad_norm_parts): summing the parts inside the update must give the same bits
 * as updating from the pre-summed gradient, for every rule, part count and block
 * boundary, because the shared-memory gradient exchange relies on it to keep replicas
 * equal to what the all-reduce path computes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "optim/optim.h"
#include "testing.h"

#define MAX_PARTS 3
#define STEPS 3

/* Deterministic values in [-1, 1) with varied exponents, so sums round. */
static float next_value(uint64_t *state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  double u = (double)(*state >> 40) / (double)(1ULL << 24);
  return (float)((2.0 * u - 1.0) * (1.0 + (double)((*state >> 20) & 7)));
}

static float *alloc_filled(size_t n, uint64_t *state) {
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; x && i < n; i++) x[i] = next_value(state);
  return x;
}

/* The gradient step_parts is documented to use: left-to-right sum, then the scale. */
static void sum_parts(float *out, float *const *parts, int n_parts, float scale, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float g = parts[0][i];
    for (int k = 1; k < n_parts; k++) g += parts[k][i];
    out[i] = g * scale;
  }
}

static bool same_buffer(const ddpc_buffer *a, const ddpc_buffer *b) {
  if ((a->data == NULL) != (b->data == NULL) || a->count != b->count) return false;
  return !a->data || memcmp(a->data, b->data, a->count * sizeof(float)) == 0;
}

typedef struct {
  const char *name;            // for messages
  ddpc_optimizer_config cfg;   // the rule under test
} parts_case;

static void run_parts_case(const parts_case *pc, size_t n, int n_parts, float scale) {
  uint64_t state = 0x1234u + n * 31u + (uint64_t)n_parts;
  ddpc_optimizer by_parts, by_sum;
  ddpc_buffer p_parts = {0}, p_sum = {0}, summed = {0};
  CHECK(ddpc_optimizer_init(&by_parts, &pc->cfg, n, DDPC_DEVICE_CPU) == 0, "%s: init", pc->name);
  CHECK(ddpc_optimizer_init(&by_sum, &pc->cfg, n, DDPC_DEVICE_CPU) == 0, "%s: init", pc->name);
  CHECK(ddpc_buffer_alloc(&p_parts, n, DDPC_DEVICE_CPU, "params") == 0, "alloc");
  CHECK(ddpc_buffer_alloc(&p_sum, n, DDPC_DEVICE_CPU, "params") == 0, "alloc");
  CHECK(ddpc_buffer_alloc(&summed, n, DDPC_DEVICE_CPU, "grads") == 0, "alloc");
  for (size_t i = 0; i < n; i++) p_parts.data[i] = p_sum.data[i] = next_value(&state);
  bool same = true;
  for (int step = 0; step < STEPS && same; step++) {
    float *parts[MAX_PARTS];
    for (int k = 0; k < n_parts; k++) parts[k] = alloc_filled(n, &state);
    sum_parts(summed.data, parts, n_parts, scale, n);
    const float lr = 0.01f * (float)(step + 1);
    ddpc_optimizer_step_parts(&by_parts, &p_parts, (const float *const *)parts, n_parts, scale, lr);
    ddpc_optimizer_step(&by_sum, &p_sum, &summed, lr);
    same = same_buffer(&p_parts, &p_sum) && same_buffer(&by_parts.m, &by_sum.m) &&
           same_buffer(&by_parts.v, &by_sum.v);
    for (int k = 0; k < n_parts; k++) free(parts[k]);
  }
  CHECK(same, "%s n=%zu parts=%d scale=%g: params/state differ bitwise from the pre-summed step", pc->name, n,
        n_parts, (double)scale);
  CHECK(by_parts.steps == STEPS, "%s: steps counted %llu", pc->name, (unsigned long long)by_parts.steps);
  ddpc_buffer_free(&p_parts);
  ddpc_buffer_free(&p_sum);
  ddpc_buffer_free(&summed);
  ddpc_optimizer_free(&by_parts);
  ddpc_optimizer_free(&by_sum);
}

static void test_step_parts_matches_summed(void) {
  const parts_case cases[] = {
      {"sgd", {.kind = DDPC_OPTIMIZER_SGD, .lr = 0.1f, .weight_decay = 0.01f}},
      {"sgd momentum", {.kind = DDPC_OPTIMIZER_SGD, .lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f}},
      {"sgd nesterov", {.kind = DDPC_OPTIMIZER_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = true}},
      {"adam", {.kind = DDPC_OPTIMIZER_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                .weight_decay = 0.01f}},
      {"adamw", {.kind = DDPC_OPTIMIZER_ADAMW, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                 .weight_decay = 0.05f}},
  };
  // Below one block, exactly one block, and several blocks with a ragged tail.
  const size_t sizes[] = {7, 512, 1537};
  const float scales[] = {1.0f, 0.37f};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
      for (int n_parts = 1; n_parts <= MAX_PARTS; n_parts++)
        for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++)
          run_parts_case(&cases[c], sizes[s], n_parts, scales[k]);
}

/* A value worked by hand: g = 0.5 * (1 + 2) = 1.5, p = 1 - 0.1 * 1.5. */
static void test_step_parts_value(void) {
  ddpc_optimizer_config cfg = {.kind = DDPC_OPTIMIZER_SGD, .lr = 0.1f};
  ddpc_optimizer opt;
  ddpc_buffer p = {0};
  CHECK(ddpc_optimizer_init(&opt, &cfg, 1, DDPC_DEVICE_CPU) == 0, "init");
  CHECK(ddpc_buffer_alloc(&p, 1, DDPC_DEVICE_CPU, "params") == 0, "alloc");
  p.data[0] = 1.0f;
  const float a = 1.0f, b = 2.0f;
  const float *const parts[2] = {&a, &b};
  ddpc_optimizer_step_parts(&opt, &p, parts, 2, 0.5f, 0.1f);
  CHECK(p.data[0] == 1.0f - 0.1f * 1.5f, "sgd from parts: %.9g, expected %.9g", (double)p.data[0],
        (double)(1.0f - 0.1f * 1.5f));
  ddpc_buffer_free(&p);
  ddpc_optimizer_free(&opt);
}

/* The norm of the summed parts and the scale are what clipping the summed buffer gives. */
static void check_clip_parts(size_t n, int n_parts, double max_norm) {
  uint64_t state = 0xabcdu + n + (uint64_t)n_parts;
  float *parts[MAX_PARTS];
  for (int k = 0; k < n_parts; k++) parts[k] = alloc_filled(n, &state);
  ddpc_buffer summed = {0};
  CHECK(ddpc_buffer_alloc(&summed, n, DDPC_DEVICE_CPU, "grads") == 0, "alloc");
  sum_parts(summed.data, parts, n_parts, 1.0f, n);
  float *from_parts = malloc(n * sizeof *from_parts);
  memcpy(from_parts, summed.data, n * sizeof *from_parts);
  float scale = -1.0f;
  double norm_parts = ddpc_clip_grad_norm_parts((const float *const *)parts, n_parts, n, max_norm, &scale);
  double norm = ddpc_clip_grad_norm(&summed, max_norm);
  CHECK(norm_parts == norm, "clip n=%zu parts=%d: norm %.17g vs %.17g on the summed buffer", n, n_parts,
        norm_parts, norm);
  const bool clips = max_norm > 0.0 && norm > max_norm;
  CHECK(clips ? scale < 1.0f : scale == 1.0f, "clip n=%zu parts=%d max %g: scale %.9g", n, n_parts, max_norm,
        (double)scale);
  for (size_t i = 0; i < n; i++) from_parts[i] *= scale;
  CHECK(memcmp(from_parts, summed.data, n * sizeof *from_parts) == 0,
        "clip n=%zu parts=%d max %g: scaled parts differ from the clipped sum", n, n_parts, max_norm);
  free(from_parts);
  ddpc_buffer_free(&summed);
  for (int k = 0; k < n_parts; k++) free(parts[k]);
}

static void test_clip_parts(void) {
  const size_t sizes[] = {5, 512, 1541};
  const double max_norms[] = {0.0, 1.0, 1e9};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (int n_parts = 1; n_parts <= MAX_PARTS; n_parts++)
      for (size_t m = 0; m < sizeof max_norms / sizeof max_norms[0]; m++)
        check_clip_parts(sizes[s], n_parts, max_norms[m]);

  // By hand: (3, 0) + (0, 4) has norm 5; clipping to 1 asks for 1 / (5 + 1e-6).
  const float a[2] = {3.0f, 0.0f}, b[2] = {0.0f, 4.0f};
  const float *const parts[2] = {a, b};
  float scale = 0.0f;
  double norm = ddpc_clip_grad_norm_parts(parts, 2, 2, 1.0, &scale);
  CHECK(norm == 5.0, "norm of (3,0)+(0,4) is %.17g", norm);
  CHECK(scale == (float)(1.0 / (5.0 + 1e-6)), "clip scale %.9g", (double)scale);
  norm = ddpc_clip_grad_norm_parts(parts, 2, 2, 5.5, &scale);
  CHECK(norm == 5.0 && scale == 1.0f, "no clipping below max_norm: norm %g scale %g", norm, (double)scale);

  // A non-finite sum leaves the scale at 1 and reports the norm.
  const float big[2] = {3e38f, 0.0f};
  const float *const overflow[2] = {big, big};
  norm = ddpc_clip_grad_norm_parts(overflow, 2, 2, 1.0, &scale);
  CHECK(isinf(norm) && scale == 1.0f, "overflowing sum: norm %g scale %g", norm, (double)scale);
}

/* Clipping by scale then stepping from parts equals clipping the buffer then stepping. */
static void test_clip_then_step(void) {
  const size_t n = 1030;
  uint64_t state = 99;
  ddpc_optimizer_config cfg = {.kind = DDPC_OPTIMIZER_ADAMW, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f,
                               .eps = 1e-8f, .weight_decay = 0.01f};
  ddpc_optimizer a, b;
  ddpc_buffer pa = {0}, pb = {0}, g = {0};
  CHECK(ddpc_optimizer_init(&a, &cfg, n, DDPC_DEVICE_CPU) == 0 && ddpc_optimizer_init(&b, &cfg, n, DDPC_DEVICE_CPU) == 0,
        "init");
  CHECK(ddpc_buffer_alloc(&pa, n, DDPC_DEVICE_CPU, "p") == 0 && ddpc_buffer_alloc(&pb, n, DDPC_DEVICE_CPU, "p") == 0 &&
            ddpc_buffer_alloc(&g, n, DDPC_DEVICE_CPU, "g") == 0,
        "alloc");
  for (size_t i = 0; i < n; i++) {
    pa.data[i] = pb.data[i] = next_value(&state);
    g.data[i] = 10.0f * next_value(&state);
  }
  const float *const parts[1] = {g.data};
  float scale;
  ddpc_clip_grad_norm_parts(parts, 1, n, 2.0, &scale);
  CHECK(scale < 1.0f, "the gradient gets clipped (scale %g)", (double)scale);
  ddpc_optimizer_step_parts(&a, &pa, parts, 1, scale, 1e-3f);
  ddpc_clip_grad_norm(&g, 2.0);
  ddpc_optimizer_step(&b, &pb, &g, 1e-3f);
  CHECK(same_buffer(&pa, &pb) && same_buffer(&a.m, &b.m) && same_buffer(&a.v, &b.v),
        "clip scale passed to step_parts equals clipping the buffer");
  ddpc_buffer_free(&pa);
  ddpc_buffer_free(&pb);
  ddpc_buffer_free(&g);
  ddpc_optimizer_free(&a);
  ddpc_optimizer_free(&b);
}

int main(void) {
  test_step_parts_matches_summed();
  test_step_parts_value();
  test_clip_parts();
  test_clip_then_step();
  return testing_finish();
}
