/* The MPI communicator (comm/comm_mpi.c) at several world sizes: every collective's
 * values, non-blocking all-reduce progress, topology, and the errors it reports.
 * mpi-ranks below lists the world sizes CTest runs it at. */
// mpi-ranks: 1 2 3 4
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/error.h"
#include "mpi_testing.h"
#include "testing.h"

enum { N = 1000 };

/* Value rank r contributes at index i: small integers and halves, so sums are exact. */
static float contribution(int r, size_t i) { return (float)(r + 1) + 0.5f * (float)(i % 7); }
static float expected_sum(int size, size_t i) {
  float s = 0;
  for (int r = 0; r < size; r++) s += contribution(r, i);
  return s;
}

static void fill(float *x, int rank, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = contribution(rank, i);
}

static int count_mismatches(const float *x, size_t n, int size, float scale) {
  int bad = 0;
  for (size_t i = 0; i < n; i++) bad += x[i] != expected_sum(size, i) * scale;
  return bad;
}

static void test_launched(void) {
  CHECK(ddpc_comm_launched(), "under mpirun ddpc_comm_launched() is true");
  const char *names[3] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"};
  char *saved[3];
  for (int k = 0; k < 3; k++) {
    const char *v = getenv(names[k]);
    saved[k] = v ? strdup(v) : NULL;
    unsetenv(names[k]);
  }
  CHECK(!ddpc_comm_launched(), "without launcher variables ddpc_comm_launched() is false");
  setenv("PMI_RANK", "0", 1);
  CHECK(ddpc_comm_launched(), "PMI_RANK alone counts as launched");
  unsetenv("PMI_RANK");
  setenv("PMIX_RANK", "", 1);
  CHECK(!ddpc_comm_launched(), "an empty PMIX_RANK does not count");
  unsetenv("PMIX_RANK");
  for (int k = 0; k < 3; k++) {
    if (saved[k]) setenv(names[k], saved[k], 1);
    free(saved[k]);
  }
}

static void test_topology(ddpc_comm *c) {
  const char *env = getenv("OMPI_COMM_WORLD_SIZE");
  CHECK(env && atoi(env) == c->size, "size %d matches OMPI_COMM_WORLD_SIZE %s", c->size, env ? env : "(unset)");
  CHECK(c->rank >= 0 && c->rank < c->size, "rank %d in 0..%d", c->rank, c->size - 1);
  // mpirun on this one machine: every rank shares the node.
  CHECK(c->node_count == 1, "node_count %d", c->node_count);
  CHECK(c->local_size == c->size, "local_size %d vs size %d", c->local_size, c->size);
  CHECK(c->local_rank == c->rank, "local_rank %d vs rank %d", c->local_rank, c->rank);
}

static void test_allreduce(ddpc_comm *c) {
  float *x = malloc(N * sizeof *x);
  fill(x, c->rank, N);
  CHECK(c->ops->allreduce_float(c, x, N, DDPC_REDUCE_SUM) == 0, "allreduce sum: %s", ddpc_error_message());
  CHECK(count_mismatches(x, N, c->size, 1.0f) == 0, "rank %d: allreduce sum values", c->rank);
  fill(x, c->rank, N);
  CHECK(c->ops->allreduce_float(c, x, N, DDPC_REDUCE_AVG) == 0, "allreduce avg: %s", ddpc_error_message());
  CHECK(count_mismatches(x, N, c->size, 1.0f / (float)c->size) == 0, "rank %d: avg is the sum times 1/size", c->rank);
  CHECK_NEAR(x[3], expected_sum(c->size, 3) / c->size, 1e-5, "avg value");
  CHECK(mpi_testing_all_equal(c, x, N * sizeof *x), "every rank holds the same average");
  free(x);
}

