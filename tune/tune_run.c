/* The tuner's scheduler loop (see tune_run.h). One thread; every 50 ms it collects ended
 * trials, reads new epoch lines of the running ones, answers ASHA rungs, and refills free
 * slots. Only this process writes the study store. How a trial runs is a backend's
 * business (a few functions each, tune_run_internal.h): local mpirun processes
 * (tune_backend_local.c), or Slurm batch jobs (tune_backend_slurm.c). */
#define _XOPEN_SOURCE 700  // realpath

#include "tune/tune_run.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/config_tree.h"
#include "core/error.h"
#include "core/exit_code.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/machine.h"
#include "core/sysinfo.h"
#include "launch/train/run_lock.h"
#include "launch/jobs/run_summary.h"
#include "launch/train/start_marker.h"
#include "tune/tune_asha.h"
#include "tune/tune_groups.h"
#include "tune/tune_run_internal.h"
#include "tune/tune_store.h"
#include "tune/tune_table.h"
#include "tune/tune_tpe.h"
#include "tune/tune_trial.h"

/* How often the loop looks at its trials. */
#define TUNE_POLL_SECONDS 0.05
/* How often a trial asked to stop is asked again until it ends (tune_send_stop). */
#define TUNE_STOP_RESEND_SECONDS 5.0
/* Lines of a failed trial's log kept in the store. */
#define TUNE_LOG_TAIL_LINES 20

/* SIGINT/SIGTERM to the tuner: stop starting trials, let the running ones checkpoint. */
static volatile sig_atomic_t tune_stop_requested;

static void tune_on_signal(int sig) {
  (void)sig;
  tune_stop_requested = 1;
}

/* ---- small helpers ---- */

/* Now as ISO 8601 UTC with milliseconds ("2026-01-02T03:04:05.678Z"), for a trial's start
 * and end in the store: trials a few seconds long still show how they overlapped. */
static void tune_time_now(char *out, size_t cap) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  char seconds[24];
  strftime(seconds, sizeof seconds, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, cap, "%.19s.%03dZ", seconds, (int)(now.tv_nsec / 1000000 % 1000));
}

static double tune_better(const tune_loop *t, double a, double b) {
  if (isnan(a)) return b;
  if (isnan(b)) return a;
  return t->study->maximize ? fmax(a, b) : fmin(a, b);
}

void tune_say(const tune_loop *t, const char *fmt, ...) {
  if (t->opt->quiet) return;
  if (t->view) ddpc_tune_live_erase(t->view, stdout);  // the line goes above the table
  char when[32];
  ddpc_time_iso8601(when, sizeof when);
  va_list ap;
  va_start(ap, fmt);
  printf("[%s] ", when + 11);  // the time of day is enough on a terminal
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* "key=value" overrides of a trial: the study's own, its parameters, asha's epochs and, with
 * `pruning`, the rungs where it waits for verdicts (best.yaml has everything else). */
static char **tune_trial_overrides(const tune_loop *t, const double *x, bool pruning, int *n_out) {
  const ddpc_tune_study *st = t->study;
  int n = st->n_trial_overrides + st->space.n_params + (t->rung_override ? 2 : 0);
  char **o = ddpc_calloc((size_t)n + 1, sizeof *o, "trial overrides");
  if (!o) return NULL;
  int k = 0;
  bool failed = false;
  for (int i = 0; i < st->n_trial_overrides && !failed; i++) failed = !(o[k++] = ddpc_strdup(st->trial_overrides[i]));
  for (int p = 0; p < st->space.n_params && !failed; p++) {
    char *v = ddpc_tune_param_format_value(&st->space.params[p], x[p]);
    failed = !v || !(o[k++] = ddpc_format("%s=%s", st->space.params[p].key, v));
    free(v);
  }
  if (st->scheduler == DDPC_TUNE_SCHEDULER_ASHA && !failed)
    failed = !(o[k++] = ddpc_format("train.epochs=%d", st->asha_max_epochs));
  if (t->rung_override && pruning && !failed) failed = !(o[k++] = ddpc_strdup(t->rung_override));
  if (failed) {
    for (int i = 0; i < k; i++) free(o[i]);
    free(o);
    return NULL;
  }
  *n_out = k;
  return o;
}

/* The parameters as a JSON object, choices by label, for the store and the tables. */
static char *tune_params_json(const ddpc_tune_study *st, const double *x) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  ddpc_json j;
  ddpc_json_begin(&j, f);
  for (int p = 0; p < st->space.n_params; p++) {
    const ddpc_tune_param *param = &st->space.params[p];
    if (param->dist == DDPC_TUNE_DIST_CHOICE) {
      char *label = ddpc_tune_param_format_label(param, x[p]);
      ddpc_json_string(&j, param->key, label ? label : "?");
      free(label);
    } else {
      ddpc_json_number(&j, param->key, x[p]);
    }
  }
  ddpc_json_end(&j);
  fclose(f);
  return text;
}

