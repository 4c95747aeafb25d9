/* ddpc public API: distributed data-parallel training in C.
 *
 * The library is driven by a declarative YAML config (see docs/config.md). This header is
 * the stable surface for programs that embed ddpc: run a training job from a config, watch
 * it through hooks, add stop conditions of your own, and read its outcome. Link with
 * `pkg-config --libs --static ddpc`. The functions marked DDPC_API are the library's only
 * exported symbols (it is compiled with -fvisibility=hidden; tests/cli/exports.sh checks). */
#ifndef DDPC_DDPC_H
#define DDPC_DDPC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DDPC_API __attribute__((visibility("default")))
#else
#define DDPC_API
#endif

/* The version, kept here and nowhere else: CMakeLists.txt reads these three lines for
 * project(VERSION), and so ddpc.pc, `ddpc --version` and meta.json agree with them. */
#define DDPC_VERSION_MAJOR 0
#define DDPC_VERSION_MINOR 1
#define DDPC_VERSION_PATCH 0

/* The version of the linked library, "MAJOR.MINOR.PATCH" (compare with the macros above to
 * tell whether a program was built against this release's header). */
DDPC_API const char *ddpc_version(void);

/* Metrics of one finished epoch, as metrics.jsonl records them. */
typedef struct ddpc_epoch_metrics {
  int32_t epoch;                // 1-based (checkpoints keep this record's memory layout)
  double train_loss;            // mean over the epoch's training samples
  double train_accuracy;        // fraction correct during training (NaN for regression)
  double val_loss;              // mean over the validation split (NaN when there is none)
  double val_accuracy;          // fraction correct on validation (NaN when none or regression)
  double lr;                    // learning rate at the epoch's last step
  double samples_per_s;         // training samples per second in this epoch
  double seconds;               // wall time of the epoch, evaluation included
  double comm_seconds;          // time with gradient communication in flight (mean over ranks)
  double comm_hidden_fraction;  // share of comm_seconds overlapped with backward (NaN: none)
  uint32_t params_crc32;        // CRC32 of the parameters at the epoch's end (same on every rank)
  double val_mae;               // regression, on validation, in the target's units: mean absolute error
  double val_rmse;              // root mean squared error
  double val_r2;                // coefficient of determination (NaN when none or classification)
  // Classification metrics the config's `metrics:` (or a monitor) asks for; NaN otherwise.
  double val_macro_precision;   // mean over the classes of each one's precision
  double val_macro_recall;      // mean over the classes of each one's recall
  double val_macro_f1;          // mean over the classes of each one's F1
  double val_top_k_accuracy;    // fraction whose class is among the top_k outputs
  double val_roc_auc;           // two classes: area under the ROC curve of class 1's probability
  int32_t top_k;                // k of val_top_k_accuracy (0 when it is not computed)
} ddpc_epoch_metrics;

/* Callbacks into a run. Every member may be NULL. They run on rank 0 only (where the run
 * directory and the decisions are), except on_step_end, which runs on every rank. The
 * built-in progress display and metric files are hooks of this kind too. */
typedef struct {
  void *user;  // passed back to every callback
  /* After every optimizer step: global step (0-based), epoch (1-based), this rank's batch loss. */
  void (*on_step_end)(void *user, int64_t step, int32_t epoch, double loss);
  /* After an epoch's evaluation. */
  void (*on_epoch_end)(void *user, const ddpc_epoch_metrics *metrics);
  /* On every state-machine transition, with the reason ("early stopping: ..."). */
  void (*on_transition)(void *user, const char *from, const char *to, const char *reason);
  /* After a checkpoint file is complete on disk. */
  void (*on_checkpoint)(void *user, const char *path);
} ddpc_hooks;

/* A stop condition of your own, checked by rank 0 after every epoch next to the ones the
 * config declares. Return non-zero to stop (state `done`) and set *reason (a static or
 * long-lived string) to say why. history holds `count` epochs, newest last. */
