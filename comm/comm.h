/* The communicator: everything the training loop needs from other ranks goes through
 * here. This file defines the interface; backends are comm_self.c (one process, no MPI)
 * and, from the data-parallel issue on, MPI and NCCL. */
#ifndef DDPC_COMM_COMM_H
#define DDPC_COMM_COMM_H

#include <stddef.h>

typedef struct ddpc_comm ddpc_comm;

typedef enum { DDPC_REDUCE_SUM, DDPC_REDUCE_AVG } ddpc_reduce_op;

struct ddpc_comm {
  int rank;        // this process, 0..size-1
  int size;        // number of ranks
  int local_rank;  // rank among the processes of this node
  const struct ddpc_comm_ops *ops;
  void *impl;      // backend state
};

typedef struct ddpc_comm_ops {
  /* In-place all-reduce of `count` floats. */
  int (*allreduce_float)(ddpc_comm *comm, float *data, size_t count, ddpc_reduce_op op);
  /* In-place sum of `count` doubles (metrics). */
  int (*allreduce_double)(ddpc_comm *comm, double *data, size_t count);
  int (*broadcast)(ddpc_comm *comm, void *data, size_t bytes, int root);
  int (*barrier)(ddpc_comm *comm);
  void (*abort)(ddpc_comm *comm, int code);
  void (*destroy)(ddpc_comm *comm);
} ddpc_comm_ops;

/* A communicator of one rank: collectives are identities. */
int ddpc_comm_create_self(ddpc_comm **out);
void ddpc_comm_destroy(ddpc_comm *comm);

#endif