static void test_iallreduce(ddpc_comm *c) {
  // Three requests in flight at once, completed by test polling, wait, and test again.
  enum { K = 3 };
  float *x[K];
  ddpc_comm_request *req[K];
  for (int k = 0; k < K; k++) {
    x[k] = malloc(N * sizeof(float));
    fill(x[k], c->rank, N);
    CHECK(c->ops->iallreduce_float(c, x[k], N, k == 1 ? DDPC_REDUCE_AVG : DDPC_REDUCE_SUM, &req[k]) == 0,
          "iallreduce %d: %s", k, ddpc_error_message());
  }
  bool done = false;
  long polls = 0;
  int rc = 0;
  while (!done && rc == 0 && polls < 100000000L) {
    rc = c->ops->test(c, req[0], &done);
    polls++;
  }
  CHECK(rc == 0, "test: %s", ddpc_error_message());
  CHECK(done, "request 0 completed after %ld polls", polls);
  CHECK(c->ops->wait(c, req[2]) == 0, "wait 2: %s", ddpc_error_message());
  CHECK(c->ops->wait(c, req[1]) == 0, "wait 1: %s", ddpc_error_message());
  CHECK(count_mismatches(x[0], N, c->size, 1.0f) == 0, "rank %d: iallreduce 0 (sum, test)", c->rank);
  CHECK(count_mismatches(x[1], N, c->size, 1.0f / (float)c->size) == 0, "rank %d: iallreduce 1 (avg, wait)", c->rank);
  CHECK(count_mismatches(x[2], N, c->size, 1.0f) == 0, "rank %d: iallreduce 2 (sum, wait)", c->rank);
  for (int k = 0; k < K; k++) free(x[k]);
}

static void test_allgather_broadcast_double(ddpc_comm *c) {
  int mine[2] = {c->rank, 10 * c->rank + 7};
  int *all = calloc(2 * (size_t)c->size, sizeof *all);
  CHECK(c->ops->allgather(c, mine, all, sizeof mine) == 0, "allgather: %s", ddpc_error_message());
  int bad = 0;
  for (int r = 0; r < c->size; r++) bad += all[2 * r] != r || all[2 * r + 1] != 10 * r + 7;
  CHECK(bad == 0, "allgather puts rank r's bytes at r");
  free(all);

  int root = c->size - 1;
  char msg[32] = "untouched";
  if (c->rank == root) snprintf(msg, sizeof msg, "from %d", root);
  CHECK(c->ops->broadcast(c, msg, sizeof msg, root) == 0, "broadcast: %s", ddpc_error_message());
  char want[32];
  snprintf(want, sizeof want, "from %d", root);
  CHECK(strcmp(msg, want) == 0, "rank %d got '%s' from root %d", c->rank, msg, root);

  double d[2] = {0.1 * c->rank, 1.0};
  CHECK(c->ops->allreduce_double(c, d, 2) == 0, "allreduce double: %s", ddpc_error_message());
  CHECK_NEAR(d[0], 0.1 * c->size * (c->size - 1) / 2, 1e-12, "sum of 0.1*rank");
  CHECK(d[1] == c->size, "count of ranks %g", d[1]);
  CHECK(c->ops->barrier(c) == 0, "barrier: %s", ddpc_error_message());
}

static void test_errors(ddpc_comm *c) {
  char expect[128];
  int b = 0;
  CHECK(c->ops->broadcast(c, &b, sizeof b, c->size) == -1, "broadcast from a root that does not exist fails");
  snprintf(expect, sizeof expect, "MPI_Bcast on rank %d: root %d is not a rank (0..%d)", c->rank, c->size,
           c->size - 1);
  CHECK(strcmp(ddpc_error_message(), expect) == 0, "message '%s'", ddpc_error_message());
  // Never touches the memory: the count is refused before MPI sees it.
  float dummy = 0;
  CHECK(c->ops->allreduce_float(c, &dummy, (size_t)1 << 31, DDPC_REDUCE_SUM) == -1, "2^31 floats are refused");
  snprintf(expect, sizeof expect, "MPI_Allreduce on rank %d: 2147483648 elements exceed MPI's int count limit",
           c->rank);
  CHECK(strcmp(ddpc_error_message(), expect) == 0, "message '%s'", ddpc_error_message());
  ddpc_comm_request *req = (ddpc_comm_request *)&dummy;
  CHECK(c->ops->iallreduce_float(c, &dummy, (size_t)1 << 31, DDPC_REDUCE_SUM, &req) == -1 && req == NULL,
        "iallreduce refuses 2^31 floats and hands back no request");
}

int main(void) {
  test_launched();
  ddpc_comm *c = NULL;
  if (ddpc_comm_create(&c) != 0) {
    fprintf(stderr, "ddpc_comm_create: %s\n", ddpc_error_message());
    return 1;
  }
  test_topology(c);
  test_allreduce(c);
  test_iallreduce(c);
  test_allgather_broadcast_double(c);
  test_errors(c);
  return mpi_testing_finish(c);
}
