/* ASHA, the asynchronous successive-halving rule of the tuner (`tune.scheduler.asha`),
 * as Ray Tune's AsyncHyperBandScheduler applies it with one bracket: rungs at epochs
 * grace * eta^k (k = 0 .. floor(log(max_epochs / grace) / log eta)); a trial reaching a
 * rung is compared with the values recorded there before it, and stopped when its value is
 * below the (1 - 1/eta) percentile of them (numpy's linear percentile); its value is then
 * recorded. The first trial at a rung always goes on. A decision is made once, when the
 * trial first reaches the rung: a trial that reaches it again (restarted from an earlier
 * checkpoint) gets the same answer, and rebuilding a rung in its arrival order (--resume,
 * from the study store) gives every trial the decision it had. Values are "higher is
 * better"; the caller negates a metric that is minimised. */
#ifndef DDPC_LAUNCH_TUNE_ASHA_H
#define DDPC_LAUNCH_TUNE_ASHA_H

#include <stdbool.h>

#define DDPC_TUNE_ASHA_MAX_RUNGS 32

typedef struct {
  int trial;      // trial number
  double value;   // its value at the rung, higher is better
  bool stop;      // the decision it got there
  double cutoff;  // what it was compared with (NaN: it was the first)
} ddpc_tune_asha_entry;

typedef struct {
  int epoch;                      // where the rung is
  ddpc_tune_asha_entry *entries;  // values recorded there, in arrival order
  int n_entries;                  // how many
  int cap;                        // allocated
} ddpc_tune_asha_rung;

typedef struct {
  int grace;                                      // first rung (epochs)
  int eta;                                        // reduction factor (>= 2)
  int max_epochs;                                 // a trial's full length
  int n_rungs;                                    // rungs in use
  ddpc_tune_asha_rung rungs[DDPC_TUNE_ASHA_MAX_RUNGS];  // ascending epochs
} ddpc_tune_asha;

/* Sets up the rungs; -1 with an error for grace < 1, eta < 2 or max_epochs < grace. */
int ddpc_tune_asha_init(ddpc_tune_asha *a, int grace, int eta, int max_epochs);
void ddpc_tune_asha_free(ddpc_tune_asha *a);

/* Whether `epoch` is a rung. */
bool ddpc_tune_asha_is_rung(const ddpc_tune_asha *a, int epoch);

/* The rule at a rung: returns 1 to stop the trial, 0 to go on (also for an epoch that is no
 * rung), -1 out of memory. A trial already recorded at the rung gets the decision (and
 * cutoff) it got then, whatever its value now. *cutoff gets the cutoff compared with (NaN
 * when nothing was recorded before). */
int ddpc_tune_asha_on_result(ddpc_tune_asha *a, int trial, int epoch, double value, double *cutoff);

/* The first rung where `trial` was told to stop, or 0 when it never was. */
int ddpc_tune_asha_stop_epoch(const ddpc_tune_asha *a, int trial);

/* numpy.percentile(values, q) with linear interpolation; n > 0, values need not be sorted. */
double ddpc_tune_asha_percentile(const double *values, int n, double q);

#endif
