/* `ddpc train`: drives one training run through the epoch state machine (core/machine.h).
 * Rank 0 picks every transition from the facts it sees and broadcasts it with its reason;
 * every rank then performs the new state's action:
 *   train_epoch  the epoch's remaining steps (stops early on a signal or a non-finite loss)
 *   evaluate     validation metrics, history, early-stopping bookkeeping
 *   checkpoint   a snapshot; await_review and preempted write one too, then the process ends
 *   done         a final checkpoint, the test split, summary.json
 * Collectives go through the communicator so the loop is the same on one rank and many. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/exit_code.h"
#include "core/stop.h"
#include "core/sysinfo.h"
#include "launch/train/signals.h"
#include "launch/train/train_internal.h"

void train_hooks_step_end(train_session *s, double loss) {
  for (int i = 0; i < s->n_hooks; i++)
    if (s->hooks[i].on_step_end) s->hooks[i].on_step_end(s->hooks[i].user, s->step - 1, (int32_t)s->epoch + 1, loss);
}

void train_hooks_epoch_end(train_session *s, const ddpc_epoch_metrics *m) {
  for (int i = 0; s->comm->rank == 0 && i < s->n_hooks; i++)
    if (s->hooks[i].on_epoch_end) s->hooks[i].on_epoch_end(s->hooks[i].user, m);
}

void train_hooks_transition(train_session *s, ddpc_state from, ddpc_state to, const char *reason) {
  for (int i = 0; s->comm->rank == 0 && i < s->n_hooks; i++)
    if (s->hooks[i].on_transition)
      s->hooks[i].on_transition(s->hooks[i].user, ddpc_state_names[from], ddpc_state_names[to], reason);
}

void train_hooks_checkpoint(train_session *s, const char *path) {
  for (int i = 0; s->comm->rank == 0 && i < s->n_hooks; i++)
    if (s->hooks[i].on_checkpoint) s->hooks[i].on_checkpoint(s->hooks[i].user, path);
}

static double train_elapsed(const train_session *s) { return s->elapsed_before + ddpc_time_seconds() - s->start_time; }

/* Rank 0: the C API's stop conditions, asked after each epoch (the first that fires wins). */
static void train_ask_custom_stops(train_session *s) {
  s->facts.custom_stop_reason = NULL;
  for (int i = 0; i < s->opt->n_stops; i++) {
    const ddpc_stop_condition *c = &s->opt->stops[i];
    const char *why = NULL;
    if (c->should_stop && c->should_stop(c->user, s->history.epochs, s->history.count, &why)) {
      s->facts.custom_stop_reason = why ? why : c->name;
      return;
    }
  }
}

/* Rank 0 decides the next state; all ranks receive it and its reason. Returns -1 on error,
 * when the job must be aborted. */
static int train_transition(train_session *s) {
  int32_t to = -1;
  char *reason = NULL;
  if (s->comm->rank == 0) {
    s->facts.history = &s->history;
    s->facts.elapsed_seconds = train_elapsed(s);
    int every = s->cfg.checkpoint.every_epochs;
    s->facts.checkpoint_due = every > 0 && s->epoch > 0 && s->epoch % every == 0;
    if (s->state == DDPC_STATE_DECIDE) {
      train_ask_custom_stops(s);
      train_await_verdict(s);
    }
    ddpc_state next;
    if (ddpc_machine_decide(s->machine, s->state, &s->facts, &next, &reason) == 0) to = (int32_t)next;
  }
  int32_t len = reason ? (int32_t)strlen(reason) : 0;
  if (s->comm->ops->broadcast(s->comm, &to, sizeof to, 0) != 0 || s->comm->ops->broadcast(s->comm, &len, sizeof len, 0))
    return -1;
  if (s->comm->rank != 0) {
    reason = ddpc_malloc((size_t)len + 1, "transition reason");
    if (!reason) return -1;
    reason[len] = '\0';
  }
  if ((len > 0 && s->comm->ops->broadcast(s->comm, reason, (size_t)len, 0) != 0) || to < 0) {
    free(reason);
    return -1;
  }
  train_hooks_transition(s, s->state, (ddpc_state)to, reason ? reason : "");
  s->state = (ddpc_state)to;
  free(s->stop_reason);
  s->stop_reason = reason;
  return 0;
}

