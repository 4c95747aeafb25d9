/* Saving and restoring the training state. Rank 0 writes checkpoints (every rank holds
 * the same replica) and, on resume, reads one and broadcasts it, so ranks on other nodes
 * need not see the run directory. What a checkpoint holds is in core/checkpoint.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sysinfo.h"
#include "launch/train/train_internal.h"

static ddpc_checkpoint_meta checkpoint_meta_now(train_session *s, const double *epoch_sums) {
  ddpc_checkpoint_meta m;
  memset(&m, 0, sizeof m);
  m.world_size = (uint32_t)s->comm->size;
  m.state = (uint32_t)s->state;
  m.config_hash = ddpc_config_hash(&s->cfg);
  m.seed = s->cfg.seed;
  m.epoch = s->epoch;
  m.step = s->step;
  m.batch_in_epoch = s->batch_in_epoch;
  m.optimizer_steps = s->opt_state.steps;
  m.elapsed_seconds = s->elapsed_before + (ddpc_time_seconds() - s->start_time);
  m.best_value = s->facts.best_value;
  m.best_epoch = s->facts.best_epoch;
  m.bad_epochs = s->facts.bad_epochs;
  m.reviewed_epoch = s->facts.reviewed_epoch;
  m.epoch_loss_sum = epoch_sums[0];
  m.epoch_correct = epoch_sums[1];
  m.epoch_samples = epoch_sums[2];
  m.epoch_seconds = s->batch_in_epoch ? s->epoch_seconds + ddpc_time_seconds() - s->epoch_started : 0.0;
  return m;
}

static int checkpoint_write_file(train_session *s, const char *path, const ddpc_checkpoint_meta *meta) {
  // Host views: a GPU run's arrays are copied down, so the file is the same whatever wrote it.
  float *copies[3] = {NULL, NULL, NULL};
  const float *params = train_device_host_view(ddpc_model_params(s->model), &copies[0]);
  const float *m = s->opt_state.m.data ? train_device_host_view(&s->opt_state.m, &copies[1]) : NULL;
  const float *v = s->opt_state.v.data ? train_device_host_view(&s->opt_state.v, &copies[2]) : NULL;
  int rc = -1;
  if (params && (m || !s->opt_state.m.data) && (v || !s->opt_state.v.data)) {
    ddpc_checkpoint_section sections[9];
    int n = 0;
    char run[sizeof s->run_id + sizeof s->started_at + 2];
    snprintf(run, sizeof run, "%s %s", s->run_id, s->started_at);
    unsigned char meta_bytes[DDPC_CHECKPOINT_META_BYTES];
    ddpc_checkpoint_encode_meta(meta, meta_bytes);
    sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_META, "meta", meta_bytes, sizeof meta_bytes};
    sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_PARAMS, "params", params,
                                              ddpc_model_params(s->model)->count * sizeof(float)};
    if (m)
      sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_OPTIM_M, "optim_m", m,
                                                s->opt_state.m.count * sizeof(float)};
    if (v)
      sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_OPTIM_V, "optim_v", v,
                                                s->opt_state.v.count * sizeof(float)};
    sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_HISTORY, "history", s->history.epochs,
                                              (size_t)s->history.count * sizeof(ddpc_epoch_metrics)};
    sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_CONFIG, "config", s->cfg.resolved_yaml,
                                              strlen(s->cfg.resolved_yaml)};
    sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_RUN, "run", run, strlen(run)};
    if (s->input_section)
      sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_INPUT, "input", s->input_section,
                                                s->input_section_bytes};
    if (s->data_section && *s->data_section)
      sections[n++] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_DATA, "data", s->data_section,
                                                strlen(s->data_section)};
    rc = ddpc_checkpoint_write(path, sections, n);
  }
  for (int i = 0; i < 3; i++) free(copies[i]);
  return rc;
}

int train_checkpoint_save(train_session *s) {
  // A mid-epoch checkpoint carries the epoch's training sums so far, over all ranks.
  double sums[3] = {s->epoch_sums[0], s->epoch_sums[1], s->epoch_sums[2]};
  if (s->comm->ops->allreduce_double(s->comm, sums, 3) != 0) return -1;
  if (s->comm->rank != 0) return 0;
  ddpc_checkpoint_meta meta = checkpoint_meta_now(s, sums);
  char *path = ddpc_checkpoint_path(s->run_dir, s->step);
  if (!path) return -1;
  int rc = checkpoint_write_file(s, path, &meta);
  if (rc == 0) rc = ddpc_checkpoint_prune(s->run_dir, s->cfg.checkpoint.keep_last);
  if (rc == 0) train_hooks_checkpoint(s, path);
  free(path);
  return rc;
}

int train_checkpoint_save_best(train_session *s) {
  const ddpc_checkpoint_config *cc = &s->cfg.checkpoint;
  if (s->comm->rank != 0 || !cc->keep_best || s->history.count == 0) return 0;
  // Judged by checkpoint.monitor and its mode alone (not early stopping's min_delta), at
  // every epoch end, so the best epoch is kept whether or not a checkpoint was due then.
  int best = ddpc_metric_history_best(&s->history, cc->monitor, cc->mode == DDPC_MONITOR_MAX);
  if (best != s->history.count - 1) return 0;
  double no_sums[3] = {0.0, 0.0, 0.0};  // an epoch boundary carries no partial sums
  ddpc_checkpoint_meta meta = checkpoint_meta_now(s, no_sums);
  char *path = ddpc_format("%s/checkpoints/best.ddpc", s->run_dir);
  int rc = path ? checkpoint_write_file(s, path, &meta) : -1;
  if (rc == 0) train_hooks_checkpoint(s, path);
  free(path);
  return rc;
}

/* Whether the learning rate at a step depends on the run's planned length (the cosine
 * schedule decays over stop.max_epochs): a resume that changes the length then changes
 * the rate of every step still to come. */
