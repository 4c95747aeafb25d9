/* `ddpc train`: one training run from a resolved config. Loads data, builds the model,
 * runs the epochs (train, evaluate on the validation split), evaluates the test split,
 * and writes the run directory: config.yaml, metrics.jsonl, summary.json.
 * Collectives go through the communicator so the loop is the same on one rank and many. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "comm/comm.h"
#include "comm/grad_sync.h"
#include "core/config.h"
#include "core/data.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/sysinfo.h"
#include "ddpc/ddpc.h"
#include "launch/progress.h"
#include "optim/optim.h"

typedef struct {
  ddpc_config cfg;          // resolved config
  ddpc_dataset data;        // splits and prepared-sample access
  ddpc_model *model;        // the replica on this rank
  ddpc_optimizer opt;       // update rule and its state
  ddpc_comm *comm;          // other ranks (or none)
  ddpc_grad_sync *sync;     // how this step's gradients become the average over ranks
  const char *run_dir;      // where run files go
  FILE *metrics;            // metrics.jsonl, one line per epoch
  FILE *steps_log;          // steps.jsonl when train.log_every_steps > 0 (rank 0)
  int fail_rank;            // DDPC_FAIL_AT=RANK:STEP test hook: this rank fails...
  int64_t fail_step;        // ...at this step (-1: never)
  ddpc_progress progress;   // what the user sees
  int out_width;            // model outputs per sample
  int max_batch;            // largest batch the model was built for
  float *batch_x;           // (max_batch, features) prepared inputs
  int32_t *batch_labels;    // (max_batch) class labels, classification
  float *batch_targets;     // (max_batch, target_width) targets, regression
  float *dout;              // (batch_size, out_width) loss gradient
  uint32_t *positions;      // this rank's sample order for the epoch
  uint32_t per_rank;        // training samples each rank takes per epoch (equal on all ranks)
  int64_t steps_per_epoch;  // optimizer steps per epoch
  int64_t step;             // optimizer steps taken so far
  int64_t train_samples;    // samples trained on, all epochs, this rank
  double train_seconds;     // time inside training steps, all epochs
  bool quiet_error;         // another rank reports the failure that stopped this one
  double pss_mb_mean;       // proportional set size at the end, mean over ranks
} train_session;

static bool train_is_classification(const train_session *s) { return s->cfg.loss == DDPC_LOSS_CROSS_ENTROPY; }

/* The model must produce one output per class (or per regression target) and the loss must
 * suit the task; checked before any training so a wrong config fails in a second. */
static int train_check_compatible(train_session *s) {
  const ddpc_config *cfg = &s->cfg;
  bool classification = cfg->data.task == DDPC_TASK_CLASSIFICATION;
  if (classification != (cfg->loss == DDPC_LOSS_CROSS_ENTROPY))
    return ddpc_error_set("%s: loss '%s' does not suit data.task '%s' (cross_entropy is for classification, "
                          "mse for regression)",
                          cfg->source_path, ddpc_loss_name(cfg->loss),
                          classification ? "classification" : "regression");
  int want = classification ? s->data.num_classes : (int)s->data.target_width;
  if (s->out_width != want)
    return ddpc_error_set("%s: the model's last layer gives %d outputs per sample but the data has %d %s", cfg->source_path,
                          s->out_width, want, classification ? "classes" : "targets");
  return 0;
}

/* Every rank learns whether any rank failed at this point of the setup, so all of them
 * stop together instead of some waiting in a collective. The lowest failing rank keeps its
 * message, prefixed with its rank; the others stay silent (quiet_error). */
static int train_agree(train_session *s, int rc) {
  ddpc_comm *c = s->comm;
  if (c->size == 1) return rc;
  int mine = rc == 0 ? c->size : c->rank;
  int *all = malloc((size_t)c->size * sizeof *all);
  if (!all || c->ops->allgather(c, &mine, all, sizeof mine) != 0) {
    free(all);
    return ddpc_error_set("rank %d: cannot agree on the setup with the other ranks", c->rank);
  }
  int first = c->size;
  for (int r = 0; r < c->size; r++)
    if (all[r] < first) first = all[r];
  free(all);
  if (first == c->size) return 0;
  if (first == c->rank) ddpc_error_prefix("rank %d: ", c->rank);
  else s->quiet_error = true;
  return -1;
}

