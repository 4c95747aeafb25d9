/* The data pipeline: read IDX or CSV files, split train/validation (and test), prepare
 * (scale, standardize, reshape) and cache the prepared tensors on disk, memory-mapped on
 * the next run. Samples stay in their stored dtype (uint8 for IDX images) and the
 * per-feature affine preparation is applied when a batch is gathered, so a cached
 * Fashion-MNIST costs 47 MB of mapped pages instead of 188 MB of floats. */
#ifndef DDPC_CORE_DATA_H
#define DDPC_CORE_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/shape.h"

typedef enum { DDPC_DTYPE_U8 = 1, DDPC_DTYPE_F32 = 2 } ddpc_dtype;

/* Rows of samples as stored (in the cache mapping or in memory). */
typedef struct {
  uint32_t rows;          // samples
  uint32_t features;      // values per sample
  ddpc_dtype dtype;       // of x
  const void *x;          // rows x features, stored values
  const int32_t *labels;  // classification: rows labels; NULL for regression
  const float *targets;   // regression: rows x target_width; NULL for classification
  uint32_t target_width;  // regression outputs per sample (1 for a CSV target column)
} ddpc_table;

/* A subset of a table's rows, e.g. the training split. */
typedef struct {
  const ddpc_table *table;  // where the rows live
  const uint32_t *rows;     // indices into table, `count` of them
  uint32_t count;           // samples in this split
} ddpc_split;

typedef struct {
  ddpc_table fit;           // the training file (train + validation rows)
  ddpc_table test_table;    // the test file; empty when test is carved from `fit`
  ddpc_split train;         // training split
  ddpc_split val;           // validation split (count may be 0)
  ddpc_split test;          // test split (count may be 0)
  ddpc_shape shape;         // per-sample shape after preprocessing
  const float *scale;       // per feature: prepared = stored * scale + shift
  const float *shift;
  int num_classes;          // classification: number of classes; regression: 0
  uint32_t target_width;    // regression: outputs per sample
  const float *target_mean; // regression: per target, its mean over the training split; else NULL
  const float *target_std;  // regression: per target, its standard deviation there (1 if constant)
  bool target_standardized; // gathered targets are (target - mean) / std (data.target_standardize)
  const struct ddpc_tabular *tabular;  // CSV: the fitted encoding of the columns (text labels,
                            // categories, missing-cell fills; data_tabular.h); NULL for IDX
  const uint32_t *fit_lines;   // CSV: each row of `fit`, its line in the training file; else NULL
  const uint32_t *test_lines;  // CSV: each row of test_table, its line in the test file; else NULL
  const char *notes;        // what the encoding did that a user should hear of (rows dropped,
                            // cells filled, unseen categories), one line; "" when nothing
  char *cache_path;         // cache file used (NULL when caching is off)
  bool cache_hit;           // prepared tensors came from the cache
  double load_seconds;      // time to get the dataset ready, this run
  void *internal;           // owned memory or mapping
} ddpc_dataset;

/* Loads the data the config describes, through the cache when enabled. */
int ddpc_data_load(const ddpc_config *cfg, ddpc_dataset *ds);
void ddpc_data_free(ddpc_dataset *ds);

/* Where a classification dataset's largest label is, for a message about the class count
 * inferred from it: "FILE:LINE:COLUMN: label N" (CSV) or "FILE: byte B: sample S: label N"
 * (IDX), the first sample that holds it. NULL when there are no labels, or text labels
 * (their classes are the texts); caller frees. */
char *ddpc_data_describe_max_label(const ddpc_dataset *ds, const ddpc_config *cfg);

/* Asks the CPU to start loading the rows at split positions pos[0..n) into its caches, so
 * that a later ddpc_data_gather of them does not wait on memory: training calls it for the
 * next batch while the current one runs. Only a hint: reads nothing, changes nothing. */
void ddpc_data_prefetch(const ddpc_split *split, const uint32_t *pos, int n);

/* Gathers split positions pos[0..n) into x (n x features, prepared floats) and labels (n)
 * or targets (n x target_width; standardized when ds->target_standardized). labels/targets
 * may be NULL when not wanted. */
void ddpc_data_gather(const ddpc_dataset *ds, const ddpc_split *split, const uint32_t *pos, int n,
                      float *x, int32_t *labels, float *targets);

/* Readers, exposed for tests and tools. They allocate a table whose x/labels are owned
 * by the caller (free with ddpc_table_free). Errors name the file and byte offset (of the
 * uncompressed IDX stream) or line:column (CSV; column = 1-based character position). */
int ddpc_idx_read_images(const char *path, ddpc_table *out, ddpc_shape *shape);
int ddpc_idx_read_labels(const char *path, int32_t **labels, uint32_t *count);
int ddpc_csv_read(const char *path, const char *label_column, ddpc_task task, ddpc_table *out);
void ddpc_table_free(ddpc_table *t);
/* An IDX images file's header only: per-image shape (rows, cols, 1) and image count
 * (count may be NULL). */
int ddpc_idx_read_image_shape(const char *path, ddpc_shape *shape, uint32_t *count);
/* A CSV's header only: the feature columns' names (every column but label_column), in the
 * file's order; *names is an array of *count strings, each and the array freed by the caller. */
int ddpc_csv_read_header(const char *path, const char *label_column, char ***names, uint32_t *count);

/* A CSV read for prediction (ddpc predict): the columns `names` (the features a model was
 * trained on, in the training header's order) found by header name in any order, the
 * label column when the file has one (labels checked against num_classes when > 0), and
 * every other column kept as text to pass through. A missing feature column is refused
 * with the header's names; a column named twice where one is used is ambiguous, refused. */
typedef struct {
  uint32_t rows;       // data rows (0 for a header alone)
  uint32_t features;   // the columns asked for
  float *x;            // rows x features, in the order of the names asked for
  int32_t *labels;     // classification, label column present: rows labels; else NULL
  float *targets;      // regression, label column present: rows targets; else NULL
  char *extra_header;  // the other columns' header cells as the file has them, comma-joined ("" if none)
  char *extra;         // their cells likewise, row after row, without separators between rows
  size_t *extra_end;   // rows: where each row's cells end in extra (a row starts where the last
                       // ended); NULL when no column passes through
} ddpc_csv_columns;
int ddpc_csv_read_columns(const char *path, char *const *names, uint32_t n_names, const char *label_column,
                          ddpc_task task, int num_classes, ddpc_csv_columns *out);
void ddpc_csv_columns_free(ddpc_csv_columns *c);


typedef enum {
  DDPC_DATA_SAMPLER_DROP,  // each rank takes n / world positions (the permutation's tail is left out)
  DDPC_DATA_SAMPLER_PAD,   // each rank takes ceil(n / world); the last round repeats the first entries
} ddpc_data_sampler_mode;

/* The DistributedSampler contract: one permutation of `n` per (seed, epoch), drawn with
 * ddpc_rng_make(seed, DDPC_RNG_SHUFFLE, epoch, 0), identical on every rank; rank r of
 * `world` takes the permutation's entries at indices r, r + world, r + 2 world, ... (with
 * PAD, indices past n wrap to the start). Every rank gets the same count, which is
 * returned. `out` must hold n entries: it is used as the permutation buffer before the
 * rank's share is compacted to its front, so no memory is allocated. Returns 0 for a bad
 * rank/world. */
uint32_t ddpc_data_sampler_epoch_positions(uint64_t seed, uint64_t epoch, uint32_t n, int rank, int world,
                                           ddpc_data_sampler_mode mode, uint32_t *out);

#endif
