/* The NCCL communicator backend (see comm/comm_nccl.h). Its float all-reduces are NCCL on
 * device memory; everything else is forwarded to the MPI communicator it wraps, whose
 * watchdog it shares.
 *
 * Ordering without host synchronisation: before each all-reduce an event recorded on the
 * compute stream makes the communication stream wait for the gradients queued so far; the
 * all-reduce runs on the communication stream (created at the highest priority, so its
 * kernels go first when backward keeps the GPU busy), and records its own event, which
 * wait makes the compute stream wait for before the optimizer. Buckets started during
 * backward thus overlap with the backward of earlier layers.
 *
 * Errors: every NCCL and CUDA call is checked (file, line, the call and the library's
 * string). NCCL reports network and peer failures asynchronously; they are polled at each
 * test/wait and by the collective watchdog's monitor, which also aborts the NCCL
 * communicator before it ends the job, so no kernel is left spinning on a dead peer. */
#include <nccl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/comm_nccl.h"
#include "comm/watchdog.h"
#include "core/device_cuda_internal.h"
#include "core/error.h"

typedef struct {
  ddpc_comm *host;       // the MPI communicator: bootstrap, host collectives, MPI_Abort
  ncclComm_t nccl;       // the NCCL communicator over the same ranks, NULL until joined
  cudaStream_t stream;   // the communication stream, NULL until made
  cudaEvent_t ready;     // recorded on the compute stream before each all-reduce
  atomic_bool aborted;   // ncclCommAbort was called (by an error path or the watchdog)
} nccl_state;

/* A queued all-reduce: its completion event on the communication stream. */
struct ddpc_comm_request {
  cudaEvent_t done;  // recorded after the all-reduce
};

/* "<call> failed on rank R at file:line: <NCCL's string> (<its last error>)". */
static int nccl_check_at(ncclResult_t rc, const char *file, int line, const char *call, int rank) {
  if (rc == ncclSuccess || rc == ncclInProgress) return 0;
  const char *last = ncclGetLastError(NULL);
  return ddpc_error_set("NCCL error at %s:%d: %s failed on rank %d: %s%s%s%s", file, line, call, rank,
                        ncclGetErrorString(rc), last && *last ? " (" : "", last ? last : "", last && *last ? ")" : "");
}
#define NCCL_CHECK(call, rank) nccl_check_at((call), __FILE__, __LINE__, #call, (rank))

static nccl_state *state_of(const ddpc_comm *c) { return (nccl_state *)c->impl; }

/* The asynchronous error of the communicator, as a malloc'd reason; NULL while healthy. */
static char *nccl_async_error(nccl_state *s) {
  if (!s->nccl || atomic_load(&s->aborted)) return NULL;
  ncclResult_t async = ncclSuccess;
  ncclResult_t rc = ncclCommGetAsyncError(s->nccl, &async);
  if (rc != ncclSuccess) return ddpc_format("ncclCommGetAsyncError failed: %s", ncclGetErrorString(rc));
  if (async == ncclSuccess || async == ncclInProgress) return NULL;
  const char *last = ncclGetLastError(s->nccl);
  return ddpc_format("NCCL asynchronous error: %s%s%s", ncclGetErrorString(async), last && *last ? ": " : "",
                     last ? last : "");
}

/* ncclCommAbort once: it unblocks whatever waits on the peers. */
static void nccl_abort_comm(nccl_state *s) {
  if (s->nccl && !atomic_exchange(&s->aborted, true)) ncclCommAbort(s->nccl);
}

/* The watchdog's hooks. */
static char *nccl_watch_poll(void *user) { return nccl_async_error(user); }
static void nccl_watch_abort(void *user) { nccl_abort_comm(user); }

/* Records an asynchronous error as the current error; -1 when there is one. */
static int nccl_check_async(ddpc_comm *c) {
  char *why = nccl_async_error(state_of(c));
  if (!why) return 0;
  ddpc_error_set("rank %d: %s", c->rank, why);
  free(why);
  return -1;
}