/* Checks that every rank holds the same `bytes` of `value`; a mismatch names the ranks. */
static int train_check_same(train_session *s, const void *value, size_t bytes, const char *what) {
  ddpc_comm *c = s->comm;
  if (c->size == 1) return 0;
  unsigned char *all = malloc((size_t)c->size * bytes);
  if (!all || c->ops->allgather(c, value, all, bytes) != 0) {
    free(all);
    return ddpc_error_set("rank %d: cannot compare %s across ranks", c->rank, what);
  }
  char *ranks = NULL;
  for (int r = 1; r < c->size; r++) {
    if (memcmp(all, all + (size_t)r * bytes, bytes) == 0) continue;
    char *more = ranks ? ddpc_format("%s, %d", ranks, r) : ddpc_format("%d", r);
    free(ranks);
    ranks = more;
  }
  free(all);
  if (!ranks) return 0;
  // Every rank fails; rank 0 (the lowest) reports for all.
  if (c->rank == 0) ddpc_error_set("rank(s) %s differ from rank 0 in their %s", ranks, what);
  else s->quiet_error = true;
  free(ranks);
  return -1;
}

/* Loads the data. Ranks that share a node share one mapped copy of the prepared data:
 * the node's first rank builds the cache while the others wait, then they all map it. */
static int train_load_data(train_session *s) {
  const ddpc_config *cfg = &s->cfg;
  bool first = s->comm->local_rank == 0;
  int rc = first ? ddpc_data_load(&s->data, cfg) : 0;
  if (rc == 0 && first && cfg->data.cache && !s->data.cache_hit && s->comm->local_size > 1) {
    // A miss leaves the data in this process's heap; map the fresh cache like the others.
    double built = s->data.load_seconds;
    ddpc_data_free(&s->data);
    rc = ddpc_data_load(&s->data, cfg);
    s->data.cache_hit = false;  // what this run did was parse and write it
    s->data.load_seconds += built;
  }
  if (train_agree(s, rc) != 0) return -1;
  rc = first ? 0 : ddpc_data_load(&s->data, cfg);
  return train_agree(s, rc);
}

static int train_setup_model(train_session *s) {
  ddpc_config *cfg = &s->cfg;
  s->max_batch = cfg->train.batch_size > cfg->train.eval_batch_size ? cfg->train.batch_size : cfg->train.eval_batch_size;
  if (ddpc_model_create(&s->model, cfg->layers, cfg->n_layers, s->data.shape, s->max_batch, DDPC_DEVICE_CPU) != 0)
    return ddpc_error_prefix("%s: ", cfg->source_path);
  ddpc_shape out = ddpc_model_output_shape(s->model);
  s->out_width = (int)ddpc_shape_size(out);
  if (train_check_compatible(s) != 0) return -1;
  if (ddpc_optimizer_init(&s->opt, &cfg->optimizer, ddpc_model_param_count(s->model), DDPC_DEVICE_CPU) != 0) return -1;

  uint32_t n = s->data.train.count;
  uint32_t world = (uint32_t)s->comm->size;
  s->per_rank = cfg->train.drop_last ? n / world : (n + world - 1) / world;
  int64_t b = cfg->train.batch_size;
  s->steps_per_epoch = cfg->train.drop_last ? s->per_rank / b : (s->per_rank + b - 1) / b;
  if (s->steps_per_epoch == 0 && cfg->train.epochs > 0)
    return ddpc_error_set("%s: the training split has %u samples, %u per rank at %u ranks: fewer than one batch "
                          "(train.batch_size %d); use fewer ranks or a smaller batch",
                          cfg->source_path, n, s->per_rank, world, cfg->train.batch_size);
  s->progress.steps_per_epoch = s->steps_per_epoch;

  size_t features = ddpc_shape_size(s->data.shape);
  s->batch_x = ddpc_alloc_aligned((size_t)s->max_batch * features * sizeof(float), "batch inputs");
  s->batch_labels = ddpc_calloc((size_t)s->max_batch, sizeof(int32_t), "batch labels");
  s->batch_targets = ddpc_alloc_aligned((size_t)s->max_batch * (s->data.target_width + 1) * sizeof(float), "batch targets");
  s->dout = ddpc_alloc_aligned((size_t)s->max_batch * (size_t)s->out_width * sizeof(float), "loss gradient");
  uint32_t largest = n > s->data.val.count ? n : s->data.val.count;
  if (s->data.test.count > largest) largest = s->data.test.count;
  s->positions = ddpc_calloc(largest, sizeof(uint32_t), "sample order");
  if (!s->batch_x || !s->batch_labels || !s->batch_targets || !s->dout || !s->positions) return -1;
  return ddpc_grad_sync_create(&s->sync, s->comm, s->model, &cfg->comm);
}

