/* Fuzzes the IDX reader (core/data_idx.c), gzip-compressed and raw: the input is one file,
 * read as an images file and as a labels file (its magic decides which one gets past the
 * header), then the labels checked against 10 classes. */
#include <stdlib.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("data.idx", data, size);
  ddpc_table t;
  ddpc_shape shape;
  if (ddpc_idx_read_images(path, &t, &shape) == 0) ddpc_table_free(&t);
  int32_t *labels = NULL;
  uint32_t count = 0;
  if (ddpc_idx_read_labels(path, &labels, &count) == 0) {
    (void)ddpc_idx_check_labels(path, labels, count, 10);
    free(labels);
  }
  ddpc_error_clear();
  fuzz_remove(path);
  return 0;
}
