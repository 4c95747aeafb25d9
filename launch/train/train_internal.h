/* The training session shared by the files of `ddpc train`:
 *   train.c             the state-machine driver and ddpc_train_run
 *   train_setup.c       config, data, model and parameters, agreed on by all ranks
 *   train_epoch.c       steps, epochs and evaluation
 *   train_checkpoint.c  saving and restoring the training state
 *   train_files.c       the run directory: config, metrics, events, summary, meta, review
 * Not a public interface. */
#ifndef DDPC_LAUNCH_TRAIN_INTERNAL_H
#define DDPC_LAUNCH_TRAIN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "comm/comm.h"
#include "comm/grad_sync.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/data.h"
#include "core/json.h"
#include "core/loss.h"
#include "core/machine.h"
#include "core/metrics.h"
#include "core/model.h"
#include "ddpc/ddpc.h"
#include "launch/train/progress.h"
#include "launch/train/resume_diff.h"
#include "optim/optim.h"

/* How often (in steps) ranks compare stop signals and non-finite losses: a collective per
 * step would cost ~1 % of a small model's step; every 8 steps costs nothing measurable and
 * stops a preempted job within milliseconds. */
#define TRAIN_FLAG_CHECK_STEPS 8

/* What an evaluation of a split gives; NaN for what does not apply. */
typedef struct {
  double loss;      // mean loss (regression: in the target's units, squared)
  double accuracy;  // classification: fraction correct
  double mae;       // regression, in the target's units: mean absolute error
  double rmse;      // root mean squared error
  double r2;        // 1 - SS_res / SS_tot around the split's own mean (NaN for a constant target)
  // classification, what `metrics:` or a monitor asks for (core/metrics_class.h)
  double macro_precision;  // mean of the classes' precisions
  double macro_recall;     // mean of the classes' recalls
  double macro_f1;         // mean of the classes' F1
  double top_k_accuracy;   // fraction whose class is among the metrics.top_k largest outputs
  double roc_auc;          // two classes: area under the ROC curve of class 1's probability
  double *confusion;       // (classes, classes) counts, row = true class, when kept (owned; else NULL)
} train_eval;

/* Every metric NaN, no confusion matrix. */
train_eval train_eval_unset(void);

/* A data file the run reads, hashed once at setup (rank 0): meta.json records it, every
 * checkpoint carries it (train_data_hash.c). */
typedef struct {
  const char *key;    // its config key, "data.train.path"
  const char *name;   // its name in meta.json's data_files, "train"
  const char *path;   // the file; NULL when the config names none
  bool read;          // it could be read: bytes and xxh64 are set
  uint64_t bytes;     // its size
  uint64_t xxh64;     // its content's hash
} train_data_file;

#define TRAIN_DATA_FILES 6