static tune_live *tune_add_live(tune_loop *t) {
  if (t->n_trials == t->cap) {
    int cap = t->cap ? 2 * t->cap : 64;
    tune_live *grown = realloc(t->trials, (size_t)cap * sizeof *grown);
    if (!grown) return ddpc_error_set("out of memory (trials)"), NULL;
    t->trials = grown;
    t->cap = cap;
  }
  tune_live *l = &t->trials[t->n_trials++];
  memset(l, 0, sizeof *l);
  l->slot = -1;
  l->best = NAN;
  return l;
}

/* ---- starting ---- */

static int tune_free_slot(const tune_loop *t) {
  // Jobs adopted on --resume beyond a smaller parallelism run without a slot but count.
  int active = 0;
  for (int i = 0; i < t->n_trials; i++) active += t->trials[i].active;
  if (active >= t->n_slots) return -1;
  for (int s = 0; s < t->n_slots; s++)
    if (t->slot_owner[s] < 0) return s;
  return -1;
}

/* Starts (or restarts, with --resume auto) trial l in slot `slot`. */
static int tune_start_process(tune_loop *t, tune_live *l, int slot) {
  int n_overrides = 0;
  char **overrides = tune_trial_overrides(t, l->rec.x, true, &n_overrides);
  if (!overrides) return -1;
  free(l->log_path);
  l->log_path = NULL;
  int rc = ddpc_fs_mkdirs(l->rec.run_dir, 0755);
  if (rc == 0) rc = t->backend->start(t, l, slot, (const char *const *)overrides, n_overrides);
  for (int i = 0; i < n_overrides; i++) free(overrides[i]);
  free(overrides);
  if (rc != 0) return ddpc_error_prefix("trial %d: ", l->rec.number);
  l->active = true;
  l->attempt_started = ddpc_time_seconds();
  l->stop_sent = 0;
  l->stepped = false;
  l->slot = slot;
  if (slot >= 0) t->slot_owner[slot] = l->rec.number;
  l->rec.attempts++;
  l->rec.state = DDPC_TUNE_TRIAL_RUNNING;
  return 0;
}

/* What the sampler learns from: finished trials by their value (lower is better for it);
 * running and failed ones count as +inf, as hyperopt counts trials still running. */
static ddpc_tune_observation *tune_history(const tune_loop *t) {
  ddpc_tune_observation *h = ddpc_calloc((size_t)t->n_trials + 1, sizeof *h, "trial history");
  for (int i = 0; h && i < t->n_trials; i++) {
    const ddpc_tune_trial *r = &t->trials[i].rec;
    bool scored = (r->state == DDPC_TUNE_TRIAL_COMPLETE || r->state == DDPC_TUNE_TRIAL_PRUNED) && r->has_value;
    h[i].x = r->x;
    h[i].loss = !scored ? INFINITY : t->study->maximize ? -r->value : r->value;
  }
  return h;
}

/* Proposes, records and starts the next trial. Returns 1 started, 0 nothing left to
 * propose (grid exhausted), -1 error. */
static int tune_start_next(tune_loop *t, int slot) {
  const ddpc_tune_study *st = t->study;
  double *x = ddpc_calloc((size_t)st->space.n_params + 1, sizeof *x, "trial point");
  ddpc_tune_observation *history = x ? tune_history(t) : NULL;
  if (!history) {
    free(x);
    return -1;
  }
  int number = t->n_trials;
  int rc = ddpc_tune_sampler_propose(t->sampler, number, history, t->n_trials, x);
  free(history);
  if (rc != 0) {
    free(x);
    if (rc > 0) t->grid_exhausted = true;
    return rc > 0 ? 0 : -1;
  }
  tune_live *l = tune_add_live(t);
  if (!l) {
    free(x);
    return -1;
  }
  char started[32];
  tune_time_now(started, sizeof started);
  l->rec.number = number;
  l->rec.x = x;
  l->rec.n_x = st->space.n_params;
  l->rec.params_json = tune_params_json(st, x);
  l->rec.run_dir = ddpc_format("%s/trials/%04d", t->opt->study_dir, number);
  l->rec.started_at = ddpc_strdup(started);
  l->rec.state = DDPC_TUNE_TRIAL_RUNNING;
  l->metrics.path = l->rec.run_dir ? ddpc_format("%s/metrics.jsonl", l->rec.run_dir) : NULL;
  if (!l->rec.params_json || !l->rec.run_dir || !l->rec.started_at || !l->metrics.path) return -1;
  // In the store before it starts: a tuner killed now finds it on --resume.
  if (ddpc_tune_store_insert_trial(t->store, &l->rec) != 0 || tune_start_process(t, l, slot) != 0) return -1;
  if (ddpc_tune_store_update_trial(t->store, &l->rec) != 0) return -1;
  tune_say(t, "trial %d started: %s", number, l->rec.params_json);
  return 1;
}

