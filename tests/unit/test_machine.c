/* Tests of the state machine table (core/machine.c): every state's rows and their order
 * of precedence (diverged beats preempted beats done beats review beats checkpoint beats
 * continue), start vs resume, custom stop rows from the C API, final states without
 * rows, and the DOT output of a loaded config (only configured rows appear). */
#define _XOPEN_SOURCE 700

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/machine.h"
#include "testing.h"

static ddpc_config base_cfg(void) {
  ddpc_config c;
  memset(&c, 0, sizeof c);
  c.stop.max_epochs = 4;
  c.checkpoint.every_epochs = 1;
  c.checkpoint.monitor = "val_loss";
  return c;
}

/* Facts after `epochs` completed epochs with val_loss 0.61 and train_loss 2. */
typedef struct {
  ddpc_metric_history h;
  ddpc_machine_facts f;
} world;

static void world_init(world *w, int epochs) {
  memset(w, 0, sizeof *w);
  for (int e = 1; e <= epochs; e++) {
    ddpc_epoch_metrics m = {.epoch = e, .train_loss = 2, .val_loss = 0.61, .val_accuracy = 0.7};
    ddpc_metric_history_append(&w->h, &m);
  }
  w->f.history = &w->h;
  w->f.best_value = NAN;
}

static void expect_at(int line, const ddpc_machine *m, ddpc_state from, const ddpc_machine_facts *f, ddpc_state to,
                      const char *reason_text) {
  ddpc_state got = DDPC_STATE_FAILED;
  char *reason = NULL;
  int rc = ddpc_machine_decide(m, from, f, &got, &reason);
  testing_check(rc == 0 && got == to, __FILE__, line, "%s -> %s expected, got %s (rc %d: %s)", ddpc_state_names[from],
                ddpc_state_names[to], ddpc_state_names[got], rc, rc ? ddpc_error_message() : reason);
  testing_check(rc != 0 || (reason && strcmp(reason, reason_text) == 0), __FILE__, line, "reason '%s', got '%s'",
                reason_text, reason ? reason : "(null)");
  free(reason);
}
#define EXPECT(m, from, f, to, reason) expect_at(__LINE__, m, from, f, to, reason)

static void test_fixed_states(void) {
  ddpc_config c = base_cfg();
  ddpc_machine *m = NULL;
  CHECK(ddpc_machine_create(&c, &m) == 0, "create: %s", ddpc_error_message());
  if (!m) return;
  world w;
  world_init(&w, 0);
  EXPECT(m, DDPC_STATE_INIT, &w.f, DDPC_STATE_TRAIN_EPOCH, "start");
  EXPECT(m, DDPC_STATE_TRAIN_EPOCH, &w.f, DDPC_STATE_EVALUATE, "epoch finished");
  w.f.nonfinite = true;
  EXPECT(m, DDPC_STATE_TRAIN_EPOCH, &w.f, DDPC_STATE_DIVERGED, "non-finite loss or gradients");
  w.f.stop_signal = true;  // a signal mid-epoch: checkpoint what there is, even after a NaN
  EXPECT(m, DDPC_STATE_TRAIN_EPOCH, &w.f, DDPC_STATE_PREEMPTED, "signal received: checkpoint and stop");
  EXPECT(m, DDPC_STATE_EVALUATE, &w.f, DDPC_STATE_DECIDE, "evaluated");
  EXPECT(m, DDPC_STATE_CHECKPOINT, &w.f, DDPC_STATE_TRAIN_EPOCH, "checkpoint written");
  ddpc_metric_history_free(&w.h);
  world_init(&w, 2);
  EXPECT(m, DDPC_STATE_INIT, &w.f, DDPC_STATE_TRAIN_EPOCH, "resume");
  // Final states have no rows: asking is an error, not a silent transition.
  const ddpc_state finals[] = {DDPC_STATE_DONE, DDPC_STATE_DIVERGED, DDPC_STATE_PREEMPTED, DDPC_STATE_AWAIT_REVIEW,
                               DDPC_STATE_FAILED, DDPC_STATE_REJECTED};
  for (size_t i = 0; i < sizeof finals / sizeof finals[0]; i++) {
    ddpc_state to;
    char *reason = NULL;
    ddpc_error_clear();
    int rc = ddpc_machine_decide(m, finals[i], &w.f, &to, &reason);
    CHECK(rc != 0 && ddpc_state_is_final(finals[i]) && reason == NULL &&
              strstr(ddpc_error_message(), "no transition out of state") != NULL,
          "final state %s has no rows (rc %d)", ddpc_state_names[finals[i]], rc);
  }
  CHECK(!ddpc_state_is_final(DDPC_STATE_DECIDE) && !ddpc_state_is_final(DDPC_STATE_CHECKPOINT), "non-final states");
  CHECK(strcmp(ddpc_state_names[DDPC_STATE_AWAIT_REVIEW], "await_review") == 0 &&
            strcmp(ddpc_state_names[DDPC_STATE_TRAIN_EPOCH], "train_epoch") == 0,
        "state names");
  ddpc_metric_history_free(&w.h);
  ddpc_machine_free(m);
}

