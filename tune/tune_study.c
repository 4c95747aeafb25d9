/* Loading and checking a study file (see tune_study.h). */
// realpath() is XSI, beyond the POSIX level the build asks for.
#define _XOPEN_SOURCE 700

#include "tune/tune_study.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_read.h"
#include "core/config_tree.h"
#include "core/error.h"
#include "core/metrics.h"
#include "launch/train/start_marker.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const study_top_keys[] = {"base", "tune"};
static const char *const study_tune_keys[] = {"metric", "mode",  "space",          "algorithm",    "max_trials",
                                              "max_seconds", "parallelism", "ranks_per_trial", "scheduler",
                                              "max_failures", "trial_max_seconds", "trial_startup_seconds",
                                              "seed", "backend", "slurm", "per_group"};
static const char *const study_mode_names[] = {"min", "max"};
static const char *const study_algorithm_names[] = {"random", "grid", "tpe"};
static const char *const study_backend_names[] = {"local", "slurm"};
static const char *const study_asha_keys[] = {"grace", "reduction_factor", "max_epochs"};
static const char *const study_slurm_keys[] = {"time", "partition", "account"};
// Durations of the study: from 0 (no limit) to about 30 years.
static const ddpc_config_range study_seconds = {0, 1e9, false, false};

/* tune.scheduler: `fifo`, `asha` (every default) or `{asha: {grace, reduction_factor, max_epochs}}`. */
static int study_read_scheduler(ddpc_tune_study *st, const ddpc_config_node *tune, int base_epochs) {
  st->scheduler = DDPC_TUNE_SCHEDULER_FIFO;
  st->asha_grace = 1;
  st->asha_reduction_factor = 3;
  st->asha_max_epochs = base_epochs;
  const ddpc_config_node *n = ddpc_config_node_get(tune, "scheduler");
  if (!n || (n->kind == DDPC_CONFIG_NODE_SCALAR && n->is_null)) return 0;
  const ddpc_config_node *asha = NULL;
  if (n->kind == DDPC_CONFIG_NODE_SCALAR) {
    int kind = 0;
    static const char *const kinds[] = {"fifo", "asha"};
    if (ddpc_config_get_enum((ddpc_config_section){tune, "tune"}, "scheduler", kinds, 2, &kind) < 0) return -1;
    st->scheduler = (ddpc_tune_scheduler_kind)kind;
    return 0;
  }
  if (n->kind != DDPC_CONFIG_NODE_MAP || n->n_items != 1 || strcmp(n->items[0]->key, "asha") != 0)
    return ddpc_config_node_error(n, "tune.scheduler: expected fifo, asha, or {asha: {grace, reduction_factor, "
                                     "max_epochs}}");
  st->scheduler = DDPC_TUNE_SCHEDULER_ASHA;
  asha = n->items[0];
  if (asha->kind == DDPC_CONFIG_NODE_SCALAR && asha->is_null) return 0;
  if (asha->kind != DDPC_CONFIG_NODE_MAP) return ddpc_config_type_error(asha, "tune.scheduler.asha", "a map");
  ddpc_config_section s = {asha, "tune.scheduler.asha"};
  if (ddpc_config_check_keys(s, s.path, study_asha_keys, COUNT(study_asha_keys)) != 0 ||
      ddpc_config_get_int32(s, "grace", 1, 1000000, &st->asha_grace) < 0 ||
      ddpc_config_get_int32(s, "reduction_factor", 2, 1000, &st->asha_reduction_factor) < 0 ||
      ddpc_config_get_int32(s, "max_epochs", 1, 1000000, &st->asha_max_epochs) < 0)
    return -1;
  if (st->asha_max_epochs < st->asha_grace)
    return ddpc_config_node_error(asha, "tune.scheduler.asha: max_epochs (%d) must be >= grace (%d)",
                                  st->asha_max_epochs, st->asha_grace);
  return 0;
}

