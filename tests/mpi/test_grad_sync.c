/* Gradient synchronisation over MPI (comm/grad_sync.c): with a real model, each rank's
 * backward on its own data followed by the bucketed all-reduce must give the rank-order
 * sum of every rank's own gradients, for bucket caps from one bucket per layer to one for
 * the whole model, with and without overlap; and every rank must end bitwise equal. */
// mpi-ranks: 1 2 3 4
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/grad_sync.h"
#include "comm/grad_sync_internal.h"
#include "core/error.h"
#include "core/model.h"
#include "core/rng.h"
#include "mpi_testing.h"
#include "testing.h"

enum { IN = 13, BATCH = 6, OUT = 5 };
// Parameter counts: linear 13->17: 238, linear 17->11: 198, linear 11->5: 60 (496 in all).
enum { P0 = 238, P2 = 198, P4 = 60, NP = P0 + P2 + P4 };

static ddpc_layer_spec spec_of(ddpc_layer_kind kind, int units) {
  ddpc_layer_spec s = ddpc_layer_spec_default(kind);
  s.units = units;
  return s;
}

static ddpc_model *make_model(void) {
  ddpc_layer_spec specs[5] = {spec_of(DDPC_LAYER_LINEAR, 17), spec_of(DDPC_LAYER_RELU, 0),
                              spec_of(DDPC_LAYER_LINEAR, 11), spec_of(DDPC_LAYER_TANH, 0),
                              spec_of(DDPC_LAYER_LINEAR, OUT)};
  ddpc_model *m = NULL;
  if (ddpc_model_create(specs, 5, ddpc_shape_vector(IN), BATCH, DDPC_DEVICE_CPU, &m) != 0) {
    fprintf(stderr, "model: %s\n", ddpc_error_message());
    exit(1);
  }
  ddpc_model_init_params(m, 42);  // same seed everywhere: ranks start as replicas
  return m;
}

/* Inputs and output gradients differ per rank (and per step): a hash of the indices. */
static float pseudo(int rank, int step, int i) {
  uint32_t h = (uint32_t)(rank * 7919 + step * 104729 + i) * 2654435761u;
  h ^= h >> 15;
  return (float)(h % 2001) / 1000.0f - 1.0f;
}

static void run_backward(ddpc_model *m, int rank, int step, ddpc_grad_ready_fn ready, void *user) {
  float x[BATCH * IN], dout[BATCH * OUT];
  for (int i = 0; i < BATCH * IN; i++) x[i] = pseudo(rank, step, i);
  for (int i = 0; i < BATCH * OUT; i++) dout[i] = pseudo(rank + 100, step, i);
  ddpc_forward_ctx ctx = {.training = true, .seed = 1, .step = (uint64_t)step};
  ddpc_model_forward(m, x, BATCH, &ctx);
  ddpc_model_backward(m, dout, BATCH, ready, user);
}

/* The reference: every rank's unsynchronised gradients, gathered and summed in rank order;
 * mag receives the sum of magnitudes (for the tolerance). */
static void reference_sum(ddpc_comm *c, ddpc_model *m, int step, float *sum, float *mag) {
  run_backward(m, c->rank, step, NULL, NULL);
  float *all = malloc((size_t)c->size * NP * sizeof *all);
  CHECK(c->ops->allgather(c, ddpc_model_grads(m)->data, all, NP * sizeof(float)) == 0, "allgather: %s",
        ddpc_error_message());
  for (int i = 0; i < NP; i++) {
    sum[i] = 0;
    mag[i] = 0;
    for (int r = 0; r < c->size; r++) {
      sum[i] += all[(size_t)r * NP + i];
      mag[i] += fabsf(all[(size_t)r * NP + i]);
    }
  }
  free(all);
}

static void check_plan(const ddpc_grad_sync *s, double bucket_mb, int size) {
  int n = ddpc_grad_sync_bucket_count(s);
  if (size == 1) {
    CHECK(n == 0, "one rank plans no buckets, got %d", n);
    return;
  }
  // Expected plans, walking last layer to first: caps in floats of 1e-9 MiB (< 1 float),
  // 260 floats (layers 4 and 2 together: 258), and 1 MiB (everything).
  size_t want[3][3][2] = {{{P0 + P2, P4}, {P0, P2}, {0, P0}}, {{P0, P2 + P4}, {0, P0}}, {{0, NP}}};
  int want_n = bucket_mb < 1e-6 ? 3 : bucket_mb < 1e-2 ? 2 : 1;
  int row = 3 - want_n;
  CHECK(n == want_n, "bucket_mb %g: %d buckets, expected %d", bucket_mb, n, want_n);
  for (int i = 0; i < n && i < want_n; i++) {
    size_t off, cnt;
    ddpc_grad_sync_bucket_range(s, i, &off, &cnt);
    CHECK(off == want[row][i][0] && cnt == want[row][i][1], "bucket_mb %g bucket %d: [%zu,+%zu), expected [%zu,+%zu)",
          bucket_mb, i, off, cnt, want[row][i][0], want[row][i][1]);
  }
}

