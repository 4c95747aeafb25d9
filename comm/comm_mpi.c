/* The Open MPI communicator backend, and the choice between it and the one-rank backend.
 *
 * Collectives run on a duplicate of MPI_COMM_WORLD so nothing else a program does with MPI
 * can match ours by accident, and it has MPI_ERRORS_RETURN: a failing MPI call becomes a
 * recorded message ("MPI_Allreduce failed on rank 3: ...") and -1, and the caller decides
 * to abort the job (ops->abort) rather than MPI killing it without saying where.
 *
 * AVG is computed as the MPI sum followed by a multiplication by 1/size on every rank
 * (MPI has no average op). Multiplying instead of dividing can differ from sum/size by one
 * rounding step for sizes that are not powers of two; every rank does the same, so
 * replicas stay identical. The trainer itself uses SUM on pre-scaled gradients. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "comm/comm.h"
#include "comm/watchdog.h"
#include "core/error.h"

typedef struct {
  MPI_Comm world;       // our duplicate of MPI_COMM_WORLD
  bool we_initialised;  // MPI_Init_thread was ours, so MPI_Finalize is ours too
} mpi_state;

struct ddpc_comm_request {
  MPI_Request req;      // the MPI handle
  float *data;          // the reduced range, scaled after completion for AVG
  size_t count;         // floats in data
  ddpc_reduce_op op;    // SUM or AVG
};

/* Records "<what> failed on rank R: <MPI's text>" when rc is not MPI_SUCCESS. */
static int mpi_check(int rc, const char *what, int rank) {
  if (rc == MPI_SUCCESS) return 0;
  char text[MPI_MAX_ERROR_STRING];  // MPI's own bound on its messages
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", rc);
  return ddpc_error_set("%s failed on rank %d: %s", what, rank, text);
}

/* MPI counts are ints: larger requests would be silently truncated. */
static int mpi_check_count(size_t count, const char *what, int rank) {
  if (count <= (size_t)INT_MAX) return 0;
  return ddpc_error_set("%s on rank %d: %zu elements exceed MPI's int count limit", what, rank, count);
}

static MPI_Comm world_of(const ddpc_comm *c) { return ((const mpi_state *)c->impl)->world; }

static void scale_avg(const ddpc_comm *c, float *data, size_t count) {
  const float inv = 1.0f / (float)c->size;
  for (size_t i = 0; i < count; i++) data[i] *= inv;
}

static int mpi_allreduce_float(ddpc_comm *c, float *data, size_t count, ddpc_reduce_op op) {
  if (mpi_check_count(count, "MPI_Allreduce", c->rank)) return -1;
  ddpc_watchdog_enter(c->watchdog, "allreduce");
  int rc = MPI_Allreduce(MPI_IN_PLACE, data, (int)count, MPI_FLOAT, MPI_SUM, world_of(c));
  ddpc_watchdog_leave(c->watchdog);
  if (mpi_check(rc, "MPI_Allreduce", c->rank)) return -1;
  if (op == DDPC_REDUCE_AVG) scale_avg(c, data, count);
  return 0;
}

static int mpi_iallreduce_float(ddpc_comm *c, float *data, size_t count, ddpc_reduce_op op,
                                ddpc_comm_request **out) {
  *out = NULL;
  if (mpi_check_count(count, "MPI_Iallreduce", c->rank)) return -1;
  ddpc_comm_request *r = ddpc_malloc(sizeof *r, "MPI request");
  if (!r) return -1;
  r->data = data;
  r->count = count;
  r->op = op;
  if (mpi_check(MPI_Iallreduce(MPI_IN_PLACE, data, (int)count, MPI_FLOAT, MPI_SUM, world_of(c), &r->req),
                "MPI_Iallreduce", c->rank)) {
    free(r);
    return -1;
  }
  *out = r;
  return 0;
}

/* The request is freed once it has completed or failed: after a failure the job is
 * going to be aborted and the MPI handle is no longer meaningful. */
