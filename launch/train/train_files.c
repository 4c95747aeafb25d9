/* The run directory of a training session, written by rank 0:
 *   config.yaml    resolved config          metrics.jsonl  one line per epoch (a hook)
 *   events.jsonl   every transition and review answer, appended across resumes (a hook)
 *   steps.jsonl    per-step loss when asked  summary.json   the outcome
 *   meta.json      run metadata              review.json    the question of a review gate
 *   checkpoints/   written by train_checkpoint.c
 *   split.json, encoding.json  the data's split and encoding (train_data_files.c)
 * The progress display is a hook too; all of them are installed by train_files_install_hooks.
 * Every write to the appended files is checked: a full disk is an error naming the file,
 * not lines silently lost (a hook cannot return it: train_files_check does). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/device.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/sysinfo.h"
#include "launch/train/blas.h"
#include "launch/train/run_lock.h"
#include "launch/train/train_internal.h"

static int files_write_text(FILE *out, void *user) {
  fputs((const char *)user, out);
  return 0;
}

static FILE *files_open(train_session *s, const char *name, const char *mode) {
  char *path = ddpc_format("%s/%s", s->run_dir, name);
  if (!path) return NULL;
  FILE *f = fopen(path, mode);
  if (!f) ddpc_error_set("cannot open '%s': %s", path, strerror(errno));
  free(path);
  return f;
}

/* Versions a fresh run may try (OUTPUT_DIR-2 .. -N) before it gives up. */
#define FILES_MAX_VERSIONS 10000

/* 1 when dir holds an earlier run's checkpoints or a training runs there, 0 when a fresh
 * run may have it (also when it does not exist yet), -1 when that cannot be told. */
static int files_dir_taken(const char *dir) {
  int held = ddpc_run_lock_held(dir);
  return held != 0 ? held : ddpc_checkpoint_exists(dir);
}

/* Rank 0: output.dir, or its first free version. Lightning's version_N and MLflow's run
 * ids give every run a place of its own; a sibling OUTPUT_DIR-N (not a folder inside the
 * earlier run) keeps every run directory a plain one. */
static int files_pick_version(const char *base, char **out) {
  size_t len = strlen(base);
  while (len > 1 && base[len - 1] == '/') len--;  // "runs/x/" versions as "runs/x-2"
  for (int v = 1; v <= FILES_MAX_VERSIONS; v++) {
    char *dir = v == 1 ? ddpc_strdup(base) : ddpc_format("%.*s-%d", (int)len, base, v);
    if (!dir) return -1;
    int taken = files_dir_taken(dir);
    if (taken == 0) {
      *out = dir;
      return 0;
    }
    free(dir);
    if (taken < 0) return -1;
  }
  return ddpc_error_set("%s and its versions %s-2 .. -%d all hold earlier runs: remove some, or name the run "
                        "directory with --run-dir DIR",
                        base, base, FILES_MAX_VERSIONS);
}

int train_files_choose_dir(train_session *s) {
  const char *base = s->cfg.output_dir;
  char *dir = NULL;
  int rc = s->comm->rank == 0 ? files_pick_version(base, &dir) : 0;
  if (train_agree(s, rc) != 0) return -1;
  // Every rank uses the one rank 0 picked (only rank 0 need see the directory).
  int32_t len = dir ? (int32_t)strlen(dir) : 0;
  if (s->comm->ops->broadcast(s->comm, &len, sizeof len, 0) != 0) {
    free(dir);
    return -1;
  }
  if (s->comm->rank != 0 && !(dir = ddpc_malloc((size_t)len + 1, "run directory"))) return -1;
  dir[len] = '\0';
  if (s->comm->ops->broadcast(s->comm, dir, (size_t)len, 0) != 0) {
    free(dir);
    return -1;
  }
  s->run_dir_chosen = dir;
  s->run_dir = dir;
  if (strcmp(dir, base) != 0)
    ddpc_progress_note(&s->progress, "run directory: %s (%s holds an earlier run; a fresh run takes the next free "
                       "version)", dir, base);
  return 0;
}

/* How long a training waits for another one that still holds the run directory (an
 * attempt winding down after it was told to stop) before it gives up. */
#define FILES_LOCK_WAIT_SECONDS 10.0