/* Rank 0 initialises the parameters and broadcasts them; every rank then proves it holds
 * the same replica by comparing checksums. */
static int train_init_params(train_session *s) {
  ddpc_buffer *params = ddpc_model_params(s->model);
  if (s->comm->rank == 0) ddpc_model_init_params(s->model, s->cfg.seed);
  if (s->comm->ops->broadcast(s->comm, params->data, params->count * sizeof(float), 0) != 0) return -1;
  uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)params->data, (uInt)(params->count * sizeof(float)));
  return train_check_same(s, &crc, sizeof crc, "initial parameters (checksum)");
}

static void train_gather(train_session *s, const ddpc_split *split, const uint32_t *pos, int n) {
  bool cls = train_is_classification(s);
  ddpc_data_gather(&s->data, split, pos, n, s->batch_x, cls ? s->batch_labels : NULL, cls ? NULL : s->batch_targets);
}

static ddpc_loss_result train_loss(train_session *s, const float *out, int n, float *dout) {
  bool cls = train_is_classification(s);
  return ddpc_loss_compute(s->cfg.loss, out, cls ? s->batch_labels : NULL, cls ? NULL : s->batch_targets, n,
                           s->out_width, dout, (double)n);
}

/* Mean loss and accuracy over a split; each rank takes every size-th sample and the sums
 * are reduced, so every sample counts exactly once whatever the world size. */
static int train_evaluate(train_session *s, const ddpc_split *split, double *loss, double *accuracy) {
  *loss = *accuracy = NAN;
  if (split->count == 0) return 0;
  uint32_t mine = 0;
  for (uint32_t i = (uint32_t)s->comm->rank; i < split->count; i += (uint32_t)s->comm->size) s->positions[mine++] = i;
  ddpc_forward_ctx ctx = {false, s->cfg.seed, (uint64_t)s->step};
  double sums[3] = {0.0, 0.0, (double)mine};  // loss, correct, samples
  for (uint32_t at = 0; at < mine; at += (uint32_t)s->cfg.train.eval_batch_size) {
    int n = (int)(mine - at < (uint32_t)s->cfg.train.eval_batch_size ? mine - at : (uint32_t)s->cfg.train.eval_batch_size);
    train_gather(s, split, s->positions + at, n);
    const float *out = ddpc_model_forward(s->model, s->batch_x, n, &ctx);
    ddpc_loss_result r = train_loss(s, out, n, NULL);
    sums[0] += r.loss_sum;
    sums[1] += (double)r.correct;
  }
  if (s->comm->ops->allreduce_double(s->comm, sums, 3) != 0) return -1;
  *loss = sums[0] / sums[2];
  if (train_is_classification(s)) *accuracy = sums[1] / sums[2];
  return 0;
}

