/* A study in MLflow (track/track.h): the parent run of the study, in STUDY_DIR/mlflow.json,
 * and its trials as child runs. Each trial's own `ddpc train` creates its child run, tagged
 * mlflow.parentRunId from DDPC_MLFLOW_PARENT_RUN_ID, which is set here before any trial
 * starts; when a trial ends, the tuner tags its run with the trial's number, state
 * (COMPLETE, PRUNED, FAIL) and value, logs the best value so far on the parent (step: trials
 * finished) and tags the best trial there. Params of the parent: the search space
 * (tune.space.KEY: its distribution), algorithm, scheduler, parallelism, metric, budget.
 * Logged where the trials log: the base config's tracking.mlflow, else MLFLOW_TRACKING_URI;
 * a resumed study keeps its parent run. Nothing here can stop or slow the study. */
// realpath() is XSI, beyond the POSIX level the build asks for.
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "ddpc/ddpc.h"
#include "tune/tune_run_internal.h"
#include "track/track.h"

static const char *const track_trial_states[] = {"RUNNING", "COMPLETE", "PRUNED", "FAIL"};

static void track_param_text(ddpc_track *t, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void track_param_text(ddpc_track *t, const char *key, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  ddpc_track_param(t, key, text);
}

/* tune.space.KEY: "loguniform [0.0001, 0.1]", "choice [sgd, adam]". */
static void track_space_params(ddpc_track *tr, const ddpc_tune_space *space) {
  for (int i = 0; i < space->n_params; i++) {
    const ddpc_tune_param *p = &space->params[i];
    char *key = ddpc_format("tune.space.%s", p->key);
    char *text = NULL;
    if (p->dist == DDPC_TUNE_DIST_CHOICE) {
      text = ddpc_strdup("choice [");
      for (int c = 0; text && c < p->n_choices; c++) {
        char *next = ddpc_format("%s%s%s", text, c ? ", " : "", p->labels[c]);
        free(text);
        text = next;
      }
      if (text) {
        char *next = ddpc_format("%s]", text);
        free(text);
        text = next;
      }
    } else if (p->dist == DDPC_TUNE_DIST_QUNIFORM) {
      text = ddpc_format("quniform [%g, %g, %g]", p->low, p->high, p->q);
    } else {
      text = ddpc_format("%s [%g, %g]", ddpc_tune_dist_name(p->dist), p->low, p->high);
    }
    if (key && text) ddpc_track_param(tr, key, text);
    free(key);
    free(text);
  }
}

void tune_track_start(tune_loop *t) {
  const ddpc_tune_study *st = t->study;
  ddpc_config cfg;
  // The trials log where their config says; the parent goes with them.
  bool have_cfg = ddpc_config_load(st->base_path, (const char *const *)st->trial_overrides, st->n_trial_overrides, &cfg) == 0;
  if (!have_cfg) ddpc_error_clear();
  char *uri = NULL, *experiment = NULL;
  if (ddpc_track_resolve(t->opt->study_dir, have_cfg ? cfg.tracking_uri : NULL, have_cfg ? cfg.tracking_experiment : NULL,
                         &uri, &experiment) != 0) {
    fprintf(stderr, "ddpc tune: warning: not logging to MLflow: %s\n", ddpc_error_message());
    ddpc_error_clear();
  }
  if (have_cfg) ddpc_config_free(&cfg);
  if (!uri) return;
  const char *slash = strrchr(t->opt->study_dir, '/');
  char *name = ddpc_format("study %s", slash && slash[1] ? slash + 1 : t->opt->study_dir);
  ddpc_track_options opt = {.dir = t->opt->study_dir, .uri = uri, .experiment = experiment, .run_name = name,
                            .create_now = true, .run_id_env = "DDPC_MLFLOW_PARENT_RUN_ID"};
  bool resumed = false;
  if (!name || ddpc_track_open(&opt, &t->track, &resumed) != 0) {
    fprintf(stderr, "ddpc tune: warning: not logging to MLflow: %s\n", ddpc_error_message());
    ddpc_error_clear();
  }
  free(name);
  free(uri);
  free(experiment);
  if (!t->track) return;
  // A trial's own training must not take the study's parent for its own run's parent's: the
  // variable is for the trials only, and ddpc train reads it.
  if (resumed) {
    ddpc_track_end(t->track, "RUNNING");
    return;
  }
  static const char *const algorithms[] = {"random", "grid", "tpe"};
  track_space_params(t->track, &st->space);
  ddpc_track_param(t->track, "tune.algorithm", algorithms[st->algorithm]);
  ddpc_track_param(t->track, "tune.scheduler", st->scheduler == DDPC_TUNE_SCHEDULER_ASHA ? "asha" : "fifo");
  track_param_text(t->track, "tune.parallelism", "%d", st->parallelism);
  ddpc_track_param(t->track, "tune.metric", st->metric);
  ddpc_track_param(t->track, "tune.mode", st->maximize ? "max" : "min");
  track_param_text(t->track, "tune.max_trials", "%d", st->max_trials);
  track_param_text(t->track, "tune.ranks_per_trial", "%d", st->ranks_per_trial);
  ddpc_track_param(t->track, "tune.base", st->base_path);
  ddpc_track_param(t->track, "tune.backend", st->backend == DDPC_TUNE_BACKEND_SLURM ? "slurm" : "local");
  ddpc_track_tag(t->track, NULL, "ddpc.version", ddpc_version());
  char *abs = realpath(t->opt->study_dir, NULL);
  ddpc_track_tag(t->track, NULL, "ddpc.study_dir", abs ? abs : t->opt->study_dir);
  free(abs);
}

void tune_track_trial_end(tune_loop *t, const tune_live *l) {
  if (!t->track || l->rec.state == DDPC_TUNE_TRIAL_RUNNING) return;
  char number[32], value[64];
  snprintf(number, sizeof number, "%d", l->rec.number);
  snprintf(value, sizeof value, "%.10g", l->rec.value);
  // The parent's id when the trial may not have had it (the server was down when it started).
  const char *parent = ddpc_track_run_id(t->track);
  const char *keys[] = {"ddpc.trial", "ddpc.trial_state", "ddpc.trial_value", "mlflow.parentRunId"};
  const char *values[] = {number, track_trial_states[l->rec.state], l->rec.has_value ? value : "none", parent};
  int n = parent ? 4 : 3;
  char *child = ddpc_track_dir_run_id(l->rec.run_dir);
  for (int i = 0; i < n; i++) {
    if (child) {
      ddpc_track_tag(t->track, child, keys[i], values[i]);
    } else if (ddpc_track_spool_tag(l->rec.run_dir, keys[i], values[i]) != 0) {
      // Its run never reached the server: the tags wait in its spool for `ddpc mlflow sync`.
      ddpc_error_clear();
      break;
    }
  }
  free(child);
  ddpc_tune_trial *recs = ddpc_calloc((size_t)t->n_trials + 1, sizeof *recs, "trial table");
  if (!recs) return;
  int finished = 0;
  for (int i = 0; i < t->n_trials; i++) {
    recs[i] = t->trials[i].rec;
    finished += recs[i].state != DDPC_TUNE_TRIAL_RUNNING;
  }
  int best = ddpc_tune_table_best(recs, t->n_trials, t->study->maximize);
  free(recs);
  if (best < 0) return;
  const ddpc_tune_trial *b = &t->trials[best].rec;
  ddpc_track_metric(t->track, "best_value", b->value, finished);
  snprintf(number, sizeof number, "%d", b->number);
  ddpc_track_tag(t->track, NULL, "ddpc.best_trial", number);
  snprintf(value, sizeof value, "%.10g", b->value);
  ddpc_track_tag(t->track, NULL, "ddpc.best_value", value);
  char *best_run = ddpc_track_dir_run_id(b->run_dir);
  if (best_run) ddpc_track_tag(t->track, NULL, "ddpc.best_run_id", best_run);
  free(best_run);
}

void tune_track_finish(tune_loop *t, int code) {
  if (!t->track) return;
  ddpc_track_end(t->track, code == 0 ? "FINISHED" : code == 5 ? "KILLED" : "FAILED");
  ddpc_track_close(t->track);
  t->track = NULL;
}
