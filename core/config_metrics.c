/* The top-level `metrics:` list: classification metrics beyond loss and accuracy
 * (core/metrics.h names them). Also what evaluation must compute: what the list asks for,
 * plus what a monitor (early stopping, target, divergence, checkpoint, review) names, so
 * that monitoring val_macro_f1 works without listing it. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_read.h"
#include "core/config_tree.h"
#include "core/error.h"
#include "core/metrics.h"

/* The node at a dotted path of plain keys under root, or NULL. */
static const ddpc_config_node *metrics_node_at(const ddpc_config_node *root, const char *const *keys, int n) {
  const ddpc_config_node *at = root;
  for (int i = 0; at && i < n; i++) at = at->kind == DDPC_CONFIG_NODE_MAP ? ddpc_config_node_get(at, keys[i]) : NULL;
  return at;
}

/* Adds what monitor `metric` needs to m->computed; a second top-k of another K than the
 * list's, or a classification metric in a regression run, is refused at `node`. */
static int metrics_need(ddpc_metrics_config *m, const ddpc_config *cfg, const char *metric, const char *key,
                        const ddpc_config_node *node) {
  int k = 0;
  int e = ddpc_metric_extra_of(metric, &k);
  if (e < 0) return 0;
  if (cfg->data.task == DDPC_TASK_REGRESSION)
    return ddpc_config_node_error(node, "%s: %s is a classification metric; a regression run has val_mae, "
                                        "val_rmse and val_r2", key, metric);
  if (e == DDPC_METRIC_EXTRA_TOP_K_ACCURACY && m->top_k != 0 && m->top_k != k)
    return ddpc_config_node_error(node, "%s: %s, but the run computes top-%d accuracy (one K a run: "
                                        "list top%d_accuracy or monitor val_top%d_accuracy)",
                                  key, metric, m->top_k, k, m->top_k);
  if (e == DDPC_METRIC_EXTRA_TOP_K_ACCURACY) m->top_k = k;
  m->computed |= 1u << e;
  return 0;
}

static int metrics_read_list(const ddpc_config_node *n, const ddpc_config *cfg, ddpc_metrics_config *m) {
  if (n->kind != DDPC_CONFIG_NODE_LIST)
    return ddpc_config_type_error(n, "metrics", "a list of names like [macro_f1, per_class, confusion_matrix]");
  if (cfg->data.task == DDPC_TASK_REGRESSION && n->n_items > 0)
    return ddpc_config_node_error(n, "metrics: lists classification metrics; a regression run (data.task: "
                                     "regression) reports val_mae, val_rmse and val_r2 without it");
  for (size_t i = 0; i < n->n_items; i++) {
    const ddpc_config_node *item = n->items[i];
    char *path = ddpc_format("metrics.%zu", i);
    char *name = NULL;
    int rc = path ? ddpc_config_read_string(item, path, &name) : -1;
    int k = 0;
    int e = rc == 0 ? ddpc_metric_extra_find(name, &k) : -1;
    if (rc == 0 && e < 0) {
      rc = ddpc_config_unknown_metric_error(item, "metrics", name, ddpc_metric_extra_names, DDPC_METRIC_EXTRA_COUNT);
    } else if (rc == 0 && (m->listed & (1u << e))) {
      rc = ddpc_config_node_error(item, "metrics: '%s' is listed twice%s", name,
                                  e == DDPC_METRIC_EXTRA_TOP_K_ACCURACY ? " (one topK_accuracy a run)" : "");
    } else if (rc == 0) {
      m->listed |= 1u << e;
      m->computed |= 1u << e;
      if (e == DDPC_METRIC_EXTRA_TOP_K_ACCURACY) m->top_k = k;
    }
    free(name);
    free(path);
    if (rc != 0) return -1;
  }
  return 0;
}

int ddpc_config_read_metrics(const ddpc_config_node *root, ddpc_config *cfg) {
  ddpc_metrics_config *m = &cfg->metrics;
  memset(m, 0, sizeof *m);
  const ddpc_config_node *list = root && root->kind == DDPC_CONFIG_NODE_MAP ? ddpc_config_node_get(root, "metrics") : NULL;
  if (list && metrics_read_list(list, cfg, m) != 0) return -1;
  if (list && !(m->at = ddpc_config_node_where(list))) return -1;
  static const char *const es[] = {"stop", "early_stopping", "monitor"}, *const tg[] = {"stop", "target", "monitor"},
                           *const dv[] = {"stop", "divergence", "monitor"}, *const ck[] = {"checkpoint", "monitor"},
                           *const rv[] = {"review", "when", "monitor"};
  const struct {
    bool on;
    const char *metric;
    const char *key;
    const char *const *path;
    int depth;
  } monitors[] = {
      {cfg->stop.early_stopping.enabled, cfg->stop.early_stopping.monitor, "stop.early_stopping.monitor", es, 3},
      {cfg->stop.target.enabled, cfg->stop.target.monitor, "stop.target.monitor", tg, 3},
      {cfg->stop.divergence.enabled, cfg->stop.divergence.monitor, "stop.divergence.monitor", dv, 3},
      {true, cfg->checkpoint.monitor, "checkpoint.monitor", ck, 2},
      {cfg->review.when_enabled, cfg->review.when_monitor, "review.when.monitor", rv, 3},
  };
  for (size_t i = 0; i < sizeof monitors / sizeof monitors[0]; i++) {
    if (!monitors[i].on || !monitors[i].metric) continue;
    const ddpc_config_node *at = metrics_node_at(root, monitors[i].path, monitors[i].depth);
    // checkpoint.monitor may be early stopping's, given there and not here.
    if (!at && i == 3) at = metrics_node_at(root, es, 3);
    if (metrics_need(m, cfg, monitors[i].metric, monitors[i].key, at ? at : root) != 0) return -1;
  }
  return 0;
}

bool ddpc_config_metric_computed(const ddpc_config *cfg, const char *metric) {
  int k = 0;
  int e = ddpc_metric_extra_of(metric, &k);
  if (e < 0) return true;
  return (cfg->metrics.computed & (1u << e)) && (e != DDPC_METRIC_EXTRA_TOP_K_ACCURACY || cfg->metrics.top_k == k);
}
