/* The NCCL backend on real GPUs: float all-reduces (SUM, AVG; blocking, and bucketed
 * non-blocking with test polling as the gradient sync drives them) over device buffers,
 * the host collectives forwarded to MPI, and the host wait that the watchdog guards.
 * Skipped (exit 77 on every rank) in a build without CUDA and where this node has fewer
 * GPUs than ranks: each rank needs a GPU of its own. */
// mpi-ranks: 1 2
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "mpi_testing.h"
#include "testing.h"

#ifdef DDPC_HAVE_CUDA
#include "comm/comm_nccl.h"
#include "comm/grad_sync_internal.h"
#include "comm/watchdog.h"

/* rank r's element i: small integers, so every sum is exact in float. */
static float value_at(int rank, size_t i) { return (float)(rank + 1 + (int)(i % 7)); }

static void fill_device(float *d, int rank, size_t n) {
  float *h = malloc(n * sizeof *h);
  for (size_t i = 0; i < n; i++) h[i] = value_at(rank, i);
  ddpc_device_copy(d, DDPC_DEVICE_CUDA, h, DDPC_DEVICE_CPU, n * sizeof *h);
  free(h);
}

/* Every element equals sum over ranks of value_at (times `scale`). */
static void check_device(const ddpc_comm *c, const char *what, const float *d, size_t n, double scale) {
  float *h = malloc(n * sizeof *h);
  CHECK(ddpc_device_copy(h, DDPC_DEVICE_CPU, d, DDPC_DEVICE_CUDA, n * sizeof *h) == 0, "%s: copy back: %s", what,
        ddpc_error_message());
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double want = 0;
    for (int r = 0; r < c->size; r++) want += value_at(r, i);
    if (fabs(h[i] - want * scale) > 1e-6 * want) bad++;
  }
  CHECK(bad == 0, "%s: %zu of %zu elements wrong", what, bad, n);
  free(h);
}

static void test_allreduce(ddpc_comm *c) {
  const size_t n = 1000003;  // odd, and more than one NCCL chunk
  float *d = ddpc_device_alloc(DDPC_DEVICE_CUDA, n * sizeof(float), "test buffer");
  fill_device(d, c->rank, n);
  CHECK(c->ops->allreduce_float(c, d, n, DDPC_REDUCE_SUM) == 0, "allreduce sum: %s", ddpc_error_message());
  check_device(c, "allreduce sum", d, n, 1.0);
  fill_device(d, c->rank, n);
  CHECK(c->ops->allreduce_float(c, d, n, DDPC_REDUCE_AVG) == 0, "allreduce avg: %s", ddpc_error_message());
  check_device(c, "allreduce avg", d, n, 1.0 / c->size);
  // Buckets as the gradient sync starts them: non-blocking, polled, then waited for.
  fill_device(d, c->rank, n);
  CHECK(ddpc_grad_sync_allreduce_buckets(c, d, n, 0.5) == 0, "bucketed: %s", ddpc_error_message());
  check_device(c, "bucketed allreduce", d, n, 1.0);
  CHECK(ddpc_comm_nccl_sync(c) == 0, "host wait: %s", ddpc_error_message());
  ddpc_device_free(DDPC_DEVICE_CUDA, d);
}

/* Host collectives still work through the wrapper. */
static void test_host_collectives(ddpc_comm *c) {
  double x = c->rank + 1;
  CHECK(c->ops->allreduce_double(c, &x, 1) == 0 && x == c->size * (c->size + 1) / 2.0, "allreduce_double: %g", x);
  int root_value = c->rank == 0 ? 42 : 0;
  CHECK(c->ops->broadcast(c, &root_value, sizeof root_value, 0) == 0 && root_value == 42, "broadcast");
}
#endif

int main(void) {
  ddpc_comm *c = NULL;
  if (ddpc_comm_create(&c) != 0) {
    fprintf(stderr, "ddpc_comm_create: %s\n", ddpc_error_message());
    return 1;
  }
#ifndef DDPC_HAVE_CUDA
  if (c->rank == 0) printf("SKIPPED: no CUDA device: %s\n", DDPC_DEVICE_NO_CUDA_MESSAGE);
  ddpc_comm_free(c);
  return 77;
#else
  // Every rank takes the same way: skip unless all have a GPU of their own.
  int count = 0;
  double missing = ddpc_device_probe(DDPC_DEVICE_CUDA, &count) != 0 || count <= c->local_rank;
  if (c->ops->allreduce_double(c, &missing, 1) != 0 || missing > 0) {
    if (c->rank == 0) printf("SKIPPED: no CUDA device for every rank (%d GPU(s) here for %d local rank(s))\n", count, c->local_size);
    ddpc_comm_free(c);
    return 77;
  }
  if (ddpc_device_open(DDPC_DEVICE_CUDA, c->local_rank) != 0 || ddpc_comm_watchdog_start(c, 60.0) != 0) {
    fprintf(stderr, "rank %d: %s\n", c->rank, ddpc_error_message());
    c->ops->abort(c, 1);
  }
  ddpc_comm *nccl = NULL;
  if (ddpc_comm_create_nccl(c, &nccl) != 0) {  // takes c, also on failure
    fprintf(stderr, "rank %d: ddpc_comm_create_nccl: %s\n", c->rank, ddpc_error_message());
    return 1;
  }
  test_allreduce(nccl);
  test_host_collectives(nccl);
  int rc = mpi_testing_finish(nccl);
  ddpc_device_close(DDPC_DEVICE_CUDA);
  return rc;
#endif
}
