/* The shared-memory gradient exchange for ranks on one node (see comm/grad_sync.h): each
 * rank's backward writes into its own slot of a POSIX shared-memory segment, publishes
 * the step with a release store, and every rank then reads all slots, summing them inside
 * its optimizer pass. MPI is used only to set the segment up; per step there is no MPI
 * call, no copy and no reduction pass, only atomics.
 *
 * Why two slot sets are enough. Step k uses set k%2. Per rank the order is:
 *   backward(k) writes its slot of set k%2 -> publish(k) -> wait(k) -> optimizer(k) reads
 *   every slot of set k%2 -> backward(k+1) writes its slot of set (k+1)%2 -> publish(k+1) ...
 * The only writes that could race with a reader are those of backward(k+1) into set
 * (k+1)%2, the set of step k-1. Rank r starts backward(k+1) only after wait(k) saw every
 * rank q at counter >= k+1, i.e. after q published step k. q publishes step k after its
 * backward(k), which comes after its optimizer(k-1): q's last reads of set (k-1)%2 are
 * ordered before its release store of k+1, which r's acquire load observed, so r's new
 * writes happen after them. A slower rank still in optimizer(k) reads set k%2, which
 * nobody writes again before passing wait(k+1), which needs that rank's publish(k+1).
 * So ranks drift apart by at most one step and a third buffer is not needed. The caller
 * must finish reading the parts before its next publish_and_wait (the optimizer does). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SHM_CPU_RELAX() _mm_pause()
#else
#define SHM_CPU_RELAX() ((void)0)
#endif

#include "comm/grad_sync_internal.h"
#include "comm/watchdog.h"
#include "core/error.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
               "the per-rank counters live in memory shared between processes: they must be lock-free");

#define SHM_LINE 64
#define SHM_SLOT_SETS 2
#define SHM_MAGIC 0x6464706373686d31ULL  // "ddpcshm1"
#define SHM_NAME_BYTES 64                // "/ddpc-<pid>-<16 hex digits>": made here, never user text
#define SHM_DEFAULT_TIMEOUT_SECONDS 120.0
#define SHM_TIMEOUT_ENV "DDPC_SHM_TIMEOUT_SECONDS"
// Backoff while waiting: spin (a peer is normally a few microseconds behind), then yield
// the core (a peer may need it when ranks outnumber cores), then sleep.
#define SHM_SPIN_SECONDS 50e-6
#define SHM_YIELD_SECONDS 2e-3
#define SHM_SLEEP_NANOSECONDS 50000L

/* Rank 0 fills this in before the set-up barrier; the others check it. */
typedef struct {
  uint64_t magic;     // SHM_MAGIC: the segment is one of ours
  uint64_t size;      // ranks sharing it
  uint64_t n_params;  // floats per slot before padding
} shm_header;

/* One per rank, each on its own cache line so a publish does not invalidate the line
 * the other ranks are polling for someone else. */
typedef struct {
  alignas(SHM_LINE) atomic_ullong published;  // steps this rank has published (step k done => k+1)
} shm_counter;

struct ddpc_grad_sync_shm {
  ddpc_comm *comm;              // the node's ranks (borrowed)
  size_t n_params;              // floats of gradient per rank
  size_t slot_floats;           // n_params rounded up to whole cache lines
  void *map;                    // the mapped segment
  size_t map_bytes;             // its length
  shm_counter *counters;        // comm->size counters in the segment
  float *slots;                 // SHM_SLOT_SETS x size x slot_floats, after the counters
  const float **parts;          // what publish_and_wait hands out, comm->size pointers
  uint64_t step;                // steps this rank has published
  double timeout_seconds;       // how long a wait may see no progress before failing
  bool spin;                    // busy-wait first (false when ranks outnumber cores)
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

static int read_timeout(double *out) {
  *out = SHM_DEFAULT_TIMEOUT_SECONDS;
  const char *text = getenv(SHM_TIMEOUT_ENV);
  if (!text || !*text) return 0;
  char *end = NULL;
  errno = 0;
  double value = strtod(text, &end);
  if (errno || *end || !(value > 0.0) || !isfinite(value))
    return ddpc_error_set("%s: expected a positive number of seconds, got '%s'", SHM_TIMEOUT_ENV, text);
  *out = value;
  return 0;
}

/* A name no other job on the node uses: pid of rank 0 plus bits from the clock and the
 * stack address (ASLR), retried under O_EXCL if it still collides. */
static void make_name(char name[SHM_NAME_BYTES], unsigned attempt) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t bits = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec ^
                  (uint64_t)(uintptr_t)&ts * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)attempt << 56;
  snprintf(name, SHM_NAME_BYTES, "/ddpc-%ld-%016" PRIx64, (long)getpid(), bits);
}

