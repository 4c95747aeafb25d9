/* Clocks and process statistics for run metadata: monotonic seconds for durations,
 * wall-clock timestamps for logs, and peak resident memory. */
#ifndef DDPC_CORE_SYSINFO_H
#define DDPC_CORE_SYSINFO_H

#include <stddef.h>

/* Seconds on a monotonic clock (only differences are meaningful). */
double ddpc_time_seconds(void);
/* Seconds since the Unix epoch, wall clock (comparable across processes of one machine). */
double ddpc_time_unix(void);
/* Current UTC time as ISO 8601 ("2026-11-22T02:37:30Z") into out. */
void ddpc_time_iso8601(char *out, size_t out_size);
/* Peak resident set size of this process so far, in MiB. */
double ddpc_peak_rss_mb(void);
/* Proportional set size now, in MiB: pages shared with other processes (a data cache
 * mapped by every rank of a node) count as their share. NaN where the kernel lacks
 * /proc/self/smaps_rollup. */
double ddpc_pss_mb(void);

#endif