/* ---- following ---- */

typedef struct {
  tune_loop *t;  // the loop
  tune_live *l;  // the trial whose lines are read
  bool replay;   // the lines were read by an earlier tuner (--resume)
  int rc;        // first error
} tune_epoch_ctx;

/* Whether RUN_DIR/verdicts/epoch-E exists: the rung was answered. */
static bool tune_has_verdict(const tune_live *l, int epoch) {
  char *path = ddpc_format("%s/verdicts/epoch-%d", l->rec.run_dir, epoch);
  bool exists = path && access(path, F_OK) == 0;
  free(path);
  return exists;
}

static void tune_on_epoch(void *user, int epoch, double value) {
  tune_epoch_ctx *c = user;
  tune_loop *t = c->t;
  tune_live *l = c->l;
  const ddpc_tune_study *st = t->study;
  if (epoch > l->rec.epochs_done) l->rec.epochs_done = epoch;
  l->rec.has_latest = isfinite(value);
  l->rec.latest = value;
  l->best = tune_better(t, l->best, value);
  if (c->rc == 0 && isfinite(value)) c->rc = ddpc_tune_store_add_intermediate(t->store, l->rec.number, epoch, value);
  if (st->scheduler != DDPC_TUNE_SCHEDULER_ASHA || !ddpc_tune_asha_is_rung(&t->asha, epoch) ||
      epoch >= st->asha_max_epochs)
    return;
  double cutoff = NAN;
  double signed_value = st->maximize ? value : -value;
  int stop = ddpc_tune_asha_on_result(&t->asha, l->rec.number, epoch, signed_value, &cutoff);
  if (stop < 0) {
    if (c->rc == 0) c->rc = -1;
    return;
  }
  // Replaying a trial's past epochs (resume): a finished trial needs no verdict. One that
  // goes on (a job still running, adopted, or one started again from its checkpoint) gets
  // the verdict its rung never got when the previous tuner died: the decision it had then,
  // the rungs having been rebuilt in arrival order (tune_load_rungs).
  if (c->replay && (l->rec.state != DDPC_TUNE_TRIAL_RUNNING || tune_has_verdict(l, epoch))) return;
  char *reason = stop ? ddpc_format("asha: %s %.6g %s the cutoff %.6g of rung %d", st->metric, value,
                                    st->maximize ? "below" : "above", st->maximize ? cutoff : -cutoff, epoch)
                      : NULL;
  if (ddpc_tune_trial_write_verdict(l->rec.run_dir, epoch, stop == 1, reason) != 0 && c->rc == 0) c->rc = -1;
  if (stop) tune_say(t, "trial %d pruned at epoch %d (%s)", l->rec.number, epoch, reason ? reason : "asha");
  free(reason);
}

/* Reads new epoch lines of trial l. */
static int tune_follow(tune_loop *t, tune_live *l) {
  tune_epoch_ctx c = {t, l, false, 0};
  if (ddpc_tune_metrics_read(&l->metrics, t->study->metric, tune_on_epoch, &c) < 0) return -1;
  return c.rc;
}

