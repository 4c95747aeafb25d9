/* The collective watchdog's monitor thread (see comm/watchdog.h).
 *
 * Ending the job from the monitor: MPI_Abort(MPI_COMM_WORLD, 6) when MPI runs with
 * MPI_THREAD_MULTIPLE (comm_mpi.c asks for it), because only then may a second thread
 * call MPI while the communicator thread sits inside a collective. Otherwise the process
 * leaves with _exit(6) and the launcher ends the job because one rank exited non-zero.
 * Either way the message goes out first with one write(2), so it is one line even when
 * several ranks fire at once. */
#include <errno.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm/watchdog.h"
#include "core/error.h"
#include "core/exit_code.h"

/* The monitor looks four times per timeout, at least once a second, at most every 10 ms. */
#define WATCHDOG_CHECKS_PER_TIMEOUT 4.0
#define WATCHDOG_MAX_TICK_SECONDS 1.0
#define WATCHDOG_MIN_TICK_SECONDS 0.01

/* The public part first, so a ddpc_watchdog * is also a watchdog_state *. */
typedef struct {
  ddpc_watchdog w;            // what the communicator thread writes
  const ddpc_comm *comm;      // rank and local rank for the message (borrowed)
  char *host;                 // this node's name, for the message
  bool mpi_abort_allowed;     // MPI runs with MPI_THREAD_MULTIPLE
  pthread_t thread;           // the monitor
  pthread_mutex_t lock;       // guards timeout_seconds and stopping
  pthread_cond_t wake;        // signalled to stop the monitor early
  double timeout_seconds;     // the limit (comm.timeout_seconds)
  bool stopping;              // ddpc_comm_watchdog_stop was called
  ddpc_watchdog_device_hooks device;  // the device backend's poll and abort (NULL functions: none); guarded by lock
} watchdog_state;

static double monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *context_text(const ddpc_watchdog *w) {
  long long a = atomic_load_explicit(&w->context_a, memory_order_relaxed);
  long long b = atomic_load_explicit(&w->context_b, memory_order_relaxed);
  switch ((ddpc_watch_context)atomic_load_explicit(&w->context, memory_order_relaxed)) {
    case DDPC_WATCH_CONTEXT_GRADIENTS:
      return ddpc_format(" (gradients)");
    case DDPC_WATCH_CONTEXT_BUCKET:
      return ddpc_format(" (gradient bucket %lld of %lld)", a, b);
    case DDPC_WATCH_CONTEXT_PEER:
      return ddpc_format(" (waiting for rank %lld)", a);
    case DDPC_WATCH_CONTEXT_NONE:
    default:
      return ddpc_format("%s", "");
  }
}

char *ddpc_watchdog_message(const ddpc_comm *comm, const ddpc_watchdog *w, const char *host, double stalled_seconds,
                            double timeout_seconds) {
  const char *op = atomic_load_explicit(&w->op, memory_order_acquire);
  long long step = atomic_load_explicit(&w->step, memory_order_relaxed);
  char *context = context_text(w);
  char *when = step >= 0 ? ddpc_format("at step %lld", step) : ddpc_format("before the first training step");
  char *line = NULL;
  if (context && when)
    line = ddpc_format("ddpc: rank %d (local rank %d on host %s): collective watchdog: %s%s made no progress for "
                       "%.1f s %s (comm.timeout_seconds %g); aborting the job",
                       comm->rank, comm->local_rank, host, op ? op : "an operation", context, stalled_seconds, when,
                       timeout_seconds);
  free(context);
  free(when);
  return line;
}

/* Writes `line` (NULL: a fallback), runs the device abort, then ends the job; does not
 * return. Called with the lock held, which keeps the device hooks in place. */
static void watchdog_fire(watchdog_state *st, char *line) {
  if (line) {
    size_t len = strlen(line);
    line[len] = '\n';  // replaces the terminator: one write, one line
    ssize_t written = write(STDERR_FILENO, line, len + 1);
    (void)written;  // nothing better to do if stderr is gone
  } else {
    static const char fallback[] = "ddpc: collective watchdog: an operation made no progress; aborting the job\n";
    ssize_t written = write(STDERR_FILENO, fallback, sizeof fallback - 1);
    (void)written;
  }
  free(line);
  if (st->device.abort) st->device.abort(st->device.user);
  // The communicator thread is blocked in MPI or the shared-memory wait, not in stdio.
  fflush(stdout);
  if (st->mpi_abort_allowed) MPI_Abort(MPI_COMM_WORLD, DDPC_EXIT_FAULT);
  _exit(DDPC_EXIT_FAULT);  // a rank failed during training: the job was aborted
}

static double tick_seconds(double timeout_seconds) {
  double tick = timeout_seconds / WATCHDOG_CHECKS_PER_TIMEOUT;
  if (tick > WATCHDOG_MAX_TICK_SECONDS) tick = WATCHDOG_MAX_TICK_SECONDS;
  if (tick < WATCHDOG_MIN_TICK_SECONDS) tick = WATCHDOG_MIN_TICK_SECONDS;
  return tick;
}