/* Rank 0: creates and sizes the segment. posix_fallocate reserves the pages now, so a
 * full /dev/shm fails here with a message instead of SIGBUS in the middle of backward. */
static int create_segment(char name[SHM_NAME_BYTES], size_t bytes) {
  int fd = -1;
  for (unsigned attempt = 0; fd < 0 && attempt < 8; attempt++) {
    make_name(name, attempt);
    fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) return ddpc_error_set("shm_open %s: %s", name, strerror(errno));
  int rc = posix_fallocate(fd, 0, (off_t)bytes);
  if (rc) {
    close(fd);
    shm_unlink(name);
    return ddpc_error_set("shared memory %s: cannot reserve %zu bytes (is /dev/shm large enough?): %s", name,
                          bytes, strerror(rc));
  }
  return fd;
}

static int map_segment(ddpc_grad_sync_shm *s, int fd, const char *name) {
  void *map = mmap(NULL, s->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return ddpc_error_set("mmap %s (%zu bytes): %s", name, s->map_bytes, strerror(errno));
  s->map = map;
  return 0;
}

/* Everyone but rank 0: opens the segment named by rank 0 and checks it is the one meant. */
static int open_segment(ddpc_grad_sync_shm *s, const char *name) {
  int fd = shm_open(name, O_RDWR, 0600);
  if (fd < 0) return ddpc_error_set("shm_open %s: %s", name, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || (size_t)st.st_size != s->map_bytes) {
    close(fd);
    return ddpc_error_set("shared memory %s: expected %zu bytes", name, s->map_bytes);
  }
  return map_segment(s, fd, name);
}

static int check_header(const ddpc_grad_sync_shm *s, const char *name) {
  const shm_header *h = s->map;
  if (h->magic != SHM_MAGIC || h->size != (uint64_t)s->comm->size || h->n_params != (uint64_t)s->n_params)
    return ddpc_error_set("shared memory %s: made for %" PRIu64 " ranks x %" PRIu64
                          " floats, this rank expected %d x %zu",
                          name, h->size, h->n_params, s->comm->size, s->n_params);
  return 0;
}

/* The collective part of create: every rank takes the same broadcast, all-reduce and
 * (on success) nothing else, whatever failed where, so no rank is left waiting. */
static int setup_segment(ddpc_grad_sync_shm *s) {
  ddpc_comm *comm = s->comm;
  char name[SHM_NAME_BYTES] = {0};
  int failed = 0;
  if (comm->rank == 0) {
    int fd = create_segment(name, s->map_bytes);
    failed = fd < 0 || map_segment(s, fd, name);
    if (!failed) {
      shm_header *h = s->map;
      *h = (shm_header){.magic = SHM_MAGIC, .size = (uint64_t)comm->size, .n_params = (uint64_t)s->n_params};
    } else if (fd >= 0) {
      shm_unlink(name);
    }
    if (failed) name[0] = '\0';  // tells the others not to try
  }
  if (comm->ops->broadcast(comm, name, sizeof name, 0)) return -1;
  name[SHM_NAME_BYTES - 1] = '\0';
  if (comm->rank != 0) {
    if (!name[0])
      failed = ddpc_error_set("shared-memory gradient exchange: rank 0 could not create the segment") != 0;
    else
      failed = open_segment(s, name) || check_header(s, name);
  }
  // Doubles as the barrier after which rank 0 may unlink: every rank has it open by then.
  double failures = failed ? 1.0 : 0.0;
  int rc = comm->ops->allreduce_double(comm, &failures, 1);
  if (comm->rank == 0 && !failed) shm_unlink(name);
  if (rc) return -1;
  if (failed) return -1;
  if (failures > 0.0)
    return ddpc_error_set("shared-memory gradient exchange: %.0f of %d ranks could not map the segment",
                          failures, comm->size);
  // So that on every rank, once create returns, the name is gone from /dev/shm.
  return comm->ops->barrier(comm);
}

int ddpc_grad_sync_shm_create(ddpc_comm *comm, size_t n_params, ddpc_grad_sync_shm **out) {
  *out = NULL;
  ddpc_grad_sync_shm *s = ddpc_calloc(1, sizeof *s, "shared-memory gradient exchange");
  if (!s) return -1;
  s->comm = comm;
  s->n_params = n_params;
  s->slot_floats = round_up(n_params ? n_params : 1, SHM_LINE / sizeof(float));
  const size_t size = (size_t)comm->size;
  const size_t control = round_up(sizeof(shm_header), SHM_LINE) + size * sizeof(shm_counter);
  s->map_bytes = control + SHM_SLOT_SETS * size * s->slot_floats * sizeof(float);
  // Every rank reads the variable itself; a bad value fails everywhere alike, so the
  // collective set-up below is taken by all ranks or by none.
  if (read_timeout(&s->timeout_seconds)) goto fail;
  s->parts = ddpc_calloc(size, sizeof *s->parts, "shared-memory gradient parts");
  if (!s->parts) goto fail;
  // Spinning on a core another rank needs to finish its backward only delays it.
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  s->spin = cores <= 0 || (size_t)cores >= size;
  if (setup_segment(s)) goto fail;
  s->counters = (shm_counter *)((char *)s->map + round_up(sizeof(shm_header), SHM_LINE));
  s->slots = (float *)((char *)s->map + control);
  *out = s;
  return 0;
fail:
  ddpc_error_prefix("setting up the shared-memory gradient exchange (rank %d of %d): ", comm->rank, comm->size);
  ddpc_grad_sync_shm_free(s);
  return -1;
}

static float *slot_of(const ddpc_grad_sync_shm *s, uint64_t step, int rank) {
  size_t index = (size_t)(step % SHM_SLOT_SETS) * (size_t)s->comm->size + (size_t)rank;
  return s->slots + index * s->slot_floats;
}

float *ddpc_grad_sync_shm_slot(ddpc_grad_sync_shm *s) { return slot_of(s, s->step, s->comm->rank); }

/* Marks the wait for rank `next` with the collective watchdog; entering again restarts its
 * clock, so progress (another rank arriving) counts like it does for our own timeout. */
static void watch_peer(ddpc_watchdog *w, int next) {
  ddpc_watchdog_context(w, DDPC_WATCH_CONTEXT_PEER, next, 0);
  ddpc_watchdog_enter(w, "shared-memory gradient exchange");
}

/* Waits until every rank's counter reaches `target`. The clock restarts whenever another
 * rank arrives, so only a wait with no progress at all for the timeout fails. Under a
 * watched communicator (ddpc train: comm.timeout_seconds) the collective watchdog keeps
 * that clock and ends the job; timeout_seconds (DDPC_SHM_TIMEOUT_SECONDS) applies to
 * communicators without a watchdog, which get the error back instead. */
static int wait_for_all(ddpc_grad_sync_shm *s, uint64_t target) {
  const int size = s->comm->size;
  ddpc_watchdog *watch = s->comm->watchdog;
  int next = 0;  // ranks below it are known to have published
  const double start = now_seconds();
  double progress = start;  // last time a rank arrived
  for (unsigned polls = 0;; polls++) {
    int before = next;
    while (next < size && atomic_load_explicit(&s->counters[next].published, memory_order_acquire) >= target)
      next++;
    if (next == size) {
      if (polls > 0) {
        ddpc_watchdog_leave(watch);
        ddpc_watchdog_context(watch, DDPC_WATCH_CONTEXT_NONE, 0, 0);
      }
      return 0;
    }
    if (polls == 0 || next != before) watch_peer(watch, next);
    if (s->spin && polls < 64) {  // the first polls, before paying for a clock read
      SHM_CPU_RELAX();
      continue;
    }
    double t = now_seconds();
    if (next != before) progress = t;
    if (!watch && t - progress > s->timeout_seconds)
      return ddpc_error_set("shared-memory gradient exchange: rank %d did not publish step %" PRIu64
                            " within %g s (rank %d waiting; %s sets the limit)",
                            next, target - 1, s->timeout_seconds, s->comm->rank, SHM_TIMEOUT_ENV);
    double waited = t - start;
    if (s->spin && waited < SHM_SPIN_SECONDS) {
      for (int i = 0; i < 16; i++) SHM_CPU_RELAX();
    } else if (waited < SHM_YIELD_SECONDS) {
      sched_yield();
    } else {
      struct timespec pause = {0, SHM_SLEEP_NANOSECONDS};
      nanosleep(&pause, NULL);
    }
  }
}

int ddpc_grad_sync_shm_publish_and_wait(ddpc_grad_sync_shm *s, const float *const **parts, int *n_parts) {
  const uint64_t target = s->step + 1;
  // Release: this rank's slot writes, and its reads of the previous step's parts, are
  // ordered before any rank can see the new count (see the top of this file).
  atomic_store_explicit(&s->counters[s->comm->rank].published, target, memory_order_release);
  if (wait_for_all(s, target)) return -1;
  for (int r = 0; r < s->comm->size; r++) s->parts[r] = slot_of(s, s->step, r);
  *parts = s->parts;
  *n_parts = s->comm->size;
  s->step = target;
  return 0;
}

void ddpc_grad_sync_shm_free(ddpc_grad_sync_shm *s) {
  if (!s) return;
  if (s->map) munmap(s->map, s->map_bytes);
  free(s->parts);
  free(s);
}
