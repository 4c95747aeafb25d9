/* Declarations shared by the data pipeline's own files (data_*.c): the pieces that
 * ddpc_data_load() strings together. Not part of the public interface. */
#ifndef DDPC_CORE_DATA_INTERNAL_H
#define DDPC_CORE_DATA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/data.h"

/* What ds->internal points to: the memory a dataset owns. */
typedef struct {
  void *map;           // the read-only cache mapping on a hit, else NULL
  size_t map_size;     // bytes mapped
  bool owns_tables;    // fit/test_table x/labels/targets were allocated by the readers
  uint32_t *rows;      // miss: train, val and test row indices in one allocation
  float *affine;       // miss: scale then shift, 2 x features floats
  float *target_stats; // regression: target means then standard deviations, 2 x target_width floats
  struct ddpc_tabular *tabular;  // CSV: the fitted encoding (owned)
  uint32_t *lines;     // CSV: fit rows' lines then the test table's (owned)
  char *notes;         // ds->notes (owned)
} ddpc_data_store;

/* IDX: checks every label of `path` is below num_classes (when > 0); the error names the
 * byte offset and sample index of the first bad one. */
int ddpc_idx_check_labels(const char *path, const int32_t *labels, uint32_t count, int num_classes);

/* CSV with the class-count check done while parsing, so a bad label is reported at its
 * line:column. num_classes <= 0 disables the check. */
int ddpc_csv_read_checked(const char *path, const char *label_column, ddpc_task task, int num_classes,
                          ddpc_table *out);

/* CSV: the line and 1-based column of the label cell of data row `row` (0 = the first
 * non-blank line after the header), for messages about a sample found in a table. */
int ddpc_csv_locate_row(const char *path, const char *label_column, uint32_t row, int *line, int *column);

/* Splits rows 0..n-1 into train, validation and test (test only when test_fraction > 0).
 * rows_out (n entries) receives the train rows, then the validation rows, then the test
 * rows, each ascending; counts[0..3) their sizes. labels (n) is needed when stratify. */
int ddpc_split_rows(uint32_t n, const int32_t *labels, int num_classes, double val_fraction,
                    double test_fraction, bool stratify, uint64_t seed, uint32_t *rows_out,
                    uint32_t counts[3]);

/* Runs the preprocessing steps: fills scale/shift (features each) and the per-sample
 * shape. Standardize statistics come from the `train` rows of `fit` only. */
int ddpc_prep_run(const ddpc_data_config *dc, const ddpc_table *fit, const ddpc_split *train,
                  ddpc_shape *shape, float *scale, float *shift);

/* Cache key: the bytes of every input file plus the settings that shape the result. */
int ddpc_cache_key(const ddpc_config *cfg, uint64_t *key);
/* Maps `path` and points ds into it. Returns 1 on a hit, 0 when the file is absent or
 * unusable (a corrupt one gets a one-line warning on stderr); never fails the load. */
int ddpc_cache_open(const char *path, uint64_t key, ddpc_dataset *ds, ddpc_data_store *store);
/* Writes ds atomically to `path` (creating `dir`). Returns 0, or -1 after a warning. */
int ddpc_cache_write(const char *dir, const char *path, uint64_t key, const ddpc_dataset *ds);

#endif