typedef struct train_session {
  const ddpc_train_options *opt;  // what the caller asked for
  ddpc_config cfg;          // resolved config
  ddpc_dataset data;        // splits and prepared-sample access
  unsigned char *input_section;  // rank 0: the checkpoints' "input" section (core/model_input.h)
  size_t input_section_bytes;    // its length
  train_data_file data_files[TRAIN_DATA_FILES];  // rank 0: the data files and their content
  char *data_section;            // rank 0: the checkpoints' "data" section: "KEY XXH64 BYTES" lines
  ddpc_model *model;        // the replica on this rank
  ddpc_optimizer opt_state; // update rule and its state
  ddpc_comm *comm;          // other ranks (or none)
  ddpc_grad_sync *sync;     // how this step's gradients become the average over ranks
  ddpc_machine *machine;    // the transition table
  ddpc_state state;         // where the run is
  ddpc_machine_facts facts; // what rank 0 decides on
  ddpc_metric_history history;  // completed epochs
  const char *run_dir;      // where run files go
  char *run_dir_chosen;     // the directory train_files_choose_dir picked (owned; run_dir points here)
  int run_lock;             // rank 0: descriptor holding RUN_DIR/.lock (launch/train/run_lock.h), -1 when none
  FILE *metrics;            // metrics.jsonl (rank 0)
  FILE *steps_log;          // steps.jsonl when train.log_every_steps > 0 (rank 0)
  FILE *events;             // events.jsonl (rank 0), appended across resumes
  ddpc_hooks *hooks;        // built-in hooks first, then the caller's
  int n_hooks;
  ddpc_progress progress;   // what the user sees
  int fail_rank;            // DDPC_FAIL_AT=RANK:STEP test hook: this rank fails...
  int64_t fail_step;        // ...at this step (-1: never)
  char fail_action;         // ...by 'f'ailing, or raising SIG'k'ILL, SIG't'ERM or SIG'u'SR1
  int out_width;            // model outputs per sample
  int max_batch;            // largest batch the model was built for
  float *batch_x;           // (max_batch, features) prepared inputs (host; page-locked for cuda)
  int32_t *batch_labels;    // (max_batch) class labels, classification (host)
  float *batch_targets;     // (max_batch, target_width) targets, regression (host)
  float *dout;              // (batch_size, out_width) loss gradient (cpu)
  ddpc_loss_result loss_pending;  // cpu: loss sums added since the last train_device_loss_take
  bool device_open;         // cuda: the GPU was opened (closed when the session ends)
  float *dev_x;             // cuda: batch_x on the GPU
  int32_t *dev_labels;      // cuda: batch_labels on the GPU
  float *dev_targets;       // cuda: batch_targets on the GPU
  float *dev_dout;          // cuda: the loss gradient on the GPU
  struct ddpc_loss_cuda *loss_gpu;  // cuda: the loss's device scratch and running sums
  struct ddpc_clip_cuda *clip_gpu;  // cuda: the gradient norm's device scratch
  uint32_t *positions;      // this rank's sample order for the epoch
  uint32_t per_rank;        // training samples each rank takes per epoch (equal on all ranks)
  int64_t steps_per_epoch;  // optimizer steps per epoch
  int64_t step;             // optimizer steps taken so far (global)
  int64_t epoch;            // epochs completed
  int64_t batch_in_epoch;   // steps completed in the current epoch (0 at a boundary)
  double epoch_sums[3];     // training loss, correct, samples of the current epoch so far (this rank)
  double epoch_seconds;     // time spent in the current epoch before this process (resume)
  double epoch_started;     // monotonic time this process began (or resumed) the current epoch
  double epoch_trained;     // time inside training steps of the current epoch, this process
  float lr;                 // learning rate of the last step
  double elapsed_before;    // training time of earlier processes of this run (resume)
  double start_time;        // when this process started the run
  double unix_started;      // the same, as Unix time (summary.json's timeline)
  double unix_first_step;   // Unix time this process began its first training step (0: none yet)
  double unix_last_step;    // Unix time this process finished its latest training step
  int64_t train_samples;    // samples trained on by this process, this rank
  double train_seconds;     // time inside training steps, this process
  bool quiet_error;         // another rank reports the failure that stopped this one
  bool aborted;             // train_abort ran: a failure during training ended the run
  char *write_error;        // the first failed write of an appended run file (hooks cannot return it)
  bool resumed;             // state came from a checkpoint
  bool already_ended;       // ...a checkpoint of a run that had ended: its files stay as they are
  char *stop_reason;        // reason of the transition into the final state
  char *prune_reason;       // the tuner's verdict at this rung epoch said prune (NULL: go on)
  double pss_mb_mean;       // proportional set size at the end, mean over ranks
  train_eval test;          // test metrics (NaN until evaluated)
  double loss_scale;        // reported loss = computed loss x this: the target's std squared when
                            // the loss sees standardized targets (data.target_standardize), else 1
  float *host_out;          // cuda, regression: (max_batch, out_width) outputs copied down to evaluate
  char started_at[32];      // ISO 8601 time this process started
  char run_id[33];          // random hex identifying this run (kept across resumes in meta.json)
  struct ddpc_track *track; // rank 0: the run in MLflow (track/track.h), NULL when not tracked
} train_session;

/* train_data_hash.c: the data's content, so that a resume can tell a moved file from
 * another one. Rank 0: hashes every data file the config names, once (before the model). */
int train_data_hash_files(train_session *s);
/* Rank 0, resuming: a refused change of a data file's path becomes an announced one when the
 * checkpoint's data section gives the same content (size and hash) for that key as the file
 * the config names now: the data moved, or a batch job staged it elsewhere. */
void train_data_hash_accept_moves(train_session *s, const ddpc_checkpoint *ck, ddpc_resume_diff *diff);
/* The hash and size a data section (len bytes, not NUL-terminated) gives for key: true when
 * it has a well-formed line "KEY XXH64 BYTES" (16 lowercase hex digits, a decimal size). */
bool train_data_hash_saved(const char *section, size_t len, const char *key, uint64_t *xxh64, uint64_t *bytes);