static bool checkpoint_schedule_follows_length(const ddpc_config *cfg) {
  return cfg->schedule.kind == DDPC_SCHEDULE_COSINE;
}

/* Rank 0: whether the config changes are ones a resume may make (resume_diff.h), after
 * accepting data files that moved with their content. Returns -1 with the refusal. */
static int checkpoint_check_changes(train_session *s, const ddpc_checkpoint *ck, const char *path,
                                    ddpc_resume_diff *diff) {
  train_data_hash_accept_moves(s, ck, diff);  // a data file moved with its content is no change of data
  char *refused = ddpc_resume_diff_list(diff, DDPC_RESUME_CHANGE_REFUSED, false, false);
  if (refused) {
    ddpc_error_set("%s: the config differs from the checkpoint's in %s; resume with the run's own config.yaml or "
                   "start a new run directory", path, refused);
    free(refused);
    return -1;
  }
  char *unallowed = ddpc_resume_diff_list(diff, DDPC_RESUME_CHANGE_ALLOWABLE, true, true);
  if (unallowed) {
    const ddpc_resume_change *length = ddpc_resume_diff_get(diff, "stop.max_epochs");
    bool length_tied = length && length->kind == DDPC_RESUME_CHANGE_ALLOWABLE && !length->allowed;
    char *hint = ddpc_resume_diff_allow_hint(diff);
    ddpc_error_set("%s: the config differs from the checkpoint's in what the run computes: %s%s; resume with the "
                   "run's own config.yaml, or accept the changes with --allow-changes %s",
                   path, unallowed,
                   length_tied ? " (the cosine schedule sets every step's learning rate from stop.max_epochs)" : "",
                   hint ? hint : "KEY,...");
    free(hint);
    free(unallowed);
    return -1;
  }
  return 0;
}

