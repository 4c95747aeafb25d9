/* Clocks, peak memory and the memory limit (see sysinfo.h). */
#include "core/sysinfo.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double ddpc_time_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double ddpc_thread_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double ddpc_time_unix(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ddpc_time_iso8601(char *out, size_t out_size) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

// Processes of this node that share its memory (ddpc_memory_set_sharers).
static int memory_sharers = 1;

void ddpc_memory_set_sharers(int processes) { memory_sharers = processes > 1 ? processes : 1; }

double ddpc_memory_limit(const char **what) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  double limit = pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
  *what = "physical memory";
  static const struct {
    int resource;      // RLIMIT_*
    const char *name;  // for the message
  } limits[] = {{RLIMIT_AS, "the address-space limit (ulimit -v)"}, {RLIMIT_DATA, "the data-segment limit (ulimit -d)"}};
  // A container's memory limit (cgroup v2) is what its processes really have.
  FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
  double cgroup = 0.0;  // "max" (no limit) does not scan as a number
  bool contained = f && fscanf(f, "%lf", &cgroup) == 1 && cgroup > 0.0 && (limit == 0.0 || cgroup < limit);
  if (f) fclose(f);
  if (contained) {
    limit = cgroup;
    *what = "the container's memory limit (cgroup memory.max)";
  }
  if (memory_sharers > 1) {
    limit /= memory_sharers;
    *what = contained ? "this rank's share of the container's memory limit (one of the ranks on this node)"
                      : "this rank's share of physical memory (one of the ranks on this node)";
  }
  for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
    struct rlimit rl;
    if (getrlimit(limits[i].resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) continue;
    if (limit == 0.0 || (double)rl.rlim_cur < limit) {
      limit = (double)rl.rlim_cur;
      *what = limits[i].name;
    }
  }
  return limit;
}

double ddpc_peak_rss_mb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
  return (double)ru.ru_maxrss / 1024.0;  // Linux reports kilobytes
}

double ddpc_pss_mb(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  if (!f) return NAN;
  char line[256];  // the kernel's own fixed-format lines, not user input
  double kb = NAN;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Pss: %lf kB", &kb) == 1) break;
  fclose(f);
  return kb / 1024.0;
}
