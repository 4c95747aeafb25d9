/* Fuzzes the reader of a checkpoint's "input" section (core/model_input.c), the description
 * of a trained model's raw input and fitted preprocessing that ddpc predict and ddpc export
 * trust: the input is the section's bytes as the checkpoint holds them after its CRCs
 * passed (the checkpoint container itself is fuzz_checkpoint's). What decodes must be
 * self-consistent: shapes that multiply to the feature count, a name per feature, and a
 * column encoding (version 3) whose inputs are the features, each with a name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data_tabular.h"
#include "core/error.h"
#include "core/model_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ddpc_model_input in;
  if (ddpc_model_input_decode(data, size, "fuzz.ddpc", &in) == 0) {
    if (ddpc_shape_size(in.raw_shape) != in.features || ddpc_shape_size(in.shape) != in.features) abort();
    volatile float sum = 0;  // every constant must be readable (ASan checks)
    for (uint32_t f = 0; f < in.features; f++) sum += in.scale[f] + in.shift[f];
    for (uint32_t f = 0; in.feature_names && f < in.features; f++)
      if (!in.feature_names[f]) abort();
    (void)sum;
    const ddpc_tabular *t = in.tabular;
    if (t && t->width != in.features) abort();
    for (uint32_t i = 0; t && i < t->width; i++) {  // every input named from its column
      char *name = ddpc_tabular_input_name(t, i);
      if (!name) abort();
      free(name);
    }
    for (uint32_t k = 0; t && k < t->n_labels; k++)
      if (!t->labels[k]) abort();
    FILE *devnull = fopen("/dev/null", "w");  // ddpc inspect's reading of it
    if (devnull) ddpc_model_input_print(&in, devnull);
    if (devnull) fclose(devnull);
    // What was read writes back to the same bytes: nothing is lost or invented.
    unsigned char *again = NULL;
    size_t n = 0;
    if (ddpc_model_input_encode(&in, &again, &n) == 0 && (n != size || memcmp(again, data, n) != 0)) abort();
    free(again);
    ddpc_model_input_free(&in);
  }
  ddpc_error_clear();
  return 0;
}