/* train_device.c: what differs between device: cpu and cuda. */
/* cuda: opens the local rank's GPU and, with several ranks, replaces s->comm by the NCCL
 * communicator (on failure s->comm is NULL: no collective can follow). cpu: nothing. */
int train_device_open(train_session *s);
void train_device_close(train_session *s);
/* The batch buffers (host staging, and their GPU copies for cuda), the loss and norm scratch. */
int train_device_alloc_batches(train_session *s, size_t features);
void train_device_free_batches(train_session *s);
/* The model's output for the batch gathered into batch_x (copied up first for cuda). */
const float *train_device_forward(train_session *s, int n, const ddpc_forward_ctx *ctx);
/* Adds the loss of out (n samples) to the running sums, and writes its gradient (scaled by
 * 1/grad_scale) when with_grad; take returns the sums since the last take and waits for the
 * device. */
int train_device_loss_add(train_session *s, const float *out, int n, bool with_grad, double grad_scale);
int train_device_loss_take(train_session *s, ddpc_loss_result *sums);
/* The outputs of train_device_forward (n samples) on the host: out itself on the CPU, a copy
 * in host_out on the GPU; NULL on error. */
const float *train_device_host_outputs(train_session *s, const float *out, int n);
/* The loss gradient backward starts from (where train_device_loss_add wrote it). */
const float *train_device_dout(const train_session *s);
/* Clipping (train.grad_clip) and the optimizer step on the averaged gradient. */
int train_device_update(train_session *s, const ddpc_grad_parts *parts, float lr);
/* *finite: cpu: no parameter is inf or NaN; cuda: this step's gradient norm is finite.
 * Returns -1 when the device could not say. */
int train_device_all_finite(train_session *s, bool *finite);
/* A host view of b (b's memory, or a copy in *copy for the caller to free); NULL on error. */
const float *train_device_host_view(const ddpc_buffer *b, float **copy);
/* Host memory to fill b through (b's memory, or a buffer), then commit copies it up and frees. */
float *train_device_host_target(const ddpc_buffer *b);
int train_device_commit_host_target(ddpc_buffer *b, float *host);

/* train_setup.c */
int train_agree(train_session *s, int rc);
int train_check_same(train_session *s, const void *value, size_t bytes, const char *what);
int train_prepare(train_session *s);
bool train_is_classification(const train_session *s);

/* train_verdict.c: rank 0, at a pruning rung epoch, waits for the tuner's verdict and
 * sets facts.prune_reason when it says prune. */
void train_await_verdict(train_session *s);
/* What the first line of a verdict file says (text up to the first line end; the file may
 * hold anything): 0 "continue"; 1 "prune" or "prune REASON", *why pointing at REASON
 * within text ("" when none; it runs to the line end: print it with its length *why_len);
 * -1 anything else. */
int train_verdict_parse(const char *text, const char **why, size_t *why_len);

/* train_epoch.c */
/* Ends the job after a failure during training (rank 0 records state `failed` first); with
 * one rank it returns -1 instead, for the caller to return. Reports once. */
int train_abort(train_session *s);
/* Runs the current epoch from batch_in_epoch on. Returns 0 when the epoch finished, 1 when
 * a stop signal or a non-finite loss (see facts) interrupted it, -1 on error. */
int train_run_epoch(train_session *s);
/* Validation metrics of the epoch just finished, appended to the history. */
int train_finish_epoch(train_session *s);
/* Metrics of a split into *out (its confusion matrix is freed first: *out must be set, e.g.
 * by train_eval_unset); keep_confusion keeps the confusion matrix in out->confusion. */
int train_evaluate(train_session *s, const ddpc_split *split, train_eval *out, bool keep_confusion);

/* train_checkpoint.c */
int train_checkpoint_save(train_session *s);
/* Rank 0, after an epoch's evaluation: writes checkpoints/best.ddpc when that epoch is the
 * best so far by checkpoint.monitor. */
int train_checkpoint_save_best(train_session *s);
/* Restores from opt->resume; sets s->resumed. 0 also when "auto" found nothing. */
int train_checkpoint_restore(train_session *s);

/* train_files.c */
/* A fresh run (no run_dir option, no resume): output.dir, or when that holds an earlier
 * run's checkpoints or a running training, the first free OUTPUT_DIR-N (N = 2, 3, ...).
 * Rank 0 decides and broadcasts; sets run_dir on every rank and says where it went. */
