/* Internal interfaces of gradient synchronisation, shared by comm/grad_sync.c (public
 * functions, bucket planning, MPI bucket path), comm/grad_sync_shm.c (shared-memory path)
 * and bench/allreduce_bench.c. Not part of the library's public surface. */
#ifndef DDPC_COMM_GRAD_SYNC_INTERNAL_H
#define DDPC_COMM_GRAD_SYNC_INTERNAL_H

#include <stddef.h>

#include "comm/comm.h"
#include "comm/grad_sync.h"

/* ---- Shared-memory path (comm/grad_sync_shm.c) ---- */

typedef struct ddpc_grad_sync_shm ddpc_grad_sync_shm;

/* Sets up the node's shared segment for n_params floats per rank (every rank of `comm`
 * is on one node, comm->node_count == 1, comm->size > 1). Collective: every rank calls it.
 * Errors are recorded with ddpc_error_set and -1 is returned. */
int ddpc_grad_sync_shm_create(ddpc_comm *comm, size_t n_params, ddpc_grad_sync_shm **out);
/* Where this rank's backward writes this step's gradients (n_params floats); the grad
 * sync binds the model to it in begin(). Changes between steps (double buffering). */
float *ddpc_grad_sync_shm_slot(ddpc_grad_sync_shm *s);
/* After backward: publishes this rank's slot, waits until every rank has published this
 * step, and sets *parts to the node's slots in rank order (*n_parts = comm->size). The
 * pointers stay valid until the next publish_and_wait. Advances to the next slot. */
int ddpc_grad_sync_shm_publish_and_wait(ddpc_grad_sync_shm *s, const float *const **parts, int *n_parts);
/* NULL is fine. */
void ddpc_grad_sync_shm_free(ddpc_grad_sync_shm *s);

/* ---- Bucketed MPI all-reduce (comm/grad_sync.c) ---- */

/* All-reduces (SUM, in place) a flat buffer as consecutive buckets of at most bucket_mb
 * MiB, walking from the end of the buffer to the start like backward does: every bucket
 * is started with a non-blocking all-reduce and the in-flight ones are tested after each
 * start, then all are waited for. The same bucket engine ddpc_grad_sync uses, exposed for
 * bench/allreduce_bench.c. bucket_mb <= 0 means one bucket. */
int ddpc_grad_sync_allreduce_buckets(ddpc_comm *comm, float *data, size_t count, double bucket_mb);

/* The MPI path's bucket plan, for tests: the number of buckets (0 for other methods) and
 * bucket i's range of the gradient buffer; bucket 0 holds the last layers. */
int ddpc_grad_sync_bucket_count(const ddpc_grad_sync *sync);
void ddpc_grad_sync_bucket_range(const ddpc_grad_sync *sync, int i, size_t *offset, size_t *count);

#endif
