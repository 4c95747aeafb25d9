/* Per-epoch metrics and their history: what the progress display prints, metrics.jsonl
 * records, stop conditions and review gates look at, and checkpoints carry, so that a
 * resumed run decides exactly as the uninterrupted one would. */
#ifndef DDPC_CORE_METRICS_H
#define DDPC_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "ddpc/ddpc.h"  // ddpc_epoch_metrics is part of the public API (hooks)


/* Names a config may monitor, in the order of the fields above (without epoch and crc). */
extern const char *const ddpc_metric_names[];
extern const int ddpc_metric_name_count;

/* The value of metric `name` in m ("val_loss", "train_accuracy", ...); NaN when unknown. */
double ddpc_metric_value(const ddpc_epoch_metrics *m, const char *name);
/* Whether `name` is a metric a config may monitor. */
bool ddpc_metric_known(const char *name);
/* "min" for losses and times, "max" for accuracies and throughput: how a monitor improves
 * when the config does not say (Lightning requires the mode; ddpc infers it from the name). */
bool ddpc_metric_higher_is_better(const char *name);

typedef struct {
  ddpc_epoch_metrics *epochs;  // one per completed epoch, in order
  int count;                   // epochs recorded
  int capacity;                // allocated entries
} ddpc_metric_history;

int ddpc_metric_history_append(ddpc_metric_history *h, const ddpc_epoch_metrics *m);
void ddpc_metric_history_free(ddpc_metric_history *h);
/* Index of the epoch with the best finite value of `name` (the first of equal ones), or -1
 * when no epoch has a finite value. */
int ddpc_metric_history_best(const ddpc_metric_history *h, const char *name, bool higher_is_better);

#endif
