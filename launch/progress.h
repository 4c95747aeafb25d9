/* What a user sees while `ddpc train` runs: on a terminal one line redrawn in place
 * (epoch, percent, samples/s, loss, ETA); otherwise plain lines, one per epoch, fit for
 * logs and batch-job output files. Only rank 0 prints. */
#ifndef DDPC_LAUNCH_PROGRESS_H
#define DDPC_LAUNCH_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
  int epoch;             // 1-based
  double train_loss;     // mean over the epoch's training samples
  double train_accuracy; // fraction correct during training (NaN for regression)
  double val_loss;       // mean over the validation split (NaN when there is none)
  double val_accuracy;   // fraction correct on validation (NaN when none or regression)
  double lr;             // learning rate at the epoch's last step
  double samples_per_s;  // training samples per second in this epoch
  double seconds;        // wall time of the epoch, evaluation included
  double comm_seconds;   // time with gradient communication in flight (mean over ranks)
  double comm_hidden_fraction;  // share of comm_seconds overlapped with backward (NaN: none)
  uint32_t params_crc32;        // CRC32 of the parameters at the epoch's end (same on every rank)
} ddpc_epoch_metrics;

typedef struct {
  FILE *out;                // stdout, usually
  bool live;                // redraw one line in place (a terminal)
  bool quiet;               // print nothing
  int epochs;               // total epochs of the run
  int64_t steps_per_epoch;  // optimizer steps in one epoch
  double epoch_start;       // monotonic time the current epoch began
  double last_draw;         // monotonic time of the last redraw
} ddpc_progress;

void ddpc_progress_init(ddpc_progress *p, FILE *out, bool quiet, int epochs, int64_t steps_per_epoch);
void ddpc_progress_epoch_begin(ddpc_progress *p);
/* Called after each step; redraws at most five times a second. */
void ddpc_progress_step(ddpc_progress *p, int epoch, int64_t step_in_epoch, int64_t samples_done,
                        double running_loss);
void ddpc_progress_epoch_end(ddpc_progress *p, const ddpc_epoch_metrics *m);
/* Prints an informational line ("data: ...") unless quiet. */
void ddpc_progress_note(ddpc_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
