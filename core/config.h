/* The declarative run configuration. One YAML file (plus `--set key.path=value`
 * overrides) is parsed, checked against the schema in config.c, completed with every
 * default, and written back as the resolved config.yaml of the run directory. Errors name
 * file:line:column and the key; unknown keys get a "did you mean" suggestion. */
#ifndef DDPC_CORE_CONFIG_H
#define DDPC_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buffer.h"
#include "core/layer.h"
#include "core/loss.h"
#include "core/shape.h"
#include "core/settings.h"

typedef enum { DDPC_DATA_FORMAT_IDX, DDPC_DATA_FORMAT_CSV } ddpc_data_format;
typedef enum { DDPC_TASK_CLASSIFICATION, DDPC_TASK_REGRESSION } ddpc_task;

typedef enum {
  DDPC_PREP_SCALE,        // x * multiply (or / divide)
  DDPC_PREP_STANDARDIZE,  // (x - mean) / std, statistics from the training split only
  DDPC_PREP_FLATTEN,      // per-sample shape becomes (1, 1, h*w*c)
  DDPC_PREP_RESHAPE,      // per-sample shape becomes `shape` (same element count)
} ddpc_prep_kind;

typedef enum { DDPC_STANDARDIZE_GLOBAL, DDPC_STANDARDIZE_PER_FEATURE } ddpc_standardize_mode;

typedef struct {
  ddpc_prep_kind kind;               // which step
  float multiply;                    // scale: factor (divide: d is stored as 1/d... see config.c)
  float divide;                      // scale: the divisor when given as `divide: d` (0 when given as multiply)
  ddpc_standardize_mode standardize; // standardize: one mean/std for all features, or each its own
  ddpc_shape shape;                  // reshape: target per-sample shape (h, w, c)
} ddpc_prep_step;

typedef struct {
  char *images;  // idx: images file (.gz or raw), absolute path after resolution
  char *labels;  // idx: labels file
  char *path;    // csv: the file
  // Where each file was given, "run.yaml:5:12" or "--set data.train.path=x.csv" (NULL when
  // not from a config file): a file that cannot be opened is reported there, with its key.
  char *images_at;
  char *labels_at;
  char *path_at;
} ddpc_data_source;

/* What a CSV cell that holds no value (empty, NA, N/A, NaN, nan, null, ?) becomes. */
typedef enum {
  DDPC_MISSING_ERROR = 0,      // refused with its file:line:column (the default)
  DDPC_MISSING_DROP_ROWS = 1,  // the row is left out of the data
  DDPC_MISSING_MEAN = 2,       // filled with the training split's mean (a categorical column: its most
                               // frequent category there)
} ddpc_missing_policy;

/* data.missing for one column (the mapping form). */
typedef struct {
  char *column;                // the CSV column's name
  ddpc_missing_policy policy;  // what its missing cells become
  char *at;                    // where the config gives it, for messages
} ddpc_missing_rule;

#define DDPC_MAX_PREP_STEPS 16
#define DDPC_MAX_LAYERS 64

typedef struct {
  ddpc_data_format format;       // idx | csv
  ddpc_task task;                // classification | regression
  ddpc_data_source train;        // training (and validation) data
  ddpc_data_source test;         // test data; empty paths = carve test_fraction from train
  char *label_column;            // csv: name of the label/target column
  int num_classes;               // classification: 0 = inferred as max label + 1
  double val_fraction;           // share of the training file held out for validation
  double test_fraction;          // share held out for test when no test source is given
  bool stratify;                 // split keeps class proportions
  char *group_by;                // csv: one model per value of this column (launch/groups); NULL
                                 // (absent or null) = one model for all rows
  int min_group_rows;            // group_by: groups with fewer data rows are listed and skipped
  int n_prep;                    // number of preprocessing steps
  ddpc_prep_step prep[DDPC_MAX_PREP_STEPS];  // applied in order
  bool cache;                    // use the prepared-data cache
  char *cache_dir;               // where cached tensors live
  bool target_standardize;       // regression: the loss sees targets standardized with the
                                 // training split's mean and std (metrics stay in target units)
  ddpc_missing_policy missing;   // csv: missing cells of every column not in missing_rules
  ddpc_missing_rule *missing_rules;  // csv: per column (data.missing as a mapping); NULL when scalar
  int n_missing_rules;           // entries in missing_rules
  char **categorical;            // csv: feature columns one-hot encoded (data.categorical)
  char **categorical_at;         // where each is given, for messages
  int n_categorical;             // entries in categorical
} ddpc_data_config;

typedef struct {
  int epochs;           // passes over the training split
  int batch_size;       // samples per rank per step (global batch = ranks x batch_size)
  int eval_batch_size;  // samples per forward pass during evaluation
  bool drop_last;       // drop the last partial training batch of an epoch
  double grad_clip;     // max global L2 norm of the gradient (0 = off)
  int log_every_steps;  // write the global loss of every Nth step to steps.jsonl (0 = off)
} ddpc_train_config;

typedef enum {
  DDPC_MONITOR_MIN,  // lower is better (losses, times)
  DDPC_MONITOR_MAX,  // higher is better (accuracies)
} ddpc_monitor_mode;

typedef struct {
  bool enabled;            // stop.early_stopping given
  char *monitor;           // metric name (core/metrics.h) [val_loss]
  ddpc_monitor_mode mode;  // given, or inferred from the monitor's name
  int patience;            // epochs without improvement before stopping [3]
  double min_delta;        // smallest change that counts as an improvement [0]
} ddpc_early_stopping_config;

