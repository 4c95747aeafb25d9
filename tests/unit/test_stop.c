/* Tests of early stopping and the stop conditions (core/stop.c) over hand-written metric
 * histories: the exact epoch a plateau stops at for a given patience, the min_delta edge
 * (exactly best + min_delta is no improvement), max mode, NaN epochs, targets, divergence,
 * time and epoch budgets, and review gates, each through the machine's DECIDE rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/machine.h"
#include "core/stop.h"
#include "testing.h"

/* A config with only the always-present rows: max_epochs 100, checkpoint every epoch. */
static ddpc_config base_cfg(void) {
  ddpc_config c;
  memset(&c, 0, sizeof c);
  c.stop.max_epochs = 100;
  c.checkpoint.every_epochs = 1;
  c.checkpoint.keep_last = 2;
  c.checkpoint.monitor = "val_loss";
  c.checkpoint.mode = DDPC_MONITOR_MIN;
  return c;
}

static void enable_early_stopping(ddpc_config *c, const char *monitor, ddpc_monitor_mode mode, int patience,
                                  double min_delta) {
  c->stop.early_stopping = (ddpc_early_stopping_config){true, (char *)monitor, mode, patience, min_delta};
}

/* Feeds `values` of `metric` one epoch at a time (other metrics fixed) through
 * ddpc_stop_update and DECIDE, as the training loop does. Returns the epoch whose
 * decision left the loop (to a final state), 0 when none did; *state and *reason
 * (caller frees) tell where and why. bad[] (when given) gets bad_epochs after each epoch. */
static int run_epochs(const ddpc_config *cfg, const char *metric, const double *values, int n, ddpc_state *state,
                      char **reason, int64_t *bad, ddpc_machine_facts *out_facts) {
  ddpc_machine *m = NULL;
  *reason = NULL;
  *state = DDPC_STATE_DECIDE;
  if (ddpc_machine_create(cfg, &m) != 0) return -1;
  ddpc_metric_history h = {0};
  ddpc_machine_facts f;
  memset(&f, 0, sizeof f);
  f.history = &h;
  f.best_value = NAN;
  int stopped = 0;
  for (int e = 1; e <= n && !stopped; e++) {
    ddpc_epoch_metrics em = {.epoch = e, .train_loss = 1.0, .train_accuracy = 0.5, .val_loss = 1.0,
                             .val_accuracy = 0.5, .lr = 0.1, .samples_per_s = 1000, .seconds = 1};
    if (strcmp(metric, "val_loss") == 0) em.val_loss = values[e - 1];
    if (strcmp(metric, "val_accuracy") == 0) em.val_accuracy = values[e - 1];
    if (strcmp(metric, "train_loss") == 0) em.train_loss = values[e - 1];
    if (ddpc_metric_history_append(&h, &em) != 0) break;
    ddpc_stop_update(cfg, &f);
    if (bad) bad[e - 1] = f.bad_epochs;
    f.elapsed_seconds = e;
    f.checkpoint_due = true;
    free(*reason);
    if (ddpc_machine_decide(m, DDPC_STATE_DECIDE, &f, state, reason) != 0) break;
    if (ddpc_state_is_final(*state)) stopped = e;
  }
  if (out_facts) *out_facts = f;
  ddpc_metric_history_free(&h);
  ddpc_machine_free(m);
  return stopped;
}

static void expect_stop(int line, const ddpc_config *cfg, const char *metric, const double *v, int n, int epoch,
                        ddpc_state state, const char *reason_text) {
  ddpc_state got;
  char *reason = NULL;
  int e = run_epochs(cfg, metric, v, n, &got, &reason, NULL, NULL);
  testing_check(e == epoch, __FILE__, line, "stops at epoch %d, got %d (%s)", epoch, e, reason ? reason : "");
  if (epoch > 0) {
    testing_check(got == state, __FILE__, line, "state %s, got %s", ddpc_state_names[state], ddpc_state_names[got]);
    testing_check(reason && strcmp(reason, reason_text) == 0, __FILE__, line, "reason '%s', got '%s'", reason_text,
                  reason ? reason : "(null)");
  }
  free(reason);
}
#define EXPECT_STOP(cfg, metric, v, epoch, state, reason) \
  expect_stop(__LINE__, cfg, metric, v, (int)(sizeof(v) / sizeof((v)[0])), epoch, state, reason)

