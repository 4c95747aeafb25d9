/* The NCCL communicator backend: gradients on the GPU are all-reduced with NCCL on a
 * communication stream of their own, ordered after the compute stream's backward by CUDA
 * events and before the optimizer by another, so no step waits on the host. Built only
 * with CUDA (comm/comm_nccl.c). */
#ifndef DDPC_COMM_COMM_NCCL_H
#define DDPC_COMM_COMM_NCCL_H

#include "comm/comm.h"

/* Wraps `host` (an MPI communicator of several ranks; owned from now on, also on failure)
 * into one whose float all-reduces (allreduce_float, iallreduce_float, test, wait) run with
 * NCCL on device pointers; the host collectives (doubles, gather, broadcast, barrier) and
 * the watchdog stay with `host`. Needs the GPU opened first (ddpc_device_open with the
 * local rank) and best after the watchdog has started on `host` (the two then share it).
 * Rank 0 makes the ncclUniqueId and broadcasts it over `host`; every rank
 * then joins with ncclCommInitRank. Every NCCL call is checked; the watchdog polls
 * ncclCommGetAsyncError, and abort (or the watchdog) calls ncclCommAbort before
 * MPI_Abort. For float collectives:
 *  - iallreduce_float queues the all-reduce and returns: the communication stream waits
 *    for what the compute stream has queued so far (the gradients), NCCL reduces there.
 *  - test polls its completion event without blocking.
 *  - wait makes the compute stream wait for it; the host does not (kernels queued after
 *    wait see the reduced values).
 *  - allreduce_float is iallreduce_float followed by wait.
 * AVG is ncclAvg. */
int ddpc_comm_create_nccl(ddpc_comm *host, ddpc_comm **out);
/* Waits on the host until the compute stream is done (a checkpoint, the logged loss),
 * marked for the watchdog, so a peer that stopped mid all-reduce ends the job instead of
 * hanging it; -1 with the first CUDA error otherwise. */
int ddpc_comm_nccl_sync(ddpc_comm *comm);

#endif
