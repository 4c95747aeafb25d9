/* All-reduce benchmark (an MPI program; run it under mpirun):
 *   mpirun -n 2 build/bench/bench_allreduce [--bucket-mb X]   plain MPI_Allreduce of a whole
 *       buffer vs ddpc's bucketed path (iallreduce per bucket + test/wait, the engine the
 *       gradient sync uses) for 64 KiB .. 16 MiB, as bus bandwidth 2(n-1)/n * bytes / time;
 *   mpirun -n 2 build/bench/bench_allreduce --mlp              one training step of the
 *       784-256-128-10 MLP (batch 64): backward alone, backward + one all-reduce after it
 *       (overlap off), and backward with bucket all-reduces progressed between layers
 *       (overlap on) for several bucket caps, with the gradient sync's own comm/exposed
 *       statistics. This is the measurement behind DDPC_DEFAULT_BUCKET_MB. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/grad_sync.h"
#include "comm/grad_sync_internal.h"
#include "core/error.h"
#include "core/model.h"
#include "core/sysinfo.h"

static void die(ddpc_comm *c, const char *what) {
  fprintf(stderr, "rank %d: %s: %s\n", c ? c->rank : -1, what, ddpc_error_message());
  if (c) c->ops->abort(c, 1);
  exit(1);
}

/* The slowest rank's time, which is what a step waits for. */
static double max_over_ranks(ddpc_comm *c, double t) {
  double all[64];  // allgather target; the benchmark refuses more ranks than this
  if (c->ops->allgather(c, &t, all, sizeof t)) die(c, "allgather");
  double m = 0;
  for (int r = 0; r < c->size; r++) m = all[r] > m ? all[r] : m;
  return m;
}

/* Best of `trials` of the mean time of `iters` calls; mode 0 plain MPI, 1 bucketed. */
static double time_allreduce(ddpc_comm *c, float *buf, size_t n, int mode, double bucket_mb, int iters) {
  double best = 1e30;
  for (int trial = 0; trial < 5; trial++) {
    c->ops->barrier(c);
    double t0 = ddpc_time_seconds();
    for (int it = 0; it < iters; it++) {
      int rc = mode == 0 ? MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS
                         : ddpc_grad_sync_allreduce_buckets(c, buf, n, bucket_mb);
      if (rc) die(c, "all-reduce");
    }
    double t = max_over_ranks(c, (ddpc_time_seconds() - t0) / iters);
    best = t < best ? t : best;
  }
  return best;
}

static void bench_sizes(ddpc_comm *c, double bucket_mb) {
  if (c->rank == 0)
    printf("ranks %d, bucket_mb %g; busbw = 2(n-1)/n * bytes / time, best of 5\n%10s %12s %12s %12s %12s %7s\n",
           c->size, bucket_mb, "bytes", "plain_us", "plain_GB/s", "bucket_us", "bucket_GB/s", "ratio");
  for (size_t bytes = 64 << 10; bytes <= 16 << 20; bytes *= 2) {
    size_t n = bytes / sizeof(float);
    float *buf = ddpc_alloc_aligned(bytes, "benchmark buffer");  // zeros: sums stay zero, no denormals
    if (!buf) die(c, "alloc");
    int iters = (int)((256u << 20) / bytes);
    iters = iters > 2000 ? 2000 : iters < 10 ? 10 : iters;
    time_allreduce(c, buf, n, 0, bucket_mb, 3);  // warm up both paths (connections, buffers)
    time_allreduce(c, buf, n, 1, bucket_mb, 3);
    double tp = time_allreduce(c, buf, n, 0, bucket_mb, iters);
    double tb = time_allreduce(c, buf, n, 1, bucket_mb, iters);
    double factor = 2.0 * (c->size - 1) / c->size * (double)bytes / 1e9;
    if (c->rank == 0)
      printf("%10zu %12.1f %12.2f %12.1f %12.2f %7.3f\n", bytes, tp * 1e6, factor / tp, tb * 1e6, factor / tb, tp / tb);
    free(buf);
  }
}

