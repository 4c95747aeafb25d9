/* Model assembly: shapes and parameter counts of the reference MLP and CNN, error messages
 * for bad specs, model-level gradients against finite differences, dropout at eval and
 * across ranks, seeded initialisation, the on_ready callbacks that drive gradient all-reduce, and the
 * memory a model claims, refused before allocating when it outgrows the process's limit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/error.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/rng.h"
#include "testing.h"

static ddpc_layer_spec spec_linear(int units) {
  ddpc_layer_spec s = ddpc_layer_spec_default(DDPC_LAYER_LINEAR);
  s.units = units;
  return s;
}

static ddpc_layer_spec spec_conv(int filters, int kernel, int padding) {
  ddpc_layer_spec s = ddpc_layer_spec_default(DDPC_LAYER_CONV2D);
  s.filters = filters;
  s.kernel = kernel;
  s.padding = padding;
  return s;
}

static ddpc_layer_spec spec_of(ddpc_layer_kind kind) { return ddpc_layer_spec_default(kind); }

static ddpc_shape shape3(int h, int w, int c) {
  ddpc_shape s = {h, w, c};
  return s;
}

typedef struct {
  int n;              // calls seen
  int index[16];      // layer_index per call
  size_t offset[16];  // offset per call
  size_t count[16];   // count per call
} ready_log;

static void record_ready(void *user, int layer_index, size_t offset, size_t count) {
  ready_log *log = user;
  if (log->n < 16) {
    log->index[log->n] = layer_index;
    log->offset[log->n] = offset;
    log->count[log->n] = count;
  }
  log->n++;
}

static void test_mlp(void) {
  ddpc_layer_spec specs[5] = {spec_linear(256), spec_of(DDPC_LAYER_RELU), spec_linear(128),
                              spec_of(DDPC_LAYER_RELU), spec_linear(10)};
  ddpc_model *m = NULL;
  int rc = ddpc_model_create(specs, 5, ddpc_shape_vector(784), 64, DDPC_DEVICE_CPU, &m);
  CHECK(rc == 0, "MLP create: %s", ddpc_error_message());
  if (rc != 0) return;
  CHECK(ddpc_model_param_count(m) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10, "MLP params %zu",
        ddpc_model_param_count(m));
  CHECK(ddpc_model_param_count(m) == 235146, "MLP params %zu != 235146", ddpc_model_param_count(m));
  CHECK(ddpc_model_params(m)->count == 235146 && ddpc_model_grads(m)->count == 235146, "buffer sizes");
  ddpc_shape o = ddpc_model_output_shape(m);
  CHECK(o.h == 1 && o.w == 1 && o.c == 10, "MLP output %dx%dx%d", o.h, o.w, o.c);
  CHECK(ddpc_model_layer(m, 2)->param_offset == 200960 && ddpc_model_layer(m, 4)->param_offset == 233856,
        "MLP offsets %zu %zu", ddpc_model_layer(m, 2)->param_offset, ddpc_model_layer(m, 4)->param_offset);
  CHECK(ddpc_model_layer(m, 5) == NULL && ddpc_model_layer_count(m) == 5, "layer accessors");

  // He init: std sqrt(2/784) = 0.050508 for layer 0's weights, biases exactly 0.
  ddpc_model_init_params(m, 7);
  const float *p = ddpc_model_params(m)->data;
  double sq = 0.0;
  for (int i = 0; i < 784 * 256; i++) sq += (double)p[i] * p[i];
  CHECK_NEAR(sqrt(sq / (784 * 256)), sqrt(2.0 / 784.0), 0.001, "He init std of layer 0");
  int nonzero_bias = 0;
  for (int i = 784 * 256; i < 784 * 256 + 256; i++) nonzero_bias += p[i] != 0.0f;
  CHECK(nonzero_bias == 0, "%d biases not zero after init", nonzero_bias);

  // A forward/backward at max_batch reports every layer once, last first, with its range.
  float *x = calloc(64 * 784, sizeof(float)), *dout = calloc(64 * 10, sizeof(float));
  ddpc_rng rng = ddpc_rng_make(1, 200, 0, 0);
  for (int i = 0; i < 64 * 784; i++) x[i] = ddpc_rng_next_float(&rng);
  for (int i = 0; i < 64 * 10; i++) dout[i] = ddpc_rng_next_float(&rng) - 0.5f;
  ddpc_forward_ctx ctx = {.training = true, .seed = 1, .step = 0};
  CHECK(ddpc_model_forward(m, x, 64, &ctx) != NULL, "MLP forward");
  ready_log log = {0};
  ddpc_model_backward(m, dout, 64, record_ready, &log);
  CHECK(log.n == 5, "on_ready called %d times, expected 5", log.n);
  for (int k = 0; k < 5 && k < log.n; k++) {
    const ddpc_layer *l = ddpc_model_layer(m, 4 - k);
    CHECK(log.index[k] == 4 - k && log.offset[k] == l->param_offset && log.count[k] == l->n_params,
          "on_ready call %d: layer %d offset %zu count %zu", k, log.index[k], log.offset[k], log.count[k]);
  }
  CHECK(log.offset[0] + log.count[0] == 235146 && log.offset[4] == 0, "on_ready ranges cover the buffer");
  CHECK(ddpc_model_forward(m, x, 65, &ctx) == NULL, "forward with batch 65 > max_batch must fail");
  CHECK(strcmp(ddpc_error_message(), "model: batch 65 is outside 1..64 (max_batch)") == 0, "message: %s",
        ddpc_error_message());

  char text[1024];
  ddpc_model_describe(m, text, sizeof text);
  CHECK(strstr(text, "total params 235146") && strstr(text, "linear") && strstr(text, "1x1x128"),
        "describe:\n%s", text);
  char tiny[16];
  ddpc_model_describe(m, tiny, sizeof tiny);
  CHECK(strlen(tiny) == 15, "describe truncates into a small buffer");
  free(x);
  free(dout);
  ddpc_model_free(m);
}

static void test_cnn(void) {
  ddpc_layer_spec specs[10] = {spec_conv(32, 3, 1),      spec_of(DDPC_LAYER_RELU), spec_of(DDPC_LAYER_MAXPOOL2D),
                               spec_conv(64, 3, 1),      spec_of(DDPC_LAYER_RELU), spec_of(DDPC_LAYER_MAXPOOL2D),
                               spec_of(DDPC_LAYER_FLATTEN), spec_linear(128),      spec_of(DDPC_LAYER_RELU),
                               spec_linear(10)};
  ddpc_model *m = NULL;
  int rc = ddpc_model_create(specs, 10, shape3(28, 28, 1), 8, DDPC_DEVICE_CPU, &m);
  CHECK(rc == 0, "CNN create: %s", ddpc_error_message());
  if (rc != 0) return;
  // conv1 32*9+32 = 320, conv2 64*288+64 = 18496, linear 3136*128+128 = 401536, linear 1290.
  CHECK(ddpc_model_param_count(m) == 320 + 18496 + 401536 + 1290, "CNN params %zu", ddpc_model_param_count(m));
  const int want_h[10] = {28, 28, 14, 14, 14, 7, 1, 1, 1, 1};
  const int want_c[10] = {32, 32, 32, 64, 64, 64, 3136, 128, 128, 10};
  for (int i = 0; i < 10; i++) {
    ddpc_shape o = ddpc_model_layer(m, i)->out;
    CHECK(o.h == want_h[i] && o.w == want_h[i] && o.c == want_c[i], "CNN layer %d output %dx%dx%d", i, o.h,
          o.w, o.c);
  }
  ddpc_model_init_params(m, 3);
  float *x = calloc(8 * 784, sizeof(float)), dout[80];
  for (int i = 0; i < 8 * 784; i++) x[i] = (float)((i * 37) % 101) / 101.0f;
  for (int i = 0; i < 80; i++) dout[i] = (float)(i % 7) - 3.0f;
  ddpc_forward_ctx ctx = {.training = true, .seed = 1, .step = 0};
  const float *y = ddpc_model_forward(m, x, 8, &ctx);
  int finite = 0;
  for (int i = 0; i < 80; i++) finite += isfinite(y[i]);
  CHECK(finite == 80, "CNN outputs finite");
  ready_log log = {0};
  ddpc_model_backward(m, dout, 8, record_ready, &log);
  CHECK(log.n == 10, "CNN on_ready calls %d", log.n);
  size_t next = ddpc_model_param_count(m);
  for (int k = 0; k < 10 && k < log.n; k++) {
    CHECK(log.index[k] == 9 - k && log.offset[k] + log.count[k] == next, "CNN on_ready %d: layer %d [%zu,+%zu)",
          k, log.index[k], log.offset[k], log.count[k]);
    next = log.offset[k];
  }
  free(x);
  ddpc_model_free(m);
}

static void expect_error(const char *what, const ddpc_layer_spec *specs, int n, ddpc_shape in, int max_batch,
                         const char *message) {
  ddpc_model *m = (ddpc_model *)&m;  // not NULL, to see create clear it
  ddpc_error_clear();
  int rc = ddpc_model_create(specs, n, in, max_batch, DDPC_DEVICE_CPU, &m);
  CHECK(rc != 0 && m == NULL, "%s: create should fail", what);
  CHECK(strcmp(ddpc_error_message(), message) == 0, "%s: message '%s', expected '%s'", what,
        ddpc_error_message(), message);
  if (rc == 0) ddpc_model_free(m);
}

static void test_errors(void) {
  ddpc_layer_spec s[4] = {spec_conv(64, 3, 1), spec_of(DDPC_LAYER_MAXPOOL2D), spec_of(DDPC_LAYER_MAXPOOL2D),
                          spec_conv(8, 5, 0)};
  expect_error("conv too big", s, 4, shape3(8, 8, 3), 4,
               "model layer 3 (conv2d): kernel 5 with padding 0 does not fit input 2x2x64");
  ddpc_layer_spec lin0[1] = {spec_linear(0)};
  expect_error("units 0", lin0, 1, ddpc_shape_vector(4), 4, "model layer 0 (linear): units must be at least 1, got 0");
  ddpc_layer_spec drop[2] = {spec_linear(4), spec_of(DDPC_LAYER_DROPOUT)};
  drop[1].p = 1.0f;
  expect_error("dropout p 1", drop, 2, ddpc_shape_vector(4), 4, "model layer 1 (dropout): p must be in [0, 1), got 1");
  ddpc_layer_spec pool[1] = {spec_of(DDPC_LAYER_MAXPOOL2D)};
  pool[0].kernel = 3;
  expect_error("pool too big", pool, 1, shape3(2, 2, 4), 4, "model layer 0 (maxpool2d): kernel 3 does not fit input 2x2x4");
  ddpc_layer_spec conv_s[1] = {spec_conv(4, 3, 0)};
  conv_s[0].stride = 0;
  expect_error("conv stride 0", conv_s, 1, shape3(5, 5, 1), 4, "model layer 0 (conv2d): stride must be at least 1, got 0");
  // 2e9 units * 785 floats * 4 bytes = 6.28e12 bytes: refused before any allocation.
  ddpc_layer_spec huge[1] = {spec_linear(2000000000)};
  expect_error("huge linear", huge, 1, ddpc_shape_vector(784), 64,
               "model layer 0 (linear): its parameters would need 6280000000000 bytes, more than the 4 GiB a layer "
               "may use");
  // 512*512*100000 outputs * 64 samples * 4 bytes = 6.7e12 bytes of activations.
  ddpc_layer_spec wide[1] = {spec_conv(100000, 3, 1)};
  expect_error("huge activations", wide, 1, shape3(512, 512, 1), 64,
               "model layer 0 (conv2d): its output for the batch would need 6710886400000 bytes, more than the 4 "
               "GiB a layer may use");
  ddpc_layer_spec unknown[1] = {spec_linear(3)};
  unknown[0].kind = (ddpc_layer_kind)42;
  expect_error("unknown kind", unknown, 1, ddpc_shape_vector(4), 4, "model layer 0: unknown layer kind 42");
  expect_error("no layers", lin0, 0, ddpc_shape_vector(4), 4, "model: needs at least one layer");
  expect_error("max_batch 0", drop, 1, ddpc_shape_vector(4), 0, "model: max_batch must be at least 1, got 0");
  expect_error("empty input", drop, 1, shape3(0, 1, 1), 4, "model: input shape 0x1x1 is empty");
}

/* Loss of the tiny model (cross-entropy mean over the batch), forward in float. */
static double tiny_loss(ddpc_model *m, const float *x, const int32_t *labels, int batch) {
  ddpc_forward_ctx ctx = {.training = false, .seed = 0, .step = 0};
  const float *y = ddpc_model_forward(m, x, batch, &ctx);
  return ddpc_loss_compute(DDPC_LOSS_CROSS_ENTROPY, y, labels, NULL, batch, 3, NULL, batch).loss_sum / batch;
}

