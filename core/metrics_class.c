/* Confusion matrix, precision/recall/F1, top-k accuracy and ROC AUC (see metrics_class.h). */
#include "core/metrics_class.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/error.h"

int ddpc_class_metrics_rank(const float *row, int classes, int label) {
  int ahead = 0;
  float mine = row[label];
  for (int j = 0; j < classes; j++)
    if (row[j] > mine || (row[j] == mine && j < label)) ahead++;
  return ahead;
}

void ddpc_class_metrics_add(const float *out, const int32_t *labels, int n, int classes, int k, double *cm,
                            double *topk_hits) {
  for (int i = 0; i < n; i++) {
    const float *row = out + (size_t)i * (size_t)classes;
    int32_t label = labels[i];
    if (label < 0 || label >= classes) continue;  // the loss makes such a batch NaN already
    int arg = 0;
    for (int j = 1; j < classes; j++)
      if (row[j] > row[arg]) arg = j;  // strict: the first maximum wins
    cm[(size_t)label * (size_t)classes + (size_t)arg] += 1.0;
    if (k > 0 && ddpc_class_metrics_rank(row, classes, label) < k) *topk_hits += 1.0;
  }
}

static double ratio_or_zero(double num, double den) { return den > 0 ? num / den : 0.0; }

void ddpc_class_metrics_scores(const double *cm, int classes, ddpc_class_scores *per, ddpc_class_scores *macro) {
  ddpc_class_scores sum = {0, 0, 0, 0};
  for (int c = 0; c < classes; c++) {
    double tp = cm[(size_t)c * (size_t)classes + (size_t)c], actual = 0, predicted = 0;
    for (int j = 0; j < classes; j++) {
      actual += cm[(size_t)c * (size_t)classes + (size_t)j];
      predicted += cm[(size_t)j * (size_t)classes + (size_t)c];
    }
    ddpc_class_scores s;
    s.precision = ratio_or_zero(tp, predicted);
    s.recall = ratio_or_zero(tp, actual);
    // 2tp / (2tp + fp + fn): the harmonic mean without dividing by a zero precision.
    s.f1 = ratio_or_zero(2 * tp, actual + predicted);
    s.support = actual;
    if (per) per[c] = s;
    sum.precision += s.precision;
    sum.recall += s.recall;
    sum.f1 += s.f1;
    sum.support += s.support;
  }
  if (macro)
    *macro = (ddpc_class_scores){sum.precision / classes, sum.recall / classes, sum.f1 / classes, sum.support};
}

typedef struct {
  float score;       // the model's score for the positive class
  uint8_t positive;  // 1 when the sample is of the positive class
} auc_item;

static int auc_item_compare(const void *a, const void *b) {
  float x = ((const auc_item *)a)->score, y = ((const auc_item *)b)->score;
  return (x > y) - (x < y);
}

int ddpc_class_metrics_roc_auc(const float *scores, const uint8_t *positive, size_t n, double *auc) {
  *auc = NAN;
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (isnan(scores[i])) return 0;  // no order to count pairs in
  auc_item *items = ddpc_calloc(n, sizeof *items, "ROC AUC scores");
  if (!items) return -1;
  for (size_t i = 0; i < n; i++) items[i] = (auc_item){scores[i], positive[i] ? 1 : 0};
  qsort(items, n, sizeof *items, auc_item_compare);
  // Ascending: each positive beats every negative in a lower group and ties half of those
  // in its own. The sums are whole or half numbers, exact in a double below 2^52 pairs.
  double negatives_below = 0, won = 0, positives = 0;
  for (size_t at = 0; at < n;) {
    size_t end = at;
    double pos = 0, neg = 0;
    for (; end < n && items[end].score == items[at].score; end++) {
      if (items[end].positive)
        pos += 1;
      else
        neg += 1;
    }
    won += pos * negatives_below + 0.5 * pos * neg;
    negatives_below += neg;
    positives += pos;
    at = end;
  }
  free(items);
  if (positives > 0 && negatives_below > 0) *auc = won / (positives * negatives_below);
  return 0;
}
