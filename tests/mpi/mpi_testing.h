/* Helpers shared by the multi-rank tests: the end of a test program (every rank's
 * failures count, rank 0 prints the totals) and a checksum to compare ranks' buffers. */
#ifndef DDPC_MPI_TESTING_H
#define DDPC_MPI_TESTING_H

#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"

/* Sums passed/failed/skipped over all ranks, prints the totals on rank 0, frees comm
 * and returns the exit code as testing_finish does, over all ranks: 1 when a rank failed
 * or no rank checked or skipped anything, 77 when only skips happened, 0 otherwise.
 * Every rank must call it. */
int mpi_testing_finish(ddpc_comm *comm);
/* True when every rank's `bytes` at data hash the same (allgather of a 64-bit hash). */
bool mpi_testing_all_equal(ddpc_comm *comm, const void *data, size_t bytes);

#endif
