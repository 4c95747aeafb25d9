/* Implementation of the multi-rank test helpers declared in mpi_testing.h. */
#include "mpi_testing.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/hash.h"
#include "testing.h"

int mpi_testing_finish(ddpc_comm *comm) {
  double counts[2] = {testing_passed, testing_failed};
  if (comm->ops->allreduce_double(comm, counts, 2)) {
    fprintf(stderr, "rank %d: reducing test counts: %s\n", comm->rank, ddpc_error_message());
    comm->ops->abort(comm, 1);
  }
  if (comm->rank == 0) printf("%d ranks: %.0f passed, %.0f failed\n", comm->size, counts[0], counts[1]);
  fflush(stdout);
  ddpc_comm_destroy(comm);
  return counts[1] == 0 ? 0 : 1;
}

bool mpi_testing_all_equal(ddpc_comm *comm, const void *data, size_t bytes) {
  uint64_t mine = ddpc_hash_bytes(data, bytes, 0);
  uint64_t *all = calloc((size_t)comm->size, sizeof *all);
  bool ok = all && comm->ops->allgather(comm, &mine, all, sizeof mine) == 0;
  for (int r = 0; ok && r < comm->size; r++) ok = all[r] == mine;
  free(all);
  return ok;
}