/* tune.slurm: what each trial's batch job asks for (backend slurm); sbatch checks the values. */
static int study_read_slurm(ddpc_tune_study *st, const ddpc_config_node *tune) {
  const ddpc_config_node *s = ddpc_config_node_get(tune, "slurm");
  if (!s || (s->kind == DDPC_CONFIG_NODE_SCALAR && s->is_null)) return 0;
  if (s->kind != DDPC_CONFIG_NODE_MAP) return ddpc_config_type_error(s, "tune.slurm", "a map of time, partition, account");
  ddpc_config_section slurm = {s, "tune.slurm"};
  if (ddpc_config_check_keys(slurm, slurm.path, study_slurm_keys, COUNT(study_slurm_keys)) != 0 ||
      ddpc_config_get_string(slurm, "time", &st->slurm_time) < 0 ||
      ddpc_config_get_string(slurm, "partition", &st->slurm_partition) < 0 ||
      ddpc_config_get_string(slurm, "account", &st->slurm_account) < 0)
    return -1;
  return 0;
}

/* `base`: a path relative to the study file's folder, or the training config inline (written
 * to STUDY_DIR/base.yaml so that every trial reads a file). */
static int study_read_base(ddpc_tune_study *st, const ddpc_config_node *root, const char *path, const char *study_dir) {
  const ddpc_config_node *base = ddpc_config_node_get(root, "base");
  if (!base || (base->kind == DDPC_CONFIG_NODE_SCALAR && base->is_null))
    return ddpc_error_set("%s: missing 'base': the training config the trials start from (a path, or a map)", path);
  if (base->kind == DDPC_CONFIG_NODE_SCALAR) {
    const char *slash = strrchr(path, '/');
    char *joined = base->value[0] == '/' || !slash ? ddpc_strdup(base->value)
                                                   : ddpc_format("%.*s/%s", (int)(slash - path), path, base->value);
    if (!joined) return -1;
    st->base_path = realpath(joined, NULL);
    int rc = st->base_path ? 0 : ddpc_config_node_error(base, "base: cannot open '%s': %s", joined, strerror(errno));
    free(joined);
    return rc;
  }
  if (base->kind != DDPC_CONFIG_NODE_MAP) return ddpc_config_type_error(base, "base", "a path or a map");
  char *text = ddpc_tune_node_flow_text(base);
  char *file = ddpc_format("%s/base.yaml", study_dir);
  FILE *f = text && file ? fopen(file, "w") : NULL;
  int rc = 0;
  if (!f) rc = text && file ? ddpc_error_set("%s: cannot create: %s", file, strerror(errno)) : -1;
  if (f) {
    fprintf(f, "# The inline base config of %s, as the trials read it.\n%s\n", path, text);
    if (fclose(f) != 0) rc = ddpc_error_set("%s: write failed", file);
  }
  if (rc == 0 && !(st->base_path = realpath(file, NULL))) rc = ddpc_error_set("%s: %s", file, strerror(errno));
  free(text);
  free(file);
  return rc;
}

/* Loads the training config with the trial overrides plus `extra` ("key=value", or NULL):
 * what a trial with that value would get. */
static int study_try_config(const ddpc_tune_study *st, const char *extra, ddpc_config *cfg) {
  int n = st->n_trial_overrides + (extra ? 1 : 0);
  const char **all = ddpc_calloc((size_t)n + 1, sizeof *all, "overrides");
  if (!all) return -1;
  for (int i = 0; i < st->n_trial_overrides; i++) all[i] = st->trial_overrides[i];
  if (extra) all[n - 1] = extra;
  int rc = ddpc_config_load(st->base_path, all, n, cfg);
  free(all);
  return rc;
}

/* tune.metric must be in the trials' metrics.jsonl: val_macro_f1 and the like are there
 * only when the base config's `metrics:` (or one of its monitors) asks for them. */