static void test_plateau(void) {
  ddpc_config c = base_cfg();
  enable_early_stopping(&c, "val_loss", DDPC_MONITOR_MIN, 3, 0);
  // Best 0.7 at epoch 3; 4 (equal), 5, 6 do not improve: the 3rd bad epoch is 6.
  const double v[] = {1.0, 0.8, 0.7, 0.7, 0.75, 0.71, 0.5, 0.4};
  EXPECT_STOP(&c, "val_loss", v, 6, DDPC_STATE_DONE,
              "early stopping: val_loss did not improve by more than 0 for 3 epochs; best 0.7 at epoch 3");
  // An improvement resets the count: 0.69 at epoch 5 restarts it, the stop moves to epoch 8.
  const double w[] = {1.0, 0.8, 0.7, 0.7, 0.69, 0.7, 0.7, 0.7, 0.1};
  EXPECT_STOP(&c, "val_loss", w, 8, DDPC_STATE_DONE,
              "early stopping: val_loss did not improve by more than 0 for 3 epochs; best 0.69 at epoch 5");
  // patience 1: the first epoch without improvement stops.
  c.stop.early_stopping.patience = 1;
  EXPECT_STOP(&c, "val_loss", v, 4, DDPC_STATE_DONE,
              "early stopping: val_loss did not improve by more than 0 for 1 epochs; best 0.7 at epoch 3");
  // patience 0 (Lightning: wait_count >= 0 only checked on a bad epoch): improving epochs go on.
  c.stop.early_stopping.patience = 0;
  const double down[] = {1.0, 0.9, 0.8, 0.85};
  EXPECT_STOP(&c, "val_loss", down, 4, DDPC_STATE_DONE,
              "early stopping: val_loss did not improve by more than 0 for 1 epochs; best 0.8 at epoch 3");
  // Not configured: the same plateau runs to max_epochs.
  ddpc_config off = base_cfg();
  off.stop.max_epochs = 8;
  EXPECT_STOP(&off, "val_loss", v, 8, DDPC_STATE_DONE, "max_epochs 8 reached");
}

static void test_min_delta_edge(void) {
  ddpc_config c = base_cfg();
  // Exactly representable values: 0.5 + 0.25 == 0.75 is not an improvement, 0.875 is.
  enable_early_stopping(&c, "val_accuracy", DDPC_MONITOR_MAX, 2, 0.25);
  const double acc[] = {0.5, 0.75, 1.0, 0.875, 0.9};
  int64_t bad[5];
  ddpc_state st;
  char *reason = NULL;
  ddpc_machine_facts f;
  int e = run_epochs(&c, "val_accuracy", acc, 5, &st, &reason, bad, &f);
  // 0.75: equal to best + min_delta, bad 1; 1.0 > 0.75: improvement; 0.875, 0.9 < 1.25: bad 1, 2 -> stop at 5.
  CHECK(bad[0] == 0 && bad[1] == 1 && bad[2] == 0 && bad[3] == 1 && bad[4] == 2, "bad epochs 0 1 0 1 2, got %lld %lld %lld %lld %lld",
        (long long)bad[0], (long long)bad[1], (long long)bad[2], (long long)bad[3], (long long)bad[4]);
  CHECK(e == 5 && st == DDPC_STATE_DONE && f.best_value == 1.0 && f.best_epoch == 3, "max mode stop at 5 (e %d, best %g at %lld)",
        e, f.best_value, (long long)f.best_epoch);
  CHECK(reason && strcmp(reason, "early stopping: val_accuracy did not improve by more than 0.25 for 2 epochs; best 1 at "
                                 "epoch 3") == 0,
        "reason: %s", reason);
  free(reason);
  // Min mode, same edge: 1.0 - 0.25 == 0.75 is not an improvement, 0.5 is.
  enable_early_stopping(&c, "val_loss", DDPC_MONITOR_MIN, 5, 0.25);
  const double loss[] = {1.0, 0.75, 0.5};
  e = run_epochs(&c, "val_loss", loss, 3, &st, &reason, bad, &f);
  CHECK(e == 0 && bad[1] == 1 && bad[2] == 0 && f.best_value == 0.5 && f.best_epoch == 3,
        "min mode edge: bad %lld then %lld, best %g at %lld", (long long)bad[1], (long long)bad[2], f.best_value,
        (long long)f.best_epoch);
  free(reason);
}

