/* Tests of the classification metrics (core/metrics_class.c) against references computed
 * here by their definitions: a confusion matrix and per-class/macro precision, recall and
 * F1 worked out by hand (scikit-learn's zero_division=0 for a class never predicted and one
 * never present), top-k with tied outputs against argmax, ROC AUC against a direct O(n²)
 * count of (positive, negative) pairs with ties counted half, on data with many ties; and
 * the metric names a config can give (core/metrics.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/metrics_class.h"
#include "core/rng.h"
#include "testing.h"

/* 7 samples of 3 classes. Labels 0 0 0 1 1 2 2; predicted (first largest output) 0 1 0 1 1 1 1:
 * class 2 is never predicted. */
static const float outs[7][3] = {{3, 1, 0}, {1, 2, 0}, {2, 2, 1}, {0, 5, 1}, {0, 1, 1}, {1, 4, 3}, {0, 2, 2}};
static const int32_t labels7[7] = {0, 0, 0, 1, 1, 2, 2};

static void test_confusion_and_scores(void) {
  double cm[9] = {0}, hits = 0;
  ddpc_class_metrics_add(&outs[0][0], labels7, 7, 3, 2, cm, &hits);
  // Row = true class, column = predicted. Ties take the first largest: sample 2 (2, 2, 1)
  // is predicted 0 and sample 6 (0, 2, 2) is predicted 1.
  const double want[9] = {2, 1, 0, 0, 2, 0, 0, 2, 0};
  CHECK(memcmp(cm, want, sizeof cm) == 0, "confusion matrix [%g %g %g; %g %g %g; %g %g %g]", cm[0], cm[1], cm[2],
        cm[3], cm[4], cm[5], cm[6], cm[7], cm[8]);
  // Top-2: the true class among the 2 first-ranked outputs (ties: lower index first).
  // Sample 4 (0, 1, 1) label 1: rank 0; sample 5 (1, 4, 3) label 2: rank 1; sample 6
  // (0, 2, 2) label 2: rank 1; sample 1 (1, 2, 0) label 0: rank 1. All 7 are hits.
  CHECK(hits == 7, "top-2 hits %g", hits);
  ddpc_class_scores per[3], macro;
  ddpc_class_metrics_scores(cm, 3, per, &macro);
  // class 0: tp 2, predicted 2, actual 3: P 1, R 2/3, F1 2*2/(3+2) = 0.8
  // class 1: tp 2, predicted 5, actual 2: P 0.4, R 1, F1 4/7
  // class 2: tp 0, predicted 0, actual 2: P 0 (zero division), R 0, F1 0
  CHECK_NEAR(per[0].precision, 1.0, 1e-15, "P0");
  CHECK_NEAR(per[0].recall, 2.0 / 3, 1e-15, "R0");
  CHECK_NEAR(per[0].f1, 0.8, 1e-15, "F1_0");
  CHECK_NEAR(per[1].precision, 0.4, 1e-15, "P1");
  CHECK_NEAR(per[1].recall, 1.0, 1e-15, "R1");
  CHECK_NEAR(per[1].f1, 4.0 / 7, 1e-15, "F1_1");
  CHECK(per[2].precision == 0 && per[2].recall == 0 && per[2].f1 == 0, "a class never predicted scores 0");
  CHECK(per[0].support == 3 && per[1].support == 2 && per[2].support == 2 && macro.support == 7, "supports");
  CHECK_NEAR(macro.precision, 1.4 / 3, 1e-15, "macro precision");
  CHECK_NEAR(macro.recall, (2.0 / 3 + 1) / 3, 1e-15, "macro recall");
  CHECK_NEAR(macro.f1, (0.8 + 4.0 / 7) / 3, 1e-15, "macro F1 (the mean of the F1s, not F1 of the means)");

  // A class absent from the split still counts in the macro mean (labels=range(classes)).
  double cm4[16] = {0};
  ddpc_class_metrics_scores(cm4, 4, NULL, &macro);
  CHECK(macro.precision == 0 && macro.recall == 0 && macro.f1 == 0, "an empty matrix scores 0, not NaN");
  memcpy(cm4, (double[16]){5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0}, sizeof cm4);
  ddpc_class_metrics_scores(cm4, 4, NULL, &macro);
  CHECK_NEAR(macro.f1, 0.75, 1e-15, "three perfect classes and one absent: macro F1 3/4");

  // A label outside the classes is left out (the loss reports such a batch).
  const int32_t bad[2] = {-1, 3};
  double cm_bad[9] = {0}, hits_bad = 0;
  ddpc_class_metrics_add(&outs[0][0], bad, 2, 3, 1, cm_bad, &hits_bad);
  double zero[9] = {0};
  CHECK(memcmp(cm_bad, zero, sizeof zero) == 0 && hits_bad == 0, "out-of-range labels are skipped");
}