static int train_write_metrics(train_session *s, const ddpc_epoch_metrics *m) {
  if (s->comm->rank != 0) return 0;
  ddpc_json j;
  ddpc_json_begin(&j, s->metrics);
  ddpc_json_int(&j, "epoch", m->epoch);
  ddpc_json_number(&j, "train_loss", m->train_loss);
  ddpc_json_number(&j, "train_accuracy", m->train_accuracy);
  ddpc_json_number(&j, "val_loss", m->val_loss);
  ddpc_json_number(&j, "val_accuracy", m->val_accuracy);
  ddpc_json_number(&j, "lr", m->lr);
  ddpc_json_number(&j, "samples_per_s", m->samples_per_s);
  ddpc_json_number(&j, "seconds", m->seconds);
  ddpc_json_number(&j, "comm_seconds", m->comm_seconds);
  ddpc_json_number(&j, "comm_hidden_fraction", m->comm_hidden_fraction);
  ddpc_json_int(&j, "params_crc32", m->params_crc32);
  ddpc_json_end(&j);
  fputc('\n', s->metrics);
  if (fflush(s->metrics) != 0) return ddpc_error_set("cannot write metrics.jsonl in '%s'", s->run_dir);
  return 0;
}

/* A failure inside the step loop leaves the other ranks inside a collective: only ending
 * the whole job releases them. */
static void train_abort(train_session *s) {
  fprintf(stderr, "ddpc train: error: rank %d: %s\n", s->comm->rank, ddpc_error_message());
  fflush(stderr);
  s->comm->ops->abort(s->comm, 1);
}

/* steps.jsonl: the global mean loss of this step (a collective, so only when asked for). */
static void train_log_step(train_session *s, const ddpc_loss_result *r, int n, float lr) {
  double sums[2] = {r->loss_sum, (double)n};
  if (s->comm->ops->allreduce_double(s->comm, sums, 2) != 0) train_abort(s);
  if (s->comm->rank != 0) return;
  ddpc_json j;
  ddpc_json_begin(&j, s->steps_log);
  ddpc_json_int(&j, "step", s->step);
  ddpc_json_number(&j, "loss", sums[0] / sums[1]);
  ddpc_json_number(&j, "lr", lr);
  ddpc_json_end(&j);
  fputc('\n', s->steps_log);
}

/* One optimizer step on this rank's batch at positions pos[0..n). Returns the loss. */
static ddpc_loss_result train_step(train_session *s, const uint32_t *pos, int n, int64_t total_steps, float *lr) {
  const ddpc_config *cfg = &s->cfg;
  train_gather(s, &s->data.train, pos, n);
  ddpc_forward_ctx ctx = {true, cfg->seed, (uint64_t)s->step};
  const float *out = ddpc_model_forward(s->model, s->batch_x, n, &ctx);
  // Scaling the loss gradient by 1/world makes the ranks' summed gradients their average,
  // without a pass over the gradient buffer of its own.
  ddpc_loss_result r = ddpc_loss_compute(s->cfg.loss, out, train_is_classification(s) ? s->batch_labels : NULL,
                                         train_is_classification(s) ? NULL : s->batch_targets, n, s->out_width,
                                         s->dout, (double)n * s->comm->size);
  if (s->step == s->fail_step && s->comm->rank == s->fail_rank) {
    ddpc_error_set("failure injected by DDPC_FAIL_AT at step %lld", (long long)s->step);
    train_abort(s);
  }
  if (ddpc_grad_sync_begin(s->sync) != 0) train_abort(s);
  ddpc_model_backward(s->model, s->dout, n, ddpc_grad_sync_layer_ready, s->sync);
  ddpc_grad_parts parts;
  if (ddpc_grad_sync_finish(s->sync, &parts) != 0) train_abort(s);
  float scale = 1.0f;
  if (cfg->train.grad_clip > 0)
    ddpc_clip_grad_norm_parts(parts.parts, parts.n_parts, ddpc_model_param_count(s->model), cfg->train.grad_clip,
                              &scale);
  *lr = ddpc_schedule_lr(&cfg->schedule, cfg->optimizer.lr, s->step, s->steps_per_epoch, total_steps);
  ddpc_optimizer_step_parts(&s->opt, ddpc_model_params(s->model), parts.parts, parts.n_parts, scale, *lr);
  if (cfg->train.log_every_steps > 0 && s->step % cfg->train.log_every_steps == 0) train_log_step(s, &r, n, *lr);
  s->step++;
  return r;
}

