/* Fuzzes the CSV reader (core/data_csv.c): the input is one file whose label column is
 * named `label`, read for classification (labels checked against 10 classes, and
 * unchecked) and for regression. */
#include "core/data.h"
#include "core/data_internal.h"
#include "core/error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("data.csv", data, size);
  ddpc_table t;
  if (ddpc_csv_read_checked(path, "label", DDPC_TASK_CLASSIFICATION, 10, &t) == 0) ddpc_table_free(&t);
  if (ddpc_csv_read(path, "label", DDPC_TASK_CLASSIFICATION, &t) == 0) ddpc_table_free(&t);
  if (ddpc_csv_read(path, "label", DDPC_TASK_REGRESSION, &t) == 0) ddpc_table_free(&t);
  ddpc_error_clear();
  fuzz_remove(path);
  return 0;
}
