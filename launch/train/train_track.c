/* ddpc train's run in MLflow (see train_internal.h and track/track.h). Rank 0 only. What
 * the run logs:
 *   params   the resolved config, one leaf per key ("optimizer.lr", "model.0"), on the run's
 *            first process only (MLflow refuses a param logged again with another value)
 *   tags     ddpc.version, ddpc.world_size, ddpc.nodes, ddpc.host, ddpc.comm, ddpc.device,
 *            ddpc.slurm_job_id, ddpc.run_dir, ddpc.run_id, at the end ddpc.state;
 *            mlflow.parentRunId when DDPC_MLFLOW_PARENT_RUN_ID names one (a tuner's trial)
 *   metrics  every metrics.jsonl field each epoch (step = epoch); step_loss every
 *            train.log_every_steps steps (step = global step); test_* at the end
 *   status   done -> FINISHED, failed and diverged -> FAILED, preempted, pruned and
 *            rejected -> KILLED; await_review leaves it RUNNING
 *   artifacts config.yaml, metrics.jsonl, events.jsonl, summary.json, meta.json; the model
 *            as model/model.safetensors and model/model.onnx (train_track_export) */
// realpath() and gethostname() are XSI, beyond the POSIX level the build asks for.
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/device.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "launch/train/train_internal.h"
#include "track/track.h"

/* MLflow's param keys take letters, digits, '_', '-', '.', ' ', ':' and '/': a list item's
 * "model[0]" becomes "model.0". */
static void track_param_leaf(void *user, const char *key, const char *value) {
  char *k = ddpc_strdup(key);
  if (!k) return;
  size_t n = 0;
  for (const char *p = key; *p; p++)
    if (*p == '[') k[n++] = '.';
    else if (*p != ']') k[n++] = *p;
  k[n] = '\0';
  ddpc_track_param(user, k, value);
  free(k);
}

static void track_hook_epoch(void *user, const ddpc_epoch_metrics *m) {
  train_session *s = user;
  ddpc_track *t = s->track;
  int64_t e = m->epoch;
  ddpc_track_metric(t, "train_loss", m->train_loss, e);
  ddpc_track_metric(t, "train_accuracy", m->train_accuracy, e);
  ddpc_track_metric(t, "val_loss", m->val_loss, e);
  ddpc_track_metric(t, "val_accuracy", m->val_accuracy, e);
  ddpc_track_metric(t, "val_mae", m->val_mae, e);
  ddpc_track_metric(t, "val_rmse", m->val_rmse, e);
  ddpc_track_metric(t, "val_r2", m->val_r2, e);
  train_metric_extra x[TRAIN_METRIC_EXTRAS];
  for (int i = 0, n = train_metric_extras(s, m, x); i < n; i++) ddpc_track_metric(t, x[i].key, x[i].value, e);
  ddpc_track_metric(t, "lr", m->lr, e);
  ddpc_track_metric(t, "samples_per_s", m->samples_per_s, e);
  ddpc_track_metric(t, "seconds", m->seconds, e);
  ddpc_track_metric(t, "comm_seconds", m->comm_seconds, e);
  ddpc_track_metric(t, "comm_hidden_fraction", m->comm_hidden_fraction, e);
  ddpc_track_metric(t, "params_crc32", (double)m->params_crc32, e);
}

static void track_tag_int(ddpc_track *t, const char *key, long long v) {
  char text[32];
  snprintf(text, sizeof text, "%lld", v);
  ddpc_track_tag(t, NULL, key, text);
}

/* The tags that say where and how the run ran. */
static void track_tag_run(train_session *s) {
  ddpc_track *t = s->track;
  ddpc_track_tag(t, NULL, "ddpc.version", ddpc_version());
  track_tag_int(t, "ddpc.world_size", s->comm->size);
  track_tag_int(t, "ddpc.nodes", s->comm->node_count);
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) == 0) ddpc_track_tag(t, NULL, "ddpc.host", host);
  ddpc_track_tag(t, NULL, "ddpc.comm", s->comm->size > 1 ? ddpc_grad_sync_method(s->sync) : "none (1 rank)");
  ddpc_track_tag(t, NULL, "ddpc.device", ddpc_device_name(s->cfg.device));
  const char *job = getenv("SLURM_JOB_ID");
  if (job && job[0]) ddpc_track_tag(t, NULL, "ddpc.slurm_job_id", job);
  char *abs = realpath(s->run_dir, NULL);
  ddpc_track_tag(t, NULL, "ddpc.run_dir", abs ? abs : s->run_dir);
  free(abs);
  ddpc_track_tag(t, NULL, "ddpc.run_id", s->run_id);
  ddpc_track_tag(t, NULL, "ddpc.state", "running");
  const char *parent = getenv("DDPC_MLFLOW_PARENT_RUN_ID");
  if (parent && parent[0]) ddpc_track_tag(t, NULL, "mlflow.parentRunId", parent);
}

