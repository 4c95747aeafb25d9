/* Clocks and peak memory (see sysinfo.h). */
#include "core/sysinfo.h"

#include <math.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

double ddpc_time_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
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