/* The action of the state just entered. Returns -1 on error. */
static int train_act(train_session *s) {
  switch (s->state) {
    case DDPC_STATE_TRAIN_EPOCH:
      return train_run_epoch(s) < 0 ? -1 : 0;
    case DDPC_STATE_EVALUATE:
      if (train_finish_epoch(s) != 0) return -1;
      ddpc_stop_update(&s->cfg, &s->facts);
      return train_checkpoint_save_best(s);
    case DDPC_STATE_CHECKPOINT:
    case DDPC_STATE_PREEMPTED:
    case DDPC_STATE_PRUNED:
    case DDPC_STATE_REJECTED:
      return train_checkpoint_save(s);
    case DDPC_STATE_AWAIT_REVIEW:
      if (train_checkpoint_save(s) != 0) return -1;
      return train_files_write_review(s, s->stop_reason ? s->stop_reason : "continue training?");
    case DDPC_STATE_DONE:
      if (train_checkpoint_save(s) != 0) return -1;
      return train_evaluate(s, &s->data.test, &s->test,
                            (s->cfg.metrics.listed & (1u << DDPC_METRIC_EXTRA_PER_CLASS |
                                                      1u << DDPC_METRIC_EXTRA_CONFUSION_MATRIX)) != 0);
    default:
      return 0;
  }
}

/* One move of the machine: the transition, the new state's action, and the run files the
 * hooks appended to. A failure here is one during training: the job is aborted (with one
 * rank: -1 is returned). */
static int train_advance(train_session *s) {
  if (train_transition(s) != 0 || train_act(s) != 0 || train_files_check(s) != 0) return train_abort(s);
  return 0;
}

bool train_resumed_run_ended(const train_session *s) {
  return s->resumed && (s->state == DDPC_STATE_DONE || s->state == DDPC_STATE_DIVERGED ||
                        s->state == DDPC_STATE_REJECTED || s->state == DDPC_STATE_PRUNED);
}

/* Where a resumed run goes on. A run waiting for review needs the reviewer's answer. */
static int train_resume_state(train_session *s) {
  if (!s->resumed) return 0;
  ddpc_state saved = s->state;
  if (saved == DDPC_STATE_AWAIT_REVIEW) {
    int answer = s->opt->review_answer;
    if (answer == 0) {
      if (s->comm->rank != 0) s->quiet_error = true;
      return ddpc_error_set("%s is awaiting review (see review.json): continue with `ddpc resume %s --approve` or "
                            "end it with `ddpc resume %s --reject`",
                            s->run_dir, s->run_dir, s->run_dir);
    }
    if (s->comm->rank == 0) train_files_log_review_answer(s, answer);
    s->facts.review_answer = answer;
    s->facts.reviewed_epoch = s->epoch;
    // The table's await_review rows: rejected (a final checkpoint records it), or decide
    // again, the gate being answered for this epoch.
    return train_advance(s);
  }
  if (train_resumed_run_ended(s)) {
    ddpc_progress_note(&s->progress, "resume: %s is finished (state %s after %lld epochs); nothing to train, its results:",
                       s->run_dir, ddpc_state_names[saved], (long long)s->epoch);
    s->stop_reason = ddpc_format("already %s", ddpc_state_names[saved]);
    s->already_ended = true;
    return 0;
  }
  s->state = DDPC_STATE_INIT;  // continue where the checkpoint was: INIT -> train_epoch
  return 0;
}

/* A clean end with a non-zero exit code (3 diverged, 4 awaiting review, 5 preempted) makes
 * the launcher print an error-looking report: Open MPI's mpirun "Primary job terminated
 * normally, but 1 process returned a non-zero exit code ..." and "mpirun detected that one
 * or more processes exited with non-zero status", srun "task 0: Exited with exit code 5".
 * Setting orte_abort_on_non_zero_status=0 would silence mpirun but also make it exit 0 and
 * leave the other ranks of a failed one hanging, so the code stays and rank 0 says in one
 * line, just before that report, that the code is the run's outcome. */
