/* Fuzzes opening the study store of `ddpc tune` (tune/tune_store.c, SQLite) with
 * arbitrary bytes as study.db: read-only as `ddpc tune --status` does (settings, every
 * trial, their metrics, a rung, the table printed), then for writing as `ddpc tune
 * --resume` does (which may upgrade an older schema), then an integrity check. */
#include <stdlib.h>

#include "core/error.h"
#include "fuzz_common.h"
#include "tune/tune_store.h"
#include "tune/tune_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_read_store(ddpc_tune_store *s) {
  static const char *const settings[] = {"metric", "mode", "study_file", "overrides"};
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
    char *value = NULL;
    if (ddpc_tune_store_get_setting(s, settings[i], &value) == 0) free(value);
  }
  ddpc_tune_trial *trials = NULL;
  int n = 0;
  if (ddpc_tune_store_load_trials(s, &trials, &n) == 0) {
    for (int i = 0; i < n; i++) {
      ddpc_tune_intermediate *values = NULL;
      int n_values = 0;
      if (ddpc_tune_store_load_intermediates(s, trials[i].number, &values, &n_values) == 0) free(values);
    }
    ddpc_tune_table_print(fuzz_sink(), trials, n, "val_accuracy", true);
    ddpc_tune_table_print_summary(fuzz_sink(), trials, n, "val_loss", false);
    ddpc_tune_trials_free(trials, n);
  }
  ddpc_tune_intermediate *rung = NULL;
  int n_rung = 0;
  if (ddpc_tune_store_load_rung(s, 1, &rung, &n_rung) == 0) free(rung);
  ddpc_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("study.db", data, size);
  ddpc_tune_store *s = NULL;
  if (ddpc_tune_store_open_readonly(path, &s) == 0) {
    fuzz_read_store(s);
    ddpc_tune_store_close(s);
  }
  s = NULL;
  if (ddpc_tune_store_open(path, &s) == 0) {
    fuzz_read_store(s);
    (void)ddpc_tune_store_integrity_check(s);
    ddpc_tune_store_close(s);
  }
  ddpc_error_clear();
  static const char *const extra[] = {"study.db-wal", "study.db-shm", "study.db-journal"};
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) fuzz_remove(fuzz_path(extra[i]));
  fuzz_remove(path);
  return 0;
}
