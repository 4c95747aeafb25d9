/* The shared-memory gradient exchange (comm/grad_sync_shm.c) at several world sizes:
 * every rank sees every slot's contents in rank order, double buffering holds when one
 * rank is slow to write or slow to read, the segment leaves nothing in /dev/shm, and a
 * rank that never publishes makes the others fail with its rank named instead of hang.
 * mpi-ranks below lists the world sizes CTest runs it at. */
// mpi-ranks: 2 3 4
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm/comm.h"
#include "comm/grad_sync_internal.h"
#include "core/error.h"
#include "core/hash.h"
#include "mpi_testing.h"
#include "testing.h"

// Not a multiple of 16 floats, so the slots need padding to stay 64-byte aligned.
enum { N = 1001, STEPS = 7 };

/* What rank r writes at index i in step k: exact in float and different for every
 * (r, k, i) that could be confused (a stale slot from step k-2 shows as a wrong k). */
static float value_of(int r, int step, size_t i) { return (float)(r * 1000000 + step * 10000) + (float)i * 0.5f; }

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static int count_wrong(const float *part, int r, int step) {
  int bad = 0;
  for (size_t i = 0; i < N; i++) bad += part[i] != value_of(r, step, i);
  return bad;
}

/* One exchange of STEPS steps. slow_writer sleeps before writing its slot each step;
 * slow_reader reads each part in two halves with a sleep between, while the others are
 * already writing the next step: with one slot set the second half would be overwritten. */
static void run_exchange(ddpc_comm *comm, int slow_writer, int slow_reader, int delay_ms) {
  ddpc_grad_sync_shm *s = NULL;
  if (ddpc_grad_sync_shm_create(comm, N, &s) != 0) {
    CHECK(false, "rank %d: create: %s", comm->rank, ddpc_error_message());
    return;
  }
  float *previous = NULL;
  // Compared after the loop: a collective per step would hold fast ranks back and hide
  // the overlap the slow-reader case is about.
  uint64_t hashes[STEPS] = {0};
  for (int step = 0; step < STEPS; step++) {
    float *slot = ddpc_grad_sync_shm_slot(s);
    CHECK(((uintptr_t)slot & 63) == 0, "rank %d step %d: slot %p is 64-byte aligned", comm->rank, step, (void *)slot);
    CHECK(slot != previous, "rank %d step %d: the slot alternates between steps", comm->rank, step);
    previous = slot;
    if (comm->rank == slow_writer) sleep_ms(delay_ms);
    for (size_t i = 0; i < N; i++) slot[i] = value_of(comm->rank, step, i);
    const float *const *parts = NULL;
    int n_parts = 0;
    if (ddpc_grad_sync_shm_publish_and_wait(s, &parts, &n_parts) != 0) {
      CHECK(false, "rank %d step %d: publish_and_wait: %s", comm->rank, step, ddpc_error_message());
      break;
    }
    CHECK(n_parts == comm->size, "rank %d step %d: %d parts for %d ranks", comm->rank, step, n_parts, comm->size);
    CHECK(parts[comm->rank] == slot, "rank %d step %d: its own part is its slot", comm->rank, step);
    int bad = 0;
    for (int r = 0; r < n_parts; r++) {
      if (comm->rank == slow_reader) {
        bad += count_wrong(parts[r], r, step) != 0;
        sleep_ms(delay_ms);
      }
      bad += count_wrong(parts[r], r, step);
      hashes[step] = ddpc_hash_bytes(parts[r], N * sizeof(float), hashes[step]);
    }
    CHECK(bad == 0, "rank %d step %d: %d values in the parts are not what their ranks wrote", comm->rank, step, bad);
  }
  CHECK(mpi_testing_all_equal(comm, hashes, sizeof hashes), "rank %d: every rank saw the same parts at every step",
        comm->rank);
  ddpc_grad_sync_shm_free(s);
}

static void test_contents(ddpc_comm *comm) { run_exchange(comm, -1, -1, 0); }

static void test_slow_ranks(ddpc_comm *comm) {
  run_exchange(comm, comm->size - 1, -1, 15);  // the others wait for it at every step
  run_exchange(comm, -1, 0, 5);                // the others run ahead into the next step
}

