/* Fuzzes the CSV reader of ddpc predict (ddpc_csv_read_columns in core/data_csv.c): the
 * input is one file, read for a model whose features are `a`, `b` and `a` again (a name the
 * training header had twice) with the label column `label`, for classification (10
 * classes) and regression. The columns passed through must come out as the file had them:
 * read back as a CSV of their own, their text is the same again. Then as ddpc predict reads
 * it for a model with a column encoding (data_tabular.h: `a` numeric, missing cells filled;
 * `b` categorical, one-hot over red and blue; labels the texts x and y): every encoded row
 * holds a finite `a` and at most one 1 among b's inputs, every label a class. */
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "core/data.h"
#include "core/data_tabular.h"
#include "core/error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The passed-through text written as a CSV and read again, every column passed through:
 * the same header and cells. Each line gets one more column, `end` and 0, so that it is
 * never blank and never ends in a cell whose last byte a reader takes for the line end (a
 * CR), as the real output puts the predictions there. A header that starts with a
 * byte-order mark loses it when read again: not compared. */
static void fuzz_check_round_trip(const ddpc_csv_columns *c) {
  if (!c->extra_end || strncmp(c->extra_header, "\xEF\xBB\xBF", 3) == 0) return;
  size_t n = strlen(c->extra_header) + 8 + (c->rows ? c->extra_end[c->rows - 1] : 0) + 3 * (size_t)c->rows;
  char *text = malloc(n + 1);
  if (!text) abort();
  size_t at = (size_t)sprintf(text, "%s,end\n", c->extra_header);
  for (uint32_t r = 0; r < c->rows; r++) {
    size_t t0 = r ? c->extra_end[r - 1] : 0, len = c->extra_end[r] - t0;
    memcpy(text + at, c->extra + t0, len);
    at += len;
    memcpy(text + at, ",0\n", 3);
    at += 3;
  }
  char *path = fuzz_write("again.csv", (const uint8_t *)text, at);
  ddpc_csv_columns again;
  if (ddpc_csv_read_columns(path, NULL, 0, NULL, DDPC_TASK_CLASSIFICATION, 0, &again) != 0) abort();
  size_t head = strlen(c->extra_header);
  if (again.rows != c->rows || strncmp(again.extra_header, c->extra_header, head) != 0 ||
      strcmp(again.extra_header + head, ",end") != 0)
    abort();
  for (uint32_t r = 0; r < c->rows; r++) {
    size_t a0 = r ? again.extra_end[r - 1] : 0, t0 = r ? c->extra_end[r - 1] : 0, len = c->extra_end[r] - t0;
    if (again.extra_end[r] - a0 != len + 2 || memcmp(again.extra + a0, c->extra + t0, len) != 0 ||
        memcmp(again.extra + a0 + len, ",0", 2) != 0)
      abort();
  }
  ddpc_csv_columns_free(&again);
  fuzz_remove(path);
  free(text);
}

static void fuzz_encoded(const char *path) {
  static char *categories[] = {"blue", "red"}, *labels[] = {"x", "y"};
  static ddpc_tabular_column cols[] = {{.name = "a", .missing = DDPC_MISSING_MEAN, .fill = 0.5f},
                                       {.name = "b", .categorical = true, .missing = DDPC_MISSING_DROP_ROWS,
                                        .n_categories = 2, .categories = categories}};
  static const ddpc_tabular t = {.n_columns = 2, .columns = cols, .width = 3, .n_labels = 2, .labels = labels};
  static char *names[] = {"a", "b"}, *categorical[] = {"b"};
  static const ddpc_missing_rule rules[] = {{"a", DDPC_MISSING_MEAN, NULL}, {"b", DDPC_MISSING_DROP_ROWS, NULL}};
  ddpc_csv_spec spec = {.rules = rules, .n_rules = 2, .categorical = categorical, .n_categorical = 1,
                        .text_labels = true, .labels_stay_text = true, .predicting = true};
  ddpc_csv_columns c;
  ddpc_csv_found found;
  if (ddpc_csv_read_columns_tabular(path, names, 2, "label", DDPC_TASK_CLASSIFICATION, 0, &spec, &c, &found) != 0)
    return;
  float *x = NULL;
  uint64_t unseen[2] = {0, 0};
  if (ddpc_tabular_encode(&t, c.x, c.rows, &found, &x, unseen) == 0) {
    for (uint32_t r = 0; r < c.rows; r++) {
      const float *v = x + 3 * (size_t)r;
      if (!isfinite(v[0]) || v[1] + v[2] > 1.0f || (v[1] != 0 && v[1] != 1) || (v[2] != 0 && v[2] != 1)) abort();
    }
    if (c.labels && ddpc_tabular_map_labels(&t, &found, c.labels, c.rows, path, "label") == 0)
      for (uint32_t r = 0; r < c.rows; r++)
        if (c.labels[r] < 0 || c.labels[r] > 1) abort();
  }
  free(x);
  ddpc_csv_found_free(&found);
  ddpc_csv_columns_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("predict.csv", data, size);
  char *names[] = {"a", "b", "a"};
  ddpc_csv_columns c;
  if (ddpc_csv_read_columns(path, names, 3, "label", DDPC_TASK_CLASSIFICATION, 10, &c) == 0) {
    for (uint32_t r = 0; c.labels && r < c.rows; r++)
      if (c.labels[r] < 0 || c.labels[r] >= 10) abort();
    fuzz_check_round_trip(&c);
    ddpc_csv_columns_free(&c);
  }
  if (ddpc_csv_read_columns(path, names, 2, "label", DDPC_TASK_REGRESSION, 0, &c) == 0) ddpc_csv_columns_free(&c);
  fuzz_encoded(path);
  ddpc_error_clear();
  fuzz_remove(path);
  return 0;
}
