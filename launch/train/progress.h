/* What a user sees while `ddpc train` runs: on a terminal one line redrawn in place
 * (epoch, percent, samples/s, loss, ETA); otherwise plain lines, one per epoch, fit for
 * logs and batch-job output files. Only rank 0 prints. */
#ifndef DDPC_LAUNCH_PROGRESS_H
#define DDPC_LAUNCH_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/metrics.h"


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