/* Records the end of trial l (COMPLETE, PRUNED or FAIL) given how its last attempt ended. */
static void tune_record_end(tune_loop *t, tune_live *l, const ddpc_tune_trial_exit *e) {
  char ended[32];
  tune_time_now(ended, sizeof ended);
  free(l->rec.ended_at);
  l->rec.ended_at = ddpc_strdup(ended);
  if (t->study->grouped) {
    // One model per group: no metrics.jsonl of its own; the value is its groups' (tune_groups.h).
    int epochs = 0;
    if (ddpc_tune_groups_value(l->rec.run_dir, t->study->metric, t->study->maximize, &l->best, &epochs) != 0 &&
        e->exit_code == 0)
      fprintf(stderr, "ddpc tune: trial %d: %s\n", l->rec.number, ddpc_error_message());
    l->rec.epochs_done = epochs;
  }
  l->rec.has_value = !isnan(l->best);
  l->rec.value = l->best;
  if (l->timed_out) {
    // Checkpointed and stopped when asked (exit 5), or ended otherwise meanwhile: either way
    // the limit is why it is over.
    l->rec.state = DDPC_TUNE_TRIAL_FAIL;
    l->rec.reason = ddpc_format("timed out: stopped after %g s (tune.trial_max_seconds), exit code %d",
                                t->study->trial_max_seconds, e->exit_code);
  } else if (e->exit_code == 0) {
    char *state = ddpc_run_summary_state(l->rec.run_dir);
    l->rec.state = state && strcmp(state, "pruned") == 0 ? DDPC_TUNE_TRIAL_PRUNED : DDPC_TUNE_TRIAL_COMPLETE;
    free(state);
  } else {
    l->rec.state = DDPC_TUNE_TRIAL_FAIL;
    free(l->rec.log_tail);
    l->rec.log_tail = l->log_path ? ddpc_tune_trial_log_tail(l->log_path, TUNE_LOG_TAIL_LINES) : NULL;
    if (e->exit_code == 3) l->rec.reason = ddpc_strdup("diverged (non-finite loss or the divergence rule)");
    else if (e->exit_code == 1) l->rec.reason = ddpc_strdup("failed: bad config or data, or an I/O error (see log_tail)");
    else if (e->exit_code == 2)
      l->rec.reason = ddpc_strdup("failed: ddpc train refused its command line (exit 2; see log_tail)");
    else if (e->exit_code == DDPC_EXIT_GROUPS_FAILED && t->study->grouped)
      l->rec.reason = ddpc_format("some groups failed or diverged (exit 7; see %s/summary.json)", l->rec.run_dir);
    else if (e->exit_code == 4)
      l->rec.reason = ddpc_strdup("trial stopped at a review gate (exit 4); studies do not support review gates");
    else
      l->rec.reason = ddpc_format("crashed: %s %d, %d restart(s) used", e->signal ? "signal" : "exit code",
                                  e->signal ? e->signal : e->exit_code, l->rec.failures);
  }
  static const char *const names[] = {"RUNNING", "COMPLETE", "PRUNED", "FAIL"};
  // The value is the best epoch's (what the table shows), not the last one's that a pruning
  // line quoted: "best" says which, so the two lines do not seem to disagree.
  if (l->rec.has_value)
    tune_say(t, "trial %d %s after %d epochs: best %s %.6g%s%s", l->rec.number, names[l->rec.state], l->rec.epochs_done,
             t->study->metric, l->rec.value, l->rec.reason ? "; " : "", l->rec.reason ? l->rec.reason : "");
  else
    tune_say(t, "trial %d %s: %s", l->rec.number, names[l->rec.state], l->rec.reason ? l->rec.reason : "no value");
}

/* Trial l, about to start again (--resume, or after a crash), was told at a rung to stop. A
 * checkpoint from before that rung brings it back there, where its verdict file says prune;
 * one at or past the rung (it was interrupted while waiting for the verdict, and stopped
 * with a checkpoint) would train on unjudged. It is then PRUNED now, without running again:
 * its epochs are spent, and the decision stands. Returns 1 when recorded so, 0 to start it,
 * -1 on error. */
static int tune_settle_pruned(tune_loop *t, tune_live *l) {
  int rung = t->study->scheduler == DDPC_TUNE_SCHEDULER_ASHA ? ddpc_tune_asha_stop_epoch(&t->asha, l->rec.number) : 0;
  if (rung == 0) return 0;
  char *path = NULL;
  ddpc_checkpoint *ckpt = NULL;
  ddpc_checkpoint_meta meta;
  int found = ddpc_checkpoint_find_latest(l->rec.run_dir, &path, &ckpt);
  int rc = found == 0 ? ddpc_checkpoint_read_meta(ckpt, &meta) : found;
  ddpc_checkpoint_free(ckpt);
  free(path);
  if (rc < 0) return -1;
  if (rc > 0 || meta.epoch < rung || meta.state == DDPC_STATE_PRUNED) return 0;
  char ended[32];
  tune_time_now(ended, sizeof ended);
  free(l->rec.ended_at);
  free(l->rec.reason);
  l->rec.ended_at = ddpc_strdup(ended);
  l->rec.reason = ddpc_format("asha: pruned at rung %d (decided when it got there; it stopped before it read the "
                              "verdict, with a checkpoint at epoch %lld)",
                              rung, (long long)meta.epoch);
  l->rec.state = DDPC_TUNE_TRIAL_PRUNED;
  l->rec.has_value = !isnan(l->best);
  l->rec.value = l->best;
  tune_say(t, "trial %d PRUNED at rung %d (decided before it stopped)", l->rec.number, rung);
  return ddpc_tune_store_update_trial(t->store, &l->rec) != 0 ? -1 : 1;
}