/* Mean per-step seconds of forward+backward(+sync) of the MLP; sync NULL: no exchange. */
static double time_mlp_steps(ddpc_comm *c, ddpc_model *m, ddpc_grad_sync *s, const float *x, const float *dout,
                             int steps, ddpc_grad_sync_stats *st) {
  ddpc_forward_ctx ctx = {.training = true, .seed = 1};
  double t0 = 0;
  for (int i = -10; i < steps; i++) {  // 10 warm-up steps
    if (i == 0) {
      c->ops->barrier(c);
      t0 = ddpc_time_seconds();
      if (s) ddpc_grad_sync_take_stats(s);
    }
    if (s && ddpc_grad_sync_begin(s)) die(c, "begin");
    ddpc_model_forward(m, x, 64, &ctx);
    ddpc_model_backward(m, dout, 64, s ? ddpc_grad_sync_layer_ready : NULL, s);
    ddpc_grad_parts parts;
    if (s && ddpc_grad_sync_finish(s, &parts)) die(c, "finish");
  }
  double t = max_over_ranks(c, (ddpc_time_seconds() - t0) / steps);
  if (s) *st = ddpc_grad_sync_take_stats(s);
  return t;
}

static void bench_mlp(ddpc_comm *c) {
  ddpc_layer_spec specs[5];
  int units[5] = {256, 0, 128, 0, 10};
  for (int i = 0; i < 5; i++) {
    specs[i] = ddpc_layer_spec_default(i % 2 ? DDPC_LAYER_RELU : DDPC_LAYER_LINEAR);
    specs[i].units = units[i];
  }
  ddpc_model *m = NULL;
  if (ddpc_model_create(specs, 5, ddpc_shape_vector(784), 64, DDPC_DEVICE_CPU, &m)) die(c, "model");
  ddpc_model_init_params(m, 1);
  float *x = ddpc_alloc_aligned(64 * 784 * sizeof(float), "inputs");
  float *dout = ddpc_alloc_aligned(64 * 10 * sizeof(float), "output gradients");
  if (!x || !dout) die(c, "alloc");
  for (int i = 0; i < 64 * 784; i++) x[i] = (float)((i * 37 + c->rank) % 101) / 101.0f - 0.5f;
  for (int i = 0; i < 64 * 10; i++) dout[i] = (float)((i * 13 + c->rank) % 7) / 448.0f - 0.007f;
  const int steps = 400;
  ddpc_grad_sync_stats st = {0};
  double base = time_mlp_steps(c, m, NULL, x, dout, steps, &st);
  if (c->rank == 0)
    printf("MLP %zu params, batch 64, %d ranks, %d steps; ms per step (slowest rank)\n%-28s %8.3f\n",
           ddpc_model_param_count(m), c->size, steps, "no exchange", base * 1e3);
  double caps[] = {1.0, 0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0, 4.0};
  for (int k = 0; k < (int)(sizeof caps / sizeof caps[0]); k++) {
    bool overlap = k > 0;
    ddpc_comm_config cfg = {.bucket_mb = caps[k], .overlap = overlap, .intra_node = DDPC_INTRA_NODE_MPI};
    ddpc_grad_sync *s = NULL;
    if (ddpc_grad_sync_create(c, m, &cfg, &s)) die(c, "grad sync");
    double t = time_mlp_steps(c, m, s, x, dout, steps, &st);
    if (c->rank == 0) {
      char label[64];
      if (overlap)
        snprintf(label, sizeof label, "overlap, bucket_mb %g (%d)", caps[k], ddpc_grad_sync_bucket_count(s));
      else
        snprintf(label, sizeof label, "one all-reduce after");
      printf("%-28s %8.3f  (+%.3f)  comm %.3f  exposed %.3f\n", label, t * 1e3, (t - base) * 1e3,
             st.comm_seconds / (double)st.steps * 1e3, st.exposed_seconds / (double)st.steps * 1e3);
    }
    ddpc_grad_sync_free(s);
  }
  free(x);
  free(dout);
  ddpc_model_free(m);
}

int main(int argc, char **argv) {
  double bucket_mb = DDPC_DEFAULT_BUCKET_MB;
  bool mlp = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--bucket-mb") == 0 && i + 1 < argc)
      bucket_mb = atof(argv[++i]);
    else if (strcmp(argv[i], "--mlp") == 0)
      mlp = true;
    else {
      fprintf(stderr, "usage: mpirun -n N %s [--bucket-mb X] [--mlp]\n", argv[0]);
      return 2;
    }
  }
  ddpc_comm *c = NULL;
  if (ddpc_comm_create_mpi(&c)) die(NULL, "communicator");
  if (c->size > 64) {
    if (c->rank == 0) fprintf(stderr, "at most 64 ranks\n");
    ddpc_comm_free(c);
    return 2;
  }
  if (mlp)
    bench_mlp(c);
  else
    bench_sizes(c, bucket_mb);
  ddpc_comm_free(c);
  return 0;
}
