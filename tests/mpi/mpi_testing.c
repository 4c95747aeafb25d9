/* Implementation of the multi-rank test helpers declared in mpi_testing.h. */
#include "mpi_testing.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/hash.h"
#include "testing.h"

int mpi_testing_finish(ddpc_comm *comm) {
  double counts[3] = {testing_passed, testing_failed, testing_skipped};
  if (comm->ops->allreduce_double(comm, counts, 3)) {
    fprintf(stderr, "rank %d: reducing test counts: %s\n", comm->rank, ddpc_error_message());
    comm->ops->abort(comm, 1);
  }
  // The rule of testing_finish, over all ranks: nothing checked and nothing skipped fails.
  bool none = counts[0] == 0 && counts[2] == 0;
  if (comm->rank == 0) {
    printf("%d ranks: %.0f passed, %.0f failed, %.0f skipped\n", comm->size, counts[0], counts[1], counts[2]);
    if (none) fprintf(stderr, "FAILED: no check ran on any rank\n");
  }
  fflush(stdout);
  ddpc_comm_free(comm);
  if (counts[1] != 0 || none) return 1;
  return counts[0] == 0 ? 77 : 0;
}

bool mpi_testing_all_equal(ddpc_comm *comm, const void *data, size_t bytes) {
  uint64_t mine = ddpc_hash_bytes(data, bytes, 0);
  uint64_t *all = calloc((size_t)comm->size, sizeof *all);
  bool ok = all && comm->ops->allgather(comm, &mine, all, sizeof mine) == 0;
  for (int r = 0; ok && r < comm->size; r++) ok = all[r] == mine;
  free(all);
  return ok;
}