static int nccl_iallreduce_float(ddpc_comm *c, float *data, size_t count, ddpc_reduce_op op,
                                 ddpc_comm_request **out) {
  *out = NULL;
  nccl_state *s = state_of(c);
  if (nccl_check_async(c)) return -1;
  ddpc_comm_request *r = ddpc_calloc(1, sizeof *r, "NCCL request");
  if (!r) return -1;
  if (DDPC_CUDA_CHECK(cudaEventCreateWithFlags(&r->done, cudaEventDisableTiming))) {
    free(r);
    return -1;
  }
  int rc = DDPC_CUDA_CHECK(cudaEventRecord(s->ready, ddpc_cuda_stream()));
  if (rc == 0) rc = DDPC_CUDA_CHECK(cudaStreamWaitEvent(s->stream, s->ready, 0));
  if (rc == 0)
    rc = NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat, op == DDPC_REDUCE_AVG ? ncclAvg : ncclSum, s->nccl,
                                  s->stream),
                    c->rank);
  if (rc == 0) rc = DDPC_CUDA_CHECK(cudaEventRecord(r->done, s->stream));
  if (rc != 0) {
    cudaEventDestroy(r->done);
    free(r);
    return -1;
  }
  *out = r;
  return 0;
}

/* The compute stream waits for the all-reduce; the request is freed either way. */
static int nccl_finish_request(ddpc_comm_request *r) {
  int rc = DDPC_CUDA_CHECK(cudaStreamWaitEvent(ddpc_cuda_stream(), r->done, 0));
  cudaEventDestroy(r->done);  // legal while the wait is pending: the wait holds the recorded state
  free(r);
  return rc;
}

static int nccl_test(ddpc_comm *c, ddpc_comm_request *r, bool *done) {
  *done = false;
  if (nccl_check_async(c)) {
    cudaEventDestroy(r->done);
    free(r);
    return -1;
  }
  cudaError_t q = cudaEventQuery(r->done);
  if (q == cudaErrorNotReady) return 0;  // not an error, and not sticky
  if (DDPC_CUDA_CHECK(q)) {
    cudaEventDestroy(r->done);
    free(r);
    return -1;
  }
  *done = true;
  return nccl_finish_request(r);
}

static int nccl_wait(ddpc_comm *c, ddpc_comm_request *r) {
  if (nccl_check_async(c)) {
    cudaEventDestroy(r->done);
    free(r);
    return -1;
  }
  return nccl_finish_request(r);
}

static int nccl_allreduce_float(ddpc_comm *c, float *data, size_t count, ddpc_reduce_op op) {
  ddpc_comm_request *r = NULL;
  if (nccl_iallreduce_float(c, data, count, op, &r)) return -1;
  return nccl_wait(c, r);
}

/* Host collectives: the MPI communicator's. */
static int nccl_allreduce_double(ddpc_comm *c, double *data, size_t count) {
  ddpc_comm *h = state_of(c)->host;
  return h->ops->allreduce_double(h, data, count);
}
static int nccl_allgather(ddpc_comm *c, const void *send, void *recv, size_t bytes) {
  ddpc_comm *h = state_of(c)->host;
  return h->ops->allgather(h, send, recv, bytes);
}
static int nccl_broadcast(ddpc_comm *c, void *data, size_t bytes, int root) {
  ddpc_comm *h = state_of(c)->host;
  return h->ops->broadcast(h, data, bytes, root);
}
static int nccl_barrier(ddpc_comm *c) {
  ddpc_comm *h = state_of(c)->host;
  return h->ops->barrier(h);
}

static void nccl_abort(ddpc_comm *c, int code) {
  nccl_abort_comm(state_of(c));
  ddpc_comm *h = state_of(c)->host;
  h->ops->abort(h, code);
}

static void nccl_free(ddpc_comm *c) {
  nccl_state *s = state_of(c);
  if (s) {
    // The hooks go first: after this the monitor can no longer poll a communicator being freed.
    ddpc_watchdog_set_device_hooks(c->watchdog, NULL);
    if (s->nccl && !atomic_load(&s->aborted)) {
      cudaStreamSynchronize(s->stream);
      ncclCommDestroy(s->nccl);
    }
    if (s->ready) cudaEventDestroy(s->ready);
    if (s->stream) cudaStreamDestroy(s->stream);
    // A watch started on this wrapper rather than on the MPI communicator is ours to stop.
    if (c->watchdog && (!s->host || c->watchdog != s->host->watchdog)) ddpc_comm_watchdog_stop(c);
    if (s->host) s->host->ops->free(s->host);
    free(s);
  }
  free(c);
}

static const ddpc_comm_ops nccl_ops = {
    .allreduce_float = nccl_allreduce_float,
    .iallreduce_float = nccl_iallreduce_float,
    .test = nccl_test,
    .wait = nccl_wait,
    .allreduce_double = nccl_allreduce_double,
    .allgather = nccl_allgather,
    .broadcast = nccl_broadcast,
    .barrier = nccl_barrier,
    .abort = nccl_abort,
    .free = nccl_free,
};