static int study_check_metric_computed(const ddpc_tune_study *st, const ddpc_config *base,
                                       const ddpc_config_node *tune) {
  if (ddpc_config_metric_computed(base, st->metric)) return 0;
  int k = 0;
  int e = ddpc_metric_extra_of(st->metric, &k);
  const ddpc_config_node *at = ddpc_config_node_get(tune, "metric");
  if (base->data.task == DDPC_TASK_REGRESSION)
    return ddpc_config_node_error(at, "tune.metric: %s is a classification metric; the base config is a regression "
                                      "(val_mae, val_rmse, val_r2)", st->metric);
  if (e == DDPC_METRIC_EXTRA_TOP_K_ACCURACY && base->metrics.top_k > 0)
    return ddpc_config_node_error(at, "tune.metric: %s, but the base config computes top%d_accuracy (metrics:)",
                                  st->metric, base->metrics.top_k);
  char name[48];
  if (e == DDPC_METRIC_EXTRA_TOP_K_ACCURACY)
    snprintf(name, sizeof name, "top%d_accuracy", k);
  else
    snprintf(name, sizeof name, "%s", ddpc_metric_extra_names[e]);
  return ddpc_config_node_error(at, "tune.metric: the trials report %s only when the base config asks for it: add "
                                    "'metrics: [%s]' to %s", st->metric, name, st->base_path);
}

/* A review gate stops a run until a person answers (exit 4); nobody answers a trial, so a
 * study whose trials would have one is refused before any trial starts. `who` names what
 * gave the gate, for the message. */
static int study_refuse_review_gate(const ddpc_config *cfg, const char *who) {
  if (cfg->review.after_epochs <= 0 && !cfg->review.when_enabled) return 0;
  return ddpc_error_set("%s gives the trials a review gate (review.%s): a trial would stop for a person's answer "
                        "(exit 4), which a study cannot give; remove the review section from the trials' config",
                        who, cfg->review.after_epochs > 0 ? "after_epochs" : "when");
}

/* A grouped base config (data.group_by): with tune.per_group true the command line runs one
 * ordinary study per group (launch/cli/cli_tune_groups.c); with false each trial is a grouped
 * run, scored when it ends by the rows-weighted mean of its groups' best values (tune_groups.h);
 * ASHA would need that value at every rung, which a grouped trial has only at its end. */
static int study_check_groups(ddpc_tune_study *st, const ddpc_config *cfg, const ddpc_config_node *tune,
                              const char *who) {
  st->grouped = cfg->data.group_by && *cfg->data.group_by;
  const ddpc_config_node *at = ddpc_config_node_get(tune, "per_group");
  if (!st->grouped && st->per_group)
    return ddpc_config_node_error(at, "tune.per_group: true tunes each group of a grouped base config, but %s has no "
                                      "data.group_by", who);
  if (!st->grouped || st->per_group) return 0;  // per group: each group's study is an ordinary one
  if (st->scheduler == DDPC_TUNE_SCHEDULER_ASHA)
    return ddpc_config_node_error(ddpc_config_node_get(tune, "scheduler"),
                                  "tune.scheduler: asha cannot prune the trials of %s, which trains one model per "
                                  "group (data.group_by: %s): a grouped trial's value (the rows-weighted mean over "
                                  "its groups) is known only when all its groups have ended; use scheduler fifo",
                                  who, cfg->data.group_by);
  return 0;
}

/* A value strictly inside (low, high) that is no whole number: a continuous range on a key
 * that takes integers passes at whole-number bounds, and fails here instead of in a trial. */
static double study_fractional_probe(double low, double high) {
  double mid = 0.5 * (low + high);
  return mid != floor(mid) ? mid : mid + fmin(0.5, 0.25 * (high - low));
}

/* The values a parameter is tried with: every choice; the ends of an int range; the first,
 * second and last multiple of a quniform range (q fractional: one of two neighbours is);
 * the bounds and a fractional value inside for uniform and loguniform. Returns how many;
 * *fractional is the index of the fractional probe (-1: none). */
static int study_probe_values(const ddpc_tune_param *p, double *values, int *fractional) {
  int n = 0;
  *fractional = -1;
  if (p->dist == DDPC_TUNE_DIST_CHOICE) {
    for (int c = 0; c < p->n_choices && c < DDPC_TUNE_MAX_CHOICES; c++) values[n++] = c;
    return n;
  }
  if (p->dist == DDPC_TUNE_DIST_QUNIFORM) {
    int64_t count = ddpc_tune_param_grid_count(p);
    values[n++] = ddpc_tune_param_grid_value(p, 0);
    if (count > 2) values[n++] = ddpc_tune_param_grid_value(p, 1);
    if (count > 1) values[n++] = ddpc_tune_param_grid_value(p, count - 1);
    return n;
  }
  values[n++] = p->low;
  values[n++] = p->high;
  if (p->dist == DDPC_TUNE_DIST_UNIFORM || p->dist == DDPC_TUNE_DIST_LOGUNIFORM) {
    *fractional = n;
    values[n++] = study_fractional_probe(p->low, p->high);
  }
  return n;
}

