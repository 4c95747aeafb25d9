/* Classification metrics beyond accuracy (config `metrics:`): the confusion matrix and what
 * follows from it (per-class and macro precision, recall and F1), top-k accuracy and ROC AUC
 * of a two-class model. Pure functions over model outputs and labels: the training session
 * adds each rank's samples into sums that are reduced across ranks, so every sample counts
 * exactly once, as accuracy does. */
#ifndef DDPC_CORE_METRICS_CLASS_H
#define DDPC_CORE_METRICS_CLASS_H

#include <stddef.h>
#include <stdint.h>

/* Adds n samples (out: (n, classes) outputs, labels: their classes) to cm, (classes, classes)
 * counts with row = true class and column = predicted class (the first largest output, as
 * the loss counts a correct prediction), and to *topk_hits those whose true class is among
 * the k largest outputs (k <= 0: not counted). A label outside [0, classes) is skipped. */
void ddpc_class_metrics_add(const float *out, const int32_t *labels, int n, int classes, int k, double *cm,
                            double *topk_hits);

/* How many classes rank ahead of class `label` in one sample's outputs: those with a larger
 * output, and those with an equal one and a smaller index (argmax takes the first largest,
 * so rank 0 is the predicted class and top-1 accuracy is accuracy). */
int ddpc_class_metrics_rank(const float *row, int classes, int label);

/* Scores of one class, or their unweighted mean over the classes (macro). */
typedef struct {
  double precision;  // correct among those predicted as the class (0 when none was)
  double recall;     // correct among those of the class (0 when there were none)
  double f1;         // harmonic mean of the two (0 when both are 0)
  double support;    // samples whose true class it is (macro: their total)
} ddpc_class_scores;

/* Per-class scores (per: classes entries, or NULL) and their macro mean (*macro) from cm. A
 * zero denominator gives 0, as scikit-learn's zero_division=0; the mean is over every class
 * of the model, including those absent from the split (scikit-learn's labels=range(classes)). */
void ddpc_class_metrics_scores(const double *cm, int classes, ddpc_class_scores *per, ddpc_class_scores *macro);

/* Area under the ROC curve of n samples: the share of (positive, negative) pairs whose
 * positive has the higher score, a tie counting one half (the Mann-Whitney statistic, which
 * equals the trapezoidal area of scikit-learn's roc_auc_score). Exact: sorts the scores and
 * counts the pairs per group of equal scores. *auc is NaN when one of the two classes is
 * absent or a score is NaN. -1 out of memory. */
int ddpc_class_metrics_roc_auc(const float *scores, const uint8_t *positive, size_t n, double *auc);

#endif
