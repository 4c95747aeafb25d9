/* The classification metrics of `metrics:` in the run files: the val_ numbers of an epoch in
 * its metrics.jsonl line, the test_ numbers in summary.json, and the test split's per-class
 * table and confusion matrix there, with the classes by name (text labels as the CSV
 * gives them, else the class ids). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/data_tabular.h"
#include "core/error.h"
#include "core/metrics_class.h"
#include "launch/train/train_internal.h"

/* Bit e of the metrics the run computes (listed or monitored). */
static bool metric_files_has(const train_session *s, ddpc_metric_extra e) {
  return (s->cfg.metrics.computed & (1u << e)) != 0;
}

/* "PREFIX_macro_f1", "PREFIX_top5_accuracy", ... into buf. */
static const char *metric_files_key(char *buf, size_t size, const char *prefix, ddpc_metric_extra e, int k) {
  if (e == DDPC_METRIC_EXTRA_TOP_K_ACCURACY)
    snprintf(buf, size, "%s_top%d_accuracy", prefix, k);
  else
    snprintf(buf, size, "%s_%s", prefix, ddpc_metric_extra_names[e]);
  return buf;
}

_Static_assert(TRAIN_METRIC_EXTRAS == DDPC_METRIC_EXTRA_ROC_AUC + 1, "a slot for every number of metrics:");

int train_metric_extras(const train_session *s, const ddpc_epoch_metrics *m, train_metric_extra *out) {
  const train_eval *t = &s->test;
  const double values[] = {m ? m->val_macro_precision : t->macro_precision, m ? m->val_macro_recall : t->macro_recall,
                           m ? m->val_macro_f1 : t->macro_f1, m ? m->val_top_k_accuracy : t->top_k_accuracy,
                           m ? m->val_roc_auc : t->roc_auc};
  const char *prefix = m ? "val" : "test";
  int n = 0;
  for (int e = 0; e <= DDPC_METRIC_EXTRA_ROC_AUC; e++) {
    if (!metric_files_has(s, (ddpc_metric_extra)e)) continue;
    metric_files_key(out[n].key, sizeof out[n].key, prefix, (ddpc_metric_extra)e, s->cfg.metrics.top_k);
    out[n++].value = values[e];
  }
  return n;
}

void train_metric_files_read_test(train_session *s, const char *summary) {
  train_eval *t = &s->test;
  double *const fields[] = {&t->macro_precision, &t->macro_recall, &t->macro_f1, &t->top_k_accuracy, &t->roc_auc};
  char key[48];
  for (int e = 0; e <= DDPC_METRIC_EXTRA_ROC_AUC; e++)
    if (metric_files_has(s, (ddpc_metric_extra)e) &&
        ddpc_json_find_number(summary, metric_files_key(key, sizeof key, "test", (ddpc_metric_extra)e,
                                                        s->cfg.metrics.top_k),
                              fields[e]) != 1)
      *fields[e] = NAN;
}

/* The numbers of m (NULL: the test split's) as JSON members. */
static void metric_files_numbers(ddpc_json *j, const train_session *s, const ddpc_epoch_metrics *m) {
  train_metric_extra x[TRAIN_METRIC_EXTRAS];
  int n = train_metric_extras(s, m, x);
  for (int i = 0; i < n; i++) ddpc_json_number(j, x[i].key, x[i].value);
}

void train_metric_files_epoch(ddpc_json *j, const train_session *s, const ddpc_epoch_metrics *m) {
  metric_files_numbers(j, s, m);
}

void train_metric_files_test(ddpc_json *j, const train_session *s) { metric_files_numbers(j, s, NULL); }

/* Class c's name as the data gives it. */
static const char *metric_files_class(const train_session *s, int c, char *buf, size_t size) {
  const ddpc_tabular *t = s->data.tabular;
  if (t && t->n_labels > (uint32_t)c) return t->labels[c];
  snprintf(buf, size, "%d", c);
  return buf;
}

void train_metric_files_tables(ddpc_json *j, const train_session *s) {
  const double *cm = s->test.confusion;
  unsigned listed = s->cfg.metrics.listed;
  if (!cm) return;  // not asked for, or no test split
  int C = s->out_width;
  char name[32];
  if (listed & (1u << DDPC_METRIC_EXTRA_PER_CLASS)) {
    ddpc_class_scores *per = ddpc_calloc((size_t)C, sizeof *per, "per-class metrics");
    if (per) {
      ddpc_class_metrics_scores(cm, C, per, NULL);
      ddpc_json_begin_array(j, "test_per_class");
      for (int c = 0; c < C; c++) {
        ddpc_json_begin_object(j, NULL);
        ddpc_json_string(j, "class", metric_files_class(s, c, name, sizeof name));
        ddpc_json_number(j, "precision", per[c].precision);
        ddpc_json_number(j, "recall", per[c].recall);
        ddpc_json_number(j, "f1", per[c].f1);
        ddpc_json_int(j, "support", (int64_t)per[c].support);
        ddpc_json_end_object(j);
      }
      ddpc_json_end_array(j);
    }
    free(per);
  }
  if (listed & (1u << DDPC_METRIC_EXTRA_CONFUSION_MATRIX)) {
    ddpc_json_begin_object(j, "test_confusion_matrix");
    ddpc_json_begin_array(j, "classes");
    for (int c = 0; c < C; c++) ddpc_json_string(j, NULL, metric_files_class(s, c, name, sizeof name));
    ddpc_json_end_array(j);
    // counts[i][j]: samples of class i the model predicted as class j
    ddpc_json_begin_array(j, "counts");
    for (int r = 0; r < C; r++) {
      ddpc_json_begin_array(j, NULL);
      for (int c = 0; c < C; c++) ddpc_json_int(j, NULL, (int64_t)cm[(size_t)r * (size_t)C + (size_t)c]);
      ddpc_json_end_array(j);
    }
    ddpc_json_end_array(j);
    ddpc_json_end_object(j);
  }
}
