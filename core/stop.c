/* Stop conditions, review gates and the early-stopping bookkeeping. The conditions read
 * only the config and the facts rank 0 gathered, so a resumed run (facts restored from the
 * checkpoint) decides exactly as the uninterrupted one would. Early stopping follows
 * PyTorch Lightning's EarlyStopping: improvement means better than the best by more than
 * min_delta, and the run stops once `patience` epochs in a row did not improve. */
#include "core/stop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int64_t ddpc_stop_epochs_done(const ddpc_machine_facts *facts) {
  const ddpc_metric_history *h = facts->history;
  return h && h->count > 0 ? h->epochs[h->count - 1].epoch : 0;
}

/* The newest value of `monitor`; NaN before the first epoch. */
static double newest(const ddpc_machine_facts *facts, const char *monitor) {
  const ddpc_metric_history *h = facts->history;
  return h && h->count > 0 ? ddpc_metric_value(&h->epochs[h->count - 1], monitor) : NAN;
}

bool ddpc_stop_cond_start(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  (void)cfg;
  // Epochs in the history at INIT came from a checkpoint.
  if (ddpc_stop_epochs_done(facts) > 0) *reason = ddpc_strdup("resume");
  return true;
}

bool ddpc_stop_cond_evaluation_only(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  (void)reason;
  return cfg->stop.max_epochs == 0 && ddpc_stop_epochs_done(facts) == 0;
}

bool ddpc_stop_cond_review_approved(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  (void)cfg;
  (void)reason;
  return facts->review_answer > 0;
}

bool ddpc_stop_cond_review_rejected(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  (void)cfg;
  (void)reason;
  return facts->review_answer < 0;
}

bool ddpc_stop_cond_signal(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  (void)cfg;
  (void)reason;
  return facts->stop_signal;
}

bool ddpc_stop_cond_pruned(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  (void)cfg;
  if (!facts->prune_reason) return false;
  *reason = ddpc_strdup(facts->prune_reason);
  return true;
}

bool ddpc_stop_cond_nonfinite(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  (void)cfg;
  (void)reason;
  return facts->nonfinite;
}

bool ddpc_stop_cond_divergence(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  const ddpc_divergence_config *d = &cfg->stop.divergence;
  double v = newest(facts, d->monitor);
  if (!d->enabled || !(v > d->above)) return false;
  *reason = ddpc_format("divergence: %s %.4g above %g at epoch %lld", d->monitor, v, d->above,
                        (long long)ddpc_stop_epochs_done(facts));
  return true;
}

bool ddpc_stop_cond_max_epochs(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  if (ddpc_stop_epochs_done(facts) < cfg->stop.max_epochs) return false;
  *reason = ddpc_format("max_epochs %d reached", cfg->stop.max_epochs);
  return true;
}

bool ddpc_stop_cond_max_seconds(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  double limit = cfg->stop.max_seconds;
  if (!(limit > 0) || facts->elapsed_seconds < limit) return false;
  *reason = ddpc_format("max_seconds %g reached: %.1f s elapsed after epoch %lld", limit, facts->elapsed_seconds,
                        (long long)ddpc_stop_epochs_done(facts));
  return true;
}

bool ddpc_stop_cond_target(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  const ddpc_target_config *t = &cfg->stop.target;
  if (!t->enabled) return false;
  double v = newest(facts, t->monitor);
  bool max = t->mode == DDPC_MONITOR_MAX;
  if (!(max ? v >= t->value : v <= t->value)) return false;  // NaN never reaches it
  *reason = ddpc_format("target %s %s %g reached: %.4g at epoch %lld", t->monitor, max ? ">=" : "<=", t->value, v,
                        (long long)ddpc_stop_epochs_done(facts));
  return true;
}

bool ddpc_stop_cond_early_stopping(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  const ddpc_early_stopping_config *es = &cfg->stop.early_stopping;
  // As in Lightning, only an epoch that did not improve can stop the run: with patience 0
  // the first such epoch stops it, an improving one never does.
  if (!es->enabled || facts->bad_epochs == 0 || facts->bad_epochs < es->patience) return false;
  *reason = ddpc_format("early stopping: %s did not improve by more than %g for %lld epochs; best %.4g at epoch %lld",
                        es->monitor, es->min_delta, (long long)facts->bad_epochs, facts->best_value,
                        (long long)facts->best_epoch);
  return true;
}

bool ddpc_stop_cond_review_after(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  int every = cfg->review.after_epochs;
  int64_t done = ddpc_stop_epochs_done(facts);
  if (every <= 0 || done == 0 || done % every != 0 || facts->reviewed_epoch >= done) return false;
  *reason = ddpc_format("review after %lld epochs", (long long)done);
  return true;
}

bool ddpc_stop_cond_review_when(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  const ddpc_review_config *r = &cfg->review;
  int64_t done = ddpc_stop_epochs_done(facts);
  if (!r->when_enabled || done == 0 || facts->reviewed_epoch >= done) return false;
  double v = newest(facts, r->when_monitor);
  bool above = r->when_has_above && v > r->when_above;
  bool below = r->when_has_below && v < r->when_below;
  if (!above && !below) return false;
  *reason = ddpc_format("review: %s %.4g %s %g", r->when_monitor, v, above ? "above" : "below",
                        above ? r->when_above : r->when_below);
  return true;
}

bool ddpc_stop_cond_checkpoint_due(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  (void)cfg;
  (void)reason;
  return facts->checkpoint_due;
}

void ddpc_stop_update(const ddpc_config *cfg, ddpc_machine_facts *facts) {
  const ddpc_metric_history *h = facts->history;
  if (!h || h->count == 0) return;
  const ddpc_early_stopping_config *es = &cfg->stop.early_stopping;
  // Without early stopping the best is the checkpoint's (best.ddpc), improving by any amount.
  const char *monitor = es->enabled ? es->monitor : cfg->checkpoint.monitor;
  ddpc_monitor_mode mode = es->enabled ? es->mode : cfg->checkpoint.mode;
  double min_delta = es->enabled ? es->min_delta : 0.0;
  const ddpc_epoch_metrics *m = &h->epochs[h->count - 1];
  double v = ddpc_metric_value(m, monitor);
  bool improved = false;
  if (isfinite(v)) {
    if (isnan(facts->best_value))
      improved = true;  // the first finite value sets the best (Lightning: best starts at +-inf)
    else
      improved = mode == DDPC_MONITOR_MAX ? v > facts->best_value + min_delta : v < facts->best_value - min_delta;
  }
  if (improved) {
    facts->best_value = v;
    facts->best_epoch = m->epoch;
    facts->bad_epochs = 0;
  } else {
    facts->bad_epochs++;
  }
}