static bool always_stop(const ddpc_config *cfg, const ddpc_machine_facts *f, char **reason) {
  (void)cfg;
  if (!f->custom_stop_reason) return false;
  *reason = ddpc_strdup(f->custom_stop_reason);
  return true;
}

static bool never_stop(const ddpc_config *cfg, const ddpc_machine_facts *f, char **reason) {
  (void)cfg;
  (void)f;
  (void)reason;
  return false;
}

/* Each DECIDE row beats every row below it. */
static void test_decide_order(void) {
  ddpc_config c = base_cfg();
  c.stop.divergence = (ddpc_divergence_config){true, "train_loss", 1.5};
  c.review.after_epochs = 2;
  c.pruning.n_rungs = 1;
  c.pruning.rungs[0] = 4;
  ddpc_machine *m = NULL;
  CHECK(ddpc_machine_create(&c, &m) == 0, "create: %s", ddpc_error_message());
  if (!m) return;
  CHECK(ddpc_machine_add_stop(m, "never", never_stop) == 0 && ddpc_machine_add_stop(m, "custom", always_stop) == 0,
        "custom rows added");
  world w;
  world_init(&w, 4);  // max_epochs 4 reached, train_loss 2 > 1.5, review due at 4, checkpoint due
  w.f.nonfinite = true;
  w.f.stop_signal = true;
  w.f.checkpoint_due = true;
  w.f.custom_stop_reason = "enough";
  w.f.prune_reason = "pruned at epoch 4: below the cutoff";
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_DIVERGED, "non-finite loss or gradients");
  w.f.nonfinite = false;
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_DIVERGED, "divergence: train_loss 2 above 1.5 at epoch 4");
  c.stop.divergence.above = 2;  // the row stays, its condition no longer holds (2 is not above 2)
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_PREEMPTED, "signal received: checkpoint and stop");
  w.f.stop_signal = false;
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_DONE, "enough");
  w.f.custom_stop_reason = NULL;
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_DONE, "max_epochs 4 reached");
  c.stop.max_epochs = 10;
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_PRUNED, "pruned at epoch 4: below the cutoff");
  w.f.prune_reason = NULL;
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_AWAIT_REVIEW, "review after 4 epochs");
  w.f.reviewed_epoch = 4;  // answered: the gate does not ask again for this epoch
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_CHECKPOINT, "checkpoint due");
  w.f.checkpoint_due = false;
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_TRAIN_EPOCH, "continue");
  ddpc_metric_history_free(&w.h);
  world_init(&w, 3);  // 3 % 2 != 0: no review
  EXPECT(m, DDPC_STATE_DECIDE, &w.f, DDPC_STATE_TRAIN_EPOCH, "continue");
  ddpc_metric_history_free(&w.h);
  ddpc_machine_free(m);
}

static char *dot_of(ddpc_machine *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  ddpc_machine_write_dot(m, f);
  fclose(f);
  return buf;
}

static char *load_dot(const char *name, const char *extra, const char *stop_name) {
  char *path = ddpc_format("%s/%s", testing_temp_dir(), name);
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fprintf(f, "data:\n  train: {images: a.gz, labels: b.gz}\nmodel:\n  - {type: linear, units: 10}\n%s", extra);
  fclose(f);
  ddpc_config cfg;
  char *dot = NULL;
  ddpc_machine *m = NULL;
  int rc = ddpc_config_load(path, NULL, 0, &cfg);
  CHECK(rc == 0, "%s loads: %s", name, ddpc_error_message());
  if (rc == 0 && ddpc_machine_create(&cfg, &m) == 0) {
    if (stop_name) ddpc_machine_add_stop(m, stop_name, never_stop);
    dot = dot_of(m);
  }
  ddpc_machine_free(m);
  if (rc == 0) ddpc_config_free(&cfg);
  free(path);
  return dot;
}

