/* Metric names, values by name, and the history array (see metrics.h). */
#include "core/metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *const ddpc_metric_names[] = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                                         "samples_per_s", "seconds", "comm_seconds", "comm_hidden_fraction",
                                         "val_mae", "val_rmse", "val_r2"};
const int ddpc_metric_name_count = (int)(sizeof ddpc_metric_names / sizeof ddpc_metric_names[0]);

static const size_t metric_offsets[] = {
    offsetof(ddpc_epoch_metrics, train_loss),   offsetof(ddpc_epoch_metrics, train_accuracy),
    offsetof(ddpc_epoch_metrics, val_loss),     offsetof(ddpc_epoch_metrics, val_accuracy),
    offsetof(ddpc_epoch_metrics, lr),           offsetof(ddpc_epoch_metrics, samples_per_s),
    offsetof(ddpc_epoch_metrics, seconds),      offsetof(ddpc_epoch_metrics, comm_seconds),
    offsetof(ddpc_epoch_metrics, comm_hidden_fraction),
    offsetof(ddpc_epoch_metrics, val_mae),      offsetof(ddpc_epoch_metrics, val_rmse),
    offsetof(ddpc_epoch_metrics, val_r2)};

static int metric_index(const char *name) {
  for (int i = 0; name && i < ddpc_metric_name_count; i++)
    if (strcmp(name, ddpc_metric_names[i]) == 0) return i;
  return -1;
}

double ddpc_metric_value(const ddpc_epoch_metrics *m, const char *name) {
  int i = metric_index(name);
  if (i < 0) return NAN;
  double v;
  memcpy(&v, (const char *)m + metric_offsets[i], sizeof v);
  return v;
}

bool ddpc_metric_known(const char *name) { return metric_index(name) >= 0; }

bool ddpc_metric_higher_is_better(const char *name) {
  return name && (strstr(name, "accuracy") || strcmp(name, "samples_per_s") == 0 ||
                  strcmp(name, "comm_hidden_fraction") == 0 || strcmp(name, "val_r2") == 0);
}

int ddpc_metric_history_append(ddpc_metric_history *h, const ddpc_epoch_metrics *m) {
  if (h->count == h->capacity) {
    int cap = h->capacity ? 2 * h->capacity : 16;
    ddpc_epoch_metrics *grown = realloc(h->epochs, (size_t)cap * sizeof *grown);
    if (!grown) return ddpc_error_set("out of memory (metric history of %d epochs)", cap);
    h->epochs = grown;
    h->capacity = cap;
  }
  h->epochs[h->count++] = *m;
  return 0;
}

void ddpc_metric_history_free(ddpc_metric_history *h) {
  free(h->epochs);
  memset(h, 0, sizeof *h);
}

int ddpc_metric_history_best(const ddpc_metric_history *h, const char *name, bool higher_is_better) {
  int best = -1;
  double best_value = NAN;
  for (int i = 0; i < h->count; i++) {
    double v = ddpc_metric_value(&h->epochs[i], name);
    if (!isfinite(v)) continue;
    if (best < 0 || (higher_is_better ? v > best_value : v < best_value)) {
      best = i;
      best_value = v;
    }
  }
  return best;
}
