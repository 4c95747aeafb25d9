/* Metric names, values by name, and the history array (see metrics.h). */
#include "core/metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *const ddpc_metric_names[] = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                                         "samples_per_s", "seconds", "comm_seconds", "comm_hidden_fraction",
                                         "val_mae", "val_rmse", "val_r2", "val_macro_precision",
                                         "val_macro_recall", "val_macro_f1", "val_topK_accuracy", "val_roc_auc"};
const int ddpc_metric_name_count = (int)(sizeof ddpc_metric_names / sizeof ddpc_metric_names[0]);

static const size_t metric_offsets[] = {
    offsetof(ddpc_epoch_metrics, train_loss),   offsetof(ddpc_epoch_metrics, train_accuracy),
    offsetof(ddpc_epoch_metrics, val_loss),     offsetof(ddpc_epoch_metrics, val_accuracy),
    offsetof(ddpc_epoch_metrics, lr),           offsetof(ddpc_epoch_metrics, samples_per_s),
    offsetof(ddpc_epoch_metrics, seconds),      offsetof(ddpc_epoch_metrics, comm_seconds),
    offsetof(ddpc_epoch_metrics, comm_hidden_fraction),
    offsetof(ddpc_epoch_metrics, val_mae),      offsetof(ddpc_epoch_metrics, val_rmse),
    offsetof(ddpc_epoch_metrics, val_r2),       offsetof(ddpc_epoch_metrics, val_macro_precision),
    offsetof(ddpc_epoch_metrics, val_macro_recall), offsetof(ddpc_epoch_metrics, val_macro_f1),
    offsetof(ddpc_epoch_metrics, val_top_k_accuracy), offsetof(ddpc_epoch_metrics, val_roc_auc)};
_Static_assert(sizeof metric_offsets / sizeof metric_offsets[0] == sizeof ddpc_metric_names / sizeof ddpc_metric_names[0],
               "a name for every metric");

const char *const ddpc_metric_extra_names[DDPC_METRIC_EXTRA_COUNT] = {
    "macro_precision", "macro_recall", "macro_f1", "topK_accuracy", "roc_auc", "per_class", "confusion_matrix"};

/* The index of "val_topK_accuracy" in ddpc_metric_names. */
#define METRIC_TOP_K_INDEX 15

/* `text` is "top<K>_accuracy<rest>" with K a whole number >= 1 (no sign, no leading 0):
 * *k gets K and the return is what follows "_accuracy" (NULL when text is not of that form). */
static const char *parse_top_k(const char *text, int *k) {
  if (strncmp(text, "top", 3) != 0 || text[3] < '1' || text[3] > '9') return NULL;
  long v = 0;
  const char *p = text + 3;
  for (; *p >= '0' && *p <= '9'; p++)
    if ((v = v * 10 + (*p - '0')) > 1000000) return NULL;
  if (strncmp(p, "_accuracy", 9) != 0) return NULL;
  *k = (int)v;
  return p + 9;
}

int ddpc_metric_extra_find(const char *name, int *k) {
  *k = 0;
  if (!name) return -1;
  const char *rest = parse_top_k(name, k);
  if (rest) return *rest ? -1 : DDPC_METRIC_EXTRA_TOP_K_ACCURACY;
  for (int i = 0; i < DDPC_METRIC_EXTRA_COUNT; i++)
    if (i != DDPC_METRIC_EXTRA_TOP_K_ACCURACY && strcmp(name, ddpc_metric_extra_names[i]) == 0) return i;
  return -1;
}

int ddpc_metric_extra_of(const char *metric, int *k) {
  *k = 0;
  if (!metric || strncmp(metric, "val_", 4) != 0) return -1;
  int e = ddpc_metric_extra_find(metric + 4, k);
  return e >= 0 && e < DDPC_METRIC_EXTRA_PER_CLASS ? e : -1;
}

/* Index in ddpc_metric_names; *k gets K of val_topK_accuracy (else 0). */
static int metric_index(const char *name, int *k) {
  *k = 0;
  if (ddpc_metric_extra_of(name, k) == DDPC_METRIC_EXTRA_TOP_K_ACCURACY) return METRIC_TOP_K_INDEX;
  for (int i = 0; name && i < ddpc_metric_name_count; i++)
    if (i != METRIC_TOP_K_INDEX && strcmp(name, ddpc_metric_names[i]) == 0) return i;
  return -1;
}

double ddpc_metric_value(const ddpc_epoch_metrics *m, const char *name) {
  int k;
  int i = metric_index(name, &k);
  // val_top_k_accuracy holds one k's value: another k's is not known.
  if (i < 0 || (i == METRIC_TOP_K_INDEX && m->top_k != k)) return NAN;
  double v;
  memcpy(&v, (const char *)m + metric_offsets[i], sizeof v);
  return v;
}

bool ddpc_metric_known(const char *name) {
  int k;
  return metric_index(name, &k) >= 0;
}

bool ddpc_metric_higher_is_better(const char *name) {
  int k;
  return name && (strstr(name, "accuracy") || strcmp(name, "samples_per_s") == 0 ||
                  strcmp(name, "comm_hidden_fraction") == 0 || strcmp(name, "val_r2") == 0 ||
                  ddpc_metric_extra_of(name, &k) >= 0);
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