typedef struct {
  const char *name;  // shown in `ddpc graph` and events.jsonl
  void *user;        // passed back
  int (*should_stop)(void *user, const ddpc_epoch_metrics *history, int count, const char **reason);
} ddpc_stop_condition;

/* Options of one training run; zero-initialise and set what you need. */
typedef struct {
  const char *config_path;          // YAML config file (required)
  const char *const *overrides;     // "key.path=value" strings applied after the file
  int n_overrides;                  // number of overrides
  const char *run_dir;              // run directory; NULL = output.dir from the config (a fresh
                                    // run, resume NULL, takes OUTPUT_DIR-2, -3, ... when output.dir
                                    // holds an earlier run's checkpoints)
  int quiet;                        // non-zero: no progress output
  const char *resume;               // NULL: fresh run; "auto": newest valid checkpoint in the run
                                    // directory (fresh when there is none); else a checkpoint path
  int review_answer;                // for a run awaiting review: 1 approve, -1 reject, 0 none
  const ddpc_hooks *hooks;          // n_hooks sets of callbacks
  int n_hooks;
  const ddpc_stop_condition *stops; // n_stops extra stop conditions
  int n_stops;
  const char *allow_changes;        // resume: config keys (or sections) that may differ from the
                                    // checkpoint's although they change what the run computes
                                    // (seed, optimizer, schedule, batch size, a length the schedule
                                    // follows), comma-separated; NULL: none (docs/training.md)
  int single_process;               // non-zero: train in this process alone, also under mpirun
                                    // (one model per group: each rank trains its own groups)
  /* Writes the run's trained model (its best checkpoint, else its newest) in `format`
   * ("safetensors", "onnx") to `path`; 0, or non-zero with the reason in ddpc_last_error().
   * Called on rank 0 of a run tracked in MLflow as it ends (done, diverged, pruned,
   * rejected), for the run's model artifacts; a failure is a warning, never the run's.
   * NULL: no model artifacts. The ddpc program passes `ddpc export`'s writer. */
  int (*export_model)(const char *run_dir, const char *format, const char *path);
} ddpc_train_options;

/* Outcome of a run, also written to RUN_DIR/summary.json. */
typedef struct {
  int32_t epochs_completed;         // full epochs trained
  double test_loss;                 // mean loss on the test split (NaN when there is none)
  double test_accuracy;             // fraction correct on the test split (classification)
  uint32_t params_crc32;            // zlib CRC32 of the final parameter bytes, model order
  double samples_per_s;             // training throughput over the whole run
  double wall_seconds;              // from start to summary
  double peak_rss_mb;               // peak resident memory of this process
  const char *state;                // final state: "done", "diverged", "preempted", "await_review",
                                    // "rejected", "pruned" (a tuner's verdict) or "failed"
  int quiet_error;                  // the failure is reported by another rank: print nothing
  int aborted;                      // the failure came during training, not while setting up (the
                                    // job was aborted; `ddpc train` exits 6 and --resume auto
                                    // continues from the last checkpoint)
  double test_mae;                  // regression, on the test split, in the target's units: mean
                                    // absolute error (NaN for classification or no test split)
  double test_rmse;                 // root mean squared error
  double test_r2;                   // coefficient of determination
} ddpc_train_result;

/* Trains as the config says. Returns 0 when the run reached a final state (result->state
 * says which: done, diverged, preempted, await_review, rejected, pruned); otherwise
 * non-zero, with the reason in ddpc_last_error() and result->state "failed". On one rank
 * it always returns: a failure during training (an I/O error, a full disk) leaves the
 * process to the caller. Under MPI with several ranks, a failure during training ends the
 * whole job (MPI_Abort), as the other ranks wait for this one in a collective; the message
 * of a failure found while setting up is printed to stderr by the one rank that reports it
 * (mpirun would otherwise end the job before it could be printed) and result->quiet_error
 * is set on every rank. */
