/* The compute of a training session: optimizer steps, epochs and evaluation. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "core/json.h"
#include "core/metrics_class.h"
#include "core/sysinfo.h"
#include "core/exit_code.h"
#include "launch/train/signals.h"
#include "launch/train/start_marker.h"
#include "launch/train/train_internal.h"
#include "predict/predictor.h"

static void train_gather(train_session *s, const ddpc_split *split, const uint32_t *pos, int n) {
  bool cls = train_is_classification(s);
  ddpc_data_gather(&s->data, split, pos, n, s->batch_x, cls ? s->batch_labels : NULL, cls ? NULL : s->batch_targets);
}

/* Adds a batch's regression sums, in the target's units, to sums: |error|, error², and per
 * target its values less the training split's mean (then their squares; R²'s total sum of
 * squares from these keeps its precision for targets far from 0). out and targets are as
 * the loss saw them: standardized with data.target_standardize. */
static void train_regression_add(const train_session *s, const float *out, const float *targets, int n,
                                 double *sums) {
  const int W = s->out_width;
  const ddpc_dataset *d = &s->data;
  double *centred = sums + 2, *squares = sums + 2 + W;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < W; j++) {
      double unit = d->target_standardized ? d->target_std[j] : 1.0;
      double t = targets[(size_t)i * W + j];
      double e = ((double)out[(size_t)i * W + j] - t) * unit;
      double y = d->target_standardized ? t * unit : t - d->target_mean[j];
      sums[0] += fabs(e);
      sums[1] += e * e;
      centred[j] += y;
      squares[j] += y * y;
    }
}

train_eval train_eval_unset(void) {
  return (train_eval){.loss = NAN, .accuracy = NAN, .mae = NAN, .rmse = NAN, .r2 = NAN, .macro_precision = NAN,
                      .macro_recall = NAN, .macro_f1 = NAN, .top_k_accuracy = NAN, .roc_auc = NAN, .confusion = NULL};
}

static bool train_computes(const train_session *s, ddpc_metric_extra e) {
  return (s->cfg.metrics.computed & (1u << e)) != 0;
}

/* Slot i of all (2 per sample of the split): the binary score of split sample `at[i]`, the
 * probability of class 1 as ddpc predict writes it, and whether class 1 is its label. Each
 * rank fills the slots of its own samples, the others stay 0: the sum over ranks gathers
 * every score exactly (x + 0 is x). */
static void train_auc_add(const float *out, const int32_t *labels, const uint32_t *at, int n, double *all) {
  for (int i = 0; i < n; i++) {
    float p[2];
    ddpc_predictor_softmax(out + (size_t)i * 2, 1, 2, p);
    all[2 * (size_t)at[i]] = p[1];
    all[2 * (size_t)at[i] + 1] = labels[i] == 1 ? 1.0 : 0.0;
  }
}

static int train_auc_finish(const double *all, uint32_t count, double *auc) {
  float *scores = ddpc_calloc(count, sizeof *scores, "ROC AUC scores");
  uint8_t *positive = ddpc_calloc(count, sizeof *positive, "ROC AUC labels");
  int rc = scores && positive ? 0 : -1;
  for (uint32_t i = 0; rc == 0 && i < count; i++) {
    scores[i] = (float)all[2 * (size_t)i];
    positive[i] = all[2 * (size_t)i + 1] > 0.5;
  }
  if (rc == 0) rc = ddpc_class_metrics_roc_auc(scores, positive, count, auc);
  free(scores);
  free(positive);
  return rc;
}

/* Mean loss and accuracy over a split, for regression MAE, RMSE and R², for classification
 * what `metrics:` asks for (from the confusion matrix, top-k hits and, for ROC AUC, the
 * scores of the whole split). Each rank takes every size-th sample and the sums are
 * reduced, so every sample counts exactly once whatever the world size. */
