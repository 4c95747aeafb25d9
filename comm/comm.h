/* The communicator: everything the training loop needs from other ranks goes through
 * here, so no other module calls MPI. Backends: comm_self.c (one process, no MPI),
 * comm_mpi.c (Open MPI) and, in a CUDA build, comm_nccl.c (wraps an MPI communicator so
 * that float all-reduces of GPU buffers run with NCCL).
 * ddpc_comm_create picks MPI when the process was started by mpirun or srun, the self
 * backend otherwise. */
#ifndef DDPC_COMM_COMM_H
#define DDPC_COMM_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ddpc_comm ddpc_comm;
/* An in-flight non-blocking collective; freed by test (when done) or wait. */
typedef struct ddpc_comm_request ddpc_comm_request;

typedef enum { DDPC_REDUCE_SUM, DDPC_REDUCE_AVG } ddpc_reduce_op;

typedef struct ddpc_comm_ops {
  /* In-place all-reduce of `count` floats (AVG divides the sum by size). */
  int (*allreduce_float)(ddpc_comm *comm, float *data, size_t count, ddpc_reduce_op op);
  /* Non-blocking in-place all-reduce; *req receives the handle. */
  int (*iallreduce_float)(ddpc_comm *comm, float *data, size_t count, ddpc_reduce_op op, ddpc_comm_request **req);
  /* Progresses `req`; sets *done and frees it when the collective has completed. */
  int (*test)(ddpc_comm *comm, ddpc_comm_request *req, bool *done);
  /* Blocks until `req` has completed, then frees it. */
  int (*wait)(ddpc_comm *comm, ddpc_comm_request *req);
  /* In-place sum of `count` doubles (metrics: loss sums, counts). */
  int (*allreduce_double)(ddpc_comm *comm, double *data, size_t count);
  /* recv (size * bytes) receives every rank's `bytes` from send, in rank order. */
  int (*allgather)(ddpc_comm *comm, const void *send, void *recv, size_t bytes);
  int (*broadcast)(ddpc_comm *comm, void *data, size_t bytes, int root);
  int (*barrier)(ddpc_comm *comm);
  /* Ends the whole job (every rank) with exit code `code`: the other ranks may be blocked
   * in a collective that only this releases. With one rank there is no other to release,
   * so it returns, as it does if the backend failed to end the job; the caller then
   * returns its error up the stack. Library code never ends the process itself. */
  void (*abort)(ddpc_comm *comm, int code);
  void (*free)(ddpc_comm *comm);
} ddpc_comm_ops;

struct ddpc_comm {
  int rank;                   // this process, 0..size-1
  int size;                   // number of ranks
  int local_rank;             // rank among the processes of this node (MPI shared-memory split)
  int local_size;             // processes on this node
  int node_count;             // nodes in the job (1 when every rank shares one node)
  const ddpc_comm_ops *ops;   // the backend
  void *impl;                 // backend state
  struct ddpc_watchdog *watchdog;  // the collective watchdog (comm/watchdog.h), NULL when not watched
};

/* MPI when started by a launcher (mpirun/mpiexec: OMPI_COMM_WORLD_SIZE; srun with PMIx:
 * PMIX_RANK; PMI_RANK), else one rank. */
int ddpc_comm_create(ddpc_comm **out);
/* A communicator of one rank: collectives are identities. */
int ddpc_comm_create_self(ddpc_comm **out);
/* MPI_COMM_WORLD; initialises MPI (MPI_Init_thread) if needed. */
int ddpc_comm_create_mpi(ddpc_comm **out);
/* Whether this process was started by an MPI launcher (see ddpc_comm_create). */
bool ddpc_comm_launched(void);
/* The training step now beginning, for the collective watchdog's message (comm/watchdog.h):
 * one relaxed store, nothing when the communicator is not watched. */
void ddpc_comm_set_step(ddpc_comm *comm, int64_t step);
/* Finalises (MPI_Finalize) and frees. NULL is fine. */
void ddpc_comm_free(ddpc_comm *comm);

#endif