/* One epoch of training steps followed by validation. A non-finite loss is not acted on
 * per step: a rank leaving the loop alone would strand the others in a collective. The
 * epoch's summed loss, which every rank receives, decides (returns 1: diverged). */
static int train_epoch(train_session *s, int epoch, ddpc_epoch_metrics *m) {
  const ddpc_config *cfg = &s->cfg;
  double start = ddpc_time_seconds();
  ddpc_progress_epoch_begin(&s->progress);
  ddpc_sampler_mode mode = cfg->train.drop_last ? DDPC_SAMPLER_DROP : DDPC_SAMPLER_PAD;
  ddpc_sampler_epoch_positions(cfg->seed, (uint64_t)epoch, s->data.train.count, s->comm->rank, s->comm->size, mode,
                               s->positions);
  int64_t total_steps = s->steps_per_epoch * cfg->train.epochs;
  double loss_sum = 0.0, correct = 0.0, samples = 0.0;
  float lr = cfg->optimizer.lr;
  uint32_t batch = (uint32_t)cfg->train.batch_size;
  for (int64_t k = 0; k < s->steps_per_epoch; k++) {
    uint32_t at = (uint32_t)k * batch;
    int n = (int)(s->per_rank - at < batch ? s->per_rank - at : batch);
    ddpc_loss_result r = train_step(s, s->positions + at, n, total_steps, &lr);
    loss_sum += r.loss_sum;
    correct += (double)r.correct;
    samples += n;
    ddpc_progress_step(&s->progress, epoch + 1, k + 1, (int64_t)samples * s->comm->size, loss_sum / samples);
  }
  double trained = ddpc_time_seconds() - start;
  s->train_seconds += trained;
  s->train_samples += (int64_t)samples;
  ddpc_grad_sync_stats st = ddpc_grad_sync_take_stats(s->sync);
  double sums[5] = {loss_sum, correct, samples, st.comm_seconds, st.exposed_seconds};
  if (s->comm->ops->allreduce_double(s->comm, sums, 5) != 0) return -1;
  m->epoch = epoch + 1;
  m->train_loss = sums[0] / sums[2];
  m->train_accuracy = train_is_classification(s) ? sums[1] / sums[2] : NAN;
  m->lr = lr;
  m->samples_per_s = sums[2] / trained;
  // Communication figures are the mean over ranks.
  m->comm_seconds = sums[3] / s->comm->size;
  m->comm_hidden_fraction = sums[3] > 0 ? 1.0 - sums[4] / sums[3] : NAN;
  if (!isfinite(m->train_loss)) return 1;
  // Lockstep is the invariant everything else rests on: prove it every epoch.
  const ddpc_buffer *params = ddpc_model_params(s->model);
  uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)params->data, (uInt)(params->count * sizeof(float)));
  if (train_check_same(s, &crc, sizeof crc, "parameters after an epoch (replicas drifted apart)") != 0) return -1;
  m->params_crc32 = crc;
  if (train_evaluate(s, &s->data.val, &m->val_loss, &m->val_accuracy) != 0) return -1;
  m->seconds = ddpc_time_seconds() - start;
  return 0;
}

typedef struct {
  const train_session *s;         // the finished run
  const ddpc_train_result *r;     // its outcome
  const char *state;              // "done" or "diverged"
} train_summary;