static void test_dot(void) {
  char *plain = load_dot("plain.yaml", "train: {epochs: 10}\n", NULL);
  const char *expected_plain =
      "digraph ddpc {\n  rankdir=TB;\n  init [shape=box];\n  train_epoch [shape=box];\n  evaluate [shape=box];\n"
      "  decide [shape=box];\n  checkpoint [shape=box];\n  await_review [shape=doublecircle];\n"
      "  preempted [shape=doublecircle];\n  diverged [shape=doublecircle];\n  done [shape=doublecircle];\n"
      "  failed [shape=doublecircle];\n  rejected [shape=doublecircle];\n  pruned [shape=doublecircle];\n"
      "  init -> train_epoch [label=\"start / resume\"];\n"
      "  train_epoch -> preempted [label=\"stop signal\"];\n"
      "  train_epoch -> diverged [label=\"non-finite\"];\n"
      "  train_epoch -> evaluate [label=\"epoch finished\"];\n"
      "  evaluate -> decide [label=\"evaluated\"];\n"
      "  decide -> diverged [label=\"non-finite\"];\n"
      "  decide -> preempted [label=\"stop signal\"];\n"
      "  decide -> done [label=\"max_epochs(10)\"];\n"
      "  decide -> checkpoint [label=\"checkpoint(every 1 epochs)\"];\n"
      "  decide -> train_epoch [label=\"continue\"];\n"
      "  checkpoint -> train_epoch [label=\"checkpoint written\"];\n"
      "}\n";
  CHECK(plain && strcmp(plain, expected_plain) == 0, "default DOT:\n%s", plain ? plain : "(none)");
  CHECK(plain && !strstr(plain, "early_stopping") && !strstr(plain, "-> pruned") && !strstr(plain, "-> await_review") && !strstr(plain, "target(") && !strstr(plain, "divergence("),
        "no rows for what is not configured");
  free(plain);

  char *full = load_dot("full.yaml",
                        "stop:\n  max_seconds: 60\n  early_stopping: {patience: 5}\n"
                        "  target: {monitor: val_accuracy, value: 0.9}\n  divergence: {above: 10}\n"
                        "checkpoint: {every_epochs: 0}\nreview: {after_epochs: 2, when: {monitor: val_loss, above: 0.5, "
                        "below: 0.01}}\npruning: {rungs: [1, 3]}\n",
                        "my \"stop\"");
  const char *fragments[] = {
      "  decide -> diverged [label=\"non-finite\"];\n  decide -> diverged [label=\"divergence(train_loss > 10)\"];\n"
      "  decide -> preempted [label=\"stop signal\"];\n  decide -> done [label=\"my \\\"stop\\\"\"];\n"
      "  decide -> done [label=\"max_epochs(10)\"];\n  decide -> done [label=\"max_seconds(60)\"];\n"
      "  decide -> done [label=\"target(val_accuracy >= 0.9)\"];\n"
      "  decide -> done [label=\"early_stopping(val_loss, patience 5)\"];\n"
      "  decide -> pruned [label=\"pruning verdict(prune)\"];\n"
      "  decide -> await_review [label=\"review(every 2 epochs)\"];\n"
      "  decide -> await_review [label=\"review(val_loss > 0.5 or < 0.01)\"];\n"
      "  decide -> train_epoch [label=\"continue\"];\n",
      "  await_review -> rejected [label=\"review answer(reject)\"];\n"
      "  await_review -> decide [label=\"review answer(approve)\"];\n",
  };
  CHECK(full && strstr(full, fragments[0]) != NULL, "configured DOT rows in order:\n%s", full ? full : "(none)");
  CHECK(full && strstr(full, fragments[1]) != NULL, "a review gate's answers leave await_review:\n%s",
        full ? full : "(none)");
  CHECK(full && !strstr(full, "max_epochs(0)"), "max_epochs 10: no evaluation-only row");
  CHECK(full && !strstr(full, "decide -> checkpoint"), "every_epochs 0: no checkpoint row");
  free(full);
  char *eval_only = load_dot("eval_only.yaml", "train: {epochs: 0}\n", NULL);
  CHECK(eval_only && strstr(eval_only, "  init -> done [label=\"max_epochs(0)\"];\n  init -> train_epoch"),
        "max_epochs 0: init -> done comes first:\n%s", eval_only ? eval_only : "(none)");
  free(eval_only);
}

int main(void) {
  test_fixed_states();
  test_decide_order();
  test_dot();
  return testing_finish();
}
