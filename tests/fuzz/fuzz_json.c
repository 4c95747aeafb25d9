/* Fuzzes the readers of the JSON files that ddpc reads back from a run directory: the
 * input is written as summary.json, whose state the launcher and the tuner read
 * (launch/jobs/run_summary.c), and as metrics.jsonl, whose per-epoch metric the tuner follows
 * (tune/tune_trial.c, core/json.c), read twice as the tuner's polling does; and as
 * trial.log, whose tail the tuner keeps for a failed trial. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/json.h"
#include "fuzz_common.h"
#include "core/exit_code.h"
#include "launch/jobs/run_summary.h"
#include "tune/tune_trial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_on_epoch(void *user, int epoch, double value) {
  int *calls = user;
  (*calls)++;
  // The tuner indexes its tables by epoch: anything below 1 would be out of them.
  if (epoch < 1) abort();
  (void)value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *summary = fuzz_write("summary.json", data, size);
  char *state = ddpc_run_summary_state(fuzz_dir());
  (void)ddpc_exit_code_of_state(state);
  free(state);
  fuzz_remove(summary);

  ddpc_tune_metrics_reader r;
  memset(&r, 0, sizeof r);
  r.path = fuzz_write("metrics.jsonl", data, size);
  int calls = 0;
  (void)ddpc_tune_metrics_read(&r, "val_accuracy", fuzz_on_epoch, &calls);
  r.read_once = false;  // as after the file changed: every epoch is read again
  (void)ddpc_tune_metrics_read(&r, "val_accuracy", fuzz_on_epoch, &calls);
  unlink(r.path);
  ddpc_tune_metrics_reader_free(&r);

  fuzz_parts in;
  fuzz_split(data, size, &in);
  double v;
  (void)ddpc_json_find_number(in.part[0], "epoch", &v);
  (void)ddpc_json_find_number(in.part[0], "val_loss", &v);
  fuzz_parts_free(&in);

  char *log = fuzz_write("trial.log", data, size);
  free(ddpc_tune_trial_log_tail(log, 20));
  fuzz_remove(log);
  ddpc_error_clear();
  return 0;
}