static void test_model_gradient(void) {
  // Two linear layers with a tanh between them; every parameter checked against a central
  // difference (eps 1e-2, tolerance 1e-3 + 1e-2 |g|, see test_layers_gradcheck.c for why).
  ddpc_layer_spec specs[3] = {spec_linear(5), spec_of(DDPC_LAYER_TANH), spec_linear(3)};
  enum { B = 4, IN = 4 };
  ddpc_model *m = NULL;
  if (ddpc_model_create(specs, 3, ddpc_shape_vector(IN), B, DDPC_DEVICE_CPU, &m) != 0) {
    CHECK(0, "tiny create: %s", ddpc_error_message());
    return;
  }
  ddpc_rng rng = ddpc_rng_make(5, 300, 0, 0);
  float x[B * IN], dout[B * 3];
  int32_t labels[B] = {0, 2, 1, 2};
  for (int i = 0; i < B * IN; i++) x[i] = 2.0f * ddpc_rng_next_float(&rng) - 1.0f;
  float *p = ddpc_model_params(m)->data;
  size_t n = ddpc_model_param_count(m);
  CHECK(n == 4 * 5 + 5 + 5 * 3 + 3, "tiny params %zu", n);
  for (size_t i = 0; i < n; i++) p[i] = 2.0f * ddpc_rng_next_float(&rng) - 1.0f;

  ddpc_forward_ctx ctx = {.training = true, .seed = 0, .step = 0};
  const float *y = ddpc_model_forward(m, x, B, &ctx);
  ddpc_loss_compute(DDPC_LOSS_CROSS_ENTROPY, y, labels, NULL, B, 3, dout, B);
  ddpc_model_backward(m, dout, B, NULL, NULL);
  float *g = malloc(n * sizeof(float));
  memcpy(g, ddpc_model_grads(m)->data, n * sizeof(float));
  // backward overwrites: a second identical step gives the same gradients, not twice them.
  ddpc_model_forward(m, x, B, &ctx);
  ddpc_model_backward(m, dout, B, NULL, NULL);
  CHECK(memcmp(g, ddpc_model_grads(m)->data, n * sizeof(float)) == 0, "second backward accumulated");

  size_t bad = 0;
  double gmax = 0.0;
  for (size_t i = 0; i < n; i++) {
    float saved = p[i];
    p[i] = saved + 1e-2f;
    double plus = tiny_loss(m, x, labels, B);
    p[i] = saved - 1e-2f;
    double minus = tiny_loss(m, x, labels, B);
    p[i] = saved;
    double fd = (plus - minus) / 2e-2;
    if (fabs(fd - g[i]) > 1e-3 + 1e-2 * fabs(fd)) {
      if (bad < 5) printf("param %zu: analytic %g, finite difference %g\n", i, (double)g[i], fd);
      bad++;
    }
    gmax = fmax(gmax, fabs(g[i]));
  }
  CHECK(bad == 0, "model gradient: %zu of %zu parameters differ from finite differences", bad, n);
  CHECK(gmax > 0.05, "model gradient trivially small (%g)", gmax);
  free(g);
  ddpc_model_free(m);
}

