/* Where one training step's time goes, layer by layer: the batch gather, each layer's
 * forward and backward, the loss and the optimizer, for the model of a config, on one
 * thread. Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other processes on
 * a busy machine change them little; the median over the steps is printed, with each
 * part's share of the step. The layers run exactly as ddpc_model_forward/backward run
 * them (the same ops, in the same order, on the same real batches).
 *   usage: bench_step_profile CONFIG [STEPS] [key=value ...]   e.g.
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_step_profile examples/fashion_mnist_cnn.yaml 60 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/data.h"
#include "core/error.h"
#include "core/layer.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/sysinfo.h"
#include "optim/optim.h"

#define PROFILE_MAX_PARTS (2 * DDPC_MAX_LAYERS + 4)

static int profile_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void *profile_alloc(size_t floats) {
  void *p = calloc(floats ? floats : 1, sizeof(float));
  if (!p) {
    fputs("bench_step_profile: out of memory\n", stderr);
    exit(1);
  }
  return p;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: bench_step_profile CONFIG [STEPS] [key=value ...]\n", stderr);
    return 2;
  }
  int steps = argc > 2 ? atoi(argv[2]) : 50;
  if (steps < 1) steps = 50;
  ddpc_config cfg;
  ddpc_dataset ds;
  ddpc_model *model = NULL;
  ddpc_optimizer opt;
  if (ddpc_config_load(argv[1], (const char *const *)argv + 3, argc > 3 ? argc - 3 : 0, &cfg) != 0 ||
      ddpc_data_load(&cfg, &ds) != 0 ||
      ddpc_model_create(cfg.layers, cfg.n_layers, ds.shape, cfg.train.batch_size, DDPC_DEVICE_CPU, &model) != 0 ||
      ddpc_optimizer_init(&opt, &cfg.optimizer, ddpc_model_param_count(model), DDPC_DEVICE_CPU) != 0) {
    fprintf(stderr, "bench_step_profile: %s\n", ddpc_error_message());
    return 1;
  }
  ddpc_model_init_params(model, cfg.seed);
  int B = cfg.train.batch_size, L = cfg.n_layers;
  if (ds.train.count < (uint32_t)B) {
    fputs("bench_step_profile: fewer training samples than one batch\n", stderr);
    return 1;
  }
  // Activations and input gradients of our own, one per layer, so each op can be timed.
  float *x = profile_alloc((size_t)B * ddpc_shape_size(ds.shape));
  float **act = malloc((size_t)L * sizeof *act), **grad = malloc((size_t)(L + 1) * sizeof *grad);
  for (int i = 0; i < L; i++) {
    const ddpc_layer *l = ddpc_model_layer(model, i);
    act[i] = profile_alloc((size_t)B * ddpc_shape_size(l->out));
    grad[i] = profile_alloc((size_t)B * ddpc_shape_size(l->in));
  }
  int width = (int)ddpc_shape_size(ddpc_model_output_shape(model));
  grad[L] = profile_alloc((size_t)B * width);
  int32_t *labels = ds.num_classes > 0 ? malloc((size_t)B * sizeof *labels) : NULL;
  float *targets = ds.num_classes > 0 ? NULL : profile_alloc((size_t)B * width);
  uint32_t *pos = malloc((size_t)B * sizeof *pos);
  int parts = 2 * L + 3;  // gather, L forwards, loss, L backwards, optimizer
  double *t = profile_alloc((size_t)parts * (size_t)steps * 2);  // doubles: twice the floats
  const char *names[PROFILE_MAX_PARTS];
  for (int s = 0; s < steps + 3; s++) {  // 3 warm-up steps, not recorded
    double *row = s >= 3 ? t + (size_t)(s - 3) * parts : NULL, t0 = ddpc_thread_cpu_seconds(), t1;
    int p = 0;
#define PROFILE_MARK(name)                     \
  do {                                         \
    t1 = ddpc_thread_cpu_seconds();                        \
    if (row) row[p] = t1 - t0;                 \
    names[p++] = (name);                       \
    t0 = t1;                                   \
  } while (0)
    for (int i = 0; i < B; i++) pos[i] = (uint32_t)(((size_t)s * B + i) % ds.train.count);
    ddpc_data_gather(&ds, &ds.train, pos, B, x, labels, targets);
    PROFILE_MARK("gather");
    ddpc_forward_ctx ctx = {.training = true, .seed = cfg.seed, .step = (uint64_t)s};
    for (int i = 0; i < L; i++) {
      ddpc_layer *l = (ddpc_layer *)ddpc_model_layer(model, i);
      l->ops->forward(l, i ? act[i - 1] : x, act[i], B, &ctx);
      PROFILE_MARK(ddpc_layer_kind_name(l->spec.kind));
    }
    ddpc_loss_compute(cfg.loss, act[L - 1], labels, targets, B, width, grad[L], (double)B);
    PROFILE_MARK("loss");
    const float *dy = grad[L];
    for (int i = L - 1; i >= 0; i--) {
      ddpc_layer *l = (ddpc_layer *)ddpc_model_layer(model, i);
      if (!ddpc_model_backward_skips(model, i)) {  // a ReLU the next layer's backward applied
        l->ops->backward(l, i ? act[i - 1] : x, act[i], dy, i ? grad[i] : NULL, B);
        dy = grad[i];
      }
      PROFILE_MARK(ddpc_layer_kind_name(l->spec.kind));
    }
    ddpc_optimizer_step(&opt, ddpc_model_params(model), ddpc_model_grads(model), (float)cfg.optimizer.lr);
    PROFILE_MARK("optimizer");
  }
  // Medians per part, over the recorded steps.
  double *col = malloc((size_t)steps * sizeof *col), total = 0.0, med[PROFILE_MAX_PARTS];
  for (int p = 0; p < parts; p++) {
    for (int s = 0; s < steps; s++) col[s] = t[(size_t)s * parts + p];
    qsort(col, (size_t)steps, sizeof *col, profile_cmp);
    med[p] = col[steps / 2];
    total += med[p];
  }
  printf("%s: batch %d, %d steps (medians of thread CPU time)\n", argv[1], B, steps);
  printf("%-4s %-8s %-11s %10s %7s\n", "", "pass", "part", "ms", "share");
  for (int p = 0; p < parts; p++) {
    const char *pass = p == 0 ? "data" : p <= L ? "forward" : p == L + 1 ? "loss" : p < parts - 1 ? "backward" : "update";
    int layer = p == 0 || p == L + 1 || p == parts - 1 ? -1 : p <= L ? p - 1 : 2 * L + 1 - p;
    char idx[16] = "";
    if (layer >= 0) snprintf(idx, sizeof idx, "%d", layer);
    printf("%-4s %-8s %-11s %10.3f %6.1f%%\n", idx, pass, names[p], med[p] * 1e3, 100.0 * med[p] / total);
  }
  printf("%-25s %10.3f ms = %.0f samples/s\n", "step (sum of medians)", total * 1e3, B / total);
  ddpc_optimizer_free(&opt);
  ddpc_model_free(model);
  ddpc_data_free(&ds);
  return 0;
}