int train_files_open(train_session *s) {
  if (s->comm->rank != 0) return 0;
  if (ddpc_fs_mkdirs(s->run_dir, 0755) != 0) return -1;
  // Two trainings writing one directory would interleave checkpoints and metrics.
  if ((s->run_lock = ddpc_run_lock_take(s->run_dir, FILES_LOCK_WAIT_SECONDS)) < 0) return -1;
  // A fresh run must not mix with an earlier run's checkpoints: pruning would delete its
  // own newer-numbered files first and `--resume auto` would pick the old run up.
  int earlier = s->opt->resume ? 0 : ddpc_checkpoint_exists(s->run_dir);
  if (earlier < 0) return -1;
  if (earlier)
    return ddpc_error_set("%s already holds checkpoints of an earlier run: continue it with --resume auto, or start "
                          "this run in another directory (--run-dir DIR, or output.dir) or after removing %s",
                          s->run_dir, s->run_dir);
  if (!(s->events = files_open(s, "events.jsonl", "a"))) return -1;
  if (s->cfg.train.log_every_steps > 0 && !(s->steps_log = files_open(s, "steps.jsonl", s->opt->resume ? "a" : "w")))
    return -1;
  return 0;
}

/* config.yaml: written once the run is known to go ahead (a refused resume must leave the
 * run's own config in place, and so must a resume of a run that had ended, which trains
 * nothing with the config it was given). */
int train_files_write_config(train_session *s) {
  if (s->comm->rank != 0 || train_resumed_run_ended(s)) return 0;
  char *path = ddpc_format("%s/config.yaml", s->run_dir);
  if (!path) return -1;
  int rc = ddpc_fs_write_atomic(path, files_write_text, s->cfg.resolved_yaml);
  free(path);
  return rc == 0 ? train_data_files_write(s) : rc;
}

/* Records the first failed write of an appended run file: the error, and s->write_error
 * for train_files_check (the error itself may be replaced before anyone looks). */
static int files_write_failed(train_session *s, const char *name, int err) {
  ddpc_error_set("cannot write '%s/%s': %s", s->run_dir, name, strerror(err));
  if (!s->write_error) s->write_error = ddpc_strdup(ddpc_error_message());
  return -1;
}

int train_files_end_line(train_session *s, FILE *f, const char *name) {
  // Buffered output fails at the flush at the latest; the error flag keeps any earlier one.
  errno = 0;
  if (fputc('\n', f) == EOF || fflush(f) != 0 || ferror(f)) return files_write_failed(s, name, errno ? errno : EIO);
  return 0;
}

int train_files_check(train_session *s) {
  if (!s->write_error) return 0;
  return ddpc_error_set("%s", s->write_error);
}

static void files_metrics_json(FILE *out, const train_session *s, const ddpc_epoch_metrics *m) {
  bool regression = !train_is_classification(s);
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_int(&j, "epoch", m->epoch);
  ddpc_json_number(&j, "train_loss", m->train_loss);
  ddpc_json_number(&j, "train_accuracy", m->train_accuracy);
  ddpc_json_number(&j, "val_loss", m->val_loss);
  ddpc_json_number(&j, "val_accuracy", m->val_accuracy);
  if (regression) {
    ddpc_json_number(&j, "val_mae", m->val_mae);
    ddpc_json_number(&j, "val_rmse", m->val_rmse);
    ddpc_json_number(&j, "val_r2", m->val_r2);
  }
  train_metric_files_epoch(&j, s, m);
  ddpc_json_number(&j, "lr", m->lr);
  ddpc_json_number(&j, "samples_per_s", m->samples_per_s);
  ddpc_json_number(&j, "seconds", m->seconds);
  ddpc_json_number(&j, "comm_seconds", m->comm_seconds);
  ddpc_json_number(&j, "comm_hidden_fraction", m->comm_hidden_fraction);
  ddpc_json_int(&j, "params_crc32", m->params_crc32);
  ddpc_json_end(&j);
}

static int files_metrics_line(train_session *s, const ddpc_epoch_metrics *m) {
  files_metrics_json(s->metrics, s, m);
  return train_files_end_line(s, s->metrics, "metrics.jsonl");
}

/* metrics.jsonl starts from the history (a resumed run's history comes from its
 * checkpoint, which is the truth: an epoch logged after the last checkpoint is redone). */
int train_files_start_metrics(train_session *s) {
  if (s->comm->rank != 0) return 0;
  if (!(s->metrics = files_open(s, "metrics.jsonl", "w"))) return -1;
  for (int i = 0; i < s->history.count; i++)
    if (files_metrics_line(s, &s->history.epochs[i]) != 0) return -1;
  return 0;
}

