/* The collective watchdog: a monitor thread per process that ends the whole job when a
 * blocking collective (or the shared-memory gradient wait) makes no progress for
 * comm.timeout_seconds, with one line saying which operation, at which training step, on
 * which rank, instead of letting the job hang (Open MPI waits forever when the network
 * between two ranks is cut while their daemons still reach mpirun).
 *
 * The communicator thread marks every blocking wait with ddpc_watchdog_enter/leave. Those
 * are a few plain stores (no clock read, no lock, no syscall): enter bumps a generation
 * counter, and the monitor, waking about four times per timeout, declares a stall when it
 * sees the same generation in flight for the whole timeout. A wait that makes progress of
 * its own (the shared-memory wait, when another rank arrives) calls enter again, which
 * restarts the clock.
 *
 * A device backend (comm/comm_nccl.c) adds two hooks: a poll the monitor runs at every look
 * (NCCL's asynchronous error), and an abort it runs before ending the job for any reason
 * (ncclCommAbort, so no GPU kernel keeps waiting for a peer that is gone). */
#ifndef DDPC_COMM_WATCHDOG_H
#define DDPC_COMM_WATCHDOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"

/* What the operation in flight was doing, for the message (ints a and b below). */
typedef enum {
  DDPC_WATCH_CONTEXT_NONE,       // nothing to add: "allreduce"
  DDPC_WATCH_CONTEXT_GRADIENTS,  // the whole gradient buffer at once: "allreduce (gradients)"
  DDPC_WATCH_CONTEXT_BUCKET,     // "allreduce (gradient bucket a of b)"
  DDPC_WATCH_CONTEXT_PEER,       // "... (waiting for rank a)"
} ddpc_watch_context;

/* The state the communicator thread writes and the monitor reads. Only the communicator
 * thread writes the operation fields, so they need no read-modify-write atomics. */
typedef struct ddpc_watchdog {
  _Atomic(const char *) op;         // the blocking operation in flight (a static string), NULL when none
  atomic_ullong generation;         // bumped by every enter: unchanged while op is set means no progress
  atomic_int context;               // a ddpc_watch_context
  atomic_llong context_a;           // its first number
  atomic_llong context_b;           // its second number
  atomic_llong step;                // the training step last begun (-1: before the first)
} ddpc_watchdog;

/* The device backend's part in the watch. Both run on the monitor thread, with the
 * watchdog's lock held (so removing the hooks waits for a poll in progress). */
typedef struct {
  char *(*poll)(void *user);  // NULL while healthy, else a malloc'd reason that ends the job
  void (*abort)(void *user);  // called just before the job is ended
  void *user;                 // passed to both
} ddpc_watchdog_device_hooks;

/* Starts watching `comm` (MPI, several ranks) with a limit of timeout_seconds (> 0): the
 * monitor thread runs until ddpc_comm_watchdog_stop. Calling it again changes the limit.
 * A one-rank communicator is not watched (nothing can hang). Errors: -1 with a message. */
int ddpc_comm_watchdog_start(ddpc_comm *comm, double timeout_seconds);
/* Stops and joins the monitor and frees the watchdog; nothing when none runs. */
void ddpc_comm_watchdog_stop(ddpc_comm *comm);
/* Installs (hooks not NULL) or removes (NULL) the device hooks of the watchdog `w` (a
 * communicator's, possibly shared by a wrapping one); nothing when w is NULL. */
void ddpc_watchdog_set_device_hooks(ddpc_watchdog *w, const ddpc_watchdog_device_hooks *hooks);

/* Marks the start of a blocking operation (op: a string that lives forever). w may be NULL. */
static inline void ddpc_watchdog_enter(ddpc_watchdog *w, const char *op) {
  if (!w) return;
  // Generation first, then op with release: a monitor that sees this op also sees the new
  // generation, so it never pairs this op with the previous operation's generation.
  atomic_store_explicit(&w->generation, atomic_load_explicit(&w->generation, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_store_explicit(&w->op, op, memory_order_release);
}

/* The blocking operation has returned. */
static inline void ddpc_watchdog_leave(ddpc_watchdog *w) {
  if (w) atomic_store_explicit(&w->op, NULL, memory_order_release);
}

/* Sets what the next operations are part of (ddpc_watch_context with its numbers); set it
 * before the enter it describes, and back to NONE after the leave. */
static inline void ddpc_watchdog_context(ddpc_watchdog *w, ddpc_watch_context context, int64_t a, int64_t b) {
  if (!w) return;
  atomic_store_explicit(&w->context_a, a, memory_order_relaxed);
  atomic_store_explicit(&w->context_b, b, memory_order_relaxed);
  atomic_store_explicit(&w->context, (int)context, memory_order_relaxed);
}

/* The monitor's message for a stall, without the trailing newline (malloc'd; NULL when
 * out of memory). Exposed for tests. */
char *ddpc_watchdog_message(const ddpc_comm *comm, const ddpc_watchdog *w, const char *host, double stalled_seconds,
                            double timeout_seconds);

#endif