static int train_summary_write(FILE *out, void *user) {
  const train_summary *t = user;
  char now[32];
  ddpc_time_iso8601(now, sizeof now);
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "name", t->s->cfg.name);
  ddpc_json_string(&j, "state", t->state);
  ddpc_json_int(&j, "epochs_completed", t->r->epochs_completed);
  ddpc_json_int(&j, "steps", t->s->step);
  ddpc_json_number(&j, "test_loss", t->r->test_loss);
  ddpc_json_number(&j, "test_accuracy", t->r->test_accuracy);
  ddpc_json_int(&j, "params_crc32", (int64_t)t->r->params_crc32);
  ddpc_json_int(&j, "param_count", (int64_t)ddpc_model_param_count(t->s->model));
  ddpc_json_number(&j, "samples_per_s", t->r->samples_per_s);
  ddpc_json_number(&j, "wall_seconds", t->r->wall_seconds);
  ddpc_json_number(&j, "peak_rss_mb", t->r->peak_rss_mb);
  ddpc_json_number(&j, "pss_mb_per_rank", t->s->pss_mb_mean);
  ddpc_json_int(&j, "world_size", t->s->comm->size);
  ddpc_json_string(&j, "comm_method", ddpc_grad_sync_method(t->s->sync));
  ddpc_json_string(&j, "data_cache", !t->s->cfg.data.cache ? "off" : t->s->data.cache_hit ? "hit" : "miss");
  ddpc_json_number(&j, "data_seconds", t->s->data.load_seconds);
  ddpc_json_string(&j, "blas_core", openblas_get_corename());
  char hash[17];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)ddpc_config_hash(&t->s->cfg));
  ddpc_json_string(&j, "config_hash", hash);
  ddpc_json_string(&j, "finished_at", now);
  ddpc_json_end(&j);
  fputc('\n', out);
  return 0;
}

static int train_config_write(FILE *out, void *user) {
  fputs((const char *)user, out);
  return 0;
}

static int train_open_run_dir(train_session *s) {
  if (s->comm->rank != 0) return 0;
  if (ddpc_fs_mkdirs(s->run_dir, 0755) != 0) return -1;
  char *path = ddpc_format("%s/config.yaml", s->run_dir);
  if (!path) return -1;
  int rc = ddpc_fs_write_atomic(path, train_config_write, s->cfg.resolved_yaml);
  free(path);
  if (rc != 0) return -1;
  path = ddpc_format("%s/metrics.jsonl", s->run_dir);
  if (!path) return -1;
  s->metrics = fopen(path, "w");
  if (!s->metrics) ddpc_error_set("cannot create '%s'", path);
  free(path);
  if (!s->metrics) return -1;
  if (s->cfg.train.log_every_steps == 0) return 0;
  if (!(path = ddpc_format("%s/steps.jsonl", s->run_dir))) return -1;
  s->steps_log = fopen(path, "w");
  if (!s->steps_log) ddpc_error_set("cannot create '%s'", path);
  free(path);
  return s->steps_log ? 0 : -1;
}

static void train_session_free(train_session *s) {
  if (s->metrics) fclose(s->metrics);
  if (s->steps_log) fclose(s->steps_log);
  free(s->batch_x);
  free(s->batch_labels);
  free(s->batch_targets);
  free(s->dout);
  free(s->positions);
  ddpc_grad_sync_free(s->sync);
  ddpc_optimizer_free(&s->opt);
  ddpc_model_free(s->model);
  ddpc_data_free(&s->data);
  ddpc_config_free(&s->cfg);
  ddpc_comm_destroy(s->comm);
}

/* Everything before the first step, each phase agreed on by all ranks (train_agree). */
static int train_prepare(train_session *s, const ddpc_train_options *opt) {
  int rc = ddpc_config_load(&s->cfg, opt->config_path, opt->overrides, opt->n_overrides);
  if (train_agree(s, rc) != 0) return -1;
  uint64_t hash = ddpc_config_hash(&s->cfg);
  if (train_check_same(s, &hash, sizeof hash,
                       "resolved config (every rank must load the same file with the same --set overrides)") != 0)
    return -1;
  s->run_dir = opt->run_dir ? opt->run_dir : s->cfg.output_dir;
  ddpc_progress_init(&s->progress, stdout, opt->quiet || s->comm->rank != 0, s->cfg.train.epochs, 0);
  if (train_agree(s, train_open_run_dir(s)) != 0 || train_load_data(s) != 0) return -1;
  ddpc_progress_note(&s->progress, "data: %u train, %u validation, %u test samples; cache %s (%.2f s)",
                     s->data.train.count, s->data.val.count, s->data.test.count,
                     !s->cfg.data.cache ? "off" : s->data.cache_hit ? "hit" : "miss, written", s->data.load_seconds);
  if (train_agree(s, train_setup_model(s)) != 0 || train_init_params(s) != 0) return -1;
  if (s->comm->size > 1)
    ddpc_progress_note(&s->progress, "ranks: %d on %d node(s); gradients: %s", s->comm->size, s->comm->node_count,
                       ddpc_grad_sync_method(s->sync));
  return 0;
}