static void test_sync(ddpc_comm *c, double bucket_mb, bool overlap) {
  ddpc_model *m = make_model();
  CHECK(ddpc_model_param_count(m) == NP, "model has %zu params", ddpc_model_param_count(m));
  ddpc_comm_config cfg = {.bucket_mb = bucket_mb, .overlap = overlap, .intra_node = DDPC_INTRA_NODE_MPI};
  ddpc_grad_sync *s = NULL;
  if (ddpc_grad_sync_create(c, m, &cfg, &s) != 0) {
    CHECK(false, "create: %s", ddpc_error_message());
    ddpc_model_free(m);
    return;
  }
  CHECK(strcmp(ddpc_grad_sync_method(s), c->size == 1 ? "none" : "mpi") == 0, "method %s", ddpc_grad_sync_method(s));
  check_plan(s, bucket_mb, c->size);
  float sum[NP], mag[NP];
  for (int step = 0; step < 3; step++) {
    reference_sum(c, m, step, sum, mag);
    CHECK(ddpc_grad_sync_begin(s) == 0, "begin: %s", ddpc_error_message());
    run_backward(m, c->rank, step, ddpc_grad_sync_layer_ready, s);
    ddpc_grad_parts parts = {0};
    CHECK(ddpc_grad_sync_finish(s, &parts) == 0, "finish: %s", ddpc_error_message());
    CHECK(parts.n_parts == 1 && parts.parts && parts.parts[0] == ddpc_model_grads(m)->data,
          "one part, the model's gradient buffer");
    int bad = 0, first_bad = -1;
    for (int i = 0; i < NP; i++) {
      // Different MPI algorithms add in different orders: a few ulps of the magnitudes.
      bool ok = fabsf(parts.parts[0][i] - sum[i]) <= 4e-7f * mag[i] + 1e-30f;
      if (!ok && first_bad < 0) first_bad = i;
      bad += !ok;
    }
    CHECK(bad == 0, "rank %d bucket_mb %g overlap %d step %d: %d of %d gradients differ from the rank sum (first %d)",
          c->rank, bucket_mb, overlap, step, bad, NP, first_bad);
    CHECK(mpi_testing_all_equal(c, parts.parts[0], NP * sizeof(float)),
          "bucket_mb %g overlap %d step %d: every rank holds bitwise the same gradients", bucket_mb, overlap, step);
  }
  ddpc_grad_sync_stats st = ddpc_grad_sync_take_stats(s);
  CHECK(st.steps == 3, "3 steps counted, got %lld", (long long)st.steps);
  CHECK(st.comm_seconds >= 0 && st.exposed_seconds >= 0 && st.comm_seconds < 60 && st.exposed_seconds < 60,
        "stats are plausible durations: comm %g exposed %g", st.comm_seconds, st.exposed_seconds);
  if (c->size == 1) CHECK(st.comm_seconds == 0, "one rank communicates for no time");
  if (c->size > 1) CHECK(st.comm_seconds > 0, "several ranks: comm time is measured");
  st = ddpc_grad_sync_take_stats(s);
  CHECK(st.steps == 0 && st.comm_seconds == 0 && st.exposed_seconds == 0, "take_stats resets");
  ddpc_grad_sync_free(s);
  ddpc_model_free(m);
}

static void test_method_choice(ddpc_comm *c) {
  if (c->size == 1) return;
  ddpc_model *m = make_model();
  ddpc_comm fake = *c;  // same ranks, pretending they span two nodes
  fake.node_count = 2;
  ddpc_comm_config cfg = {.bucket_mb = 1, .overlap = true, .intra_node = DDPC_INTRA_NODE_SHM};
  ddpc_grad_sync *s = NULL;
  CHECK(ddpc_grad_sync_create(&fake, m, &cfg, &s) == -1 && s == NULL, "shm across nodes is refused");
  CHECK(strcmp(ddpc_error_message(), "comm.intra_node: shm needs every rank on one node (this job spans 2 nodes)") == 0,
        "message '%s'", ddpc_error_message());
  cfg.intra_node = DDPC_INTRA_NODE_AUTO;
  CHECK(ddpc_grad_sync_create(&fake, m, &cfg, &s) == 0, "auto on two nodes: %s", ddpc_error_message());
  if (s) CHECK(strcmp(ddpc_grad_sync_method(s), "mpi") == 0, "auto on two nodes picks mpi, got %s",
               ddpc_grad_sync_method(s));
  ddpc_grad_sync_free(s);
  ddpc_model_free(m);
}

/* The flat-buffer bucket engine the benchmark uses: sums for caps giving 1..many buckets. */
static void test_allreduce_buckets(ddpc_comm *c) {
  const size_t n = 100003;  // not a multiple of any bucket size
  double caps[4] = {0, 1e-3, 0.1, 8};  // 0: one bucket; 1e-3 MiB = 262 floats: 382 buckets
  float *x = malloc(n * sizeof *x);
  for (int k = 0; k < 4; k++) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(c->rank + 1) * (float)(i % 13);
    CHECK(ddpc_grad_sync_allreduce_buckets(c, x, n, caps[k]) == 0, "buckets %g: %s", caps[k], ddpc_error_message());
    float ranks = (float)c->size * (float)(c->size + 1) / 2;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += x[i] != ranks * (float)(i % 13);
    CHECK(bad == 0, "rank %d bucket_mb %g: %zu wrong sums", c->rank, caps[k], bad);
  }
  CHECK(ddpc_grad_sync_allreduce_buckets(c, x, 0, 1.0) == 0, "an empty buffer is fine");
  free(x);
}

int main(void) {
  ddpc_comm *c = NULL;
  if (ddpc_comm_create(&c) != 0) {
    fprintf(stderr, "ddpc_comm_create: %s\n", ddpc_error_message());
    return 1;
  }
  double caps[3] = {1e-9, 260.0 / 262144.0, 1.0};
  for (int k = 0; k < 3; k++) {
    test_sync(c, caps[k], true);
    test_sync(c, caps[k], false);
  }
  test_method_choice(c);
  test_allreduce_buckets(c);
  return mpi_testing_finish(c);
}
