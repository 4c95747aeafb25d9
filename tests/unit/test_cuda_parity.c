/* GPU parity: every CUDA layer kind (initial weights, forward, backward), both losses, the
 * optimizers and the clipping norm against the CPU implementation on the same random
 * inputs, within a relative error of 1e-5 (max |gpu - cpu| / max |cpu| per array).
 * Where the kernels add in the CPU's order the results are bitwise equal and checked so
 * (initial weights, dropout, max pooling); the GEMMs and warp reductions add in another
 * order and differ by float rounding only. Two whole models (an MLP, a CNN) check the
 * layers together (within 1e-4: rounding compounds through the layers).
 *
 * Without a GPU there is nothing to compare: in a build without CUDA, or where
 * cudaGetDeviceCount finds no GPU (no driver, no device), it prints "SKIPPED: ..." and
 * exits 77, which CTest reports as skipped, never as passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/error.h"
#include "testing.h"

#ifdef DDPC_HAVE_CUDA
#include "core/layer.h"
#include "core/layer_cuda.h"
#include "core/loss.h"
#include "core/loss_cuda.h"
#include "core/model.h"
#include "core/rng.h"
#include "optim/optim.h"
#include "optim/optim_cuda.h"
#include "optim/optimizer_internal.h"

#define PARITY_TOL 1e-5
/* Whole models: each layer's rounding difference feeds the next, so the bound is looser. */
#define MODEL_TOL 1e-4

static ddpc_rng rng;

static void fill_normal(float *x, size_t n, float scale) {
  for (size_t i = 0; i < n; i++) x[i] = scale * ddpc_rng_next_normal(&rng);
}

static float *host_floats(size_t n) { return ddpc_alloc_aligned((n ? n : 1) * sizeof(float), "test array"); }

/* A device copy of n host floats (n may be 0). */
static float *to_device(const float *host, size_t n) {
  float *d = ddpc_device_alloc(DDPC_DEVICE_CUDA, (n ? n : 1) * sizeof(float), "test array");
  if (d && n) CHECK(ddpc_device_copy(d, DDPC_DEVICE_CUDA, host, DDPC_DEVICE_CPU, n * sizeof(float)) == 0,
                    "copy to the GPU: %s", ddpc_error_message());
  return d;
}

static void to_host(float *host, const float *dev, size_t n) {
  if (n) CHECK(ddpc_device_copy(host, DDPC_DEVICE_CPU, dev, DDPC_DEVICE_CUDA, n * sizeof(float)) == 0,
               "copy from the GPU: %s", ddpc_error_message());
}

/* max |a - ref| / max |ref|: relative to the array's scale, so entries near zero do not
 * turn rounding into a large relative error. */
static double rel_error(const float *a, const float *ref, size_t n) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)ref[i]);
    if (!(d <= diff)) diff = d;  // also catches NaN
    if (fabs((double)ref[i]) > scale) scale = fabs((double)ref[i]);
  }
  return scale > 0.0 ? diff / scale : diff;
}

static void check_within(const char *name, const char *what, const float *gpu, const float *cpu, size_t n, double tol) {
  double e = rel_error(gpu, cpu, n);
  CHECK(e <= tol, "%s: %s: relative error %.3g (tolerance %.0e)", name, what, e, tol);
}

static void check_close(const char *name, const char *what, const float *gpu, const float *cpu, size_t n) {
  check_within(name, what, gpu, cpu, n, PARITY_TOL);
}

static void check_same(const char *name, const char *what, const float *gpu, const float *cpu, size_t n) {
  CHECK(n == 0 || memcmp(gpu, cpu, n * sizeof(float)) == 0, "%s: %s differs from the CPU's bits (relative %.3g)", name,
        what, rel_error(gpu, cpu, n));
}

/* ---- layers ------------------------------------------------------------------------ */

typedef struct {
  const char *name;      // for messages
  ddpc_layer_spec spec;  // the layer
  ddpc_shape in;         // per-sample input
  int batch;             // samples
  bool training;         // dropout active
  bool bitwise;          // the kernels add in the CPU's order: compare bits
} layer_case;