/* DDPC_FAIL_AT=RANK:STEP makes that rank fail at that step: the tests use it to show that
 * one failing rank ends the whole job instead of leaving the others waiting. */
static void train_read_fail_hook(train_session *s) {
  s->fail_rank = -1;
  s->fail_step = -1;
  const char *v = getenv("DDPC_FAIL_AT");
  long long step;
  if (v && sscanf(v, "%d:%lld", &s->fail_rank, &step) == 2) s->fail_step = step;
}

static int train_run_session(train_session *s, const ddpc_train_options *opt, ddpc_train_result *res) {
  double start = ddpc_time_seconds();
  train_read_fail_hook(s);
  if (ddpc_comm_create(&s->comm) != 0) return -1;
  if (train_prepare(s, opt) != 0) return -1;

  const char *state = "done";
  for (int epoch = 0; epoch < s->cfg.train.epochs; epoch++) {
    ddpc_epoch_metrics m;
    int rc = train_epoch(s, epoch, &m);
    if (rc < 0) train_abort(s);
    if (rc > 0) {
      state = "diverged";
      ddpc_progress_note(&s->progress, "epoch %d: the training loss is no longer finite; stopping (diverged)", epoch + 1);
      break;
    }
    res->epochs_completed = epoch + 1;
    ddpc_progress_epoch_end(&s->progress, &m);
    if (train_write_metrics(s, &m) != 0) train_abort(s);
  }
  if (train_evaluate(s, &s->data.test, &res->test_loss, &res->test_accuracy) != 0) train_abort(s);
  const ddpc_buffer *params = ddpc_model_params(s->model);
  res->params_crc32 = crc32(0L, (const Bytef *)params->data, (uInt)(params->count * sizeof(float)));
  res->samples_per_s = s->train_seconds > 0 ? (double)s->train_samples * s->comm->size / s->train_seconds : 0.0;
  res->peak_rss_mb = ddpc_peak_rss_mb();
  double pss = ddpc_pss_mb();
  if (s->comm->ops->allreduce_double(s->comm, &pss, 1) != 0) train_abort(s);
  s->pss_mb_mean = pss / s->comm->size;
  res->wall_seconds = ddpc_time_seconds() - start;
  res->state = state;
  ddpc_progress_note(&s->progress, "test_loss %.4f test_acc %.4f | %.0f samples/s | peak RSS %.0f MiB | %s/summary.json",
                     res->test_loss, res->test_accuracy, res->samples_per_s, res->peak_rss_mb, s->run_dir);
  if (s->comm->rank == 0) {
    char *path = ddpc_format("%s/summary.json", s->run_dir);
    if (!path) train_abort(s);
    train_summary t = {s, res, state};
    int rc = ddpc_fs_write_atomic(path, train_summary_write, &t);
    free(path);
    if (rc != 0) train_abort(s);
  }
  if (strcmp(state, "done") == 0) return 0;
  if (s->comm->rank != 0) s->quiet_error = true;
  return ddpc_error_set("training diverged (non-finite loss); see %s", s->run_dir);
}

int ddpc_train_run(const ddpc_train_options *options, ddpc_train_result *result) {
  train_session s;
  memset(&s, 0, sizeof s);
  ddpc_train_result local;
  ddpc_train_result *res = result ? result : &local;
  memset(res, 0, sizeof *res);
  res->test_loss = res->test_accuracy = NAN;
  res->state = "failed";
  ddpc_error_clear();
  int rc = train_run_session(&s, options, res);
  res->quiet_error = s.quiet_error;
  train_session_free(&s);
  return rc;
}

const char *ddpc_last_error(void) { return ddpc_error_message(); }

const char *ddpc_version(void) { return "0.1.0"; }