/* The segment is unlinked once every rank has mapped it: a crash cannot leak it. */
static void test_nothing_left_in_dev_shm(ddpc_comm *comm) {
  long pid0 = (long)getpid();
  CHECK(comm->ops->broadcast(comm, &pid0, sizeof pid0, 0) == 0, "broadcast pid");
  ddpc_grad_sync_shm *s = NULL;
  CHECK(ddpc_grad_sync_shm_create(comm, N, &s) == 0, "create: %s", ddpc_error_message());
  char *prefix = ddpc_format("ddpc-%ld-", pid0);
  int found = 0;
  DIR *dir = opendir("/dev/shm");
  for (struct dirent *e; dir && (e = readdir(dir));) found += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
  if (dir) closedir(dir);
  CHECK(found == 0, "rank %d: %d segments named /dev/shm/%s* remain while the exchange is open", comm->rank,
        found, prefix);
  free(prefix);
  // Before rank 0 goes on to create the next test's segment under the same prefix.
  CHECK(comm->ops->barrier(comm) == 0, "barrier after listing /dev/shm");
  ddpc_grad_sync_shm_free(s);
}

static void test_timeout(ddpc_comm *comm) {
  const int silent = comm->size - 1;
  setenv("DDPC_SHM_TIMEOUT_SECONDS", "0.3", 1);
  ddpc_grad_sync_shm *s = NULL;
  int rc = ddpc_grad_sync_shm_create(comm, N, &s);
  unsetenv("DDPC_SHM_TIMEOUT_SECONDS");
  CHECK(rc == 0, "create with a short timeout: %s", ddpc_error_message());
  if (rc) return;
  const float *const *parts = NULL;
  int n_parts = 0;
  CHECK(ddpc_grad_sync_shm_publish_and_wait(s, &parts, &n_parts) == 0, "step 0 completes: %s",
        ddpc_error_message());
  if (comm->rank != silent) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = ddpc_grad_sync_shm_publish_and_wait(s, &parts, &n_parts);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    char *want = ddpc_format("shared-memory gradient exchange: rank %d did not publish step 1 within 0.3 s "
                             "(rank %d waiting; DDPC_SHM_TIMEOUT_SECONDS sets the limit)",
                             silent, comm->rank);
    CHECK(rc != 0, "rank %d: a rank that never publishes fails the wait", comm->rank);
    CHECK(strcmp(ddpc_error_message(), want) == 0, "rank %d: error '%s', expected '%s'", comm->rank,
          ddpc_error_message(), want);
    CHECK(waited >= 0.3 && waited < 5.0, "rank %d: gave up after %.3f s", comm->rank, waited);
    free(want);
  }
  CHECK(comm->ops->barrier(comm) == 0, "barrier after the timeout");
  ddpc_grad_sync_shm_free(s);
}

static void test_bad_timeout_variable(ddpc_comm *comm) {
  setenv("DDPC_SHM_TIMEOUT_SECONDS", "soon", 1);
  ddpc_grad_sync_shm *s = NULL;
  int rc = ddpc_grad_sync_shm_create(comm, N, &s);
  unsetenv("DDPC_SHM_TIMEOUT_SECONDS");
  char *want = ddpc_format("setting up the shared-memory gradient exchange (rank %d of %d): "
                           "DDPC_SHM_TIMEOUT_SECONDS: expected a positive number of seconds, got 'soon'",
                           comm->rank, comm->size);
  CHECK(rc != 0 && s == NULL, "a bad DDPC_SHM_TIMEOUT_SECONDS fails create");
  CHECK(strcmp(ddpc_error_message(), want) == 0, "error '%s', expected '%s'", ddpc_error_message(), want);
  free(want);
}

int main(void) {
  ddpc_comm *comm = NULL;
  if (ddpc_comm_create(&comm) != 0) {
    fprintf(stderr, "ddpc_comm_create: %s\n", ddpc_error_message());
    return 1;
  }
  test_contents(comm);
  test_slow_ranks(comm);
  test_nothing_left_in_dev_shm(comm);
  test_timeout(comm);
  test_bad_timeout_variable(comm);
  return mpi_testing_finish(comm);
}