DDPC_API int ddpc_train_run(const ddpc_train_options *options, ddpc_train_result *result);

/* ---- Using a trained model ----
 * A predictor is a trained model loaded on the CPU with the preprocessing it was trained
 * with: raw samples in (what the data files hold), predictions out. It is used from one
 * thread at a time; load several for several threads. */
typedef struct ddpc_predictor ddpc_predictor;

/* Loads `model_path`: a run directory (its checkpoints/best.ddpc when there is one, else
 * its newest valid checkpoint) or a checkpoint file. Returns 0 and *out, or non-zero with
 * the reason in ddpc_last_error() (no checkpoint, a damaged one, one written by an older
 * ddpc without the input description). */
DDPC_API int ddpc_predictor_load(const char *model_path, ddpc_predictor **out);
/* The checkpoint file it loaded. */
DDPC_API const char *ddpc_predictor_checkpoint(const ddpc_predictor *p);
/* Raw values per sample: pixels of an image (row-major, as stored in the IDX file), or
 * CSV feature columns in the order of ddpc_predictor_feature_name. */
DDPC_API int ddpc_predictor_input_size(const ddpc_predictor *p);
/* The name of CSV feature column i (0-based), as in the training file's header; NULL for
 * image models or an i out of range. */
DDPC_API const char *ddpc_predictor_feature_name(const ddpc_predictor *p, int i);
/* Values per prediction: one probability per class (classification), or the regression
 * outputs. */
DDPC_API int ddpc_predictor_output_size(const ddpc_predictor *p);
/* Classes of a classification model (labels 0 .. n-1); 0 for a regression model. */
DDPC_API int ddpc_predictor_num_classes(const ddpc_predictor *p);
/* The name of class k of a model trained on text class labels ("setosa"; the labels sorted,
 * class k the k-th), or NULL when the labels were integers (class k is the integer k) or k
 * is out of range. */
DDPC_API const char *ddpc_predictor_class_name(const ddpc_predictor *p, int k);
/* The columns a raw CSV row has for this model, before encoding: a model trained with
 * data.categorical or data.missing reads these and turns them into its input_size inputs
 * (one per category of a categorical column); any other model's columns are its inputs.
 * Names as in the training file's header; NULL for image models or an i out of range. */
DDPC_API int ddpc_predictor_column_count(const ddpc_predictor *p);
DDPC_API const char *ddpc_predictor_column_name(const ddpc_predictor *p, int i);
/* Encodes n rows of text cells (n x column_count, row-major; NULL, "", NA, NaN, ? ... is a
 * missing cell) into raw (n x input_size floats) for ddpc_predictor_predict, as ddpc predict
 * does: a category one-hot (one not seen in training: all zeros), a missing cell the
 * training split's mean (data.missing mean). Returns 0, or non-zero with the reason in
 * ddpc_last_error() ("row 3: column 'x1': expected a finite number, got 'abc'"), also for
 * a missing cell the model was trained to refuse or drop, and for image models. */
DDPC_API int ddpc_predictor_encode(const ddpc_predictor *p, const char *const *cells, int64_t n, float *raw);
/* Predicts n samples: raw is n x input_size floats (pixel values 0-255 as stored, or the
 * CSV's feature values), out receives n x output_size floats: class probabilities (softmax
 * of the model's outputs) or regression values. The training preprocessing is applied
 * here; dropout is off. Any n >= 0 (large n is done in batches). Returns 0, or non-zero
 * for a negative n or a NULL pointer. */
DDPC_API int ddpc_predictor_predict(ddpc_predictor *p, const float *raw, int64_t n, float *out);
/* Releases it; NULL is fine. */
DDPC_API void ddpc_predictor_free(ddpc_predictor *p);

/* The message of the last failure ("run.yaml:3:7: unknown key 'lr' ..."), or "". */
DDPC_API const char *ddpc_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