static void train_explain_exit_code(const train_session *s, const char *state) {
  if (s->comm->rank != 0 || !ddpc_comm_launched() || s->opt->single_process) return;
  ddpc_exit_code_explain(state);
}

static void train_session_free(train_session *s) {
  train_files_close(s);
  train_device_free_batches(s);
  free(s->positions);
  free(s->hooks);
  free(s->stop_reason);
  free(s->prune_reason);
  free(s->test.confusion);
  free(s->write_error);
  free(s->run_dir_chosen);
  ddpc_metric_history_free(&s->history);
  ddpc_machine_free(s->machine);
  ddpc_grad_sync_free(s->sync);
  ddpc_optimizer_free(&s->opt_state);
  ddpc_model_free(s->model);
  ddpc_data_free(&s->data);
  free(s->input_section);
  free(s->data_section);
  ddpc_config_free(&s->cfg);
  ddpc_comm_free(s->comm);  // NCCL's communicator goes before the GPU context
  train_device_close(s);
}

static int train_run_session(train_session *s, ddpc_train_result *res) {
  s->start_time = ddpc_time_seconds();
  s->unix_started = ddpc_time_unix();
  ddpc_time_iso8601(s->started_at, sizeof s->started_at);
  // A fresh run's identity; a resumed one takes its run's from the checkpoint.
  snprintf(s->run_id, sizeof s->run_id, "%016llx%08x", (unsigned long long)(s->unix_started * 1e9),
           (unsigned)getpid());
  s->facts.best_value = NAN;
  s->test = train_eval_unset();
  // From the start: a stop signal during set-up (data loading can take a while) is kept
  // and honoured at the first step boundary, instead of ending the process uncleanly.
  ddpc_signals_install();
  if ((s->opt->single_process ? ddpc_comm_create_self(&s->comm) : ddpc_comm_create(&s->comm)) != 0) return -1;
  if (train_prepare(s) != 0) return -1;
  train_files_install_hooks(s);
  if (!s->hooks) return -1;
  if (train_checkpoint_restore(s) != 0 || train_agree(s, train_files_write_config(s)) != 0 ||
      train_agree(s, train_files_start_metrics(s)) != 0)
    return -1;
  if (train_resume_state(s) != 0) return -1;
  train_track_start(s);
  while (!ddpc_state_is_final(s->state))
    if (train_advance(s) != 0) return -1;
  double samples_per_s = s->train_seconds > 0 ? (double)s->train_samples * s->comm->size / s->train_seconds : 0.0;
  // A finished run, resumed, trained nothing here: its results are those it ended with.
  if (s->already_ended && !train_files_read_summary(s, &samples_per_s))
    ddpc_progress_note(&s->progress, "resume: %s/summary.json is missing or holds no results", s->run_dir);
  res->epochs_completed = (int32_t)s->epoch;
  res->test_loss = s->test.loss;
  res->test_accuracy = s->test.accuracy;
  res->test_mae = s->test.mae;
  res->test_rmse = s->test.rmse;
  res->test_r2 = s->test.r2;
  res->params_crc32 = ddpc_model_params_crc32(s->model);
  res->samples_per_s = samples_per_s;
  res->peak_rss_mb = ddpc_peak_rss_mb();
  double pss = ddpc_pss_mb();
  if (s->comm->ops->allreduce_double(s->comm, &pss, 1) != 0) return train_abort(s);
  s->pss_mb_mean = pss / s->comm->size;
  res->wall_seconds = ddpc_time_seconds() - s->start_time;
  res->state = ddpc_state_names[s->state];
  if (s->state == DDPC_STATE_DONE && train_is_classification(s)) {
    // What `metrics:` adds, after the accuracy: " test_macro_f1 0.9123 ..."
    char extra[TRAIN_METRIC_EXTRAS * 64] = "";
    train_metric_extra x[TRAIN_METRIC_EXTRAS];
    size_t used = 0;
    for (int i = 0, n = train_metric_extras(s, NULL, x); i < n && used < sizeof extra; i++)
      used += (size_t)snprintf(extra + used, sizeof extra - used, " %s %.4f", x[i].key, x[i].value);
    ddpc_progress_note(&s->progress, "test_loss %.4f test_acc %.4f%s | %.0f samples/s | peak RSS %.0f MiB | %s/summary.json",
                       res->test_loss, res->test_accuracy, extra, res->samples_per_s, res->peak_rss_mb, s->run_dir);
  } else if (s->state == DDPC_STATE_DONE)  // regression: the errors in the target's units, not an accuracy
    ddpc_progress_note(&s->progress,
                       "test_loss %.4f test_mae %.4f test_rmse %.4f test_r2 %.4f | %.0f samples/s | peak RSS %.0f MiB "
                       "| %s/summary.json",
                       res->test_loss, res->test_mae, res->test_rmse, res->test_r2, res->samples_per_s,
                       res->peak_rss_mb, s->run_dir);
  else
    ddpc_progress_note(&s->progress, "stopped in state %s: %s", res->state, s->stop_reason ? s->stop_reason : "");
  if (s->state == DDPC_STATE_PREEMPTED) {  // what to type next, with the same world size for bitwise results
    if (s->comm->size > 1)
      ddpc_progress_note(&s->progress, "continue with: mpirun -n %d ddpc resume %s", s->comm->size, s->run_dir);
    else
      ddpc_progress_note(&s->progress, "continue with: ddpc resume %s", s->run_dir);
  }
  train_track_export(s);
  // A run that had ended keeps its summary and metadata (its test metrics, its end time).
  // The appended files are closed first: summary.json must not say done when their last
  // lines are lost.
  if (train_files_close_logs(s) != 0 ||
      (!s->already_ended && (train_files_write_summary(s) != 0 || train_files_write_meta(s, true) != 0)))
    return train_abort(s);
  // A rank leaving with a non-zero code makes mpirun end the others: none leaves before
  // rank 0 has finished the run's files.
  if (s->comm->ops->barrier(s->comm) != 0) return train_abort(s);
  train_explain_exit_code(s, res->state);
  return 0;
}