int train_evaluate(train_session *s, const ddpc_split *split, train_eval *out, bool keep_confusion) {
  free(out->confusion);
  *out = train_eval_unset();
  if (split->count == 0) return 0;
  bool regression = !train_is_classification(s);
  int W = s->out_width;
  int k = s->cfg.metrics.top_k;
  bool confusion = !regression && (s->cfg.metrics.computed & ~(1u << DDPC_METRIC_EXTRA_ROC_AUC)) != 0;
  bool auc = !regression && train_computes(s, DDPC_METRIC_EXTRA_ROC_AUC);
  // loss, correct, samples; regression: |e|, e², then W centred sums and W squares;
  // classification with metrics: the W x W confusion matrix, then the top-k hits
  size_t n_reg = regression ? 2 + 2 * (size_t)W : 0, n_cm = confusion ? (size_t)W * (size_t)W + 1 : 0;
  size_t n_sums = 3 + n_reg + n_cm;
  double *sums = ddpc_calloc(n_sums, sizeof *sums, "evaluation sums");
  double *scores = auc ? ddpc_calloc(2 * (size_t)split->count, sizeof *scores, "ROC AUC scores") : NULL;
  if (!sums || (auc && !scores)) {
    free(sums);
    free(scores);
    return -1;
  }
  double *cm = sums + 3 + n_reg;
  uint32_t mine = 0;
  for (uint32_t i = (uint32_t)s->comm->rank; i < split->count; i += (uint32_t)s->comm->size) s->positions[mine++] = i;
  sums[2] = (double)mine;
  ddpc_forward_ctx ctx = {.training = false, .seed = s->cfg.seed, .step = (uint64_t)s->step};
  bool need_host = regression || confusion || auc;
  int rc = 0;
  for (uint32_t at = 0; rc == 0 && at < mine; at += (uint32_t)s->cfg.train.eval_batch_size) {
    int n = (int)(mine - at < (uint32_t)s->cfg.train.eval_batch_size ? mine - at : (uint32_t)s->cfg.train.eval_batch_size);
    train_gather(s, split, s->positions + at, n);
    const float *y = train_device_forward(s, n, &ctx);
    ddpc_loss_result r;
    // One wait a batch: the next gather reuses the staging buffers the device reads.
    rc = !y || train_device_loss_add(s, y, n, false, (double)n) != 0 || train_device_loss_take(s, &r) != 0 ? -1 : 0;
    const float *host = rc == 0 && need_host ? train_device_host_outputs(s, y, n) : NULL;
    if (rc == 0 && need_host && !host) rc = -1;
    if (rc != 0) break;
    sums[0] += r.loss_sum;
    sums[1] += (double)r.correct;
    if (regression) train_regression_add(s, host, s->batch_targets, n, sums + 3);
    if (confusion) ddpc_class_metrics_add(host, s->batch_labels, n, W, k, cm, cm + (size_t)W * (size_t)W);
    if (auc) train_auc_add(host, s->batch_labels, s->positions + at, n, scores);
  }
  if (rc == 0 && s->comm->ops->allreduce_double(s->comm, sums, n_sums) != 0) rc = -1;
  if (rc == 0 && auc && s->comm->ops->allreduce_double(s->comm, scores, 2 * (size_t)split->count) != 0) rc = -1;
  if (rc == 0) {
    double count = sums[2];
    out->loss = sums[0] / count * s->loss_scale;
    if (!regression) out->accuracy = sums[1] / count;
  }
  if (rc == 0 && regression) {
    const double *e = sums + 3, *centred = e + 2, *squares = centred + W;
    double values = sums[2] * W, total = 0.0;
    for (int j = 0; j < W; j++) total += squares[j] - centred[j] * centred[j] / sums[2];
    out->mae = e[0] / values;
    out->rmse = sqrt(e[1] / values);
    out->r2 = total > 0.0 ? 1.0 - e[1] / total : NAN;
  }
  if (rc == 0 && confusion) {
    ddpc_class_scores macro;
    ddpc_class_metrics_scores(cm, W, NULL, &macro);
    if (train_computes(s, DDPC_METRIC_EXTRA_MACRO_PRECISION)) out->macro_precision = macro.precision;
    if (train_computes(s, DDPC_METRIC_EXTRA_MACRO_RECALL)) out->macro_recall = macro.recall;
    if (train_computes(s, DDPC_METRIC_EXTRA_MACRO_F1)) out->macro_f1 = macro.f1;
    if (k > 0) out->top_k_accuracy = cm[(size_t)W * (size_t)W] / sums[2];
    if (keep_confusion && !(out->confusion = ddpc_calloc((size_t)W * (size_t)W, sizeof *cm, "confusion matrix")))
      rc = -1;
    if (out->confusion) memcpy(out->confusion, cm, (size_t)W * (size_t)W * sizeof *cm);
  }
  if (rc == 0 && auc) rc = train_auc_finish(scores, split->count, &out->roc_auc);
  free(sums);
  free(scores);
  return rc;
}

