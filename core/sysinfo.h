/* Clocks and process statistics for run metadata: monotonic seconds for durations,
 * wall-clock timestamps for logs, peak resident memory; and the memory a process may
 * use, against which sizes taken from a config are checked before allocating. */
#ifndef DDPC_CORE_SYSINFO_H
#define DDPC_CORE_SYSINFO_H

#include <stddef.h>

/* Seconds on a monotonic clock (only differences are meaningful). */
double ddpc_time_seconds(void);
/* CPU seconds the calling thread has used (only differences are meaningful): time that
 * other processes on a busy machine change little. */
double ddpc_thread_cpu_seconds(void);
/* Seconds since the Unix epoch, wall clock (comparable across processes of one machine). */
double ddpc_time_unix(void);
/* Current UTC time as ISO 8601 ("2026-11-22T02:37:30Z") into out. */
void ddpc_time_iso8601(char *out, size_t out_size);
/* Bytes of memory this process may count on: physical memory, or less where a container
 * limit (cgroup v2 memory.max) or an address-space or data-segment limit (ulimit -v,
 * ulimit -d) is set. *what names the
 * source ("physical memory", ...). 0 when nothing is known. */
double ddpc_memory_limit(const char **what);
/* Tells ddpc_memory_limit that `processes` processes (the ranks of this node) share the
 * node's memory: each then counts on its share of physical memory or of the container's
 * limit (ulimit values are per process and stay whole). */
void ddpc_memory_set_sharers(int processes);
/* Peak resident set size of this process so far, in MiB. */
double ddpc_peak_rss_mb(void);
/* Proportional set size now, in MiB: pages shared with other processes (a data cache
 * mapped by every rank of a node) count as their share. NaN where the kernel lacks
 * /proc/self/smaps_rollup. */
double ddpc_pss_mb(void);

#endif
