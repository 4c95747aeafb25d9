/* Fuzzes the CSV reader (core/data_csv.c): the input is one file whose label column is
 * named `label`, read for classification (labels checked against 10 classes, and
 * unchecked) and for regression; then as tabular data (data_tabular.h): text labels,
 * missing cells filled (mean) or dropping their row, column `c` categorical, and what was
 * read fitted and encoded, which must give a one-hot row per category. */
#include <math.h>
#include <stdlib.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/data_tabular.h"
#include "core/error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads path with spec, then fits the encoding on every row and encodes the rows. */
static void fuzz_tabular(const char *path, const ddpc_csv_spec *spec) {
  ddpc_table t;
  ddpc_csv_found found;
  if (ddpc_csv_read_tabular(path, "label", DDPC_TASK_CLASSIFICATION, 0, spec, &t, &found) != 0) return;
  ddpc_tabular enc = {0};
  uint32_t *rows = malloc((t.rows ? t.rows : 1) * sizeof *rows);
  float *x = NULL;
  for (uint32_t i = 0; rows && i < t.rows; i++) rows[i] = i;
  if (rows && found.lines && ddpc_tabular_fit_labels(&enc, &found, (int32_t *)t.labels, t.rows) == 0 &&
      ddpc_tabular_fit(&enc, &t, &found, rows, t.rows) == 0 &&
      ddpc_tabular_encode(&enc, t.x, t.rows, &found, &x, NULL) == 0) {
    for (uint32_t i = 0; i < t.rows; i++) {
      if (t.labels[i] < 0 || (enc.n_labels && (uint32_t)t.labels[i] >= enc.n_labels)) abort();
      const float *v = x + (size_t)i * enc.width;
      for (uint32_t c = 0; c < enc.n_columns; c++) {
        uint32_t w = enc.columns[c].categorical ? enc.columns[c].n_categories : 1;
        float ones = 0;
        for (uint32_t k = 0; k < w; k++) ones += v[k];
        // Every row's category was fitted (all rows are training rows): exactly one 1.
        if (enc.columns[c].categorical && w && ones != 1.0f) abort();
        if (!enc.columns[c].categorical && isnan(v[0])) abort();  // filled
        v += w;
      }
    }
  }
  free(x);
  free(rows);
  ddpc_tabular_free(&enc);
  ddpc_csv_found_free(&found);
  ddpc_table_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("data.csv", data, size);
  ddpc_table t;
  if (ddpc_csv_read_checked(path, "label", DDPC_TASK_CLASSIFICATION, 10, &t) == 0) ddpc_table_free(&t);
  if (ddpc_csv_read(path, "label", DDPC_TASK_CLASSIFICATION, &t) == 0) ddpc_table_free(&t);
  if (ddpc_csv_read(path, "label", DDPC_TASK_REGRESSION, &t) == 0) ddpc_table_free(&t);
  static char *const categorical[] = {"c"};
  static const ddpc_missing_rule drop_c[] = {{"c", DDPC_MISSING_DROP_ROWS, NULL}};
  ddpc_csv_spec mean = {.missing = DDPC_MISSING_MEAN, .text_labels = true};
  ddpc_csv_spec cat = {.missing = DDPC_MISSING_MEAN, .categorical = categorical, .n_categorical = 1,
                       .rules = drop_c, .n_rules = 1, .text_labels = true};
  fuzz_tabular(path, &mean);
  fuzz_tabular(path, &cat);
  ddpc_error_clear();
  fuzz_remove(path);
  return 0;
}
