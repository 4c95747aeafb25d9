/* All-reduce latency per message size, for fitting the alpha-beta cost model (an MPI
 * program; bench/scaling_netns.sh runs it between the test bed's network namespaces):
 *   mpirun -n P build/bench/bench_allreduce_alpha_beta [--reps R] [--max-bytes B]
 * Each size from 4 bytes to B (default 16 MiB, x4 steps) is all-reduced R times through
 * ddpc's gradient path (ddpc_grad_sync_allreduce_buckets with one bucket: MPI_Iallreduce
 * plus test/wait, the engine of comm.intra_node: mpi). Each call is timed alone after a
 * barrier; a call's time is the slowest rank's. On a machine shared with other work the
 * low end of that distribution is the cost of the call itself, so it prints the minimum,
 * the 10th percentile and the median; bench/scaling_projection.py fits the first two.
 * The algorithm is Open MPI's libnbc one (OMPI_MCA_coll_libnbc_iallreduce_algorithm: ddpc
 * picks 1, ring, unless it is set; 2 is binomial trees), printed on each line. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/grad_sync_internal.h"
#include "core/error.h"
#include "core/sysinfo.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Per-call times of `reps` all-reduces of `bytes`, each the slowest rank's, sorted. */
static int time_calls(ddpc_comm *c, float *buf, size_t bytes, int reps, double *t) {
  size_t n = bytes / sizeof(float);
  for (int r = -3; r < reps; r++) {  // 3 warm-up calls: connections, buffers
    if (c->ops->barrier(c)) return -1;
    double t0 = ddpc_time_seconds();
    if (ddpc_grad_sync_allreduce_buckets(c, buf, n, 1024.0)) return -1;  // one bucket
    if (r >= 0) t[r] = ddpc_time_seconds() - t0;
  }
  if (MPI_Allreduce(MPI_IN_PLACE, t, reps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
  qsort(t, (size_t)reps, sizeof *t, cmp_double);
  return 0;
}

int main(int argc, char **argv) {
  int reps = 200;
  size_t max_bytes = 16u << 20;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--max-bytes") == 0 && i + 1 < argc)
      max_bytes = (size_t)atof(argv[++i]);
    else {
      fprintf(stderr, "usage: mpirun -n P %s [--reps R] [--max-bytes B]\n", argv[0]);
      return 2;
    }
  }
  if (reps < 10) reps = 10;
  ddpc_comm *c = NULL;
  if (ddpc_comm_create_mpi(&c)) {
    fprintf(stderr, "communicator: %s\n", ddpc_error_message());
    return 1;
  }
  const char *alg = getenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm");
  double *t = malloc((size_t)reps * sizeof *t);
  float *buf = ddpc_alloc_aligned(max_bytes, "benchmark buffer");  // zeros: sums stay zero
  if (!t || !buf) c->ops->abort(c, 1);
  if (c->rank == 0) printf("# ranks alg bytes reps min_us p10_us median_us\n");
  for (size_t bytes = 4; bytes <= max_bytes; bytes *= 4) {
    // fewer repetitions where one call moves a lot: about 1 GiB per size at most
    int r = (int)((1u << 30) / bytes);
    r = r > reps ? reps : r < 20 ? 20 : r;
    if (time_calls(c, buf, bytes, r, t)) {
      fprintf(stderr, "rank %d: all-reduce: %s\n", c->rank, ddpc_error_message());
      c->ops->abort(c, 1);
    }
    if (c->rank == 0)
      printf("%d %s %zu %d %.2f %.2f %.2f\n", c->size, alg ? alg : "?", bytes, r, t[0] * 1e6, t[r / 10] * 1e6,
             t[r / 2] * 1e6);
    fflush(stdout);
  }
  free(t);
  free(buf);
  ddpc_comm_free(c);
  return 0;
}
