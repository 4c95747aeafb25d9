/* Rank 0 waits, after a rung epoch, for an outside scheduler's verdict (config `pruning`).
 * The tuner reads the epoch's line in metrics.jsonl, compares it with the other trials at
 * that rung (ASHA) and writes RUN_DIR/verdicts/epoch-E with "continue" or "prune REASON".
 * Waiting here, not one epoch later, is what makes a pruned trial cost exactly the epochs
 * up to its rung, as with Ray Tune's schedulers. No verdict within pruning.wait_seconds:
 * training goes on. The wait ends at once when a stop signal arrives or the process that
 * started this one is gone (a tuner killed with -9 takes its mpirun down, whose ranks then
 * get SIGTERM or lose their parent): the run checkpoints and stops (preempted, exit 5),
 * and `ddpc tune --resume` continues it, instead of it training on beside the trial the
 * new tuner starts in the same directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/sysinfo.h"
#include "launch/train/signals.h"
#include "launch/train/train_internal.h"

/* How often the verdict file is looked for: small beside an epoch, cheap for the disk. */
#define VERDICT_POLL_SECONDS 0.02

static bool verdict_is_rung(const ddpc_pruning_config *p, int64_t epoch) {
  for (int i = 0; i < p->n_rungs; i++)
    if (p->rungs[i] == epoch) return true;
  return false;
}

/* Reads the verdict file: 1 prune (*reason set, malloc'd), 0 continue, -1 absent or unreadable
 * so far, -2 malformed (a note says so). */
static int verdict_read(train_session *s, const char *path, char **reason) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[512];
  bool got = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  if (!got) return -1;  // the tuner renames a complete file into place; empty means not yet
  line[strcspn(line, "\n")] = '\0';
  const char *why = NULL;
  size_t why_len = 0;
  int said = train_verdict_parse(line, &why, &why_len);
  if (said == 0) return 0;
  if (said == 1) {
    *reason = why_len ? ddpc_format("pruned at epoch %lld: %.*s", (long long)s->epoch, (int)why_len, why)
                      : ddpc_format("pruned at epoch %lld", (long long)s->epoch);
    return 1;
  }
  ddpc_progress_note(&s->progress, "%s: expected 'continue' or 'prune REASON', got '%.80s'; going on", path, line);
  return -2;
}

int train_verdict_parse(const char *text, const char **why, size_t *why_len) {
  size_t len = strcspn(text, "\n");
  *why = "";
  *why_len = 0;
  if (len == 8 && memcmp(text, "continue", 8) == 0) return 0;
  if (len >= 5 && memcmp(text, "prune", 5) == 0 && (len == 5 || text[5] == ' ')) {
    if (len > 6) {
      *why = text + 6;
      *why_len = len - 6;
    }
    return 1;
  }
  return -1;
}

/* The parent this process had when it first decided an epoch: under mpirun that is mpirun,
 * which the tuner starts and which dies with it. A different parent later (reparented to
 * init or a subreaper) means the launcher is gone; per process, as the parent is. */
static pid_t verdict_parent;

static bool verdict_parent_gone(void) {
  pid_t now = getppid();
  if (verdict_parent == 0) verdict_parent = now;
  return now != verdict_parent;
}

void train_await_verdict(train_session *s) {
  free(s->prune_reason);
  s->prune_reason = NULL;
  s->facts.prune_reason = NULL;
  bool parent_gone = verdict_parent_gone();  // learns the parent at the first epoch, rung or not
  const ddpc_pruning_config *p = &s->cfg.pruning;
  // A run at its last epoch ends done whatever the verdict; no need to wait for one.
  if (s->comm->rank != 0 || !verdict_is_rung(p, s->epoch) || s->epoch >= s->cfg.stop.max_epochs) return;
  char *path = ddpc_format("%s/verdicts/epoch-%lld", s->run_dir, (long long)s->epoch);
  if (!path) return;
  double deadline = ddpc_time_seconds() + p->wait_seconds;
  int got = -1;
  bool stopped = false;
  while ((got = verdict_read(s, path, &s->prune_reason)) == -1 && ddpc_time_seconds() < deadline) {
    if ((stopped = ddpc_signals_pending() || parent_gone || verdict_parent_gone())) break;
    struct timespec pause = {0, (long)(VERDICT_POLL_SECONDS * 1e9)};
    nanosleep(&pause, NULL);  // a signal cuts it short
  }
  if (stopped) {
    // Decided as a stop signal: checkpoint and stop (preempted), which --resume continues.
    s->facts.stop_signal = true;
    ddpc_progress_note(&s->progress, "%s while waiting for %s; checkpointing and stopping",
                       ddpc_signals_pending() ? "stop signal" : "the launching process is gone", path);
  } else if (got == -1) {
    ddpc_progress_note(&s->progress, "no pruning verdict in %s after %g s (pruning.wait_seconds); going on", path,
                       p->wait_seconds);
  }
  s->facts.prune_reason = s->prune_reason;
  free(path);
}
