/* Fuzzes the study file reader of `ddpc tune` (tune/tune_study.c, tune/tune_space.c):
 * the input is a tune.yaml, optionally followed by `--set` overrides (tune.KEY=V for the
 * study, others for the trials), each after a NUL byte. The study sits in a folder with a
 * training config `train.yaml` for `base: train.yaml` (an inline base is written as
 * base.yaml there, as ddpc tune does in its study directory). A study that loads has every
 * parameter's values formatted as the sampler and the tables do. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fuzz_common.h"
#include "tune/tune_space.h"
#include "tune/tune_study.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// A small valid training config (no data is read while a study loads).
static const char fuzz_base_config[] =
    "name: fuzz_base\n"
    "data:\n"
    "  format: csv\n"
    "  train: {path: data.csv}\n"
    "  label_column: label\n"
    "model:\n"
    "  variant: small\n"
    "  variants:\n"
    "    small: [{type: linear, units: 8}, {type: relu}, {type: linear, units: 3}]\n"
    "    large: [{type: linear, units: 32}, {type: relu}, {type: linear, units: 3}]\n"
    "optimizer: {name: sgd, lr: 0.1, momentum: 0.9}\n"
    "train: {epochs: 4, batch_size: 16}\n";

static char *fuzz_base_path;  // train.yaml in the fuzz folder, written once

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_base_path = fuzz_write("train.yaml", (const uint8_t *)fuzz_base_config, sizeof fuzz_base_config - 1);
  return 0;
}

/* What the sampler, the grid and the tables do with a parameter's values. */
static void fuzz_use_param(const ddpc_tune_param *p) {
  double probes[] = {p->low, p->high, 0.5 * (p->low + p->high), p->low - 1, p->high + 1};
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    double x = ddpc_tune_param_snap(p, probes[i]);
    free(ddpc_tune_param_format_value(p, x));
    free(ddpc_tune_param_format_label(p, x));
  }
  int64_t count = ddpc_tune_param_grid_count(p);
  if (count > 0) {
    (void)ddpc_tune_param_grid_value(p, 0);
    (void)ddpc_tune_param_grid_value(p, count - 1);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_parts in;
  fuzz_split(data, size, &in);
  char *path = fuzz_write("study.yaml", (const uint8_t *)in.part[0], strlen(in.part[0]));
  ddpc_tune_study st;
  if (ddpc_tune_study_load(path, in.part + 1, in.n - 1, fuzz_dir(), &st) == 0) {
    for (int i = 0; i < st.space.n_params; i++) fuzz_use_param(&st.space.params[i]);
    (void)ddpc_tune_space_grid_size(&st.space);
    ddpc_tune_study_free(&st);
  }
  ddpc_error_clear();
  fuzz_remove(fuzz_path("base.yaml"));
  fuzz_remove(path);
  fuzz_parts_free(&in);
  return 0;
}
