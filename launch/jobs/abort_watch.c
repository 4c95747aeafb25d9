/* Recognising, in mpirun's stderr, that a job has begun to abort (see abort_watch.h).
 *
 * Why the launcher reads mpirun's stderr at all: when a host's link is lost, the ranks that
 * can still talk end themselves (the collective watchdog's MPI_Abort) but mpirun then waits
 * for the lost host's daemon to confirm, and Open MPI's TCP keepalives never fire while its
 * kill order sits unacknowledged in the send queue (the kernel retransmits for ~15 min).
 * The launcher sees the abort announced, gives mpirun a grace period, then ends it. */
#include "launch/jobs/abort_watch.h"

#include <string.h>

/* What announces an abort: the watchdog's own line, and mpirun's notice for MPI_Abort. */
static const char *const abort_markers[] = {
    "collective watchdog:",
    "MPI_ABORT was invoked",
};

/* Open MPI 4.1's reports (help-errmgr-base.txt, help-plm-base.txt) of a daemon lost
 * after the start, failed before calling back, or unreachable: the host or its network
 * failed, not the job's config, although mpirun then exits with 1 like a bad config. */
static const char *const lost_daemon_markers[] = {
    "ORTE has lost communication with a remote daemon",
    "An ORTE daemon has unexpectedly failed",
    "ORTE was unable to reliably start one or more daemons",
    "ORTE does not know how to route a message",
    "A daemon died unexpectedly",
};

static bool abort_watch_line_has(const char *const *markers, size_t n_markers, const char *line, size_t len) {
  for (size_t m = 0; m < n_markers; m++) {
    size_t mlen = strlen(markers[m]);
    for (size_t i = 0; i + mlen <= len; i++)
      if (memcmp(line + i, markers[m], mlen) == 0) return true;
  }
  return false;
}

bool ddpc_abort_watch_line_announces_abort(const char *line, size_t len) {
  return abort_watch_line_has(abort_markers, sizeof abort_markers / sizeof abort_markers[0], line, len);
}

bool ddpc_abort_watch_line_reports_lost_daemon(const char *line, size_t len) {
  return abort_watch_line_has(lost_daemon_markers, sizeof lost_daemon_markers / sizeof lost_daemon_markers[0], line,
                              len);
}

void ddpc_abort_watch_init(ddpc_abort_watch *w) {
  w->len = 0;
  w->overflowed = false;
  w->announced = false;
  w->lost_daemon = false;
}

/* Looks at the line so far: a marker complete in it counts even before its newline. */
static void abort_watch_scan(ddpc_abort_watch *w) {
  if (!w->lost_daemon && ddpc_abort_watch_line_reports_lost_daemon(w->line, w->len)) w->lost_daemon = true;
  if (!w->announced && (w->lost_daemon || ddpc_abort_watch_line_announces_abort(w->line, w->len)))
    w->announced = true;
}

/* Scans the pending line and starts a new one. */
static void abort_watch_end_line(ddpc_abort_watch *w) {
  abort_watch_scan(w);
  w->len = 0;
  w->overflowed = false;
}

bool ddpc_abort_watch_feed(ddpc_abort_watch *w, const char *bytes, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (bytes[i] == '\n') {
      abort_watch_end_line(w);
      continue;
    }
    if (w->len < sizeof w->line) {
      w->line[w->len++] = bytes[i];
    } else if (!w->overflowed) {
      // A very long line: its head is kept and scanned; the markers sit near the start.
      w->overflowed = true;
    }
  }
  // A marker already complete in a partial line counts now: the newline may never come.
  abort_watch_scan(w);
  return w->announced;
}
