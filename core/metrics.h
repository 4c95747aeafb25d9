/* Per-epoch metrics and their history: what the progress display prints, metrics.jsonl
 * records, stop conditions and review gates look at, and checkpoints carry, so that a
 * resumed run decides exactly as the uninterrupted one would. */
#ifndef DDPC_CORE_METRICS_H
#define DDPC_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "ddpc/ddpc.h"  // ddpc_epoch_metrics is part of the public API (hooks)


/* Names a config may monitor, in the order of the fields above (without epoch, crc and
 * top_k). "val_topK_accuracy" stands for val_top1_accuracy, val_top2_accuracy, ... */
extern const char *const ddpc_metric_names[];
extern const int ddpc_metric_name_count;

/* What the config's `metrics:` list may ask for beyond loss and accuracy (classification).
 * The first five are numbers reported per epoch as val_NAME (monitorable) and at the end as
 * test_NAME; per_class and the confusion matrix are tables of the test split in summary.json. */
typedef enum {
  DDPC_METRIC_EXTRA_MACRO_PRECISION,   // macro_precision
  DDPC_METRIC_EXTRA_MACRO_RECALL,      // macro_recall
  DDPC_METRIC_EXTRA_MACRO_F1,          // macro_f1
  DDPC_METRIC_EXTRA_TOP_K_ACCURACY,    // topK_accuracy with K a number: top3_accuracy
  DDPC_METRIC_EXTRA_ROC_AUC,           // roc_auc (two classes)
  DDPC_METRIC_EXTRA_PER_CLASS,         // per_class: precision, recall, F1 and support of each class
  DDPC_METRIC_EXTRA_CONFUSION_MATRIX,  // confusion_matrix
  DDPC_METRIC_EXTRA_COUNT
} ddpc_metric_extra;

/* The list's names in enum order ("topK_accuracy" stands for top2_accuracy, ...). */
extern const char *const ddpc_metric_extra_names[DDPC_METRIC_EXTRA_COUNT];
/* The entry `name` of a metrics: list, or -1; *k gets K of topK_accuracy (else 0). */
int ddpc_metric_extra_find(const char *name, int *k);
/* The entry a monitorable metric name needs ("val_macro_f1" -> macro_f1, "val_top5_accuracy"
 * -> topK_accuracy with *k 5), or -1 for the metrics every run has. */
int ddpc_metric_extra_of(const char *metric, int *k);

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
