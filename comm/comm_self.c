/* The one-rank communicator: every collective is the identity. `ddpc train` without
 * mpirun uses it, and it keeps the training loop free of "if distributed" branches. */
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/error.h"

static int self_allreduce_float(ddpc_comm *c, float *d, size_t n, ddpc_reduce_op op) { return 0; }
static int self_iallreduce_float(ddpc_comm *c, float *d, size_t n, ddpc_reduce_op op, ddpc_comm_request **req) {
  *req = NULL;  // nothing is ever in flight
  return 0;
}
static int self_test(ddpc_comm *c, ddpc_comm_request *req, bool *done) {
  *done = true;
  return 0;
}
static int self_wait(ddpc_comm *c, ddpc_comm_request *req) { return 0; }
static int self_allreduce_double(ddpc_comm *c, double *d, size_t n) { return 0; }
static int self_allgather(ddpc_comm *c, const void *send, void *recv, size_t bytes) {
  memmove(recv, send, bytes);
  return 0;
}
static int self_broadcast(ddpc_comm *c, void *d, size_t bytes, int root) { return 0; }
static int self_barrier(ddpc_comm *c) { return 0; }
/* No other rank waits for this one: the caller unwinds and returns its error. */
static void self_abort(ddpc_comm *c, int code) {}
static void self_free(ddpc_comm *c) { free(c); }

static const ddpc_comm_ops self_ops = {
    .allreduce_float = self_allreduce_float,
    .iallreduce_float = self_iallreduce_float,
    .test = self_test,
    .wait = self_wait,
    .allreduce_double = self_allreduce_double,
    .allgather = self_allgather,
    .broadcast = self_broadcast,
    .barrier = self_barrier,
    .abort = self_abort,
    .free = self_free,
};

int ddpc_comm_create_self(ddpc_comm **out) {
  ddpc_comm *c = ddpc_calloc(1, sizeof *c, "communicator");
  if (!c) return -1;
  c->rank = 0;
  c->size = 1;
  c->local_rank = 0;
  c->local_size = 1;
  c->node_count = 1;
  c->ops = &self_ops;
  *out = c;
  return 0;
}

void ddpc_comm_free(ddpc_comm *comm) {
  if (comm) comm->ops->free(comm);
}