int ddpc_train_run(const ddpc_train_options *options, ddpc_train_result *result) {
  train_session s;
  memset(&s, 0, sizeof s);
  s.opt = options;
  s.run_lock = -1;
  ddpc_train_result local;
  ddpc_train_result *res = result ? result : &local;
  memset(res, 0, sizeof *res);
  res->test_loss = res->test_accuracy = res->test_mae = res->test_rmse = res->test_r2 = NAN;
  res->state = "failed";
  ddpc_error_clear();
  int rc = train_run_session(&s, res);
  ddpc_signals_restore();
  // An aborted job with several ranks has ended in train_abort; one that is still here is
  // on one rank (or its abort failed) and returns the error.
  if (rc != 0 && s.comm && s.comm->size > 1 && !s.aborted) {
    // mpirun ends the whole job as soon as one rank exits with an error, possibly before
    // the reporting rank has printed: under MPI the message is printed here, and the ranks
    // leave together after it.
    if (!s.quiet_error) fprintf(stderr, "ddpc: error: %s\n", ddpc_error_message());
    fflush(stderr);
    s.quiet_error = true;
    s.comm->ops->barrier(s.comm);
  }
  if (rc != 0) res->state = "failed";  // also when the failure came after a final state
  train_track_finish(&s, res->state);
  res->quiet_error = s.quiet_error;
  res->aborted = s.aborted;
  train_session_free(&s);
  return rc;
}

const char *ddpc_last_error(void) { return ddpc_error_message(); }

#define TRAIN_STRINGIFY(x) #x
#define TRAIN_VERSION_STRING(major, minor, patch) TRAIN_STRINGIFY(major) "." TRAIN_STRINGIFY(minor) "." TRAIN_STRINGIFY(patch)

const char *ddpc_version(void) {
  return TRAIN_VERSION_STRING(DDPC_VERSION_MAJOR, DDPC_VERSION_MINOR, DDPC_VERSION_PATCH);
}
