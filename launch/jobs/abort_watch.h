/* Spotting in the byte stream of mpirun's stderr that the job announced an abort (the
 * collective watchdog's line, or mpirun's "MPI_ABORT was invoked" notice) or that Open
 * MPI's runtime lost or never reached a daemon ("ORTE has lost communication with a
 * remote daemon", ...), so `ddpc launch` can end an mpirun that then waits forever for a
 * lost host's daemon, and restart a job that mpirun itself ended with exit code 1 for a
 * lost daemon. Bytes come in arbitrary pieces; lines may be split across them. */
#ifndef DDPC_LAUNCH_ABORT_WATCH_H
#define DDPC_LAUNCH_ABORT_WATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char line[1024];   // the current line's first bytes
  size_t len;        // bytes in line
  bool overflowed;   // the current line is longer than line
  bool announced;    // an abort was announced, or a daemon lost (stays true)
  bool lost_daemon;  // Open MPI's runtime reported a daemon lost or not started (stays true)
} ddpc_abort_watch;

void ddpc_abort_watch_init(ddpc_abort_watch *w);

/* Takes the next n bytes of the stream; returns whether an abort has been announced. */
bool ddpc_abort_watch_feed(ddpc_abort_watch *w, const char *bytes, size_t n);

/* Whether one line (without its newline) announces an abort. */
bool ddpc_abort_watch_line_announces_abort(const char *line, size_t len);
/* Whether one line is Open MPI's report of a daemon lost, failed or never started. */
bool ddpc_abort_watch_line_reports_lost_daemon(const char *line, size_t len);

#endif