int train_files_choose_dir(train_session *s);
int train_files_open(train_session *s);
int train_files_write_config(train_session *s);
/* split.json and, for a CSV, encoding.json (train_data_files.c); rank 0. */
int train_data_files_write(train_session *s);
int train_files_start_metrics(train_session *s);
/* Ends a line of an appended run file (metrics.jsonl, events.jsonl, steps.jsonl: `name`)
 * and flushes it; a failed write is an error naming the file, also kept for
 * train_files_check. */
int train_files_end_line(train_session *s, FILE *f, const char *name);
/* -1 with the error when a write to an appended run file has failed (in a hook). */
int train_files_check(train_session *s);
/* Closes the appended files, each close checked (it writes what was buffered). */
int train_files_close_logs(train_session *s);
/* Closes whatever is open, unchecked (the run has failed already), and releases the lock. */
void train_files_close(train_session *s);
void train_files_install_hooks(train_session *s);
int train_files_write_summary(train_session *s);
/* A run that had ended, resumed: its test metrics (into s->test) and throughput as its
 * summary.json recorded them, so that they are shown again; false when the file is missing
 * or holds none of them (the values are then NaN). */
bool train_files_read_summary(train_session *s, double *samples_per_s);
int train_files_write_meta(train_session *s, bool finished);
int train_files_write_review(train_session *s, const char *question);
void train_files_log_review_answer(train_session *s, int answer);
/* Rank 0: something that went wrong without failing the run (`what`: "mlflow_model"), one
 * events.jsonl line {"event": "warning", "what", "message", "epoch"}. */
void train_files_log_warning(train_session *s, const char *what, const char *message);
/* Rank 0, on resume: the config's changes from the checkpoint's, one events.jsonl line
 * (none when nothing changed). */
void train_files_log_config_changes(train_session *s, const ddpc_resume_diff *diff);

/* train_metric_files.c: `metrics:` in the run files. epoch: the val_ numbers of m into a
 * metrics.jsonl line; test: the test_ numbers into summary.json; tables: the test split's
 * per_class table and confusion matrix (when listed) into summary.json. */
void train_metric_files_epoch(ddpc_json *j, const train_session *s, const ddpc_epoch_metrics *m);
/* The numbers of `metrics:` the run computes, named as the run files name them
 * ("val_macro_f1", "test_top5_accuracy"): of epoch m, or of the test split when m is NULL.
 * Returns how many (at most TRAIN_METRIC_EXTRAS). */
#define TRAIN_METRIC_EXTRAS 5
typedef struct {
  char key[48];  // "val_macro_f1"
  double value;  // NaN when there was nothing to evaluate
} train_metric_extra;
int train_metric_extras(const train_session *s, const ddpc_epoch_metrics *m, train_metric_extra *out);
void train_metric_files_test(ddpc_json *j, const train_session *s);
/* A finished run, resumed: its test_ numbers back from the head of its summary.json. */
void train_metric_files_read_test(train_session *s, const char *summary);
void train_metric_files_tables(ddpc_json *j, const train_session *s);

/* train.c: the run restored from its checkpoint had ended (done, diverged, rejected,
 * pruned): nothing is trained and its files stay as they were. */
bool train_resumed_run_ended(const train_session *s);

/* train_track.c: rank 0 logs the run in MLflow when tracking is configured (config
 * tracking.mlflow, MLFLOW_TRACKING_URI, or the run's own mlflow.json on resume); nothing
 * here can fail or slow the run. start: the run, its params and tags, and the epoch hook;
 * step: the training loss of a logged step; finish: test metrics, final state and status,
 * the run's files as artifacts, then a bounded wait for the sender. */
void train_track_start(train_session *s);
void train_track_step(train_session *s, int64_t step, double loss);
/* The model artifacts (model/model.safetensors, model/model.onnx), exported through
 * opt->export_model into RUN_DIR/export/ (where `ddpc export RUN_DIR` writes) at the run's
 * end, before the appended files close: a failure is a warning in events.jsonl. */
void train_track_export(train_session *s);
void train_track_finish(train_session *s, const char *state);

/* Hooks fan-out (train.c). */
void train_hooks_step_end(train_session *s, double loss);
void train_hooks_epoch_end(train_session *s, const ddpc_epoch_metrics *m);
void train_hooks_transition(train_session *s, ddpc_state from, ddpc_state to, const char *reason);
void train_hooks_checkpoint(train_session *s, const char *path);

#endif