typedef struct {
  bool enabled;            // stop.target given
  char *monitor;           // metric name
  ddpc_monitor_mode mode;  // inferred from the name: reached when >= value (max) or <= value (min)
  double value;            // the target
} ddpc_target_config;

typedef struct {
  bool enabled;            // stop.divergence given
  char *monitor;           // metric name [train_loss]
  double above;            // diverged when the monitor exceeds this
} ddpc_divergence_config;

typedef struct {
  int max_epochs;          // stop after this many epochs [train.epochs]
  double max_seconds;      // stop at the first epoch end past this training time (0 = none)
  ddpc_early_stopping_config early_stopping;
  ddpc_target_config target;
  ddpc_divergence_config divergence;
} ddpc_stop_config;

typedef struct {
  int every_epochs;        // checkpoint after every Nth epoch [1] (0 = never at epoch ends)
  int64_t every_steps;     // also every N optimizer steps, mid-epoch [0 = off]
  int keep_last;           // ckpt-*.ddpc files kept [2]
  bool keep_best;          // also keep checkpoints/best.ddpc by `monitor` [true]
  char *monitor;           // metric for best.ddpc [early_stopping's monitor, else val_loss]
  ddpc_monitor_mode mode;  // inferred from the monitor's name
} ddpc_checkpoint_config;

typedef struct {
  int after_epochs;        // await review after every Nth epoch (0 = never)
  bool when_enabled;       // review.when given
  char *when_monitor;      // metric that triggers review
  bool when_has_above;     // review.when.above given
  double when_above;       // review when the monitor is above this
  bool when_has_below;     // review.when.below given
  double when_below;       // review when the monitor is below this
} ddpc_review_config;

/* The top-level `metrics:` list (bits are 1u << ddpc_metric_extra, core/metrics.h). */
typedef struct {
  unsigned listed;    // what the list asks to be reported
  unsigned computed;  // listed, or named by a monitor: what evaluation computes and metrics.jsonl holds
  int top_k;          // K of topK_accuracy (0: none)
  char *at;           // where the list is given ("run.yaml:12:10"), for messages after loading; NULL: absent
} ddpc_metrics_config;

/* Verdicts from an outside scheduler (the tuner's ASHA): after each rung epoch rank 0
 * waits for RUN_DIR/verdicts/epoch-E ("continue" or "prune [reason]"). */
#define DDPC_MAX_RUNGS 32
typedef struct {
  int n_rungs;                 // rung epochs given (0: no pruning)
  int rungs[DDPC_MAX_RUNGS];   // epochs (1-based, ascending) after which a verdict is awaited
  double wait_seconds;         // how long to wait for one before going on [300]
} ddpc_pruning_config;

typedef struct {
  char *source_path;             // the YAML file it came from
  char *name;                    // run name
  uint64_t seed;                 // seed of every random stream
  ddpc_device device;            // where parameters, activations and optimizer state live [cpu]
  ddpc_data_config data;         // what data, split and preprocessing
  char *model_variant;           // chosen variant name, or NULL for a plain layer list
  int n_layers;                  // layers of the chosen model
  ddpc_layer_spec layers[DDPC_MAX_LAYERS];  // the chosen model's layers
  ddpc_loss_kind loss;           // cross_entropy | mse
  ddpc_optimizer_config optimizer;  // update rule and hyperparameters
  ddpc_schedule_config schedule;    // learning-rate schedule
  ddpc_train_config train;       // loop settings
  ddpc_comm_config comm;         // how ranks combine gradients
  ddpc_stop_config stop;         // when training ends
  ddpc_checkpoint_config checkpoint;  // when and what is checkpointed
  ddpc_review_config review;     // human review gates
  ddpc_pruning_config pruning;   // verdicts from the tuner at rung epochs
  ddpc_metrics_config metrics;   // classification metrics beyond loss and accuracy
  char *output_dir;              // run directory
  char *tracking_uri;            // tracking.mlflow.uri: MLflow tracking server (NULL: MLFLOW_TRACKING_URI or none)
  char *tracking_experiment;     // tracking.mlflow.experiment (NULL: MLFLOW_EXPERIMENT_NAME or Default)
  char *resolved_yaml;           // the resolved config as YAML text (also its hash input)
} ddpc_config;

/* Loads `path`, applies `n_overrides` strings "key.path=value" in order, checks and
 * resolves. On error returns non-zero with the message in ddpc_error_message(). */
int ddpc_config_load(const char *path, const char *const *overrides, int n_overrides, ddpc_config *cfg);
/* Resolves YAML text already in memory (a checkpoint's resolved config) with overrides, as
 * ddpc_config_load does a file; `name` stands for the file in messages and relative paths
 * are taken from the current folder. */
int ddpc_config_load_text(const char *name, const char *yaml, size_t len, const char *const *overrides,
                          int n_overrides, ddpc_config *cfg);
void ddpc_config_free(ddpc_config *cfg);
/* Whether a run of cfg reports metric `name` (core/metrics.h): every run has the plain
 * ones; val_macro_f1 and the like only when `metrics:` or a monitor asks for them. */
bool ddpc_config_metric_computed(const ddpc_config *cfg, const char *name);
/* config_metrics.c: reads `metrics:` under root (after the monitors are read). */
struct ddpc_config_node;
int ddpc_config_read_metrics(const struct ddpc_config_node *root, ddpc_config *cfg);
/* 64-bit FNV-1a of resolved_yaml: equal for configs that resolve the same. */
uint64_t ddpc_config_hash(const ddpc_config *cfg);

#endif