/* A failure during training leaves the other ranks inside a collective: only ending the
 * whole job releases them. With one rank the abort returns and so does this, for the
 * caller to return up to ddpc_train_run, which returns the error to its own caller. */
int train_abort(train_session *s) {
  if (s->aborted) return -1;
  s->aborted = true;
  char *why = ddpc_strdup(ddpc_error_message());
  // Several ranks: this rank's message now, as the abort ends the process. One rank: the
  // caller of ddpc_train_run reports it (ddpc_last_error).
  if (s->comm->size > 1) {
    fprintf(stderr, "ddpc train: error: rank %d: %s\n", s->comm->rank, why ? why : "out of memory");
    fflush(stderr);
    s->quiet_error = true;
  }
  // Rank 0 records the failure it saw (state `failed` in events.jsonl and summary.json);
  // a failure on another rank shows only in that rank's message, as rank 0 is ended by
  // the abort before it can learn why.
  if (s->comm->rank == 0 && s->events && !ddpc_state_is_final(s->state)) {
    train_hooks_transition(s, s->state, DDPC_STATE_FAILED, why ? why : "error");
    s->state = DDPC_STATE_FAILED;
    free(s->stop_reason);
    s->stop_reason = ddpc_strdup(why ? why : "error");
    train_files_write_summary(s);
  }
  s->comm->ops->abort(s->comm, DDPC_EXIT_FAULT);
  // Writing the run files may have failed too; the first failure is the one to report.
  if (why) ddpc_error_set("%s", why);
  free(why);
  return -1;
}

/* steps.jsonl: the global mean loss of this step (a collective, so only when asked for). */
static int train_log_step(train_session *s, const ddpc_loss_result *r, int n, float lr) {
  double sums[2] = {r->loss_sum, (double)n};
  if (s->comm->ops->allreduce_double(s->comm, sums, 2) != 0) return -1;
  if (s->comm->rank != 0) return 0;
  ddpc_json j;
  ddpc_json_begin(&j, s->steps_log);
  ddpc_json_int(&j, "step", s->step);
  ddpc_json_number(&j, "loss", sums[0] / sums[1] * s->loss_scale);
  ddpc_json_number(&j, "lr", lr);
  ddpc_json_end(&j);
  train_track_step(s, s->step, sums[0] / sums[1] * s->loss_scale);
  return train_files_end_line(s, s->steps_log, "steps.jsonl");
}

/* One optimizer step on this rank's batch at positions pos[0..n); *r receives the loss.
 * Returns -1 on error, when the job must be aborted. */