int train_files_close_logs(train_session *s) {
  int rc = train_files_check(s);
  FILE **logs[] = {&s->metrics, &s->steps_log, &s->events};
  const char *names[] = {"metrics.jsonl", "steps.jsonl", "events.jsonl"};
  for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
    // fclose writes what is still buffered: its failure loses lines too.
    if (*logs[i] && fclose(*logs[i]) != 0 && rc == 0) rc = files_write_failed(s, names[i], errno);
    *logs[i] = NULL;
  }
  return rc;
}

void train_files_close(train_session *s) {
  train_files_close_logs(s);
  ddpc_run_lock_release(s->run_lock);
  s->run_lock = -1;
}

/* Built-in hooks; a failed write is left for train_files_check. */
static void files_hook_metrics(void *user, const ddpc_epoch_metrics *m) {
  train_session *s = user;
  if (s->metrics) files_metrics_line(s, m);
}

static void files_event_begin(train_session *s, ddpc_json *j) {
  char now[32];
  ddpc_time_iso8601(now, sizeof now);
  ddpc_json_begin(j, s->events);
  ddpc_json_string(j, "time", now);
}

static void files_hook_transition(void *user, const char *from, const char *to, const char *reason) {
  train_session *s = user;
  if (!s->events) return;
  ddpc_json j;
  files_event_begin(s, &j);
  ddpc_json_string(&j, "from", from);
  ddpc_json_string(&j, "to", to);
  ddpc_json_string(&j, "reason", reason);
  ddpc_json_int(&j, "epoch", s->epoch);
  ddpc_json_int(&j, "step", s->step);
  ddpc_json_end(&j);
  train_files_end_line(s, s->events, "events.jsonl");
}

static void files_hook_progress_epoch(void *user, const ddpc_epoch_metrics *m) {
  train_session *s = user;
  ddpc_progress_epoch_end(&s->progress, m);
}

static void files_hook_progress_step(void *user, int64_t step, int32_t epoch, double loss) {
  train_session *s = user;
  int64_t k = s->batch_in_epoch;
  ddpc_progress_step(&s->progress, epoch, k, (int64_t)s->epoch_sums[2] * s->comm->size,
                     s->epoch_sums[2] > 0 ? s->epoch_sums[0] / s->epoch_sums[2] * s->loss_scale : loss);
}

static void files_hook_progress_checkpoint(void *user, const char *path) {
  train_session *s = user;
  // On a terminal the progress line would scroll past; per-epoch checkpoints go unsaid.
  if (s->batch_in_epoch > 0 || ddpc_state_is_final(s->state)) ddpc_progress_note(&s->progress, "checkpoint: %s", path);
}

void train_files_install_hooks(train_session *s) {
  const ddpc_hooks builtin = {
      .user = s,
      .on_step_end = files_hook_progress_step,
      .on_epoch_end = files_hook_progress_epoch,
      .on_transition = files_hook_transition,
      .on_checkpoint = files_hook_progress_checkpoint,
  };
  const ddpc_hooks metrics = {.user = s, .on_epoch_end = files_hook_metrics};
  int n = 2 + s->opt->n_hooks;
  s->hooks = ddpc_calloc((size_t)n, sizeof *s->hooks, "hooks");
  if (!s->hooks) return;
  s->hooks[0] = builtin;
  s->hooks[1] = metrics;
  for (int i = 0; i < s->opt->n_hooks; i++) s->hooks[2 + i] = s->opt->hooks[i];
  s->n_hooks = n;
}

void train_files_log_review_answer(train_session *s, int answer) {
  if (!s->events) return;
  const char *who = getenv("USER");
  ddpc_json j;
  files_event_begin(s, &j);
  ddpc_json_string(&j, "event", "review");
  ddpc_json_string(&j, "answer", answer > 0 ? "approve" : "reject");
  ddpc_json_string(&j, "by", who ? who : "unknown");
  ddpc_json_int(&j, "epoch", s->epoch);
  ddpc_json_end(&j);
  train_files_end_line(s, s->events, "events.jsonl");
}

void train_files_log_warning(train_session *s, const char *what, const char *message) {
  if (!s->events) return;
  ddpc_json j;
  files_event_begin(s, &j);
  ddpc_json_string(&j, "event", "warning");
  ddpc_json_string(&j, "what", what);
  ddpc_json_string(&j, "message", message);
  ddpc_json_int(&j, "epoch", s->epoch);
  ddpc_json_end(&j);
  train_files_end_line(s, s->events, "events.jsonl");
}