/* Every space key, at its ends, with each choice and (continuous ranges) at a fractional
 * value, must make a valid training config without a review gate: a typo in a key, a bad
 * choice or a float range on an integer key fails now, not in trial 37. */
static int study_check_space_against_base(const ddpc_tune_study *st) {
  for (int p = 0; p < st->space.n_params; p++) {
    const ddpc_tune_param *param = &st->space.params[p];
    double values[DDPC_TUNE_MAX_CHOICES];
    int fractional = -1;
    int n_values = study_probe_values(param, values, &fractional);
    for (int v = 0; v < n_values; v++) {
      char *text = ddpc_tune_param_format_value(param, values[v]);
      char *override = text ? ddpc_format("%s=%s", param->key, text) : NULL;
      char *who = text ? ddpc_format("%s: tune.space.%s = %s", param->where, param->key, text) : NULL;
      ddpc_config cfg;
      int rc = override && who ? study_try_config(st, override, &cfg) : -1;
      if (rc == 0) {
        rc = study_refuse_review_gate(&cfg, who);
        ddpc_config_free(&cfg);
      } else if (override && who && v == fractional) {
        ddpc_error_set("%s: tune.space.%s: %s draws values such as %s between its bounds, and those do not make a "
                       "valid training config (%s); a key that takes whole numbers wants int or quniform with a "
                       "whole q",
                       param->where, param->key, ddpc_tune_dist_name(param->dist), text, ddpc_error_message());
      } else if (override && who) {
        ddpc_error_set("%s does not make a valid training config: %s", who, ddpc_error_message());
      }
      free(text);
      free(override);
      free(who);
      if (rc != 0) return -1;
    }
  }
  return 0;
}

static int study_read_tune(ddpc_tune_study *st, const ddpc_config_node *root, const char *path) {
  const ddpc_config_node *tune = ddpc_config_node_get(root, "tune");
  if (!tune || tune->kind != DDPC_CONFIG_NODE_MAP)
    return tune ? ddpc_config_type_error(tune, "tune", "a map")
                : ddpc_error_set("%s: missing 'tune': metric, space and the search settings", path);
  ddpc_config_section s = {tune, "tune"};
  if (ddpc_config_check_keys(s, "tune", study_tune_keys, COUNT(study_tune_keys)) != 0) return -1;
  int rc = ddpc_config_get_metric(s, "metric", &st->metric);
  if (rc < 0) return -1;
  if (rc == 0) return ddpc_config_node_error(tune, "tune: missing 'metric', e.g. val_accuracy or val_loss");
  int mode = ddpc_metric_higher_is_better(st->metric) ? 1 : 0;
  int algorithm = DDPC_TUNE_ALGORITHM_TPE, backend = DDPC_TUNE_BACKEND_LOCAL;
  int64_t seed = 0;
  st->max_trials = 20;
  st->max_seconds = 0;
  st->parallelism = 1;
  st->ranks_per_trial = 1;
  st->max_failures = 1;
  st->trial_startup_seconds = DDPC_START_MARKER_DEFAULT_SECONDS;
  if (ddpc_config_get_enum(s, "mode", study_mode_names, 2, &mode) < 0 ||
      ddpc_config_get_enum(s, "algorithm", study_algorithm_names, 3, &algorithm) < 0 ||
      ddpc_config_get_enum(s, "backend", study_backend_names, 2, &backend) < 0 ||
      ddpc_config_get_int32(s, "max_trials", 1, 1000000, &st->max_trials) < 0 ||
      ddpc_config_get_double(s, "max_seconds", study_seconds, &st->max_seconds) < 0 ||
      ddpc_config_get_int32(s, "parallelism", 1, 4096, &st->parallelism) < 0 ||
      ddpc_config_get_int32(s, "ranks_per_trial", 1, 4096, &st->ranks_per_trial) < 0 ||
      ddpc_config_get_int32(s, "max_failures", 0, 1000, &st->max_failures) < 0 ||
      ddpc_config_get_double(s, "trial_max_seconds", study_seconds, &st->trial_max_seconds) < 0 ||
      ddpc_config_get_double(s, "trial_startup_seconds", study_seconds, &st->trial_startup_seconds) < 0 ||
      ddpc_config_get_int(s, "seed", 0, INT64_MAX, &seed) < 0 ||
      ddpc_config_get_bool(s, "per_group", &st->per_group) < 0)
    return -1;
  if (study_read_slurm(st, tune) != 0) return -1;
  st->maximize = mode == 1;
  st->algorithm = (ddpc_tune_algorithm)algorithm;
  st->backend = (ddpc_tune_backend)backend;
  st->seed = (uint64_t)seed;
  const ddpc_config_node *space = ddpc_config_node_get(tune, "space");
  if (!space) return ddpc_config_node_error(tune, "tune: missing 'space', e.g. {optimizer.lr: {loguniform: [1e-4, 0.1]}}");
  return ddpc_tune_space_parse(space, "tune.space", &st->space);
}