static ddpc_layer_spec spec_of(ddpc_layer_kind kind) { return ddpc_layer_spec_default(kind); }

static ddpc_shape shape3(int h, int w, int c) {
  ddpc_shape s = {h, w, c};
  return s;
}

/* One layer set up twice, CPU and CUDA, at index 1 (so conv2d makes its d(col) scratch and
 * dropout's stream differs from layer 0's). */
static void test_layer(const layer_case *c) {
  ddpc_layer cpu, gpu;
  memset(&cpu, 0, sizeof cpu);
  memset(&gpu, 0, sizeof gpu);
  cpu.spec = gpu.spec = c->spec;
  cpu.index = gpu.index = 1;
  cpu.in = gpu.in = c->in;
  cpu.ops = ddpc_layer_ops_for(c->spec.kind);
  gpu.ops = ddpc_layer_cuda_ops_for(c->spec.kind);
  if (!gpu.ops) {
    CHECK(false, "%s: no CUDA ops", c->name);
    return;
  }
  int rc_cpu = cpu.ops->setup(&cpu, c->batch), rc_gpu = gpu.ops->setup(&gpu, c->batch);
  CHECK(rc_cpu == 0 && rc_gpu == 0, "%s: setup: %s", c->name, ddpc_error_message());
  if (rc_cpu != 0 || rc_gpu != 0) return;
  CHECK(gpu.n_params == cpu.n_params && gpu.out.h == cpu.out.h && gpu.out.w == cpu.out.w && gpu.out.c == cpu.out.c,
        "%s: CUDA setup gives the CPU's shapes", c->name);
  size_t n_in = ddpc_shape_size(c->in) * (size_t)c->batch, n_out = ddpc_shape_size(cpu.out) * (size_t)c->batch;
  size_t np = cpu.n_params;
  float *x = host_floats(n_in), *dy = host_floats(n_out), *params = host_floats(np);
  float *y_cpu = host_floats(n_out), *dx_cpu = host_floats(n_in), *g_cpu = host_floats(np);
  float *y_gpu = host_floats(n_out), *dx_gpu = host_floats(n_in), *g_gpu = host_floats(np), *p_gpu = host_floats(np);
  fill_normal(x, n_in, 1.0f);
  fill_normal(dy, n_out, 1.0f);
  float *d_x = to_device(x, n_in), *d_dy = to_device(dy, n_out);
  float *d_params = ddpc_device_alloc(DDPC_DEVICE_CUDA, (np ? np : 1) * sizeof(float), "params");
  float *d_grads = ddpc_device_alloc(DDPC_DEVICE_CUDA, (np ? np : 1) * sizeof(float), "grads");
  float *d_y = ddpc_device_alloc(DDPC_DEVICE_CUDA, n_out * sizeof(float), "y");
  float *d_dx = ddpc_device_alloc(DDPC_DEVICE_CUDA, n_in * sizeof(float), "dx");

  // Initial weights: the CUDA layer runs the CPU initialiser, so the bits must agree.
  cpu.params = params;
  gpu.params = d_params;
  cpu.ops->init_params(&cpu, 7);
  gpu.ops->init_params(&gpu, 7);
  CHECK(ddpc_device_sync(DDPC_DEVICE_CUDA) == 0, "%s: init: %s", c->name, ddpc_error_message());
  to_host(p_gpu, d_params, np);
  check_same(c->name, "initial parameters", p_gpu, params, np);

  // Random parameters from here on, so gamma/beta and biases are not 1s and 0s.
  fill_normal(params, np, 0.5f);
  ddpc_device_copy(d_params, DDPC_DEVICE_CUDA, params, DDPC_DEVICE_CPU, np * sizeof(float));
  cpu.grads = g_cpu;
  gpu.grads = d_grads;
  // As rank 1 of 2: dropout's rows sit at odd places of the global batch on both devices.
  ddpc_forward_ctx ctx = {.training = c->training, .seed = 11, .step = 5, .rank = 1, .world = 2};
  cpu.ops->forward(&cpu, x, y_cpu, c->batch, &ctx);
  cpu.ops->backward(&cpu, x, y_cpu, dy, dx_cpu, c->batch);
  gpu.ops->forward(&gpu, d_x, d_y, c->batch, &ctx);
  gpu.ops->backward(&gpu, d_x, d_y, d_dy, d_dx, c->batch);
  CHECK(ddpc_device_sync(DDPC_DEVICE_CUDA) == 0, "%s: forward/backward: %s", c->name, ddpc_error_message());
  to_host(y_gpu, d_y, n_out);
  to_host(dx_gpu, d_dx, n_in);
  to_host(g_gpu, d_grads, np);
  void (*compare)(const char *, const char *, const float *, const float *, size_t) = c->bitwise ? check_same
                                                                                                  : check_close;
  compare(c->name, "forward", y_gpu, y_cpu, n_out);
  compare(c->name, "input gradient", dx_gpu, dx_cpu, n_in);
  compare(c->name, "parameter gradient", g_gpu, g_cpu, np);

  cpu.ops->free(&cpu);
  gpu.ops->free(&gpu);
  float *device[] = {d_x, d_dy, d_params, d_grads, d_y, d_dx};
  for (size_t i = 0; i < sizeof device / sizeof device[0]; i++) ddpc_device_free(DDPC_DEVICE_CUDA, device[i]);
  float *host[] = {x, dy, params, y_cpu, dx_cpu, g_cpu, y_gpu, dx_gpu, g_gpu, p_gpu};
  for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
}