static void test_dropout_eval_and_seeds(void) {
  ddpc_layer_spec with[3] = {spec_linear(8), spec_of(DDPC_LAYER_DROPOUT), spec_linear(2)};
  ddpc_layer_spec without[2] = {spec_linear(8), spec_linear(2)};
  ddpc_model *a = NULL, *b = NULL, *c = NULL;
  if (ddpc_model_create(with, 3, ddpc_shape_vector(6), 3, DDPC_DEVICE_CPU, &a) != 0 ||
      ddpc_model_create(without, 2, ddpc_shape_vector(6), 3, DDPC_DEVICE_CPU, &b) != 0 ||
      ddpc_model_create(with, 3, ddpc_shape_vector(6), 3, DDPC_DEVICE_CPU, &c) != 0) {
    CHECK(0, "dropout models: %s", ddpc_error_message());
    return;
  }
  size_t n = ddpc_model_param_count(a);
  ddpc_model_init_params(a, 11);
  ddpc_model_init_params(c, 11);
  CHECK(memcmp(ddpc_model_params(a)->data, ddpc_model_params(c)->data, n * sizeof(float)) == 0,
        "same seed gave different parameters");
  ddpc_model_init_params(c, 12);
  CHECK(memcmp(ddpc_model_params(a)->data, ddpc_model_params(c)->data, n * sizeof(float)) != 0,
        "another seed gave the same parameters");
  // Same parameters without the dropout layer: eval output must match exactly.
  memcpy(ddpc_model_params(b)->data, ddpc_model_params(a)->data, n * sizeof(float));
  float x[18];
  for (int i = 0; i < 18; i++) x[i] = (float)i / 9.0f - 1.0f;
  ddpc_forward_ctx eval = {.training = false, .seed = 1, .step = 1};
  ddpc_forward_ctx train = {.training = true, .seed = 1, .step = 1};
  float ya[6], yb[6], yt[6];
  memcpy(ya, ddpc_model_forward(a, x, 3, &eval), sizeof ya);
  memcpy(yb, ddpc_model_forward(b, x, 3, &eval), sizeof yb);
  CHECK(memcmp(ya, yb, sizeof ya) == 0, "dropout changed the output at eval");
  memcpy(yt, ddpc_model_forward(a, x, 3, &train), sizeof yt);
  CHECK(memcmp(ya, yt, sizeof ya) != 0, "dropout inactive in training");

  // Xavier init stays within +-sqrt(6/(6+8)) = 0.6547 for layer 0 and uses most of the range.
  with[0].init = DDPC_INIT_XAVIER;
  ddpc_model_free(c);
  c = NULL;
  if (ddpc_model_create(with, 3, ddpc_shape_vector(6), 3, DDPC_DEVICE_CPU, &c) == 0) {
    ddpc_model_init_params(c, 1);
    float mx = 0.0f;
    const float *p = ddpc_model_params(c)->data;
    for (int i = 0; i < 48; i++) mx = fmaxf(mx, fabsf(p[i]));
    CHECK(mx <= 0.65466f && mx > 0.5f, "xavier max |w| %g", (double)mx);
  }
  ddpc_model_free(a);
  ddpc_model_free(b);
  ddpc_model_free(c);
}