/* Rank 0: says which changes the resume makes (events.jsonl records them too). */
static void checkpoint_announce_changes(train_session *s, const ddpc_resume_diff *diff) {
  char *announced = ddpc_resume_diff_list(diff, DDPC_RESUME_CHANGE_ANNOUNCED, false, true);
  char *allowed = ddpc_resume_diff_list(diff, DDPC_RESUME_CHANGE_ALLOWABLE, false, true);
  if (announced || allowed)
    ddpc_progress_note(&s->progress, "resume: the config differs from the checkpoint's: %s%s%s%s",
                       announced ? announced : "", announced && allowed ? "; " : "",
                       allowed ? "allowed by --allow-changes: " : "", allowed ? allowed : "");
  free(announced);
  free(allowed);
}

/* Rank 0: reads the checkpoint the options name and checks it against this run; *diff
 * holds the config's changes from the checkpoint's. Returns 1 when "auto" found none. */
static int checkpoint_load(train_session *s, ddpc_checkpoint **out, ddpc_resume_diff *diff) {
  const char *want = s->opt->resume;
  char *path = NULL;
  int rc;
  if (strcmp(want, "auto") == 0) {
    rc = ddpc_checkpoint_find_latest(s->run_dir, &path, out);
    if (rc == 1) {
      ddpc_progress_note(&s->progress, "resume: no checkpoint in %s/checkpoints; starting fresh", s->run_dir);
      return 1;
    }
  } else {
    path = ddpc_strdup(want);
    rc = path ? ddpc_checkpoint_read(path, out) : -1;
  }
  if (rc != 0) {
    free(path);
    return -1;
  }
  size_t bytes = 0;
  ddpc_checkpoint_meta meta_value;
  int has_meta = ddpc_checkpoint_read_meta(*out, &meta_value);
  if (has_meta < 0) {
    free(path);
    return -1;
  }
  const ddpc_checkpoint_meta *meta = has_meta == 0 ? &meta_value : NULL;
  const char *yaml = ddpc_checkpoint_find_section(*out, DDPC_CHECKPOINT_SECTION_CONFIG, &bytes);
  char *saved_yaml = yaml ? ddpc_format("%.*s", (int)bytes, yaml) : NULL;
  size_t n_params = 0;
  ddpc_checkpoint_find_section(*out, DDPC_CHECKPOINT_SECTION_PARAMS, &n_params);
  if (!meta || !saved_yaml)
    rc = ddpc_error_set("%s: not a ddpc training checkpoint (meta or config section missing)", path);
  else if (ddpc_resume_diff_find(saved_yaml, s->cfg.resolved_yaml, checkpoint_schedule_follows_length(&s->cfg),
                                 s->opt->allow_changes, diff) != 0 ||
           checkpoint_check_changes(s, *out, path, diff) != 0)
    rc = -1;
  else if (n_params != ddpc_model_param_count(s->model) * sizeof(float))
    rc = ddpc_error_set("%s: holds %zu parameters, the model has %zu", path, n_params / sizeof(float),
                        ddpc_model_param_count(s->model));
  else {
    ddpc_progress_note(&s->progress, "resume: %s (epoch %lld, step %lld%s)", path, (long long)meta->epoch,
                       (long long)meta->step, meta->batch_in_epoch ? ", mid-epoch" : "");
    if ((int)meta->world_size != s->comm->size)
      ddpc_progress_note(&s->progress,
                         "resume: the checkpoint was written by %u ranks, this run has %d: training continues, but "
                         "results are no longer bitwise comparable with an uninterrupted run",
                         meta->world_size, s->comm->size);
    checkpoint_announce_changes(s, diff);
  }
  free(saved_yaml);
  free(path);
  return rc;
}

/* Rank 0: what the config's changes do to the saved position (meta, before it is
 * broadcast). Another batch geometry or seed deals the interrupted epoch's samples
 * differently: it starts over, as at another world size. A finished run given a longer
 * stop.max_epochs trains on from where it ended. */