/* Trial l's attempt ended with `e`: record how, restart it after a crash, free its slot. */
static int tune_finish(tune_loop *t, tune_live *l, const ddpc_tune_trial_exit *e) {
  if (tune_follow(t, l) != 0) return -1;
  int slot = l->slot;
  if (slot >= 0) t->slot_owner[slot] = -1;
  l->slot = -1;
  l->active = false;
  l->rec.exit_code = e->exit_code;
  // A crash may pass on a second try; a refused command line (2) or a review gate (4) would
  // only repeat itself.
  // A grouped run's exit 7 (some groups failed or diverged, the others ended) is its outcome.
  bool groups_failed = t->study->grouped && e->signal == 0 && e->exit_code == DDPC_EXIT_GROUPS_FAILED;
  bool crashed = !l->timed_out && !groups_failed &&
                 (e->signal > 0 || e->exit_code > 5 || (e->exit_code == 5 && !tune_stop_requested));
  free(l->rec.reason);
  l->rec.reason = NULL;
  int rc;
  if (tune_stop_requested && (e->exit_code == 5 || e->signal > 0)) {
    // Interrupted with the tuner (checkpointed, or killed before it could be asked):
    // stays RUNNING in the store; --resume continues it.
    tune_say(t, "trial %d %s", l->rec.number, e->exit_code == 5 ? "checkpointed and stopped" : "stopped");
    rc = ddpc_tune_store_update_trial(t->store, &l->rec);
  } else if (crashed && !tune_stop_requested && (rc = tune_settle_pruned(t, l)) != 0) {
    if (rc < 0) return -1;
    rc = 0;  // recorded PRUNED: its crash came after the decision
  } else if (crashed && l->rec.failures < t->study->max_failures && !tune_stop_requested) {
    // Counted in the store before the restart: a tuner killed now cannot hand the trial
    // fresh restarts on --resume.
    l->rec.failures++;
    tune_say(t, "trial %d crashed (%s %d); restart %d of %d from its checkpoint", l->rec.number,
             e->signal ? "signal" : "exit code", e->signal ? e->signal : e->exit_code, l->rec.failures,
             t->study->max_failures);
    if (ddpc_tune_store_update_trial(t->store, &l->rec) != 0 || tune_start_process(t, l, slot) != 0) return -1;
    return ddpc_tune_store_update_trial(t->store, &l->rec);
  } else {
    tune_record_end(t, l, e);
    rc = ddpc_tune_store_update_trial(t->store, &l->rec);
    tune_track_trial_end(t, l);
  }
  // Only now that the store has its end may the attempt be forgotten (kill -9 in between:
  // --resume finds the attempt again and records its end then).
  if (rc == 0 && t->backend->release) t->backend->release(t, l);
  return rc;
}

/* ---- setup, resume, the end ---- */

/* --resume, scheduler asha: the rungs as they were, from the values in the store in the
 * order they arrived, so that every trial gets the decision it had (and the values of
 * trials that go on are judged against the same ones as before). */
static int tune_load_rungs(tune_loop *t) {
  const ddpc_tune_study *st = t->study;
  for (int r = 0; r < t->asha.n_rungs && t->asha.rungs[r].epoch < st->asha_max_epochs; r++) {
    ddpc_tune_intermediate *values = NULL;
    int n = 0;
    if (ddpc_tune_store_load_rung(t->store, t->asha.rungs[r].epoch, &values, &n) != 0) return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
      double cutoff;
      double v = st->maximize ? values[i].value : -values[i].value;
      rc = ddpc_tune_asha_on_result(&t->asha, values[i].number, values[i].epoch, v, &cutoff) < 0 ? -1 : 0;
    }
    free(values);
    if (rc != 0) return -1;
  }
  return 0;
}


/* Loads what the store has (resume): finished trials stay, interrupted ones are queued to
 * continue, the ASHA rungs are rebuilt from the recorded intermediate values. */
static int tune_load_previous(tune_loop *t) {
  ddpc_tune_trial *recs = NULL;
  int n = 0;
  if (t->study->scheduler == DDPC_TUNE_SCHEDULER_ASHA && tune_load_rungs(t) != 0) return -1;
  if (ddpc_tune_store_load_trials(t->store, &recs, &n) != 0) return -1;
  // A trial's point is one value per parameter of the space it was drawn from; read against
  // another space (the study file edited, or --set tune.space given, since the study began)
  // it would be indexed past its end.
  for (int i = 0; i < n; i++)
    if (recs[i].n_x != t->study->space.n_params) {
      ddpc_error_set("%s/study.db: trial %d was drawn from %d parameter%s, but tune.space of %s now has %d: the "
                     "space changed since the study began; resume with the space it began with, or start a new "
                     "study in another directory",
                     t->opt->study_dir, recs[i].number, recs[i].n_x, recs[i].n_x == 1 ? "" : "s",
                     t->study->study_path, t->study->space.n_params);
      ddpc_tune_trials_free(recs, n);
      return -1;
    }
  for (int i = 0; i < n; i++) {
    tune_live *l = tune_add_live(t);
    if (!l) return -1;
    l->rec = recs[i];
    l->metrics.path = ddpc_format("%s/metrics.jsonl", l->rec.run_dir);
    if (!l->metrics.path) return -1;
    // An attempt that outlived the previous tuner (a Slurm job) is followed, not restarted.
    int adopted = l->rec.state == DDPC_TUNE_TRIAL_RUNNING && t->backend->adopt ? t->backend->adopt(t, l) : 0;
    if (adopted < 0) return -1;
    if (adopted) {
      l->slot = tune_free_slot(t);
      if (l->slot >= 0) t->slot_owner[l->slot] = l->rec.number;
      l->active = true;
      l->attempt_started = ddpc_time_seconds();
      l->stop_sent = 0;
    }
    // Replays the epochs already written: best value, intermediates, rung records.
    tune_epoch_ctx c = {t, l, true, 0};
    if (ddpc_tune_metrics_read(&l->metrics, t->study->metric, tune_on_epoch, &c) < 0 || c.rc != 0) return -1;
  }
  free(recs);  // the records' contents now belong to t->trials
  return 0;
}