static int mpi_test(ddpc_comm *c, ddpc_comm_request *r, bool *done) {
  int flag = 0;
  *done = false;
  if (mpi_check(MPI_Test(&r->req, &flag, MPI_STATUS_IGNORE), "MPI_Test", c->rank)) {
    free(r);
    return -1;
  }
  if (!flag) return 0;
  if (r->op == DDPC_REDUCE_AVG) scale_avg(c, r->data, r->count);
  free(r);
  *done = true;
  return 0;
}

static int mpi_wait(ddpc_comm *c, ddpc_comm_request *r) {
  ddpc_watchdog_enter(c->watchdog, "allreduce");
  int rc = MPI_Wait(&r->req, MPI_STATUS_IGNORE);
  ddpc_watchdog_leave(c->watchdog);
  rc = mpi_check(rc, "MPI_Wait", c->rank);
  if (rc == 0 && r->op == DDPC_REDUCE_AVG) scale_avg(c, r->data, r->count);
  free(r);
  return rc;
}

static int mpi_allreduce_double(ddpc_comm *c, double *data, size_t count) {
  if (mpi_check_count(count, "MPI_Allreduce", c->rank)) return -1;
  ddpc_watchdog_enter(c->watchdog, "allreduce");
  int rc = MPI_Allreduce(MPI_IN_PLACE, data, (int)count, MPI_DOUBLE, MPI_SUM, world_of(c));
  ddpc_watchdog_leave(c->watchdog);
  return mpi_check(rc, "MPI_Allreduce", c->rank);
}

static int mpi_allgather(ddpc_comm *c, const void *send, void *recv, size_t bytes) {
  if (mpi_check_count(bytes, "MPI_Allgather", c->rank)) return -1;
  ddpc_watchdog_enter(c->watchdog, "allgather");
  int rc = MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, world_of(c));
  ddpc_watchdog_leave(c->watchdog);
  return mpi_check(rc, "MPI_Allgather", c->rank);
}

static int mpi_broadcast(ddpc_comm *c, void *data, size_t bytes, int root) {
  if (root < 0 || root >= c->size)
    return ddpc_error_set("MPI_Bcast on rank %d: root %d is not a rank (0..%d)", c->rank, root, c->size - 1);
  if (mpi_check_count(bytes, "MPI_Bcast", c->rank)) return -1;
  ddpc_watchdog_enter(c->watchdog, "broadcast");
  int rc = MPI_Bcast(data, (int)bytes, MPI_BYTE, root, world_of(c));
  ddpc_watchdog_leave(c->watchdog);
  return mpi_check(rc, "MPI_Bcast", c->rank);
}

static int mpi_barrier(ddpc_comm *c) {
  ddpc_watchdog_enter(c->watchdog, "barrier");
  int rc = MPI_Barrier(world_of(c));
  ddpc_watchdog_leave(c->watchdog);
  return mpi_check(rc, "MPI_Barrier", c->rank);
}

static void mpi_abort(ddpc_comm *c, int code) {
  // One rank (mpirun -n 1): nobody waits in a collective; the caller returns its error.
  if (c->size == 1) return;
  // Whatever this rank already printed should reach the user before the job dies.
  fflush(stdout);
  fflush(stderr);
  // Does not return in practice; if it does, the caller unwinds with its error.
  MPI_Abort(MPI_COMM_WORLD, code);
}

static void mpi_free(ddpc_comm *c) {
  ddpc_comm_watchdog_stop(c);  // before MPI goes away: the monitor may call MPI_Abort
  mpi_state *s = c->impl;
  if (s) {
    if (s->world != MPI_COMM_NULL) MPI_Comm_free(&s->world);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (s->we_initialised && !finalized) MPI_Finalize();
    free(s);
  }
  free(c);
}