static int train_step(train_session *s, const uint32_t *pos, int n, int64_t total_steps, ddpc_loss_result *r) {
  const ddpc_config *cfg = &s->cfg;
  ddpc_comm_set_step(s->comm, s->step);
  train_gather(s, &s->data.train, pos, n);
  ddpc_forward_ctx ctx = {.training = true,
                          .seed = cfg->seed,
                          .step = (uint64_t)s->step,
                          .rank = (uint32_t)s->comm->rank,
                          .world = (uint32_t)s->comm->size};
  const float *out = train_device_forward(s, n, &ctx);
  // grad_scale: the loss gradient is d(loss_sum / grad_scale); batch x world makes the
  // ranks' summed gradients their average, with no pass of its own.
  if (!out || train_device_loss_add(s, out, n, true, (double)n * s->comm->size) != 0) return -1;
  if (s->step == s->fail_step && s->comm->rank == s->fail_rank) {
    if (s->fail_action == 'k') raise(SIGKILL);
    if (s->fail_action == 't') raise(SIGTERM);
    if (s->fail_action == 'u') raise(SIGUSR1);
    if (s->fail_action == 'h')
      for (;;) pause();  // stops taking part, as a rank behind a cut network link would
    if (s->fail_action == 'f')
      return ddpc_error_set("failure injected by DDPC_FAIL_AT at step %lld", (long long)s->step);
  }
  if (ddpc_grad_sync_begin(s->sync) != 0) return -1;
  ddpc_model_backward(s->model, train_device_dout(s), n, ddpc_grad_sync_layer_ready, s->sync);
  ddpc_grad_parts parts;
  if (ddpc_grad_sync_finish(s->sync, &parts) != 0) return -1;
  s->lr = ddpc_schedule_lr(&cfg->schedule, cfg->optimizer.lr, s->step, s->steps_per_epoch, total_steps);
  if (train_device_update(s, &parts, s->lr) != 0) return -1;
  // After the whole step is queued: on the GPU this is the step's one wait.
  if (train_device_loss_take(s, r) != 0) return -1;
  if (cfg->train.log_every_steps > 0 && s->step % cfg->train.log_every_steps == 0 &&
      train_log_step(s, r, n, s->lr) != 0)
    return -1;
  s->step++;
  return 0;
}

/* Every rank learns whether any rank saw a stop signal or a non-finite loss or parameter:
 * 1 when one did, 0 when none did, -1 on error. */
static int train_flags_raised(train_session *s, bool nonfinite) {
  // A non-finite gradient does not always show in the loss of its own step, but the
  // optimizer writes it into the parameters: checking them here covers the gradients of
  // every step since the last check (on the GPU, see train_device_all_finite).
  bool finite = true;
  if (!nonfinite && train_device_all_finite(s, &finite) != 0) return -1;
  nonfinite = nonfinite || !finite;
  double flags[2] = {ddpc_signals_pending() ? 1.0 : 0.0, nonfinite ? 1.0 : 0.0};
  if (s->comm->ops->allreduce_double(s->comm, flags, 2) != 0) return -1;
  s->facts.stop_signal = flags[0] > 0;
  s->facts.nonfinite = flags[1] > 0;
  return s->facts.stop_signal || s->facts.nonfinite ? 1 : 0;
}

/* Samples of this rank's batch that starts at position `at` of the epoch: the batch size,
 * less at the epoch's end, 0 past it. */
static int train_batch_at(const train_session *s, uint32_t at, uint32_t batch) {
  return at >= s->per_rank ? 0 : (int)(s->per_rank - at < batch ? s->per_rank - at : batch);
}

int train_run_epoch(train_session *s) {
  const ddpc_config *cfg = &s->cfg;
  if (s->batch_in_epoch == 0) {
    s->epoch_sums[0] = s->epoch_sums[1] = s->epoch_sums[2] = 0.0;
    s->epoch_seconds = 0.0;
  }
  s->epoch_started = ddpc_time_seconds();
  s->epoch_trained = 0.0;
  ddpc_progress_epoch_begin(&s->progress);
  ddpc_data_sampler_mode mode = cfg->train.drop_last ? DDPC_DATA_SAMPLER_DROP : DDPC_DATA_SAMPLER_PAD;
  ddpc_data_sampler_epoch_positions(cfg->seed, (uint64_t)s->epoch, s->data.train.count, s->comm->rank, s->comm->size,
                                    mode, s->positions);
  int64_t total_steps = s->steps_per_epoch * cfg->stop.max_epochs;
  uint32_t batch = (uint32_t)cfg->train.batch_size;
  bool nonfinite = false;
  int interrupted = 0;
  for (int64_t k = s->batch_in_epoch; k < s->steps_per_epoch; k++) {
    uint32_t at = (uint32_t)k * batch;
    int n = train_batch_at(s, at, batch);
    double t0 = ddpc_time_seconds();
    bool first_step = s->unix_first_step == 0.0;
    if (first_step) s->unix_first_step = ddpc_time_unix();
    ddpc_loss_result r;
    // The next batch's rows are random reads from a large table: start them now, so they
    // arrive while this step computes instead of stalling the next step's gather.
    int next_n = train_batch_at(s, at + batch, batch);
    if (next_n > 0) ddpc_data_prefetch(&s->data.train, s->positions + at + batch, next_n);
    if (train_step(s, s->positions + at, n, total_steps, &r) != 0) return -1;
    // The supervisor that started this job bounds its start-up until this file appears.
    if (first_step && s->comm->rank == 0) ddpc_start_marker_write();
    double t1 = ddpc_time_seconds();
    s->epoch_trained += t1 - t0;
    s->unix_last_step = s->unix_started + (t1 - s->start_time);  // no second clock read per step
    s->batch_in_epoch = k + 1;
    nonfinite |= !isfinite(r.loss_sum);
    s->epoch_sums[0] += r.loss_sum;
    s->epoch_sums[1] += (double)r.correct;
    s->epoch_sums[2] += n;
    ddpc_progress_step(&s->progress, (int)s->epoch + 1, k + 1, (int64_t)s->epoch_sums[2] * s->comm->size,
                       s->epoch_sums[0] / s->epoch_sums[2] * s->loss_scale);
    train_hooks_step_end(s, r.loss_sum / n * s->loss_scale);
    bool last = k + 1 == s->steps_per_epoch;
    // Every rank takes these collectives at the same steps: they depend on the step only.
    if ((k + 1) % TRAIN_FLAG_CHECK_STEPS == 0 || last) {
      interrupted = train_flags_raised(s, nonfinite);
      if (interrupted < 0) return -1;
      if (interrupted) break;
    }
    if (!last && cfg->checkpoint.every_steps > 0 && s->step % cfg->checkpoint.every_steps == 0 &&
        train_checkpoint_save(s) != 0)
      return -1;
  }
  s->train_seconds += s->epoch_trained;
  s->train_samples += (int64_t)s->epoch_sums[2];
  return interrupted;
}