static void checkpoint_apply_changes(train_session *s, const ddpc_resume_diff *diff, ddpc_checkpoint_meta *meta) {
  bool dealt_anew = ddpc_resume_diff_get(diff, "seed") || ddpc_resume_diff_get(diff, "train.batch_size") ||
                    ddpc_resume_diff_get(diff, "train.drop_last");
  if (meta->batch_in_epoch > 0 && dealt_anew) {
    ddpc_progress_note(&s->progress, "resume: the interrupted epoch %lld starts over (its batches are dealt anew)",
                       (long long)meta->epoch + 1);
    meta->batch_in_epoch = 0;
    meta->epoch_loss_sum = meta->epoch_correct = meta->epoch_samples = meta->epoch_seconds = 0.0;
  }
  if (meta->state == (uint32_t)DDPC_STATE_DONE && ddpc_resume_diff_get(diff, "stop.max_epochs") &&
      s->cfg.stop.max_epochs > meta->epoch) {
    ddpc_progress_note(&s->progress, "resume: the run had ended (done) after %lld epochs; it trains on to %d",
                       (long long)meta->epoch, s->cfg.stop.max_epochs);
    meta->state = (uint32_t)DDPC_STATE_INIT;
  }
  // Another update rule starts from a fresh state (restore skips the saved moments).
  if (ddpc_resume_diff_get(diff, "optimizer.name")) meta->optimizer_steps = 0;
}

/* Copies section id (or zeros when absent on rank 0, or ck is NULL) into buffer b on every rank: through
 * the host (the broadcast is MPI's), then up to the GPU for a GPU run. */
static int checkpoint_broadcast(train_session *s, const ddpc_checkpoint *ck, uint32_t id, ddpc_buffer *b) {
  size_t bytes = b->count * sizeof(float);
  float *dst = train_device_host_target(b);
  if (!dst) return -1;
  if (s->comm->rank == 0) {
    size_t have = 0;
    const void *src = ck ? ddpc_checkpoint_find_section(ck, id, &have) : NULL;
    if (src && have == bytes) memcpy(dst, src, bytes);
    else memset(dst, 0, bytes);
  }
  int rc = s->comm->ops->broadcast(s->comm, dst, bytes, 0);
  int up = train_device_commit_host_target(b, dst);
  return rc != 0 ? rc : up;
}

/* Rank 0: the run id and start time of the run the checkpoint belongs to, so meta.json
 * describes the run, not the latest process (older checkpoints have no such section). */
static void checkpoint_restore_identity(train_session *s, const ddpc_checkpoint *ck) {
  size_t bytes = 0;
  const char *run = ddpc_checkpoint_find_section(ck, DDPC_CHECKPOINT_SECTION_RUN, &bytes);
  const char *space = run ? memchr(run, ' ', bytes) : NULL;
  if (!space) return;
  size_t id_len = (size_t)(space - run), at_len = bytes - id_len - 1;
  if (id_len == 0 || id_len >= sizeof s->run_id || at_len == 0 || at_len >= sizeof s->started_at) return;
  memcpy(s->run_id, run, id_len);
  s->run_id[id_len] = '\0';
  memcpy(s->started_at, space + 1, at_len);
  s->started_at[at_len] = '\0';
}