void train_files_log_config_changes(train_session *s, const ddpc_resume_diff *diff) {
  if (!s->events || diff->count == 0) return;
  ddpc_json j;
  files_event_begin(s, &j);
  ddpc_json_string(&j, "event", "config_changes");
  ddpc_json_int(&j, "epoch", s->epoch);
  ddpc_json_begin_array(&j, "changes");
  for (int i = 0; i < diff->count; i++) {
    const ddpc_resume_change *c = &diff->changes[i];
    ddpc_json_begin_object(&j, NULL);
    ddpc_json_string(&j, "key", c->key);
    ddpc_json_string(&j, "from", c->saved);  // null when the key was absent
    ddpc_json_string(&j, "to", c->current);
    ddpc_json_bool(&j, "allowed", c->allowed);
    ddpc_json_end_object(&j);
  }
  ddpc_json_end_array(&j);
  ddpc_json_end(&j);
  train_files_end_line(s, s->events, "events.jsonl");
}

static const char *files_monitor(const train_session *s) {
  return s->cfg.stop.early_stopping.enabled ? s->cfg.stop.early_stopping.monitor : s->cfg.checkpoint.monitor;
}

static int files_summary(FILE *out, void *user) {
  const train_session *s = user;
  char now[32];
  ddpc_time_iso8601(now, sizeof now);
  uint32_t crc = ddpc_model_params_crc32(s->model);
  double elapsed = s->elapsed_before + ddpc_time_seconds() - s->start_time;
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "name", s->cfg.name);
  ddpc_json_string(&j, "state", ddpc_state_names[s->state]);
  ddpc_json_string(&j, "stop_reason", s->stop_reason);
  ddpc_json_int(&j, "epochs_completed", s->epoch);
  ddpc_json_int(&j, "steps", s->step);
  ddpc_json_int(&j, "best_epoch", s->facts.best_epoch);
  char *best_key = ddpc_format("best_%s", files_monitor(s));
  if (best_key) ddpc_json_number(&j, best_key, s->facts.best_value);
  free(best_key);
  ddpc_json_number(&j, "test_loss", s->test.loss);
  ddpc_json_number(&j, "test_accuracy", s->test.accuracy);
  if (!train_is_classification(s)) {
    ddpc_json_number(&j, "test_mae", s->test.mae);
    ddpc_json_number(&j, "test_rmse", s->test.rmse);
    ddpc_json_number(&j, "test_r2", s->test.r2);
  }
  train_metric_files_test(&j, s);
  ddpc_json_int(&j, "params_crc32", crc);
  ddpc_json_int(&j, "param_count", (int64_t)ddpc_model_param_count(s->model));
  ddpc_json_number(&j, "samples_per_s",
                   s->train_seconds > 0 ? (double)s->train_samples * s->comm->size / s->train_seconds : 0.0);
  ddpc_json_number(&j, "wall_seconds", ddpc_time_seconds() - s->start_time);
  ddpc_json_number(&j, "training_seconds", elapsed);
  ddpc_json_number(&j, "peak_rss_mb", ddpc_peak_rss_mb());
  ddpc_json_number(&j, "pss_mb_per_rank", s->pss_mb_mean);
  ddpc_json_int(&j, "world_size", s->comm->size);
  ddpc_json_string(&j, "comm_method", ddpc_grad_sync_method(s->sync));
  ddpc_json_bool(&j, "resumed", s->resumed);
  ddpc_json_string(&j, "data_cache", !s->cfg.data.cache ? "off" : s->data.cache_hit ? "hit" : "miss");
  ddpc_json_number(&j, "data_seconds", s->data.load_seconds);
  ddpc_json_string(&j, "blas_core", ddpc_blas_core_name());
  char hash[17];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)ddpc_config_hash(&s->cfg));
  ddpc_json_string(&j, "config_hash", hash);
  ddpc_json_string(&j, "finished_at", now);
  // This process's start-up and shut-down cost around its steps (Unix seconds, rank 0).
  ddpc_json_begin_object(&j, "timeline");
  ddpc_json_unix_time(&j, "started", s->unix_started);
  ddpc_json_unix_time(&j, "first_step", s->unix_first_step > 0 ? s->unix_first_step : NAN);
  ddpc_json_unix_time(&j, "last_step", s->unix_first_step > 0 ? s->unix_last_step : NAN);
  ddpc_json_unix_time(&j, "summary_written", ddpc_time_unix());
  ddpc_json_end_object(&j);
  // Last: the head of the file (train_files_read_summary) stays a few hundred bytes.
  train_metric_files_tables(&j, s);
  ddpc_json_end(&j);
  fputc('\n', out);
  return 0;
}

