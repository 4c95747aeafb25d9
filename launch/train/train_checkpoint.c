/* Saving and restoring the training state. Rank 0 writes checkpoints (every rank holds
 * the same replica) and, on resume, reads one and broadcasts it, so ranks on other nodes
 * need not see the run directory. What a checkpoint holds is in core/checkpoint.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sysinfo.h"
#include "launch/train/train_internal.h"

/* The top-level sections of the resolved config that must match the checkpoint's: another
 * model or data would make the saved parameters meaningless or silently different. */
static const char *const checkpoint_guarded_sections[] = {"data", "model"};

/* Key path of a line of resolved YAML, from the keys of the lines above it with less
 * indentation ("data.train.images"); list items keep their parent's path plus "[i]". */
typedef struct {
  char *keys[16];  // key at each indentation level (two spaces a level)
  int items[16];   // list items seen at each level
} checkpoint_yaml_path;

static char *checkpoint_line_path(checkpoint_yaml_path *p, const char *line, size_t len) {
  size_t indent = 0;
  while (indent < len && line[indent] == ' ') indent++;
  int level = (int)(indent / 2);
  if (level >= 15) level = 15;
  const char *body = line + indent;
  size_t body_len = len - indent;
  for (int l = level + 1; l < 16; l++) {
    free(p->keys[l]);
    p->keys[l] = NULL;
    p->items[l] = 0;
  }
  if (body_len > 0 && body[0] == '-') {
    int item = p->items[level]++;
    char *parent = NULL;
    for (int l = 0; l < level; l++) {
      if (!p->keys[l]) continue;
      char *next = parent ? ddpc_format("%s.%s", parent, p->keys[l]) : ddpc_strdup(p->keys[l]);
      free(parent);
      parent = next;
    }
    char *path = ddpc_format("%s[%d]", parent ? parent : "", item);
    free(parent);
    return path;
  }
  const char *colon = memchr(body, ':', body_len);
  size_t key_len = colon ? (size_t)(colon - body) : body_len;
  free(p->keys[level]);
  p->keys[level] = ddpc_format("%.*s", (int)key_len, body);
  p->items[level] = 0;
  char *path = NULL;
  for (int l = 0; l <= level; l++) {
    if (!p->keys[l]) continue;
    char *next = path ? ddpc_format("%s.%s", path, p->keys[l]) : ddpc_strdup(p->keys[l]);
    free(path);
    path = next;
  }
  return path;
}

/* "path: value" lines of the guarded sections of a resolved config, one string. */
static char *checkpoint_guarded_lines(const char *yaml) {
  checkpoint_yaml_path p;
  memset(&p, 0, sizeof p);
  size_t cap = strlen(yaml) * 2 + 64, used = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  out[0] = '\0';
  bool inside = false;
  for (const char *line = yaml; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (len > 0 && line[0] != ' ' && line[0] != '-') {
      inside = false;
      for (size_t i = 0; i < sizeof checkpoint_guarded_sections / sizeof *checkpoint_guarded_sections; i++) {
        size_t n = strlen(checkpoint_guarded_sections[i]);
        if (len > n && strncmp(line, checkpoint_guarded_sections[i], n) == 0 && line[n] == ':') inside = true;
      }
    }
    if (inside && len > 0) {
      char *path = checkpoint_line_path(&p, line, len);
      const char *colon = memchr(line, ':', len);
      const char *value = line[strspn(line, " ")] == '-' ? line + strspn(line, " ") + 1 : colon ? colon + 1 : "";
      size_t value_len = (size_t)(line + len - value);
      int n = snprintf(out + used, cap - used, "%s =%.*s\n", path ? path : "?", (int)value_len, value);
      if (n > 0 && (size_t)n < cap - used) used += (size_t)n;
      free(path);
    }
    line = end ? end + 1 : line + len;
  }
  for (int l = 0; l < 16; l++) free(p.keys[l]);
  return out;
}

/* Names the keys of the guarded sections whose values differ; NULL when none do. */
static char *checkpoint_config_diff(const char *saved, const char *current) {
  char *a = checkpoint_guarded_lines(saved), *b = checkpoint_guarded_lines(current);
  char *diff = NULL;
  if (!a || !b) goto done;
  // Report each differing key of the current config once (lines are "path =value").
  for (char *line = b; *line;) {
    char *end = strchr(line, '\n');
    *end = '\0';
    bool same = false;
    for (char *other = a; *other;) {
      char *oend = strchr(other, '\n');
      if ((size_t)(oend - other) == strlen(line) && strncmp(other, line, strlen(line)) == 0) same = true;
      other = oend + 1;
    }
    if (!same) {
      char *eq = strstr(line, " =");
      char *key = ddpc_format("%.*s", eq ? (int)(eq - line) : (int)strlen(line), line);
      char *next = diff ? ddpc_format("%s, %s", diff, key) : ddpc_strdup(key);
      free(key);
      free(diff);
      diff = next;
    }
    *end = '\n';
    line = end + 1;
  }
  if (!diff && strcmp(a, b) != 0) diff = ddpc_strdup("(keys removed from the config)");
done:
  free(a);
  free(b);
  return diff;
}

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
    ddpc_checkpoint_section sections[8];
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

