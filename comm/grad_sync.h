/* Gradient synchronisation for one training step: turns each rank's gradients into the
 * average over all ranks while backward is still running.
 *
 * Two ways, chosen by comm.intra_node (see ddpc_comm_config):
 *  - mpi: gradient buckets are views into the flat gradient buffer, filled in reverse layer
 *    order and capped at comm.bucket_mb. As backward reports a layer's gradients
 *    (ddpc_grad_sync_layer_ready), every bucket whose range is complete starts a
 *    non-blocking MPI all-reduce (SUM), progressed with test calls between layers;
 *    finish waits for the rest. The result is one buffer.
 *  - shm: (all ranks on one node) each rank's backward writes straight into its slot of a
 *    shared-memory segment (double-buffered across steps); finish waits until every rank
 *    has published its step, and hands back all slots. The optimizer sums them in rank
 *    order as it updates, so the reduction costs no pass of its own.
 * Either way the trainer scales the loss gradient by 1/world, so the sum is the average,
 * and every rank adds the same numbers in the same order: replicas stay bitwise equal. */
#ifndef DDPC_COMM_GRAD_SYNC_H
#define DDPC_COMM_GRAD_SYNC_H

#include <stddef.h>

#include "comm/comm.h"
#include "core/model.h"
#include "core/settings.h"

/* The buffers whose element-wise sum, added in this order, is the averaged gradient. */
typedef struct {
  const float *const *parts;  // n_parts pointers, each n_params floats
  int n_parts;                // 1 for mpi, the node's ranks for shm
} ddpc_grad_parts;

typedef struct {
  double comm_seconds;     // wall time with a gradient collective in flight or being waited for
  double exposed_seconds;  // of that, time the step stood waiting after backward had finished
  int64_t steps;           // steps measured
} ddpc_grad_sync_stats;

typedef struct ddpc_grad_sync ddpc_grad_sync;

int ddpc_grad_sync_create(ddpc_comm *comm, ddpc_model *model, const ddpc_comm_config *cfg, ddpc_grad_sync **out);
void ddpc_grad_sync_free(ddpc_grad_sync *sync);
/* Which way was chosen ("mpi", "shm", "nccl" for GPU gradients, or "none" for one rank). */
const char *ddpc_grad_sync_method(const ddpc_grad_sync *sync);
/* Before backward: binds where the model writes this step's gradients, resets buckets. */
int ddpc_grad_sync_begin(ddpc_grad_sync *sync);
/* A ddpc_grad_ready_fn: pass it with `sync` as user to ddpc_model_backward. Errors are
 * kept and returned by finish. */
void ddpc_grad_sync_layer_ready(void *user, int layer_index, size_t offset, size_t count);
/* After backward: completes the synchronisation and describes the result. */
int ddpc_grad_sync_finish(ddpc_grad_sync *sync, ddpc_grad_parts *parts);
/* Counters since the last reset (the trainer resets each epoch). */
ddpc_grad_sync_stats ddpc_grad_sync_take_stats(ddpc_grad_sync *sync);

#endif