/* Dropout's masks follow the sample, not the rank: row j of rank r is row j * world + r of
 * the global batch (the sampler deals samples to ranks in turn), and gets that row's mask,
 * so N ranks draw what one rank draws for the whole batch. One rank reads the stream in
 * order, as a sequential walk of it does; two ranks given the same rows draw different masks. */
static void test_dropout_across_ranks(void) {
  enum { PER = 7, B = 6, WORLD = 3 };  // odd row length: rows share 64-bit draws
  ddpc_layer_spec drop[1] = {spec_of(DDPC_LAYER_DROPOUT)};
  drop[0].p = 0.4f;
  ddpc_model *m = NULL;
  if (ddpc_model_create(drop, 1, ddpc_shape_vector(PER), B, DDPC_DEVICE_CPU, &m) != 0) {
    CHECK(0, "dropout model: %s", ddpc_error_message());
    return;
  }
  float x[B * PER], whole[B * PER], seq[B * PER];
  for (int i = 0; i < B * PER; i++) x[i] = 1.0f + (float)i;
  ddpc_forward_ctx one = {.training = true, .seed = 21, .step = 9, .rank = 0, .world = 1};
  memcpy(whole, ddpc_model_forward(m, x, B, &one), sizeof whole);
  // The stream walked in order: element i takes the low, then the high half of draw i / 2.
  ddpc_rng rng = ddpc_rng_make(21, DDPC_RNG_DROPOUT, 9, 0);
  uint64_t bits = 0, threshold = (uint64_t)(0.4 * 4294967296.0);
  int dropped = 0;
  for (int i = 0; i < B * PER; i++) {
    if ((i & 1) == 0) bits = ddpc_rng_next_u64(&rng);
    uint64_t u = (i & 1) ? bits >> 32 : bits & 0xffffffffu;
    seq[i] = u >= threshold ? x[i] * (1.0f / 0.6f) : 0.0f;
    dropped += u < threshold;
  }
  CHECK(memcmp(whole, seq, sizeof seq) == 0, "one rank's masks are not the stream read in order");
  CHECK(dropped > 5 && dropped < B * PER - 5, "dropped %d of %d at p 0.4", dropped, B * PER);
  for (uint32_t r = 0; r < WORLD; r++) {
    float mine[B / WORLD * PER];
    for (int j = 0; j < B / WORLD; j++) memcpy(mine + j * PER, x + (j * WORLD + (int)r) * PER, PER * sizeof(float));
    ddpc_forward_ctx ctx = {.training = true, .seed = 21, .step = 9, .rank = r, .world = WORLD};
    const float *y = ddpc_model_forward(m, mine, B / WORLD, &ctx);
    for (int j = 0; j < B / WORLD; j++)
      CHECK(memcmp(y + j * PER, whole + (j * WORLD + (int)r) * PER, PER * sizeof(float)) == 0,
            "rank %u of %d, row %d: not the mask of global row %d", r, WORLD, j, j * WORLD + (int)r);
  }
  // The same rows on two ranks: different masks (before, every rank drew rank 0's).
  float y0[B * PER];
  ddpc_forward_ctx r0 = {.training = true, .seed = 21, .step = 9, .rank = 0, .world = 2};
  ddpc_forward_ctx r1 = {.training = true, .seed = 21, .step = 9, .rank = 1, .world = 2};
  memcpy(y0, ddpc_model_forward(m, x, B / 2, &r0), sizeof(float) * (B / 2) * PER);
  CHECK(memcmp(y0, ddpc_model_forward(m, x, B / 2, &r1), sizeof(float) * (B / 2) * PER) != 0,
        "ranks 0 and 1 drew the same masks");
  ddpc_model_free(m);
}