int ddpc_tune_study_load(const char *path, const char *const *overrides, int n_overrides, const char *study_dir,
                         ddpc_tune_study *st) {
  memset(st, 0, sizeof *st);
  ddpc_config_tree tree;
  memset(&tree, 0, sizeof tree);
  int rc = ddpc_config_tree_load(path, &tree);
  if (rc == 0 && !(st->study_path = ddpc_strdup(path))) rc = -1;
  if (rc == 0 && !(st->trial_overrides = ddpc_calloc((size_t)n_overrides + 1, sizeof *st->trial_overrides, "overrides")))
    rc = -1;
  for (int i = 0; rc == 0 && i < n_overrides; i++) {
    if (strncmp(overrides[i], "tune.", 5) == 0 || strncmp(overrides[i], "base=", 5) == 0)
      rc = ddpc_config_tree_apply_override(&tree, overrides[i]);
    else if (!(st->trial_overrides[st->n_trial_overrides++] = ddpc_strdup(overrides[i])))
      rc = -1;
  }
  if (rc == 0)
    rc = ddpc_config_check_keys((ddpc_config_section){tree.root, ""}, "the study file", study_top_keys,
                                COUNT(study_top_keys));
  if (rc == 0) rc = study_read_base(st, tree.root, path, study_dir);
  if (rc == 0) rc = study_read_tune(st, tree.root, path);
  ddpc_config base;
  if (rc == 0 && study_try_config(st, NULL, &base) != 0)
    rc = ddpc_error_prefix("%s: the base config: ", path);
  else if (rc == 0) {
    const ddpc_config_node *tune = ddpc_config_node_get(tree.root, "tune");
    rc = study_read_scheduler(st, tune, base.stop.max_epochs);
    char *who = rc == 0 ? ddpc_format("%s: the base config", path) : NULL;
    if (rc == 0) rc = who ? study_refuse_review_gate(&base, who) : -1;
    if (rc == 0) rc = who ? study_check_groups(st, &base, tune, who) : -1;
    if (rc == 0) rc = study_check_metric_computed(st, &base, tune);
    free(who);
    ddpc_config_free(&base);
  }
  if (rc == 0 && st->algorithm == DDPC_TUNE_ALGORITHM_GRID) rc = ddpc_tune_space_check_grid(&st->space);
  if (rc == 0) rc = study_check_space_against_base(st);
  ddpc_config_tree_free(&tree);
  if (rc != 0) ddpc_tune_study_free(st);
  return rc;
}

void ddpc_tune_study_free(ddpc_tune_study *st) {
  free(st->study_path);
  free(st->base_path);
  free(st->metric);
  free(st->slurm_time);
  free(st->slurm_partition);
  free(st->slurm_account);
  ddpc_tune_space_free(&st->space);
  for (int i = 0; st->trial_overrides && i < st->n_trial_overrides; i++) free(st->trial_overrides[i]);
  free(st->trial_overrides);
  memset(st, 0, sizeof *st);
}
