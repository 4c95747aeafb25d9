/* How `ddpc launch` spots an abort in mpirun's stderr (launch/jobs/abort_watch.c): the two
 * abort markers and Open MPI's lost-daemon reports, lines split across reads at every offset, a marker in an unterminated last line,
 * ordinary output that must not count, and a line longer than the scan buffer. */
#include <stdio.h>
#include <string.h>

#include "launch/jobs/abort_watch.h"
#include "testing.h"

static const char watchdog_line[] =
    "ddpc: rank 1 (local rank 0 on host h2): collective watchdog: allreduce (gradient bucket 1 of 1) made "
    "no progress for 4.0 s at step 578 (comm.timeout_seconds 4); aborting the job\n";
static const char mpirun_notice[] =
    "--------------------------------------------------------------------------\n"
    "MPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD\nwith errorcode 6.\n";
static const char ordinary[] =
    "epoch 3/10  loss 0.4123  val_accuracy 0.8611\n"
    "ddpc: rank 0: checkpoint written: run/checkpoints/ckpt-000003.ddpc\n"
    "[vm:13695] 1 more process has sent help message help-mpi-api.txt / mpi-abort\n";

/* Open MPI 4.1's report when a host's daemon stops answering (help-errmgr-base.txt). */
static const char lost_daemon[] =
    "--------------------------------------------------------------------------\n"
    "ORTE has lost communication with a remote daemon.\n\n"
    "  HNP daemon   : [[17757,0],0] on node vm\n  Remote daemon: [[17757,0],3] on node h3\n";
static const char unroutable[] =
    "ORTE does not know how to route a message to the specified daemon\nlocated on the indicated node:\n";

/* Feeds text split at `cut` into two pieces and returns the verdict. */
static bool feed_split(const char *text, size_t cut) {
  ddpc_abort_watch w;
  ddpc_abort_watch_init(&w);
  size_t n = strlen(text);
  ddpc_abort_watch_feed(&w, text, cut);
  return ddpc_abort_watch_feed(&w, text + cut, n - cut);
}

int main(void) {
  for (size_t cut = 0; cut <= strlen(watchdog_line); cut++)
    CHECK(feed_split(watchdog_line, cut), "watchdog line split at %zu not recognised", cut);
  for (size_t cut = 0; cut <= strlen(mpirun_notice); cut++)
    CHECK(feed_split(mpirun_notice, cut), "mpirun's MPI_ABORT notice split at %zu not recognised", cut);
  for (size_t cut = 0; cut <= strlen(ordinary); cut++)
    CHECK(!feed_split(ordinary, cut), "ordinary output split at %zu taken for an abort", cut);
  // A lost daemon: announced (mpirun may hang after it) and marked as the host's fault.
  for (size_t cut = 0; cut <= strlen(lost_daemon); cut++) {
    ddpc_abort_watch lw;
    ddpc_abort_watch_init(&lw);
    ddpc_abort_watch_feed(&lw, lost_daemon, cut);
    bool said = ddpc_abort_watch_feed(&lw, lost_daemon + cut, strlen(lost_daemon) - cut);
    CHECK(said && lw.lost_daemon, "lost-daemon report split at %zu not recognised", cut);
  }
  {
    ddpc_abort_watch lw;
    ddpc_abort_watch_init(&lw);
    CHECK(ddpc_abort_watch_feed(&lw, unroutable, strlen(unroutable)) && lw.lost_daemon, "unroutable daemon missed");
    ddpc_abort_watch_init(&lw);
    ddpc_abort_watch_feed(&lw, watchdog_line, strlen(watchdog_line));
    ddpc_abort_watch_feed(&lw, mpirun_notice, strlen(mpirun_notice));
    CHECK(lw.announced && !lw.lost_daemon, "a watchdog abort is not a lost daemon");
  }
  CHECK(ddpc_abort_watch_line_reports_lost_daemon("A daemon died unexpectedly with status 1 while attempting", 57),
        "a daemon that died at launch is a lost daemon");
  CHECK(!ddpc_abort_watch_line_reports_lost_daemon(ordinary, strlen(ordinary)), "ordinary output is no lost daemon");

  // One byte at a time, ordinary output first, then the marker without its newline.
  ddpc_abort_watch w;
  ddpc_abort_watch_init(&w);
  bool seen = false;
  for (const char *p = ordinary; *p; p++) seen = ddpc_abort_watch_feed(&w, p, 1);
  CHECK(!seen, "ordinary output fed byte by byte taken for an abort");
  const char partial[] = "ddpc: rank 2: collective watchdog:";
  for (const char *p = partial; *p; p++) seen = ddpc_abort_watch_feed(&w, p, 1);
  CHECK(seen, "a marker in an unterminated line not recognised");
  CHECK(ddpc_abort_watch_feed(&w, "\nmore output\n", 13), "the verdict does not stay once given");

  // A line far longer than the buffer: the marker near its start counts, the rest is dropped;
  // a marker only beyond the buffer's reach does not (documented limit), and the next line
  // starts clean.
  char long_line[5000];
  memset(long_line, 'x', sizeof long_line);
  memcpy(long_line + 10, "MPI_ABORT was invoked", 21);
  ddpc_abort_watch_init(&w);
  CHECK(ddpc_abort_watch_feed(&w, long_line, sizeof long_line), "a marker at the start of a long line missed");
  memset(long_line, 'x', sizeof long_line);
  memcpy(long_line + 4000, "MPI_ABORT was invoked", 21);
  ddpc_abort_watch_init(&w);
  CHECK(!ddpc_abort_watch_feed(&w, long_line, sizeof long_line), "a long line's tail was scanned");
  CHECK(ddpc_abort_watch_feed(&w, "\ncollective watchdog: x\n", 24), "the line after a long one was not scanned");

  CHECK(ddpc_abort_watch_line_announces_abort("MPI_ABORT was invoked", 21), "the bare marker");
  CHECK(!ddpc_abort_watch_line_announces_abort("MPI_ABORT was invoke", 20), "a marker cut short");
  return testing_finish();
}