/* The divergence check's scan: any inf or NaN anywhere, of either sign, is found. */
static void test_all_finite(void) {
  float x[37];
  for (int i = 0; i < 37; i++) x[i] = (float)(i - 18) * 1e37f;
  CHECK(ddpc_floats_all_finite(x, 37), "finite values, up to 1.8e38, are finite");
  CHECK(ddpc_floats_all_finite(x, 0), "no values: finite");
  const float bad[] = {INFINITY, -INFINITY, NAN, -NAN};
  for (int b = 0; b < 4; b++)
    for (int at = 0; at < 37; at += 12) {
      float keep = x[at];
      x[at] = bad[b];
      CHECK(!ddpc_floats_all_finite(x, 37), "value %d (%g) at %d is found", b, (double)bad[b], at);
      x[at] = keep;
    }
}

/* The memory a CPU model claims: parameters and gradients, activations and the two
 * input-gradient buffers, as counted before they are allocated. */
static void test_host_bytes(void) {
  ddpc_layer_spec specs[3] = {spec_linear(3), spec_of(DDPC_LAYER_RELU), spec_linear(2)};
  ddpc_model *m = NULL;
  int rc = ddpc_model_create(specs, 3, ddpc_shape_vector(4), 5, DDPC_DEVICE_CPU, &m);
  CHECK(rc == 0, "small model: %s", ddpc_error_message());
  if (rc != 0) return;
  // (15 + 8) params x 2 + 40 activation floats + 2 x 15 input-gradient floats, 4 bytes each.
  double want = ((15.0 + 8.0) * 2.0 + 40.0 + 30.0) * 4.0;
  CHECK(ddpc_model_host_bytes(m) == want, "host bytes %.0f, expected %.0f", ddpc_model_host_bytes(m), want);
  ddpc_model_free(m);
}

