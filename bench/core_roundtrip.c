/* How far apart two CPUs are: the round trip of one cache line bounced between a thread
 * pinned to each (the time for a store on one to be seen by the other, and back). Ranks
 * exchange gradients through shared memory, so this sets what that exchange costs: on a
 * virtual machine the two vCPUs may sit on one core complex (tens of ns) or on two
 * (hundreds), and the hypervisor can move them between runs. train_vs_pytorch.py runs it
 * around every multi-rank run so a reader can tell which placement a figure came from.
 *   usage: bench_core_roundtrip [CPU_A CPU_B]   (default: the first two CPUs allowed)
 * Prints {"cpus": [A, B], "round_trip_ns": median of 5 runs of 100,000 round trips}. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDTRIP_TRIPS 100000L
#define ROUNDTRIP_RUNS 5

static alignas(64) atomic_long roundtrip_flag;

/* The far side: answers each odd value with the next even one. */
static void *roundtrip_peer(void *arg) {
  (void)arg;
  for (long i = 1; i < 2 * ROUNDTRIP_TRIPS * ROUNDTRIP_RUNS; i += 2) {
    while (atomic_load_explicit(&roundtrip_flag, memory_order_acquire) != i) {
    }
    atomic_store_explicit(&roundtrip_flag, i + 1, memory_order_release);
  }
  return NULL;
}

static int roundtrip_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int cpus[2] = {-1, -1};
  if (argc == 3) {
    for (int k = 0; k < 2; k++) {
      char *end = NULL;
      long c = strtol(argv[k + 1], &end, 10);
      if (end == argv[k + 1] || *end || c < 0 || c >= CPU_SETSIZE) {
        fprintf(stderr, "bench_core_roundtrip: '%s' is not a CPU number (0 to %d)\n", argv[k + 1], CPU_SETSIZE - 1);
        return 2;
      }
      cpus[k] = (int)c;
    }
  } else if (argc == 1) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
      for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
        if (CPU_ISSET(c, &allowed)) cpus[k++] = c;
  } else {
    fputs("usage: bench_core_roundtrip [CPU_A CPU_B]\n", stderr);
    return 2;
  }
  if (cpus[0] < 0 || cpus[1] < 0 || cpus[0] == cpus[1]) {
    fputs("bench_core_roundtrip: needs two distinct CPUs\n", stderr);
    return 2;
  }
  // Both placements are set before the loop starts: a CPU that cannot be had fails here
  // instead of leaving one side waiting for the other forever.
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[0], &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set)) {
    fprintf(stderr, "bench_core_roundtrip: cannot run on CPU %d\n", cpus[0]);
    return 1;
  }
  pthread_attr_t attr;
  pthread_t peer;
  CPU_ZERO(&set);
  CPU_SET(cpus[1], &set);
  if (pthread_attr_init(&attr) || pthread_attr_setaffinity_np(&attr, sizeof set, &set) ||
      pthread_create(&peer, &attr, roundtrip_peer, NULL)) {
    fprintf(stderr, "bench_core_roundtrip: cannot run a thread on CPU %d\n", cpus[1]);
    return 1;
  }
  pthread_attr_destroy(&attr);
  double ns[ROUNDTRIP_RUNS];
  long value = 0;
  for (int run = 0; run < ROUNDTRIP_RUNS; run++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long t = 0; t < ROUNDTRIP_TRIPS; t++, value += 2) {
      atomic_store_explicit(&roundtrip_flag, value + 1, memory_order_release);
      while (atomic_load_explicit(&roundtrip_flag, memory_order_acquire) != value + 2) {
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns[run] = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / ROUNDTRIP_TRIPS;
  }
  pthread_join(peer, NULL);
  qsort(ns, ROUNDTRIP_RUNS, sizeof ns[0], roundtrip_cmp);
  printf("{\"cpus\": [%d, %d], \"round_trip_ns\": %.1f}\n", cpus[0], cpus[1], ns[ROUNDTRIP_RUNS / 2]);
  return 0;
}