void train_track_start(train_session *s) {
  if (s->comm->rank != 0 || s->already_ended) return;
  char *uri = NULL, *experiment = NULL;
  if (ddpc_track_resolve(s->run_dir, s->cfg.tracking_uri, s->cfg.tracking_experiment, &uri, &experiment) != 0) {
    fprintf(stderr, "ddpc: warning: not logging to MLflow: %s\n", ddpc_error_message());
    ddpc_error_clear();
  }
  if (!uri) return;
  ddpc_hooks *grown = realloc(s->hooks, (size_t)(s->n_hooks + 1) * sizeof *grown);
  bool resumed = false;
  // A tuner's trials share their config's name: each child run is named after its trial
  // directory too ("cultivars_csv-0003"), so the study's runs can be told apart.
  const char *parent = getenv("DDPC_MLFLOW_PARENT_RUN_ID");
  const char *slash = strrchr(s->run_dir, '/');
  char *name = parent && parent[0] && slash && slash[1] ? ddpc_format("%s-%s", s->cfg.name, slash + 1)
                                                        : ddpc_strdup(s->cfg.name);
  ddpc_track_options opt = {.dir = s->run_dir, .uri = uri, .experiment = experiment, .run_name = name};
  if (grown) s->hooks = grown;
  if (!grown || !name || ddpc_track_open(&opt, &s->track, &resumed) != 0) {
    fprintf(stderr, "ddpc: warning: not logging to MLflow: %s\n", ddpc_error_message());
    ddpc_error_clear();
  }
  free(uri);
  free(experiment);
  free(name);
  if (!s->track) return;
  s->hooks[s->n_hooks++] = (ddpc_hooks){.user = s, .on_epoch_end = track_hook_epoch};
  if (!resumed && ddpc_resume_diff_each_leaf(s->cfg.resolved_yaml, track_param_leaf, s->track) != 0) ddpc_error_clear();
  if (resumed) ddpc_track_end(s->track, "RUNNING");  // a preempted run (KILLED) runs again
  track_tag_run(s);
}

void train_track_step(train_session *s, int64_t step, double loss) {
  if (s->track) ddpc_track_metric(s->track, "step_loss", loss, step);
}

/* A run that ends for good has a model to show; a preempted one or one awaiting review goes
 * on later and exports then. The files are those `ddpc export RUN_DIR --format F` writes by
 * default (RUN_DIR/export/model.F): the program's writer (opt->export_model) picks the same
 * checkpoint, so the artifacts are that command's bytes, and `ddpc mlflow sync` finds them
 * there when they could not be sent now. */
/* A warning that leaves the run as it is: on stderr and in events.jsonl. */
static void track_export_warn(train_session *s, const char *what) {
  char *message = ddpc_format("%s not exported for MLflow: %s", what, ddpc_error_message());
  fprintf(stderr, "ddpc: warning: %s\n", message ? message : ddpc_error_message());
  train_files_log_warning(s, "mlflow_model", message ? message : ddpc_error_message());
  free(message);
  ddpc_error_clear();
}

void train_track_export(train_session *s) {
  if (!s->track || !s->opt->export_model) return;
  if (s->state != DDPC_STATE_DONE && s->state != DDPC_STATE_DIVERGED && s->state != DDPC_STATE_PRUNED &&
      s->state != DDPC_STATE_REJECTED)
    return;
  char *dir = ddpc_format("%s/export", s->run_dir);
  if (!dir || ddpc_fs_mkdirs(dir, 0755) != 0) {
    track_export_warn(s, "the model");
    free(dir);
    return;
  }
  static const char *const formats[] = {"safetensors", "onnx"};
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
    char *file = ddpc_format("export/model.%s", formats[i]);
    char *as = ddpc_format("model/model.%s", formats[i]);
    char *path = file ? ddpc_format("%s/%s", s->run_dir, file) : NULL;
    if (as && path && s->opt->export_model(s->run_dir, formats[i], path) == 0) ddpc_track_artifact(s->track, file, as);
    else track_export_warn(s, as ? as : "the model");
    free(file);
    free(as);
    free(path);
  }
  free(dir);
}

static const char *track_status(const char *state) {
  if (strcmp(state, "done") == 0) return "FINISHED";
  if (strcmp(state, "failed") == 0 || strcmp(state, "diverged") == 0) return "FAILED";
  if (strcmp(state, "await_review") == 0) return NULL;  // paused, resumed by a reviewer
  return "KILLED";  // preempted, pruned, rejected
}

void train_track_finish(train_session *s, const char *state) {
  ddpc_track *t = s->track;
  if (!t) return;
  int64_t e = s->epoch;
  ddpc_track_metric(t, "test_loss", s->test.loss, e);
  ddpc_track_metric(t, "test_accuracy", s->test.accuracy, e);
  ddpc_track_metric(t, "test_mae", s->test.mae, e);
  ddpc_track_metric(t, "test_rmse", s->test.rmse, e);
  ddpc_track_metric(t, "test_r2", s->test.r2, e);
  train_metric_extra x[TRAIN_METRIC_EXTRAS];
  for (int i = 0, n = train_metric_extras(s, NULL, x); i < n; i++) ddpc_track_metric(t, x[i].key, x[i].value, e);
  ddpc_track_tag(t, NULL, "ddpc.state", state);
  static const char *const files[] = {"config.yaml", "metrics.jsonl", "events.jsonl", "summary.json", "meta.json"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) ddpc_track_artifact(t, files[i], NULL);
  const char *status = track_status(state);
  if (status) ddpc_track_end(t, status);
  ddpc_track_close(t);
  s->track = NULL;
}