int train_files_write_summary(train_session *s) {
  if (s->comm->rank != 0) return 0;
  char *path = ddpc_format("%s/summary.json", s->run_dir);
  if (!path) return -1;
  int rc = ddpc_fs_write_atomic(path, files_summary, s);
  free(path);
  return rc;
}

bool train_files_read_summary(train_session *s, double *samples_per_s) {
  // The outcome is a few hundred bytes at the head of the file, before the timeline.
  char buf[8192];
  if (!ddpc_fs_read_head(s->run_dir, "summary.json", buf, sizeof buf)) return false;
  double *const fields[] = {&s->test.loss, &s->test.accuracy, &s->test.mae, &s->test.rmse, &s->test.r2, samples_per_s};
  const char *const keys[] = {"test_loss", "test_accuracy", "test_mae", "test_rmse", "test_r2", "samples_per_s"};
  bool any = false;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    if (ddpc_json_find_number(buf, keys[i], fields[i]) == 1) any = true;
    else *fields[i] = NAN;  // null (not evaluated) or absent (a classification run's test_mae)
  }
  train_metric_files_read_test(s, buf);
  return any;
}

typedef struct {
  const train_session *s;  // the run
  const char *question;    // what the reviewer is asked
} files_review;

static int files_review_json(FILE *out, void *user) {
  const files_review *r = user;
  const train_session *s = r->s;
  char now[32];
  ddpc_time_iso8601(now, sizeof now);
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "question", r->question);
  ddpc_json_int(&j, "epoch", s->epoch);
  ddpc_json_string(&j, "asked_at", now);
  char *approve = ddpc_format("ddpc resume %s --approve", s->run_dir);
  char *reject = ddpc_format("ddpc resume %s --reject", s->run_dir);
  ddpc_json_string(&j, "approve", approve);
  ddpc_json_string(&j, "reject", reject);
  free(approve);
  free(reject);
  fputs(",\"metrics\":[", out);
  // The metrics so far, as metrics.jsonl has them, so the reviewer needs one file.
  for (int i = 0; i < s->history.count; i++) {
    if (i) fputc(',', out);
    files_metrics_json(out, s, &s->history.epochs[i]);
    fputc('\n', out);
  }
  fputs("]}\n", out);
  return 0;
}

int train_files_write_review(train_session *s, const char *question) {
  if (s->comm->rank != 0) return 0;
  char *path = ddpc_format("%s/review.json", s->run_dir);
  if (!path) return -1;
  files_review r = {s, question};
  int rc = ddpc_fs_write_atomic(path, files_review_json, &r);
  free(path);
  return rc;
}

/* meta.json: who ran what, where, on which data, and how it ended. */
typedef struct {
  const train_session *s;  // the run
  const double *rss;       // peak RSS of every rank, MiB
  const char *hosts;       // every rank's host name, DDPC_HOST_BYTES each
  bool finished;           // the run reached a final state
} files_meta;

#define DDPC_HOST_BYTES 64

static void files_meta_data_file(ddpc_json *j, const train_data_file *f) {
  if (!f->path) return;
  ddpc_json_begin_object(j, f->name);
  ddpc_json_string(j, "path", f->path);
  if (f->read) {
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)f->xxh64);
    ddpc_json_int(j, "bytes", (int64_t)f->bytes);
    ddpc_json_string(j, "xxh64", hex);
  }
  ddpc_json_end_object(j);
}

/* Under Slurm: which job, allocation and restart wrote this run (a requeued job starts
 * again with the same id and a higher SLURM_RESTART_COUNT). Unset variables are null. */
static void files_meta_slurm(ddpc_json *j) {
  static const char *const names[] = {"SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_NODELIST", "SLURM_NTASKS",
                                      "SLURM_PROCID", "SLURM_RESTART_COUNT", "SLURM_CLUSTER_NAME"};
  if (!getenv("SLURM_JOB_ID")) return;
  ddpc_json_begin_object(j, "slurm");
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) ddpc_json_string(j, names[i], getenv(names[i]));
  ddpc_json_end_object(j);
}