static void test_layers(void) {
  ddpc_layer_spec linear = spec_of(DDPC_LAYER_LINEAR), linear_nb = linear;
  linear.units = 19;
  linear_nb.units = 40;
  linear_nb.bias = false;
  ddpc_layer_spec conv = spec_of(DDPC_LAYER_CONV2D), conv_s2 = conv, conv_1x1 = conv;
  conv.filters = 5;
  conv.kernel = 3;
  conv.padding = 1;
  conv_s2.filters = 4;
  conv_s2.kernel = 3;
  conv_s2.stride = 2;
  conv_s2.bias = false;
  conv_1x1.filters = 6;
  conv_1x1.kernel = 1;
  ddpc_layer_spec pool = spec_of(DDPC_LAYER_MAXPOOL2D), pool_overlap = pool;
  pool_overlap.kernel = 3;
  pool_overlap.stride = 2;
  ddpc_layer_spec dropout = spec_of(DDPC_LAYER_DROPOUT);
  dropout.p = 0.3f;
  const layer_case cases[] = {
      {"linear", linear, shape3(1, 1, 37), 13, true, false},
      {"linear (no bias, image input)", linear_nb, shape3(3, 4, 5), 7, true, false},
      {"conv2d 3x3 pad 1", conv, shape3(9, 9, 3), 4, true, false},
      {"conv2d 3x3 stride 2", conv_s2, shape3(10, 11, 2), 3, true, false},
      {"conv2d 1x1", conv_1x1, shape3(5, 5, 7), 3, true, false},
      {"maxpool2d 2x2", pool, shape3(8, 8, 3), 5, true, true},
      {"maxpool2d 3x3 stride 2", pool_overlap, shape3(9, 7, 4), 3, true, true},
      {"relu", spec_of(DDPC_LAYER_RELU), shape3(4, 4, 5), 6, true, true},
      {"gelu", spec_of(DDPC_LAYER_GELU), shape3(1, 1, 333), 3, true, false},
      {"tanh", spec_of(DDPC_LAYER_TANH), shape3(1, 1, 333), 3, true, false},
      {"dropout (training)", dropout, shape3(1, 1, 257), 5, true, true},
      {"dropout (evaluation)", dropout, shape3(1, 1, 257), 5, false, true},
      {"flatten", spec_of(DDPC_LAYER_FLATTEN), shape3(3, 3, 4), 4, true, true},
      {"layernorm", spec_of(DDPC_LAYER_LAYERNORM), shape3(3, 2, 45), 4, true, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_layer(&cases[i]);
}

/* ---- whole models ------------------------------------------------------------------ */

/* The same model on both devices: bitwise the same initial parameters (compared by the
 * checksum the replicas use), then one training forward and backward. */
static void test_model(const char *name, const ddpc_layer_spec *specs, int n_layers, ddpc_shape in, int batch) {
  ddpc_model *cpu = NULL, *gpu = NULL;
  int rc = ddpc_model_create(specs, n_layers, in, batch, DDPC_DEVICE_CPU, &cpu);
  if (rc == 0) rc = ddpc_model_create(specs, n_layers, in, batch, DDPC_DEVICE_CUDA, &gpu);
  CHECK(rc == 0, "%s: create: %s", name, ddpc_error_message());
  if (rc != 0) {
    ddpc_model_free(cpu);
    return;
  }
  ddpc_model_init_params(cpu, 3);
  ddpc_model_init_params(gpu, 3);
  CHECK(ddpc_device_sync(DDPC_DEVICE_CUDA) == 0, "%s: init: %s", name, ddpc_error_message());
  CHECK(ddpc_model_params_crc32(gpu) == ddpc_model_params_crc32(cpu), "%s: initial parameters differ", name);
  size_t n_in = ddpc_shape_size(in) * (size_t)batch;
  size_t n_out = ddpc_shape_size(ddpc_model_output_shape(cpu)) * (size_t)batch;
  size_t np = ddpc_model_param_count(cpu);
  float *x = host_floats(n_in), *dout = host_floats(n_out), *y = host_floats(n_out), *g = host_floats(np);
  fill_normal(x, n_in, 1.0f);
  fill_normal(dout, n_out, 1.0f);
  float *d_x = to_device(x, n_in), *d_dout = to_device(dout, n_out);
  ddpc_forward_ctx ctx = {.training = true, .seed = 5, .step = 2};
  const float *y_cpu = ddpc_model_forward(cpu, x, batch, &ctx);
  const float *d_y = ddpc_model_forward(gpu, d_x, batch, &ctx);
  ddpc_model_backward(cpu, dout, batch, NULL, NULL);
  ddpc_model_backward(gpu, d_dout, batch, NULL, NULL);
  CHECK(y_cpu && d_y && ddpc_device_sync(DDPC_DEVICE_CUDA) == 0, "%s: forward/backward: %s", name, ddpc_error_message());
  if (y_cpu && d_y) {
    to_host(y, d_y, n_out);
    check_within(name, "model output", y, y_cpu, n_out, MODEL_TOL);
    to_host(g, ddpc_model_grads(gpu)->data, np);
    check_within(name, "model gradients", g, ddpc_model_grads(cpu)->data, np, MODEL_TOL);
  }
  ddpc_model_free(cpu);
  ddpc_model_free(gpu);
  ddpc_device_free(DDPC_DEVICE_CUDA, d_x);
  ddpc_device_free(DDPC_DEVICE_CUDA, d_dout);
  free(x);
  free(dout);
  free(y);
  free(g);
}

static void test_models(void) {
  ddpc_layer_spec mlp[5] = {spec_of(DDPC_LAYER_LINEAR), spec_of(DDPC_LAYER_LAYERNORM), spec_of(DDPC_LAYER_GELU),
                            spec_of(DDPC_LAYER_DROPOUT), spec_of(DDPC_LAYER_LINEAR)};
  mlp[0].units = 64;
  mlp[3].p = 0.2f;
  mlp[4].units = 10;
  test_model("mlp", mlp, 5, shape3(1, 1, 50), 16);
  ddpc_layer_spec cnn[7] = {spec_of(DDPC_LAYER_CONV2D), spec_of(DDPC_LAYER_RELU),    spec_of(DDPC_LAYER_MAXPOOL2D),
                            spec_of(DDPC_LAYER_CONV2D), spec_of(DDPC_LAYER_TANH),    spec_of(DDPC_LAYER_FLATTEN),
                            spec_of(DDPC_LAYER_LINEAR)};
  cnn[0].filters = 8;
  cnn[0].padding = 1;
  cnn[3].filters = 4;
  cnn[6].units = 10;
  test_model("cnn", cnn, 7, shape3(12, 12, 2), 8);
}

/* ---- losses ------------------------------------------------------------------------ */

static void test_loss(ddpc_loss_kind kind, int batch, int width) {
  const char *name = ddpc_loss_name(kind);
  size_t n = (size_t)batch * width;
  float *out = host_floats(n), *targets = host_floats(n), *dout_cpu = host_floats(n), *dout_gpu = host_floats(n);
  int32_t *labels = calloc((size_t)batch, sizeof *labels);
  fill_normal(out, n, 3.0f);
  fill_normal(targets, n, 1.0f);
  for (int b = 0; b < batch; b++) labels[b] = (int32_t)ddpc_rng_next_below(&rng, (uint64_t)width);
  ddpc_loss_result cpu = ddpc_loss_compute(kind, out, labels, targets, batch, width, dout_cpu, batch);

  float *d_out = to_device(out, n), *d_targets = to_device(targets, n);
  float *d_dout = ddpc_device_alloc(DDPC_DEVICE_CUDA, n * sizeof(float), "dout");
  int32_t *d_labels = ddpc_device_alloc(DDPC_DEVICE_CUDA, (size_t)batch * sizeof(int32_t), "labels");
  ddpc_device_copy(d_labels, DDPC_DEVICE_CUDA, labels, DDPC_DEVICE_CPU, (size_t)batch * sizeof(int32_t));
  ddpc_loss_cuda *l = NULL;
  CHECK(ddpc_loss_cuda_create(batch, &l) == 0, "%s: create: %s", name, ddpc_error_message());
  ddpc_loss_result gpu = {0, 0}, twice = {0, 0}, empty = {1, 1};
  int rc = ddpc_loss_cuda_compute(l, kind, d_out, d_labels, d_targets, batch, width, d_dout, batch);
  rc |= ddpc_loss_cuda_take(l, &gpu);
  // The sums run on across batches until taken.
  rc |= ddpc_loss_cuda_compute(l, kind, d_out, d_labels, d_targets, batch, width, NULL, batch);
  rc |= ddpc_loss_cuda_compute(l, kind, d_out, d_labels, d_targets, batch, width, NULL, batch);
  rc |= ddpc_loss_cuda_take(l, &twice);
  rc |= ddpc_loss_cuda_take(l, &empty);
  CHECK(rc == 0, "%s: compute: %s", name, ddpc_error_message());
  to_host(dout_gpu, d_dout, n);
  CHECK(fabs(gpu.loss_sum - cpu.loss_sum) <= PARITY_TOL * fabs(cpu.loss_sum), "%s: loss sum %.9g vs CPU %.9g", name,
        gpu.loss_sum, cpu.loss_sum);
  CHECK(gpu.correct == cpu.correct, "%s: correct %lld vs CPU %lld", name, (long long)gpu.correct,
        (long long)cpu.correct);
  CHECK(twice.loss_sum == 2.0 * gpu.loss_sum && twice.correct == 2 * gpu.correct, "%s: sums run on until taken", name);
  CHECK(empty.loss_sum == 0.0 && empty.correct == 0, "%s: take restarts the sums", name);
  check_close(name, "gradient", dout_gpu, dout_cpu, n);
  ddpc_loss_cuda_free(l);
  ddpc_device_free(DDPC_DEVICE_CUDA, d_out);
  ddpc_device_free(DDPC_DEVICE_CUDA, d_targets);
  ddpc_device_free(DDPC_DEVICE_CUDA, d_dout);
  ddpc_device_free(DDPC_DEVICE_CUDA, d_labels);
  free(out);
  free(targets);
  free(dout_cpu);
  free(dout_gpu);
  free(labels);
}

/* ---- optimizers and clipping ------------------------------------------------------- */

/* A device buffer holding a copy of host. */
static int device_buffer(ddpc_buffer *buf, const float *host, size_t n, const char *what) {
  if (ddpc_buffer_alloc(buf, n, DDPC_DEVICE_CUDA, what) != 0) return -1;
  return ddpc_device_copy(buf->data, DDPC_DEVICE_CUDA, host, DDPC_DEVICE_CPU, n * sizeof(float));
}

/* Three steps on both devices from the same parameters and gradients; the last one with the
 * gradient scaled by a clipping factor (on the GPU read from device memory, as the
 * clipping kernel leaves it). */
static void test_optimizer(const char *name, ddpc_optimizer_config cfg) {
  const size_t n = 1537;
  const float lr = 0.05f, clip = 0.37f;
  float *p = host_floats(n), *g = host_floats(n), *back = host_floats(n);
  fill_normal(p, n, 1.0f);
  ddpc_optimizer cpu_opt, gpu_opt;
  ddpc_buffer cpu_p = {p, n, DDPC_DEVICE_CPU, false}, cpu_g = {g, n, DDPC_DEVICE_CPU, false};
  ddpc_buffer gpu_p, gpu_g;
  int rc = ddpc_optimizer_init(&cpu_opt, &cfg, n, DDPC_DEVICE_CPU) | ddpc_optimizer_init(&gpu_opt, &cfg, n, DDPC_DEVICE_CUDA);
  rc |= device_buffer(&gpu_p, p, n, "params") | device_buffer(&gpu_g, g, n, "grads");
  float *d_clip = to_device(&clip, 1);
  CHECK(rc == 0, "%s: init: %s", name, ddpc_error_message());
  if (rc != 0) return;
  for (int step = 0; step < 3; step++) {
    fill_normal(g, n, 1.0f);
    ddpc_device_copy(gpu_g.data, DDPC_DEVICE_CUDA, g, DDPC_DEVICE_CPU, n * sizeof(float));
    if (step < 2) {
      ddpc_optimizer_step(&cpu_opt, &cpu_p, &cpu_g, lr);
      ddpc_optimizer_step(&gpu_opt, &gpu_p, &gpu_g, lr);
    } else {
      const float *const parts[1] = {g};
      ddpc_optimizer_step_parts(&cpu_opt, &cpu_p, parts, 1, clip, lr);
      gpu_opt.steps++;
      ddpc_optimizer_scalars k = ddpc_optimizer_scalars_at(&gpu_opt.cfg, lr, gpu_opt.steps);
      ddpc_optimizer_cuda_step(&gpu_opt, &k, gpu_p.data, gpu_g.data, 1.0f, d_clip, n);
    }
  }
  CHECK(ddpc_device_sync(DDPC_DEVICE_CUDA) == 0, "%s: steps: %s", name, ddpc_error_message());
  to_host(back, gpu_p.data, n);
  check_close(name, "parameters after 3 steps", back, p, n);
  if (cpu_opt.m.data) {
    to_host(back, gpu_opt.m.data, n);
    check_close(name, "first moment / momentum", back, cpu_opt.m.data, n);
  }
  if (cpu_opt.v.data) {
    to_host(back, gpu_opt.v.data, n);
    check_close(name, "second moment", back, cpu_opt.v.data, n);
  }
  ddpc_optimizer_free(&cpu_opt);
  ddpc_optimizer_free(&gpu_opt);
  ddpc_buffer_free(&gpu_p);
  ddpc_buffer_free(&gpu_g);
  ddpc_device_free(DDPC_DEVICE_CUDA, d_clip);
  free(p);
  free(g);
  free(back);
}

static void test_optimizers(void) {
  ddpc_optimizer_config base = {DDPC_OPTIMIZER_SGD, 0.05f, 0.0f, false, 0.0f, 0.9f, 0.999f, 1e-8f};
  ddpc_optimizer_config sgd = base, momentum = base, nesterov = base, adam = base, adamw = base;
  momentum.momentum = 0.9f;
  nesterov.momentum = 0.8f;
  nesterov.nesterov = true;
  nesterov.weight_decay = 0.01f;
  adam.kind = DDPC_OPTIMIZER_ADAM;
  adam.weight_decay = 0.02f;
  adamw.kind = DDPC_OPTIMIZER_ADAMW;
  adamw.weight_decay = 0.01f;
  test_optimizer("sgd", sgd);
  test_optimizer("sgd momentum", momentum);
  test_optimizer("sgd nesterov, weight decay", nesterov);
  test_optimizer("adam, L2", adam);
  test_optimizer("adamw", adamw);
}

static void test_clip(void) {
  const size_t n = 100003;
  float *g = host_floats(n);
  fill_normal(g, n, 2.0f);
  const float *const parts[1] = {g};
  float cpu_scale = 0.0f, gpu_scale = 0.0f;
  double cpu_norm = ddpc_clip_grad_norm_parts(parts, 1, n, 5.0, &cpu_scale), gpu_norm = 0.0;
  float *d_g = to_device(g, n);
  ddpc_clip_cuda *clip = NULL;
  const double *d_norm = NULL;
  const float *d_scale = NULL;
  int rc = ddpc_clip_cuda_create(&clip);
  if (rc == 0) rc = ddpc_clip_grad_norm_cuda(clip, d_g, n, 5.0, &d_norm, &d_scale);
  if (rc == 0) rc = ddpc_device_copy(&gpu_norm, DDPC_DEVICE_CPU, d_norm, DDPC_DEVICE_CUDA, sizeof gpu_norm);
  if (rc == 0) rc = ddpc_device_copy(&gpu_scale, DDPC_DEVICE_CPU, d_scale, DDPC_DEVICE_CUDA, sizeof gpu_scale);
  CHECK(rc == 0, "clip: %s", ddpc_error_message());
  CHECK(fabs(gpu_norm - cpu_norm) <= 1e-12 * cpu_norm, "clip: norm %.17g vs CPU %.17g", gpu_norm, cpu_norm);
  CHECK(cpu_scale < 1.0f && fabsf(gpu_scale - cpu_scale) <= 1e-6f * cpu_scale, "clip: factor %.9g vs CPU %.9g",
        (double)gpu_scale, (double)cpu_scale);
  ddpc_clip_cuda_free(clip);
  ddpc_device_free(DDPC_DEVICE_CUDA, d_g);
  free(g);
}

/* Failure paths: an impossible allocation is a message, and it does not poison later work. */
static void test_errors(void) {
  ddpc_error_clear();
  void *p = ddpc_device_alloc(DDPC_DEVICE_CUDA, (size_t)1 << 52, "an absurd buffer");
  CHECK(p == NULL && strstr(ddpc_error_message(), "out of GPU memory") && strstr(ddpc_error_message(), "an absurd buffer"),
        "absurd allocation refused: %s", ddpc_error_message());
  CHECK(ddpc_device_sync(DDPC_DEVICE_CUDA) == 0, "a refused allocation leaves no sticky error: %s",
        ddpc_error_message());
  CHECK(ddpc_device_open(DDPC_DEVICE_CUDA, 1 << 20) != 0 && strstr(ddpc_error_message(), "has no GPU of its own"),
        "a local rank beyond the GPUs is refused: %s", ddpc_error_message());
}
#endif

int main(void) {
#ifndef DDPC_HAVE_CUDA
  testing_skip("no CUDA device: %s", DDPC_DEVICE_NO_CUDA_MESSAGE);
  return testing_finish();
#else
  int count = 0;
  if (ddpc_device_probe(DDPC_DEVICE_CUDA, &count) != 0) {
    testing_skip("no CUDA device (%s)", ddpc_error_message());
    return testing_finish();
  }
  if (ddpc_device_open(DDPC_DEVICE_CUDA, 0) != 0) {
    fprintf(stderr, "cannot open GPU 0: %s\n", ddpc_error_message());
    return 1;
  }
  printf("%d GPU(s); comparing on GPU 0\n", count);
  rng = ddpc_rng_make(2024, 99, 0, 0);
  test_layers();
  test_models();
  test_loss(DDPC_LOSS_CROSS_ENTROPY, 37, 10);
  test_loss(DDPC_LOSS_CROSS_ENTROPY, 9, 100);
  test_loss(DDPC_LOSS_MSE, 21, 3);
  test_optimizers();
  test_clip();
  test_errors();
  ddpc_device_close(DDPC_DEVICE_CUDA);
  return testing_finish();
#endif
}