/* Top-1 is accuracy exactly, ties included; top-k counts ranks below k; summing shards
 * (each rank's every size-th sample) gives the whole split's matrix. */
static void test_top_k_and_shards(void) {
  enum { N = 500, C = 5 };
  float *out = malloc(sizeof(float) * N * C);
  int32_t *lab = malloc(sizeof(int32_t) * N);
  ddpc_rng r = ddpc_rng_make(42, 0, 0, 0);
  for (int i = 0; i < N * C; i++) out[i] = (float)(ddpc_rng_next_below(&r, 4));  // many ties
  for (int i = 0; i < N; i++) lab[i] = (int32_t)(ddpc_rng_next_below(&r, C));
  double cm[C * C] = {0}, hits[C + 1] = {0};
  for (int k = 1; k <= C; k++) {
    double cm_k[C * C] = {0};
    ddpc_class_metrics_add(out, lab, N, C, k, k == 1 ? cm : cm_k, &hits[k]);
  }
  double correct = 0, ranked[C + 1] = {0};
  for (int i = 0; i < N; i++) {
    const float *row = out + (size_t)i * C;
    int arg = 0;
    for (int j = 1; j < C; j++) arg = row[j] > row[arg] ? j : arg;
    correct += arg == lab[i];
    // By definition: classes strictly above, plus those equal with a lower index.
    int ahead = 0;
    for (int j = 0; j < C; j++) ahead += row[j] > row[lab[i]] || (row[j] == row[lab[i]] && j < lab[i]);
    for (int k = 1; k <= C; k++) ranked[k] += ahead < k;
  }
  double diag = 0;
  for (int c = 0; c < C; c++) diag += cm[c * C + c];
  CHECK(hits[1] == correct && diag == correct, "top-1 hits %g, diagonal %g, argmax correct %g", hits[1], diag, correct);
  for (int k = 1; k <= C; k++) CHECK(hits[k] == ranked[k], "top-%d hits %g, by definition %g", k, hits[k], ranked[k]);
  CHECK(hits[C] == N, "top-C is every sample");
  for (int size = 2; size <= 3; size++) {
    double sum[C * C] = {0};
    for (int rank = 0; rank < size; rank++) {
      double part[C * C] = {0}, h = 0;
      for (int i = rank; i < N; i += size) ddpc_class_metrics_add(out + (size_t)i * C, lab + i, 1, C, 0, part, &h);
      for (int j = 0; j < C * C; j++) sum[j] += part[j];
    }
    CHECK(memcmp(sum, cm, sizeof cm) == 0, "%d shards sum to the whole matrix", size);
  }
  free(out);
  free(lab);
}

/* The definition: over every (positive, negative) pair, 1 when the positive scores higher,
 * 1/2 on a tie. */
static double auc_by_pairs(const float *s, const uint8_t *pos, size_t n) {
  double won = 0, pairs = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      if (pos[i] && !pos[j]) {
        pairs += 1;
        won += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      }
  return pairs > 0 ? won / pairs : NAN;
}