static const ddpc_comm_ops mpi_ops = {
    .allreduce_float = mpi_allreduce_float,
    .iallreduce_float = mpi_iallreduce_float,
    .test = mpi_test,
    .wait = mpi_wait,
    .allreduce_double = mpi_allreduce_double,
    .allgather = mpi_allgather,
    .broadcast = mpi_broadcast,
    .barrier = mpi_barrier,
    .abort = mpi_abort,
    .free = mpi_free,
};

/* rank/size of the world, local rank/size from the shared-memory split, and the node
 * count as the number of ranks that are local rank 0. */
static int mpi_fill_topology(ddpc_comm *c, MPI_Comm world) {
  int rank = -1;
  if (mpi_check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank", rank)) return -1;
  c->rank = rank;
  if (mpi_check(MPI_Comm_size(world, &c->size), "MPI_Comm_size", rank)) return -1;
  MPI_Comm local = MPI_COMM_NULL;
  if (mpi_check(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local),
                "MPI_Comm_split_type", rank))
    return -1;
  int rc = mpi_check(MPI_Comm_rank(local, &c->local_rank), "MPI_Comm_rank", rank);
  if (rc == 0) rc = mpi_check(MPI_Comm_size(local, &c->local_size), "MPI_Comm_size", rank);
  MPI_Comm_free(&local);
  if (rc) return -1;
  int leader = c->local_rank == 0;
  if (mpi_check(MPI_Allreduce(&leader, &c->node_count, 1, MPI_INT, MPI_SUM, world), "MPI_Allreduce", rank))
    return -1;
  return 0;
}

int ddpc_comm_create_mpi(ddpc_comm **out) {
  *out = NULL;
  int initialised = 0, finalized = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalized);
  if (finalized) return ddpc_error_set("MPI communicator: MPI was already finalised in this process");
  ddpc_comm *c = ddpc_calloc(1, sizeof *c, "communicator");
  mpi_state *s = ddpc_calloc(1, sizeof *s, "MPI communicator state");
  if (!c || !s) {
    free(c);
    free(s);
    return -1;
  }
  s->world = MPI_COMM_NULL;
  c->impl = s;
  c->ops = &mpi_ops;
  c->rank = -1;  // unknown until MPI_Comm_rank succeeds; error messages say so
  if (!initialised) {
    // Open MPI's non-blocking all-reduce (libnbc) picks a binomial reduce+broadcast for
    // in-place buffers and fewer than 4 ranks: two serial full-size transfers, about 0.5-0.7x
    // the bus bandwidth of the blocking MPI_Allreduce. Its ring algorithm moves each half
    // once each way and measured on par (bench/allreduce_bench.c), and, like every
    // reduce-then-distribute scheme, leaves all ranks with bitwise equal sums. A value the
    // user set (environment or mpirun --mca) wins: setenv does not overwrite.
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
    int provided = 0;
    // The training thread makes every MPI call but one: the collective watchdog's monitor
    // thread (comm/watchdog.c) calls MPI_Abort when a collective hangs, which MPI allows only
    // under MULTIPLE. Granted a lower level, the watchdog ends its process with _exit instead.
    if (mpi_check(MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread", -1)) {
      mpi_free(c);
      return -1;
    }
    s->we_initialised = true;
    // The world is ours, so its errors may come back as codes too (MPI_Comm_dup below runs on it).
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  if (mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &s->world), "MPI_Comm_dup", -1) ||
      mpi_check(MPI_Comm_set_errhandler(s->world, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", -1) ||
      mpi_fill_topology(c, s->world)) {
    mpi_free(c);
    return -1;
  }
  *out = c;
  return 0;
}

static bool env_set(const char *name) {
  const char *v = getenv(name);
  return v && *v;
}

bool ddpc_comm_launched(void) {
  return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_RANK");
}

int ddpc_comm_create(ddpc_comm **out) {
  return ddpc_comm_launched() ? ddpc_comm_create_mpi(out) : ddpc_comm_create_self(out);
}