static void *watchdog_main(void *arg) {
  watchdog_state *st = arg;
  bool tracking = false;       // an operation was in flight at the last look
  unsigned long long seen = 0;  // its generation
  double since = 0;            // when this generation was first seen in flight
  pthread_mutex_lock(&st->lock);
  while (!st->stopping) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double tick = tick_seconds(st->timeout_seconds);
    long long ns = (long long)deadline.tv_nsec + (long long)(tick * 1e9);
    deadline.tv_sec += (time_t)(ns / 1000000000LL);
    deadline.tv_nsec = (long)(ns % 1000000000LL);
    while (!st->stopping && pthread_cond_timedwait(&st->wake, &st->lock, &deadline) != ETIMEDOUT) {
    }
    if (st->stopping) break;
    char *device_error = st->device.poll ? st->device.poll(st->device.user) : NULL;
    if (device_error) {
      char *line = ddpc_format("ddpc: rank %d (local rank %d on host %s): collective watchdog: %s; aborting the job",
                               st->comm->rank, st->comm->local_rank, st->host, device_error);
      free(device_error);
      watchdog_fire(st, line);
    }
    double timeout = st->timeout_seconds;
    // Op before generation: an op seen here comes with its own generation or a newer one.
    const char *op = atomic_load_explicit(&st->w.op, memory_order_acquire);
    unsigned long long generation = atomic_load_explicit(&st->w.generation, memory_order_relaxed);
    double now = monotonic_seconds();
    if (!op) {
      tracking = false;
    } else if (!tracking || generation != seen) {
      tracking = true;
      seen = generation;
      since = now;
    } else if (now - since >= timeout) {
      watchdog_fire(st, ddpc_watchdog_message(st->comm, &st->w, st->host, now - since, timeout));
    }
  }
  pthread_mutex_unlock(&st->lock);
  return NULL;
}

static char *host_name(void) {
  char name[256];  // HOST_NAME_MAX is 64 on Linux; the kernel's names, not user text
  if (gethostname(name, sizeof name) != 0) return ddpc_strdup("?");
  name[sizeof name - 1] = '\0';
  return ddpc_strdup(name);
}

static void state_free(watchdog_state *st) {
  pthread_mutex_destroy(&st->lock);
  pthread_cond_destroy(&st->wake);
  free(st->host);
  free(st);
}

int ddpc_comm_watchdog_start(ddpc_comm *comm, double timeout_seconds) {
  if (!(timeout_seconds > 0))
    return ddpc_error_set("collective watchdog: comm.timeout_seconds must be > 0, got %g", timeout_seconds);
  if (comm->size <= 1) return 0;
  if (comm->watchdog) {
    watchdog_state *st = (watchdog_state *)comm->watchdog;
    pthread_mutex_lock(&st->lock);
    st->timeout_seconds = timeout_seconds;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    return 0;
  }
  watchdog_state *st = ddpc_calloc(1, sizeof *st, "collective watchdog");
  if (!st) return -1;
  atomic_init(&st->w.op, NULL);
  atomic_init(&st->w.generation, 0);
  atomic_init(&st->w.context, DDPC_WATCH_CONTEXT_NONE);
  atomic_init(&st->w.context_a, 0);
  atomic_init(&st->w.context_b, 0);
  atomic_init(&st->w.step, -1);
  st->comm = comm;
  st->timeout_seconds = timeout_seconds;
  st->host = host_name();
  int level = MPI_THREAD_SINGLE;
  st->mpi_abort_allowed = MPI_Query_thread(&level) == MPI_SUCCESS && level == MPI_THREAD_MULTIPLE;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_mutex_init(&st->lock, NULL);
  pthread_cond_init(&st->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (!st->host) {
    state_free(st);
    return -1;
  }
  // Signals stay with the training thread (SIGTERM/SIGUSR1 handling, the test hooks).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&st->thread, NULL, watchdog_main, st);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    state_free(st);
    return ddpc_error_set("collective watchdog: cannot start its thread: %s", strerror(rc));
  }
  comm->watchdog = &st->w;
  return 0;
}

void ddpc_comm_watchdog_stop(ddpc_comm *comm) {
  if (!comm || !comm->watchdog) return;
  watchdog_state *st = (watchdog_state *)comm->watchdog;
  pthread_mutex_lock(&st->lock);
  st->stopping = true;
  pthread_cond_signal(&st->wake);
  pthread_mutex_unlock(&st->lock);
  pthread_join(st->thread, NULL);
  comm->watchdog = NULL;
  state_free(st);
}

void ddpc_watchdog_set_device_hooks(ddpc_watchdog *w, const ddpc_watchdog_device_hooks *hooks) {
  if (!w) return;
  watchdog_state *st = (watchdog_state *)w;
  pthread_mutex_lock(&st->lock);
  if (hooks) st->device = *hooks;
  else memset(&st->device, 0, sizeof st->device);
  pthread_mutex_unlock(&st->lock);
}

void ddpc_comm_set_step(ddpc_comm *comm, int64_t step) {
  if (comm->watchdog) atomic_store_explicit(&comm->watchdog->step, step, memory_order_relaxed);
}