int train_checkpoint_restore(train_session *s) {
  if (!s->opt->resume) return 0;
  ddpc_checkpoint *ck = NULL;
  ddpc_resume_diff diff = {0};
  int rc = s->comm->rank == 0 ? checkpoint_load(s, &ck, &diff) : 0;
  int found = rc == 0;
  if (train_agree(s, rc < 0 ? -1 : 0) != 0) {
    ddpc_checkpoint_free(ck);
    ddpc_resume_diff_free(&diff);
    return -1;
  }
  int told = s->comm->ops->broadcast(s->comm, &found, sizeof found, 0);
  if (told != 0 || !found) {
    ddpc_resume_diff_free(&diff);
    return told != 0 ? -1 : 0;
  }
  ddpc_checkpoint_meta meta;
  memset(&meta, 0, sizeof meta);
  int64_t history = 0;
  ddpc_epoch_metrics *saved = NULL;  // rank 0: the checkpoint's metric history
  rc = 0;
  if (s->comm->rank == 0) {
    ddpc_checkpoint_read_meta(ck, &meta);  // checked by checkpoint_load
    checkpoint_apply_changes(s, &diff, &meta);
    checkpoint_restore_identity(s, ck);
    rc = ddpc_checkpoint_read_history(ck, &saved, &history);
  }
  if (train_agree(s, rc) != 0) {
    ddpc_checkpoint_free(ck);
    ddpc_resume_diff_free(&diff);
    return -1;
  }
  rc = s->comm->ops->broadcast(s->comm, &meta, sizeof meta, 0);
  if (rc == 0) rc = s->comm->ops->broadcast(s->comm, &history, sizeof history, 0);
  if (rc == 0) rc = checkpoint_broadcast(s, ck, DDPC_CHECKPOINT_SECTION_PARAMS, ddpc_model_params(s->model));
  // Another optimizer's moments (an allowed change) mean nothing to this one: zeros.
  const ddpc_checkpoint *moments = ddpc_resume_diff_get(&diff, "optimizer.name") ? NULL : ck;
  if (rc == 0 && s->opt_state.m.data)
    rc = checkpoint_broadcast(s, moments, DDPC_CHECKPOINT_SECTION_OPTIM_M, &s->opt_state.m);
  if (rc == 0 && s->opt_state.v.data)
    rc = checkpoint_broadcast(s, moments, DDPC_CHECKPOINT_SECTION_OPTIM_V, &s->opt_state.v);
  for (int64_t i = 0; rc == 0 && i < history; i++) {
    ddpc_epoch_metrics m;
    memset(&m, 0, sizeof m);
    if (s->comm->rank == 0) m = saved[i];
    rc = s->comm->ops->broadcast(s->comm, &m, sizeof m, 0);
    if (rc == 0) rc = ddpc_metric_history_append(&s->history, &m);
  }
  free(saved);
  ddpc_checkpoint_free(ck);
  if (rc != 0) {
    ddpc_resume_diff_free(&diff);
    return -1;
  }
  bool same_world = (int)meta.world_size == s->comm->size;
  s->step = meta.step;
  s->epoch = meta.epoch;
  // Another world size shards the epoch differently: its interrupted epoch starts over.
  s->batch_in_epoch = same_world ? meta.batch_in_epoch : 0;
  s->opt_state.steps = meta.optimizer_steps;
  s->elapsed_before = meta.elapsed_seconds;
  s->facts.best_value = meta.best_value;
  s->facts.best_epoch = meta.best_epoch;
  s->facts.bad_epochs = meta.bad_epochs;
  s->facts.reviewed_epoch = meta.reviewed_epoch;
  // Rank 0 carries the epoch's sums so far; the epoch-end reduction adds the rest.
  if (s->comm->rank == 0 && s->batch_in_epoch > 0) {
    s->epoch_sums[0] = meta.epoch_loss_sum;
    s->epoch_sums[1] = meta.epoch_correct;
    s->epoch_sums[2] = meta.epoch_samples;
  }
  s->epoch_seconds = s->batch_in_epoch > 0 ? meta.epoch_seconds : 0.0;
  // The learning rate of the last step taken, which the next epoch's metrics report.
  if (s->step > 0)
    s->lr = ddpc_schedule_lr(&s->cfg.schedule, s->cfg.optimizer.lr, s->step - 1, s->steps_per_epoch,
                             s->steps_per_epoch * s->cfg.stop.max_epochs);
  s->state = (ddpc_state)meta.state;
  s->resumed = true;
  // Rank 0's (the others' is empty); a run that had ended does nothing with them.
  if (!train_resumed_run_ended(s)) train_files_log_config_changes(s, &diff);
  ddpc_resume_diff_free(&diff);
  return 0;
}