static int tune_write_best(const tune_loop *t, const tune_live *best) {
  const ddpc_tune_study *st = t->study;
  int n = 0;
  // The config the best trial ran, epochs included, without the tuner's pruning rungs (no
  // tuner answers them): `ddpc train best.yaml` trains what the trial trained.
  char **o = tune_trial_overrides(t, best->rec.x, false, &n);
  if (!o) return -1;
  ddpc_config cfg;
  int rc = ddpc_config_load(st->base_path, (const char *const *)o, n, &cfg);
  for (int i = 0; i < n; i++) free(o[i]);
  free(o);
  if (rc != 0) return -1;
  // Its own run directory, STUDY_DIR/best (absolute: the file runs from any folder). The
  // base config's output.dir would hold the base run's checkpoints, or another study's
  // best, and `ddpc train best.yaml` as printed would be refused there.
  char *study = realpath(t->opt->study_dir, NULL);
  char *out_dir = study ? ddpc_format("%s/best", study) : NULL;
  if (!study) rc = ddpc_error_set("%s: %s", t->opt->study_dir, strerror(errno));
  else if (!out_dir) rc = -1;
  free(study);
  if (rc == 0) {
    free(cfg.output_dir);
    cfg.output_dir = out_dir;
    rc = ddpc_config_write_resolved(&cfg);
  }
  char *path = rc == 0 ? ddpc_format("%s/best.yaml", t->opt->study_dir) : NULL;
  FILE *f = path ? fopen(path, "w") : NULL;
  if (!f) rc = path ? ddpc_error_set("%s: cannot create: %s", path, strerror(errno)) : -1;
  if (f) {
    fprintf(f, "# The best trial (%d, %s %.6g) of the study in %s.\n# Run it: ddpc train %s (into output.dir below)\n%s",
            best->rec.number, st->metric, best->rec.value, t->opt->study_dir, path, cfg.resolved_yaml);
    if (fclose(f) != 0) rc = ddpc_error_set("%s: write failed", path);
  }
  if (rc == 0 && !t->opt->quiet) printf("best trial: %d  %s %.6g  %s\nready to run: ddpc train %s\n", best->rec.number,
                                        st->metric, best->rec.value, best->rec.params_json, path);
  free(path);
  ddpc_config_free(&cfg);
  return rc;
}

/* The trial records side by side, as the table functions take them (shallow copies). */
static ddpc_tune_trial *tune_records(const tune_loop *t) {
  ddpc_tune_trial *recs = ddpc_calloc((size_t)t->n_trials + 1, sizeof *recs, "trial table");
  for (int i = 0; recs && i < t->n_trials; i++) recs[i] = t->trials[i].rec;
  return recs;
}

/* On a terminal: the table of trials, redrawn once a second. */
static void tune_draw_live(tune_loop *t) {
  if (!t->view || ddpc_time_seconds() - t->view->drawn_at < 1.0) return;
  ddpc_tune_trial *recs = tune_records(t);
  if (recs) ddpc_tune_live_draw(t->view, stdout, recs, t->n_trials, t->study->metric, t->study->maximize);
  free(recs);
}

static int tune_report(tune_loop *t) {
  ddpc_tune_trial *recs = tune_records(t);
  if (!recs) return -1;
  if (t->view) ddpc_tune_live_erase(t->view, stdout);
  ddpc_tune_table_print(stdout, recs, t->n_trials, t->study->metric, t->study->maximize);
  int best = ddpc_tune_table_best(recs, t->n_trials, t->study->maximize);
  free(recs);
  if (best < 0) {
    fprintf(stderr, "ddpc tune: no trial gave a value of %s\n", t->study->metric);
    return 0;
  }
  return tune_write_best(t, &t->trials[best]);
}

static bool tune_any_running(const tune_loop *t) {
  for (int i = 0; i < t->n_trials; i++)
    if (t->trials[i].active) return true;
  return false;
}