/* Creates a model whose layers each fit the per-layer limit but not, together, 512 MiB:
 * eight 5x5 convolutions of 32 filters on 32x32 for batches of 64, about 2.8 GiB in all
 * (after the first, each im2col pair 400 MiB, each output 8 MiB; 5x5 because 3x3 ones run
 * with Winograd, whose scratch is a few MiB). Writes "rc peak-RSS-KiB message". */
static void create_too_big(void *arg, char *text, size_t size) {
  (void)arg;
  ddpc_layer_spec specs[8];
  for (int i = 0; i < 8; i++) specs[i] = spec_conv(32, 5, 2);
  ddpc_model *m = NULL;
  int rc = ddpc_model_create(specs, 8, shape3(32, 32, 3), 64, DDPC_DEVICE_CPU, &m);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  snprintf(text, size, "%d %ld %s", rc, ru.ru_maxrss, rc != 0 ? ddpc_error_message() : "");
  ddpc_model_free(m);
}

/* That model, where the address space is limited to 512 MiB more than the process uses:
 * refused with the layer, the bytes and the limit named, before any of it is allocated. */
static void test_memory_limit(void) {
  bool limited = false;
  char *msg = testing_run_limited(512u << 20, create_too_big, NULL, &limited);
  if (!limited) {
    testing_skip("the address-space limit (AddressSanitizer reserves terabytes of address space)");
    free(msg);
    return;
  }
  int rc = 0, at = 0;
  long rss_kb = 0;
  CHECK(msg && sscanf(msg, "%d %ld %n", &rc, &rss_kb, &at) == 2, "child: '%s'", msg ? msg : "(failed)");
  const char *text = msg ? msg + at : "";
  CHECK(rc != 0, "a model beyond the address-space limit is refused");
  CHECK(strstr(text, "model layer ") && strstr(text, "(conv2d): with its ") && strstr(text, " the model needs ") &&
            strstr(text, "scratch for batches of 64), more than the ") &&
            strstr(text, "of the address-space limit (ulimit -v)"),
        "the message names the layer, the bytes and the limit: %s", text);
  CHECK(rss_kb < 200 * 1024, "refused before allocating: peak RSS %ld KiB", rss_kb);
  free(msg);
}

int main(void) {
  test_host_bytes();
  test_memory_limit();
  test_all_finite();
  test_mlp();
  test_cnn();
  test_errors();
  test_model_gradient();
  test_dropout_eval_and_seeds();
  test_dropout_across_ranks();
  return testing_finish();
}