static int files_meta_json(FILE *out, void *user) {
  const files_meta *m = user;
  const train_session *s = m->s;
  char now[32];
  ddpc_time_iso8601(now, sizeof now);
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "run_id", s->run_id);
  ddpc_json_string(&j, "name", s->cfg.name);
  ddpc_json_string(&j, "state", ddpc_state_names[s->state]);
  ddpc_json_string(&j, "started_at", s->started_at);
  ddpc_json_string(&j, "ended_at", m->finished ? now : NULL);
  ddpc_json_number(&j, "wall_seconds", ddpc_time_seconds() - s->start_time);
  ddpc_json_number(&j, "training_seconds", s->elapsed_before + ddpc_time_seconds() - s->start_time);
  ddpc_json_int(&j, "world_size", s->comm->size);
  ddpc_json_int(&j, "nodes", s->comm->node_count);
  fputs(",\"hosts\":[", out);
  for (int r = 0; r < s->comm->size; r++) fprintf(out, "%s\"%.*s\"", r ? "," : "", DDPC_HOST_BYTES, m->hosts + (size_t)r * DDPC_HOST_BYTES);
  fputs("],\"peak_rss_mb_per_rank\":[", out);
  for (int r = 0; r < s->comm->size; r++) fprintf(out, "%s%.1f", r ? "," : "", m->rss[r]);
  fputc(']', out);
  ddpc_json_string(&j, "ddpc_version", ddpc_version());
  ddpc_json_begin_object(&j, "build");
  ddpc_json_string(&j, "compiler", __VERSION__);
  ddpc_json_string(&j, "build_type", DDPC_BUILD_TYPE);
  ddpc_json_string(&j, "options", DDPC_BUILD_OPTIONS);
  ddpc_json_string(&j, "blas_core", ddpc_blas_core_name());
#ifdef __SANITIZE_ADDRESS__
  ddpc_json_bool(&j, "sanitizers", true);
#else
  ddpc_json_bool(&j, "sanitizers", false);
#endif
  ddpc_json_bool(&j, "cuda", ddpc_device_built(DDPC_DEVICE_CUDA));
  ddpc_json_end_object(&j);
  char hash[17];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)ddpc_config_hash(&s->cfg));
  ddpc_json_string(&j, "config_hash", hash);
  ddpc_json_begin_object(&j, "data_files");
  // Hashed at setup (train_data_hash.c): the content the run trained on.
  for (int i = 0; i < TRAIN_DATA_FILES; i++) files_meta_data_file(&j, &s->data_files[i]);
  ddpc_json_end_object(&j);
  files_meta_slurm(&j);
  ddpc_json_begin_object(&j, "test");
  ddpc_json_number(&j, "loss", s->test.loss);
  ddpc_json_number(&j, "accuracy", s->test.accuracy);
  if (!train_is_classification(s)) {
    ddpc_json_number(&j, "mae", s->test.mae);
    ddpc_json_number(&j, "rmse", s->test.rmse);
    ddpc_json_number(&j, "r2", s->test.r2);
  }
  ddpc_json_end_object(&j);
  ddpc_json_end(&j);
  fputc('\n', out);
  return 0;
}

int train_files_write_meta(train_session *s, bool finished) {
  // Every rank contributes its host and memory; rank 0 writes.
  int n = s->comm->size;
  double rss = ddpc_peak_rss_mb();
  char host[DDPC_HOST_BYTES];
  memset(host, 0, sizeof host);
  gethostname(host, sizeof host - 1);
  double *all_rss = calloc((size_t)n, sizeof *all_rss);
  char *hosts = calloc((size_t)n, DDPC_HOST_BYTES);
  int rc = all_rss && hosts ? 0 : ddpc_error_set("out of memory (run metadata)");
  if (rc == 0) rc = s->comm->ops->allgather(s->comm, &rss, all_rss, sizeof rss);
  if (rc == 0) rc = s->comm->ops->allgather(s->comm, host, hosts, DDPC_HOST_BYTES);
  if (rc == 0 && s->comm->rank == 0) {
    char *path = ddpc_format("%s/meta.json", s->run_dir);
    files_meta m = {s, all_rss, hosts, finished};
    rc = path ? ddpc_fs_write_atomic(path, files_meta_json, &m) : -1;
    free(path);
  }
  free(all_rss);
  free(hosts);
  return rc;
}