static void test_nan(void) {
  ddpc_config c = base_cfg();
  enable_early_stopping(&c, "val_loss", DDPC_MONITOR_MIN, 2, 0);
  // A NaN first epoch sets no best; the next finite value does. A NaN later is a bad epoch.
  const double v[] = {NAN, 0.9, NAN, 0.95};
  int64_t bad[4];
  ddpc_state st;
  char *reason = NULL;
  ddpc_machine_facts f;
  int e = run_epochs(&c, "val_loss", v, 4, &st, &reason, bad, &f);
  CHECK(bad[0] == 1 && bad[1] == 0 && bad[2] == 1 && bad[3] == 2, "NaN bad epochs 1 0 1 2, got %lld %lld %lld %lld",
        (long long)bad[0], (long long)bad[1], (long long)bad[2], (long long)bad[3]);
  CHECK(e == 4 && f.best_value == 0.9 && f.best_epoch == 2, "NaN run stops at 4 (got %d), best 0.9 at 2", e);
  free(reason);
  // Without early stopping the best follows the checkpoint monitor (max mode accuracy here).
  ddpc_config k = base_cfg();
  k.checkpoint.monitor = "val_accuracy";
  k.checkpoint.mode = DDPC_MONITOR_MAX;
  const double acc[] = {0.3, 0.6, 0.5, INFINITY};
  run_epochs(&k, "val_accuracy", acc, 4, &st, &reason, bad, &f);
  CHECK(f.best_value == 0.6 && f.best_epoch == 2 && f.bad_epochs == 2, "checkpoint best 0.6 at 2, got %g at %lld (bad %lld)",
        f.best_value, (long long)f.best_epoch, (long long)f.bad_epochs);
  free(reason);
}

static void test_target_divergence_budgets(void) {
  ddpc_config c = base_cfg();
  c.stop.target = (ddpc_target_config){true, "val_accuracy", DDPC_MONITOR_MAX, 0.9};
  const double acc[] = {0.5, 0.8, 0.8999, 0.9123, 0.95};
  EXPECT_STOP(&c, "val_accuracy", acc, 4, DDPC_STATE_DONE, "target val_accuracy >= 0.9 reached: 0.9123 at epoch 4");
  const double exact[] = {0.5, 0.9};
  EXPECT_STOP(&c, "val_accuracy", exact, 2, DDPC_STATE_DONE, "target val_accuracy >= 0.9 reached: 0.9 at epoch 2");
  c.stop.target = (ddpc_target_config){true, "val_loss", DDPC_MONITOR_MIN, 0.25};
  const double loss[] = {1.0, NAN, 0.26, 0.2, 0.1};
  EXPECT_STOP(&c, "val_loss", loss, 4, DDPC_STATE_DONE, "target val_loss <= 0.25 reached: 0.2 at epoch 4");

  ddpc_config d = base_cfg();
  d.stop.divergence = (ddpc_divergence_config){true, "train_loss", 100};
  const double tl[] = {2.0, 100, 150.5, 1};
  EXPECT_STOP(&d, "train_loss", tl, 3, DDPC_STATE_DIVERGED, "divergence: train_loss 150.5 above 100 at epoch 3");

  ddpc_config b = base_cfg();
  b.stop.max_epochs = 3;
  const double any[] = {1, 1, 1, 1, 1};
  EXPECT_STOP(&b, "val_loss", any, 3, DDPC_STATE_DONE, "max_epochs 3 reached");
  b.stop.max_epochs = 100;
  b.stop.max_seconds = 2.5;  // run_epochs sets elapsed = epoch seconds
  EXPECT_STOP(&b, "val_loss", any, 3, DDPC_STATE_DONE, "max_seconds 2.5 reached: 3.0 s elapsed after epoch 3");
}

static void test_review(void) {
  ddpc_config c = base_cfg();
  c.review.after_epochs = 2;
  const double any[] = {1, 1, 1};
  EXPECT_STOP(&c, "val_loss", any, 2, DDPC_STATE_AWAIT_REVIEW, "review after 2 epochs");
  ddpc_config w = base_cfg();
  w.review = (ddpc_review_config){0, true, "val_loss", true, 0.5, false, 0};
  const double loss[] = {0.4, 0.5, 0.61};
  EXPECT_STOP(&w, "val_loss", loss, 3, DDPC_STATE_AWAIT_REVIEW, "review: val_loss 0.61 above 0.5");
  w.review = (ddpc_review_config){0, true, "val_accuracy", false, 0, true, 0.2};
  const double acc[] = {0.3, 0.25, 0.1};
  EXPECT_STOP(&w, "val_accuracy", acc, 3, DDPC_STATE_AWAIT_REVIEW, "review: val_accuracy 0.1 below 0.2");
}

int main(void) {
  test_plateau();
  test_min_delta_edge();
  test_nan();
  test_target_divergence_budgets();
  test_review();
  return testing_finish();
}
