/* The ASHA stop rule (see tune_asha.h): rung bookkeeping and the percentile cutoff. */
#include "tune/tune_asha.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int ddpc_tune_asha_init(ddpc_tune_asha *a, int grace, int eta, int max_epochs) {
  memset(a, 0, sizeof *a);
  if (grace < 1) return ddpc_error_set("asha: grace must be >= 1 epoch, got %d", grace);
  if (eta < 2) return ddpc_error_set("asha: reduction_factor must be >= 2, got %d", eta);
  if (max_epochs < grace) return ddpc_error_set("asha: max_epochs (%d) must be >= grace (%d)", max_epochs, grace);
  a->grace = grace;
  a->eta = eta;
  a->max_epochs = max_epochs;
  // Integer powers, so rung epochs are exact where Ray's float log would be off by a hair.
  for (long long e = grace; e <= max_epochs && a->n_rungs < DDPC_TUNE_ASHA_MAX_RUNGS; e *= eta)
    a->rungs[a->n_rungs++].epoch = (int)e;
  return 0;
}

void ddpc_tune_asha_free(ddpc_tune_asha *a) {
  for (int i = 0; i < a->n_rungs; i++) free(a->rungs[i].entries);
  memset(a, 0, sizeof *a);
}

static ddpc_tune_asha_rung *asha_rung(ddpc_tune_asha *a, int epoch) {
  for (int i = 0; i < a->n_rungs; i++)
    if (a->rungs[i].epoch == epoch) return &a->rungs[i];
  return NULL;
}

bool ddpc_tune_asha_is_rung(const ddpc_tune_asha *a, int epoch) {
  return asha_rung((ddpc_tune_asha *)a, epoch) != NULL;
}

static int compare_doubles(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

double ddpc_tune_asha_percentile(const double *values, int n, double q) {
  double *sorted = malloc((size_t)n * sizeof *sorted);
  if (!sorted) return NAN;
  memcpy(sorted, values, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, compare_doubles);
  double rank = q / 100.0 * (double)(n - 1);
  int lo = (int)floor(rank);
  int hi = lo + 1 < n ? lo + 1 : lo;
  double v = sorted[lo] + (rank - (double)lo) * (sorted[hi] - sorted[lo]);
  free(sorted);
  return v;
}

int ddpc_tune_asha_on_result(ddpc_tune_asha *a, int trial, int epoch, double value, double *cutoff) {
  *cutoff = NAN;
  ddpc_tune_asha_rung *r = asha_rung(a, epoch);
  if (!r) return 0;
  for (int i = 0; i < r->n_entries; i++)
    if (r->entries[i].trial == trial) {
      *cutoff = r->entries[i].cutoff;
      return r->entries[i].stop;
    }
  // A missing value is neither judged nor recorded (Ray's nanpercentile ignores it too).
  if (!isfinite(value)) return 0;
  int stop = 0;
  if (r->n_entries > 0) {
    double *values = malloc((size_t)r->n_entries * sizeof *values);
    if (!values) return ddpc_error_set("out of memory (asha rung)");
    for (int i = 0; i < r->n_entries; i++) values[i] = r->entries[i].value;
    *cutoff = ddpc_tune_asha_percentile(values, r->n_entries, (1.0 - 1.0 / (double)a->eta) * 100.0);
    free(values);
    stop = value < *cutoff;
  }
  if (r->n_entries == r->cap) {
    int cap = r->cap ? 2 * r->cap : 16;
    ddpc_tune_asha_entry *grown = realloc(r->entries, (size_t)cap * sizeof *grown);
    if (!grown) return ddpc_error_set("out of memory (asha rung)");
    r->entries = grown;
    r->cap = cap;
  }
  r->entries[r->n_entries++] = (ddpc_tune_asha_entry){trial, value, stop != 0, *cutoff};
  return stop;
}

int ddpc_tune_asha_stop_epoch(const ddpc_tune_asha *a, int trial) {
  for (int i = 0; i < a->n_rungs; i++)
    for (int k = 0; k < a->rungs[i].n_entries; k++)
      if (a->rungs[i].entries[k].trial == trial && a->rungs[i].entries[k].stop) return a->rungs[i].epoch;
  return 0;
}