/* What rank 0 broadcasts: whether it could make the id, and the id. Every rank learns of
 * a failure on rank 0 instead of waiting for an id that never comes. */
typedef struct {
  int ok;             // 1 when ncclGetUniqueId succeeded on rank 0
  ncclUniqueId id;    // the communicator's rendezvous id
} nccl_bootstrap;

/* Joins the NCCL communicator: id from rank 0 over MPI, then ncclCommInitRank, which
 * blocks until every rank has joined (watched: a rank that never comes ends the job). */
static int nccl_join(ddpc_comm *c, nccl_state *s) {
  nccl_bootstrap boot;
  memset(&boot, 0, sizeof boot);
  if (c->rank == 0) boot.ok = NCCL_CHECK(ncclGetUniqueId(&boot.id), c->rank) == 0;
  if (s->host->ops->broadcast(s->host, &boot, sizeof boot, 0) != 0) return -1;
  if (!boot.ok)
    return c->rank == 0 ? -1 : ddpc_error_set("rank %d: rank 0 could not create the NCCL id (see its message)", c->rank);
  ddpc_watchdog_enter(c->watchdog, "NCCL communicator setup");
  int rc = NCCL_CHECK(ncclCommInitRank(&s->nccl, c->size, boot.id, c->rank), c->rank);
  ddpc_watchdog_leave(c->watchdog);
  if (rc != 0) s->nccl = NULL;
  // Agree on the outcome, so that no rank goes on with a communicator another rank lacks.
  double failed = rc != 0;
  if (s->host->ops->allreduce_double(s->host, &failed, 1) != 0) return -1;
  if (rc == 0 && failed > 0) return ddpc_error_set("rank %d: another rank could not join the NCCL communicator", c->rank);
  return rc;
}

int ddpc_comm_create_nccl(ddpc_comm *host, ddpc_comm **out) {
  *out = NULL;
  ddpc_comm *c = ddpc_calloc(1, sizeof *c, "NCCL communicator");
  nccl_state *s = ddpc_calloc(1, sizeof *s, "NCCL communicator state");
  if (!c || !s) {
    free(c);
    free(s);
    host->ops->free(host);
    return -1;
  }
  atomic_init(&s->aborted, false);
  s->host = host;
  *c = *host;  // rank, size, local rank, node count, watchdog
  c->ops = &nccl_ops;
  c->impl = s;
  if (!ddpc_cuda_is_open()) {
    nccl_free(c);
    return ddpc_error_set("NCCL communicator on rank %d: no GPU is open (ddpc_device_open comes first)", host->rank);
  }
  int greatest = 0, least = 0;
  int rc = DDPC_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  if (rc == 0) rc = DDPC_CUDA_CHECK(cudaStreamCreateWithPriority(&s->stream, cudaStreamNonBlocking, greatest));
  if (rc == 0) rc = DDPC_CUDA_CHECK(cudaEventCreateWithFlags(&s->ready, cudaEventDisableTiming));
  if (rc == 0) rc = nccl_join(c, s);
  if (rc != 0) {
    nccl_free(c);
    return -1;
  }
  ddpc_watchdog_device_hooks hooks = {nccl_watch_poll, nccl_watch_abort, s};
  ddpc_watchdog_set_device_hooks(c->watchdog, &hooks);
  *out = c;
  return 0;
}

int ddpc_comm_nccl_sync(ddpc_comm *c) {
  cudaEvent_t done = NULL;
  if (DDPC_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming))) return -1;
  int rc = DDPC_CUDA_CHECK(cudaEventRecord(done, ddpc_cuda_stream()));
  // Poll rather than block in CUDA: the wait stays interruptible by the watchdog's abort
  // and notices NCCL's asynchronous errors itself.
  ddpc_watchdog_enter(c->watchdog, "GPU stream wait (NCCL all-reduce)");
  while (rc == 0) {
    cudaError_t q = cudaEventQuery(done);
    if (q == cudaSuccess) break;
    if (q != cudaErrorNotReady) rc = DDPC_CUDA_CHECK(q);
    else if (nccl_check_async(c)) rc = -1;
    else nanosleep(&(struct timespec){0, 100000}, NULL);  // 0.1 ms: small next to a step
  }
  ddpc_watchdog_leave(c->watchdog);
  cudaEventDestroy(done);
  return rc == 0 ? ddpc_cuda_take_error() : -1;
}