static void test_roc_auc(void) {
  // By hand: scores 0.1 0.4 0.35 0.8, labels 0 0 1 1 (scikit-learn's example): 0.75.
  const float s4[4] = {0.1f, 0.4f, 0.35f, 0.8f};
  const uint8_t p4[4] = {0, 0, 1, 1};
  double auc = 0;
  CHECK(ddpc_class_metrics_roc_auc(s4, p4, 4, &auc) == 0 && auc == 0.75, "the textbook example: %g", auc);
  // Ties across classes count half: all equal is 0.5.
  const float same[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  CHECK(ddpc_class_metrics_roc_auc(same, p4, 4, &auc) == 0 && auc == 0.5, "all tied: %g", auc);
  const float perfect[4] = {0.1f, 0.2f, 0.7f, 0.9f}, reversed[4] = {0.9f, 0.7f, 0.2f, 0.1f};
  CHECK(ddpc_class_metrics_roc_auc(perfect, p4, 4, &auc) == 0 && auc == 1.0, "separated: %g", auc);
  CHECK(ddpc_class_metrics_roc_auc(reversed, p4, 4, &auc) == 0 && auc == 0.0, "reversed: %g", auc);
  const uint8_t one_class[4] = {1, 1, 1, 1};
  CHECK(ddpc_class_metrics_roc_auc(s4, one_class, 4, &auc) == 0 && isnan(auc), "one class only: NaN");
  CHECK(ddpc_class_metrics_roc_auc(s4, p4, 0, &auc) == 0 && isnan(auc), "no samples: NaN");
  const float with_nan[4] = {0.1f, NAN, 0.3f, 0.2f};
  CHECK(ddpc_class_metrics_roc_auc(with_nan, p4, 4, &auc) == 0 && isnan(auc), "a NaN score: NaN");
  // Random data with many ties (scores on a grid of 7 values, saturated probabilities as a
  // trained model gives): exactly the pair count, for several sizes and class balances.
  ddpc_rng r = ddpc_rng_make(7, 0, 0, 0);
  for (int trial = 0; trial < 20; trial++) {
    size_t n = 1 + ddpc_rng_next_below(&r, 400);
    float *s = malloc(n * sizeof *s);
    uint8_t *pos = malloc(n);
    unsigned bias = 1 + (unsigned)(ddpc_rng_next_below(&r, 9));
    for (size_t i = 0; i < n; i++) {
      pos[i] = ddpc_rng_next_below(&r, 10) < bias;
      int level = (int)(ddpc_rng_next_below(&r, 7)) + (pos[i] ? 1 : 0);
      s[i] = level >= 7 ? 1.0f : (float)level / 7.0f;
    }
    double want = auc_by_pairs(s, pos, n);
    CHECK(ddpc_class_metrics_roc_auc(s, pos, n, &auc) == 0 && (auc == want || (isnan(auc) && isnan(want))),
          "n %zu: AUC %.17g, pair count %.17g", n, auc, want);
    free(s);
    free(pos);
  }
}

static void test_names(void) {
  int k = 0;
  CHECK(ddpc_metric_extra_find("top5_accuracy", &k) == DDPC_METRIC_EXTRA_TOP_K_ACCURACY && k == 5, "top5_accuracy");
  CHECK(ddpc_metric_extra_find("top12_accuracy", &k) == DDPC_METRIC_EXTRA_TOP_K_ACCURACY && k == 12, "top12");
  const char *bad[] = {"top0_accuracy", "top05_accuracy", "top-1_accuracy", "topK_accuracy", "top5_acc", "top5_accuracyx",
                       "f1", "", "val_macro_f1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(ddpc_metric_extra_find(bad[i], &k) < 0, "'%s' is no metrics: entry", bad[i]);
  CHECK(ddpc_metric_extra_find("per_class", &k) == DDPC_METRIC_EXTRA_PER_CLASS, "per_class");
  CHECK(ddpc_metric_known("val_top3_accuracy") && ddpc_metric_known("val_macro_f1") && ddpc_metric_known("val_roc_auc"),
        "monitorable names");
  CHECK(!ddpc_metric_known("val_topK_accuracy") && !ddpc_metric_known("val_per_class") &&
            !ddpc_metric_known("val_confusion_matrix") && !ddpc_metric_known("val_acc"),
        "tables and placeholders are not monitorable");
  CHECK(ddpc_metric_higher_is_better("val_macro_f1") && ddpc_metric_higher_is_better("val_roc_auc") &&
            ddpc_metric_higher_is_better("val_top3_accuracy") && ddpc_metric_higher_is_better("val_macro_recall"),
        "they improve upward");
  ddpc_epoch_metrics m;
  memset(&m, 0, sizeof m);
  m.val_top_k_accuracy = 0.75;
  m.top_k = 3;
  m.val_macro_f1 = 0.5;
  CHECK(ddpc_metric_value(&m, "val_top3_accuracy") == 0.75 && isnan(ddpc_metric_value(&m, "val_top2_accuracy")),
        "a top-k value is that k's only");
  CHECK(ddpc_metric_value(&m, "val_macro_f1") == 0.5, "val_macro_f1 by name");
}

int main(void) {
  test_confusion_and_scores();
  test_top_k_and_shards();
  test_roc_auc();
  test_names();
  return testing_finish();
}