/* Rank 0: reads the checkpoint the options name and checks it against this run. Returns 1
 * when "auto" found none. */
static int checkpoint_load(train_session *s, ddpc_checkpoint **out) {
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
  char *diff = saved_yaml ? checkpoint_config_diff(saved_yaml, s->cfg.resolved_yaml) : NULL;
  size_t n_params = 0;
  ddpc_checkpoint_find_section(*out, DDPC_CHECKPOINT_SECTION_PARAMS, &n_params);
  if (!meta || !saved_yaml) rc = ddpc_error_set("%s: not a ddpc training checkpoint (meta or config section missing)", path);
  else if (diff)
    rc = ddpc_error_set("%s: the config differs from the checkpoint's in %s; resume with the run's own config.yaml "
                        "or start a new run directory", path, diff);
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
  }
  free(saved_yaml);
  free(diff);
  free(path);
  return rc;
}

/* Copies section id (or zeros when absent on rank 0) into buffer b on every rank: through
 * the host (the broadcast is MPI's), then up to the GPU for a GPU run. */
static int checkpoint_broadcast(train_session *s, const ddpc_checkpoint *ck, uint32_t id, ddpc_buffer *b) {
  size_t bytes = b->count * sizeof(float);
  float *dst = train_device_host_target(b);
  if (!dst) return -1;
  if (s->comm->rank == 0) {
    size_t have = 0;
    const void *src = ddpc_checkpoint_find_section(ck, id, &have);
    if (src && have == bytes) memcpy(dst, src, bytes);
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
  int rc = s->comm->rank == 0 ? checkpoint_load(s, &ck) : 0;
  int found = rc == 0;
  if (train_agree(s, rc < 0 ? -1 : 0) != 0) {
    ddpc_checkpoint_free(ck);
    return -1;
  }
  if (s->comm->ops->broadcast(s->comm, &found, sizeof found, 0) != 0) return -1;
  if (!found) return 0;
  ddpc_checkpoint_meta meta;
  memset(&meta, 0, sizeof meta);
  int64_t history = 0;
  if (s->comm->rank == 0) {
    size_t bytes = 0;
    ddpc_checkpoint_read_meta(ck, &meta);  // checked by checkpoint_load
    checkpoint_restore_identity(s, ck);
    ddpc_checkpoint_find_section(ck, DDPC_CHECKPOINT_SECTION_HISTORY, &bytes);
    history = (int64_t)(bytes / sizeof(ddpc_epoch_metrics));
  }
  rc = s->comm->ops->broadcast(s->comm, &meta, sizeof meta, 0);
  if (rc == 0) rc = s->comm->ops->broadcast(s->comm, &history, sizeof history, 0);
  if (rc == 0) rc = checkpoint_broadcast(s, ck, DDPC_CHECKPOINT_SECTION_PARAMS, ddpc_model_params(s->model));
  if (rc == 0 && s->opt_state.m.data)
    rc = checkpoint_broadcast(s, ck, DDPC_CHECKPOINT_SECTION_OPTIM_M, &s->opt_state.m);
  if (rc == 0 && s->opt_state.v.data)
    rc = checkpoint_broadcast(s, ck, DDPC_CHECKPOINT_SECTION_OPTIM_V, &s->opt_state.v);
  for (int64_t i = 0; rc == 0 && i < history; i++) {
    ddpc_epoch_metrics m;
    memset(&m, 0, sizeof m);
    if (s->comm->rank == 0) {
      size_t bytes = 0;
      const ddpc_epoch_metrics *all = ddpc_checkpoint_find_section(ck, DDPC_CHECKPOINT_SECTION_HISTORY, &bytes);
      memcpy(&m, all + i, sizeof m);
    }
    rc = s->comm->ops->broadcast(s->comm, &m, sizeof m, 0);
    if (rc == 0) rc = ddpc_metric_history_append(&s->history, &m);
  }
  ddpc_checkpoint_free(ck);
  if (rc != 0) return -1;
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
  return 0;
}