static int tune_setup(tune_loop *t) {
  const ddpc_tune_study *st = t->study;
  t->backend = st->backend == DDPC_TUNE_BACKEND_SLURM ? &tune_backend_slurm : &tune_backend_local;
  t->n_slots = st->parallelism;
  t->slot_owner = ddpc_calloc((size_t)t->n_slots, sizeof *t->slot_owner, "trial slots");
  if (!t->slot_owner) return -1;
  for (int s = 0; s < t->n_slots; s++) t->slot_owner[s] = -1;
  if (t->backend->setup && t->backend->setup(t) != 0) return -1;
  if (st->scheduler == DDPC_TUNE_SCHEDULER_ASHA) {
    if (ddpc_tune_asha_init(&t->asha, st->asha_grace, st->asha_reduction_factor, st->asha_max_epochs) != 0) return -1;
    char rungs[512] = "";
    size_t used = 0;
    for (int i = 0; i < t->asha.n_rungs && t->asha.rungs[i].epoch < st->asha_max_epochs; i++)
      used += (size_t)snprintf(rungs + used, sizeof rungs - used, "%s%d", used ? "," : "", t->asha.rungs[i].epoch);
    // A rung at the last epoch needs no verdict: the trial ends there anyway.
    if (used > 0 && !(t->rung_override = ddpc_format("pruning.rungs=[%s]", rungs))) return -1;
  }
  if (ddpc_tune_sampler_create(st->algorithm, &st->space, st->seed, &t->sampler) != 0) return -1;
  // A study that ends within TPE's random start-up never uses TPE: say so, or its results
  // would be read as TPE's.
  if (st->algorithm == DDPC_TUNE_ALGORITHM_TPE && st->max_trials <= DDPC_TUNE_TPE_STARTUP_TRIALS)
    tune_say(t, "note: tpe proposes its first %d trials at random (hyperopt's start-up); with max_trials %d this "
                "study is a random search",
             DDPC_TUNE_TPE_STARTUP_TRIALS, st->max_trials);
  char *store_path = ddpc_format("%s/study.db", t->opt->study_dir);
  int rc = store_path ? ddpc_tune_store_open(store_path, &t->store) : -1;
  free(store_path);
  if (rc != 0) return -1;
  if (t->opt->resume) return tune_load_previous(t);
  return 0;
}

static void tune_loop_free(tune_loop *t) {
  for (int i = 0; i < t->n_trials; i++) {
    ddpc_tune_trial_free(&t->trials[i].rec);
    ddpc_tune_metrics_reader_free(&t->trials[i].metrics);
    free(t->trials[i].job_id);
    free(t->trials[i].log_path);
    free(t->trials[i].started_file);
  }
  free(t->trials);
  free(t->job_prefix);
  free(t->slot_owner);
  free(t->rung_override);
  ddpc_tune_asha_free(&t->asha);
  ddpc_tune_sampler_free(t->sampler);
  ddpc_tune_store_close(t->store);
}

/* Ends trial l's attempt when it has taken no training step within
 * tune.trial_startup_seconds (a start that hangs: daemons that never call back, a stuck
 * file system); its end then counts as a crash and is restarted within max_failures. The
 * marker is looked at only once the deadline has passed. */
static void tune_check_startup(tune_loop *t, tune_live *l) {
  double limit = t->study->trial_startup_seconds;
  if (l->stepped || !l->started_file || !t->backend->end_hung || limit <= 0 || tune_stop_requested) return;
  if (ddpc_time_seconds() - l->attempt_started < limit) return;
  l->stepped = true;  // judged once per attempt
  if (ddpc_start_marker_seen(l->started_file)) return;
  tune_say(t, "trial %d took no training step within tune.trial_startup_seconds (%g s); ending it", l->rec.number,
           limit);
  t->backend->end_hung(t, l);
}

/* The graceful stop (checkpoint, exit 5) of a trial that ran over tune.trial_max_seconds, or
 * of every trial when the tuner itself is interrupted. A signal that reaches mpirun before
 * it has started the ranks reaches no rank, and one a rank gets before its handler is set
 * ends it uncleanly: a timed-out trial is signalled once its start marker shows a training
 * step (the Slurm backend has none: at once). Either way the stop goes out again every
 * TUNE_STOP_RESEND_SECONDS until the attempt ends; ranks take a repeat as the same request. */
static void tune_send_stop(tune_loop *t, tune_live *l) {
  double now = ddpc_time_seconds();
  if (l->stop_sent > 0 && now - l->stop_sent < TUNE_STOP_RESEND_SECONDS) return;
  if (!tune_stop_requested && l->started_file && !ddpc_start_marker_seen(l->started_file)) return;
  t->backend->stop(t, l);
  l->stop_sent = now;
}