int train_finish_epoch(train_session *s) {
  ddpc_grad_sync_stats st = ddpc_grad_sync_take_stats(s->sync);
  double sums[6] = {s->epoch_sums[0], s->epoch_sums[1], s->epoch_sums[2], st.comm_seconds, st.exposed_seconds,
                    s->epoch_trained};
  if (s->comm->ops->allreduce_double(s->comm, sums, 6) != 0) return -1;
  // Zeroed: the checkpoint's history section keeps the record's bytes, padding included.
  ddpc_epoch_metrics m;
  memset(&m, 0, sizeof m);
  m.epoch = (int32_t)s->epoch + 1;
  m.train_loss = sums[0] / sums[2] * s->loss_scale;
  m.train_accuracy = train_is_classification(s) ? sums[1] / sums[2] : NAN;
  m.lr = s->lr;
  // Throughput of all ranks: samples over the mean time each rank spent in steps.
  m.samples_per_s = sums[5] > 0 ? sums[2] / (sums[5] / s->comm->size) : NAN;
  m.comm_seconds = sums[3] / s->comm->size;
  m.comm_hidden_fraction = sums[3] > 0 ? 1.0 - sums[4] / sums[3] : NAN;
  // Lockstep is the invariant everything else rests on: prove it every epoch.
  uint32_t crc = ddpc_model_params_crc32(s->model);
  if (train_check_same(s, &crc, sizeof crc, "parameters after an epoch (replicas drifted apart)") != 0) return -1;
  m.params_crc32 = crc;
  train_eval val = train_eval_unset();
  if (train_evaluate(s, &s->data.val, &val, false) != 0) return -1;
  m.val_loss = val.loss;
  m.val_accuracy = val.accuracy;
  m.val_mae = val.mae;
  m.val_rmse = val.rmse;
  m.val_r2 = val.r2;
  m.val_macro_precision = val.macro_precision;
  m.val_macro_recall = val.macro_recall;
  m.val_macro_f1 = val.macro_f1;
  m.val_top_k_accuracy = val.top_k_accuracy;
  m.val_roc_auc = val.roc_auc;
  m.top_k = s->cfg.metrics.top_k;
  m.seconds = s->epoch_seconds + ddpc_time_seconds() - s->epoch_started;
  s->epoch++;
  s->batch_in_epoch = 0;
  if (ddpc_metric_history_append(&s->history, &m) != 0) return -1;
  train_hooks_epoch_end(s, &m);
  return 0;
}
