/* Recognising, in mpirun's stderr, that a job has begun to abort (see abort_watch.h).
 *
 * Why the launcher reads mpirun's stderr at all: when a host's link is lost, the ranks that
 * can still talk end themselves (the collective watchdog's MPI_Abort) but mpirun then waits
 * for the lost host's daemon to confirm, and Open MPI's TCP keepalives never fire while its
 * kill order sits unacknowledged in the send queue (the kernel retransmits for ~15 min).
 * The launcher sees the abort announced, gives mpirun a grace period, then ends it. */
#include "launch/abort_watch.h"

#include <string.h>

/* What announces an abort: the watchdog's own line, and mpirun's notice for MPI_Abort. */
static const char *const abort_markers[] = {
    "collective watchdog:",
    "MPI_ABORT was invoked",
};

bool ddpc_abort_watch_line_announces_abort(const char *line, size_t len) {
  for (size_t m = 0; m < sizeof abort_markers / sizeof abort_markers[0]; m++) {
    size_t mlen = strlen(abort_markers[m]);
    for (size_t i = 0; i + mlen <= len; i++)
      if (memcmp(line + i, abort_markers[m], mlen) == 0) return true;
  }
  return false;
}

void ddpc_abort_watch_init(ddpc_abort_watch *w) {
  w->len = 0;
  w->overflowed = false;
  w->announced = false;
}

/* Scans the pending line and starts a new one. */
static void abort_watch_end_line(ddpc_abort_watch *w) {
  if (ddpc_abort_watch_line_announces_abort(w->line, w->len)) w->announced = true;
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
  if (!w->announced && ddpc_abort_watch_line_announces_abort(w->line, w->len)) w->announced = true;
  return w->announced;
}