/* One pass of the loop; -1 on error. */
static int tune_step(tune_loop *t) {
  if (t->backend->refresh && t->backend->refresh(t) != 0) return -1;
  for (int i = 0; i < t->n_trials; i++) {
    tune_live *l = &t->trials[i];
    if (!l->active) continue;
    double limit = t->study->trial_max_seconds;
    if (limit > 0 && !l->timed_out && !tune_stop_requested && ddpc_time_seconds() - l->attempt_started > limit) {
      // Stopped the graceful way (checkpoint, exit 5), so its run directory stays usable.
      tune_say(t, "trial %d ran over tune.trial_max_seconds (%g s); stopping it", l->rec.number, limit);
      l->timed_out = true;
    }
    if (l->timed_out || tune_stop_requested) tune_send_stop(t, l);
    tune_check_startup(t, l);
    ddpc_tune_trial_exit e;
    int ended = t->backend->poll(t, l, &e);
    if (ended < 0 || (ended ? tune_finish(t, l, &e) : tune_follow(t, l)) != 0) return -1;
  }
  if (tune_stop_requested) return 0;
  const ddpc_tune_study *st = t->study;
  bool time_left = st->max_seconds <= 0 || ddpc_time_seconds() - t->started < st->max_seconds;
  int slot;
  t->held = false;  // an interrupted trial waits for its run directory: new ones wait too
  // Interrupted trials from a previous tuner first, then new ones.
  for (int i = 0; i < t->n_trials && (slot = tune_free_slot(t)) >= 0; i++) {
    tune_live *l = &t->trials[i];
    if (l->active || l->rec.state != DDPC_TUNE_TRIAL_RUNNING) continue;
    // A rank of the attempt the previous tuner started may still be winding down there
    // (checkpointing after the SIGTERM its tuner's death brought): not two trainings in
    // one directory (launch/train/run_lock.h).
    int busy = ddpc_run_lock_held(l->rec.run_dir);
    if (busy < 0) {
      // A filesystem without locks (some NFS): the trial's own ddpc train says more.
      fprintf(stderr, "ddpc tune: trial %d: %s; starting it anyway\n", l->rec.number, ddpc_error_message());
      busy = 0;
    }
    if (busy) {
      if (!l->held_said) tune_say(t, "trial %d: its previous attempt still runs in %s; waiting", l->rec.number,
                                  l->rec.run_dir);
      l->held_said = t->held = true;
      continue;
    }
    int settled = tune_settle_pruned(t, l);
    if (settled < 0) return -1;
    if (settled) continue;
    tune_say(t, "trial %d continues from its checkpoint", l->rec.number);
    if (tune_start_process(t, l, slot) != 0 || ddpc_tune_store_update_trial(t->store, &l->rec) != 0) return -1;
  }
  while (!t->held && time_left && !t->grid_exhausted && t->n_trials < st->max_trials && (slot = tune_free_slot(t)) >= 0) {
    int rc = tune_start_next(t, slot);
    if (rc < 0) return -1;
    if (rc == 0) break;
  }
  return 0;
}

int ddpc_tune_run(const ddpc_tune_study *study, const ddpc_tune_run_options *opt) {
  tune_loop t;
  memset(&t, 0, sizeof t);
  t.study = study;
  t.opt = opt;
  t.started = ddpc_time_seconds();
  tune_stop_requested = 0;
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = tune_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  ddpc_tune_live_view view = {0, 0.0};
  if (!opt->quiet && isatty(STDOUT_FILENO)) t.view = &view;
  int rc = tune_setup(&t);
  if (rc == 0) tune_track_start(&t);
  while (rc == 0) {
    rc = tune_step(&t);  // which also passes an interruption on to the running trials
    if (rc != 0) break;
    if (!tune_any_running(&t) && (tune_stop_requested || !t.held)) break;
    tune_draw_live(&t);
    struct timespec pause = {0, (long)(TUNE_POLL_SECONDS * 1e9)};
    nanosleep(&pause, NULL);
  }
  int code = 0;
  if (rc != 0) {
    fprintf(stderr, "ddpc tune: error: %s\n", ddpc_error_message());
    for (int i = 0; i < t.n_trials; i++)
      if (t.trials[i].active) t.backend->abandon(&t, &t.trials[i]);
    code = 1;
  } else if (tune_stop_requested) {
    fprintf(stderr, "ddpc tune: interrupted; continue with: ddpc tune --resume %s\n", opt->study_dir);
    code = 5;
  } else if (tune_report(&t) != 0) {
    fprintf(stderr, "ddpc tune: error: %s\n", ddpc_error_message());
    code = 1;
  }
  tune_track_finish(&t, code);
  tune_loop_free(&t);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  return code;
}
