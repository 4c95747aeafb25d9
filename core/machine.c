/* The state machine's table: built once from the config (only the configured stop
 * conditions and gates get rows, so `ddpc graph` shows exactly what a run will check),
 * searched row by row in decide, and printed as Graphviz DOT. The conditions themselves
 * live in core/stop.c. The machine keeps a pointer to the config: it must outlive it. */
#include "core/machine.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/stop.h"

const char *const ddpc_state_names[DDPC_STATE_COUNT] = {
    "init", "train_epoch", "evaluate", "decide", "checkpoint", "await_review",
    "preempted", "diverged", "done", "failed", "rejected", "pruned"};

bool ddpc_state_is_final(ddpc_state s) {
  return s == DDPC_STATE_AWAIT_REVIEW || s == DDPC_STATE_PREEMPTED || s == DDPC_STATE_DIVERGED ||
         s == DDPC_STATE_DONE || s == DDPC_STATE_FAILED || s == DDPC_STATE_REJECTED || s == DDPC_STATE_PRUNED;
}

struct ddpc_machine {
  const ddpc_config *cfg;  // what the conditions read (owned by the caller)
  ddpc_transition *rows;   // in the order they are tried; labels and reasons are owned
  int n_rows;              // rows in use
  int cap;                 // rows allocated
  int custom_at;           // where the next ddpc_machine_add_stop row goes (after the earlier ones)
};

static void row_free(ddpc_transition *t) {
  free((char *)t->label);
  free((char *)t->reason);
}

/* Inserts a row at `at`; label and reason are taken over (freed here on failure). */
static int machine_insert(ddpc_machine *m, int at, ddpc_state from, ddpc_state to, char *label,
                          ddpc_condition_fn condition, char *reason) {
  ddpc_transition t = {from, to, label, condition, reason};
  if (!label || !reason) {
    row_free(&t);
    return ddpc_error_set("out of memory (state machine row)");
  }
  if (m->n_rows == m->cap) {
    int cap = m->cap ? 2 * m->cap : 32;
    ddpc_transition *grown = realloc(m->rows, (size_t)cap * sizeof *grown);
    if (!grown) {
      row_free(&t);
      return ddpc_error_set("out of memory (state machine of %d rows)", cap);
    }
    m->rows = grown;
    m->cap = cap;
  }
  memmove(&m->rows[at + 1], &m->rows[at], (size_t)(m->n_rows - at) * sizeof *m->rows);
  m->rows[at] = t;
  m->n_rows++;
  return 0;
}

static int machine_add(ddpc_machine *m, ddpc_state from, ddpc_state to, char *label, ddpc_condition_fn condition,
                       const char *reason) {
  return machine_insert(m, m->n_rows, from, to, label, condition, ddpc_strdup(reason));
}

static const char *mode_op(ddpc_monitor_mode mode) { return mode == DDPC_MONITOR_MAX ? ">=" : "<="; }

/* The review.when label: "review(val_loss > 0.5 or < 0.1)". */
static char *review_when_label(const ddpc_review_config *r) {
  char *above = r->when_has_above ? ddpc_format(" > %g", r->when_above) : ddpc_strdup("");
  char *below = r->when_has_below ? ddpc_format(" < %g", r->when_below) : ddpc_strdup("");
  char *label = above && below ? ddpc_format("review(%s%s%s%s)", r->when_monitor, above,
                                             r->when_has_above && r->when_has_below ? " or" : "", below)
                               : NULL;
  free(above);
  free(below);
  return label;
}

/* DECIDE's rows, in the order of precedence: failure beats a signal beats stopping beats
 * pruning beats a review beats a checkpoint beats going on. */
static int machine_add_decide(ddpc_machine *m, const ddpc_config *cfg) {
  const ddpc_stop_config *st = &cfg->stop;
  const ddpc_state decide = DDPC_STATE_DECIDE;
  int rc = machine_add(m, decide, DDPC_STATE_DIVERGED, ddpc_strdup("non-finite"), ddpc_stop_cond_nonfinite,
                       "non-finite loss or gradients");
  if (rc == 0 && st->divergence.enabled)
    rc = machine_add(m, decide, DDPC_STATE_DIVERGED, ddpc_format("divergence(%s > %g)", st->divergence.monitor,
                                                            st->divergence.above),
                     ddpc_stop_cond_divergence, "divergence");
  if (rc == 0)
    rc = machine_add(m, decide, DDPC_STATE_PREEMPTED, ddpc_strdup("stop signal"), ddpc_stop_cond_signal,
                     "signal received: checkpoint and stop");
  m->custom_at = m->n_rows;
  if (rc == 0)
    rc = machine_add(m, decide, DDPC_STATE_DONE, ddpc_format("max_epochs(%d)", st->max_epochs), ddpc_stop_cond_max_epochs,
                     "max_epochs reached");
  if (rc == 0 && st->max_seconds > 0)
    rc = machine_add(m, decide, DDPC_STATE_DONE, ddpc_format("max_seconds(%g)", st->max_seconds),
                     ddpc_stop_cond_max_seconds, "max_seconds reached");
  if (rc == 0 && st->target.enabled)
    rc = machine_add(m, decide, DDPC_STATE_DONE,
                     ddpc_format("target(%s %s %g)", st->target.monitor, mode_op(st->target.mode), st->target.value),
                     ddpc_stop_cond_target, "target reached");
  if (rc == 0 && st->early_stopping.enabled)
    rc = machine_add(m, decide, DDPC_STATE_DONE,
                     ddpc_format("early_stopping(%s, patience %d)", st->early_stopping.monitor,
                                 st->early_stopping.patience),
                     ddpc_stop_cond_early_stopping, "early stopping");
  // After the stop rows: a trial that is done anyway at a rung ends done, not pruned.
  if (rc == 0 && cfg->pruning.n_rungs > 0)
    rc = machine_add(m, decide, DDPC_STATE_PRUNED, ddpc_strdup("pruning verdict(prune)"), ddpc_stop_cond_pruned,
                     "pruned");
  if (rc == 0 && cfg->review.after_epochs > 0)
    rc = machine_add(m, decide, DDPC_STATE_AWAIT_REVIEW, ddpc_format("review(every %d epochs)", cfg->review.after_epochs),
                     ddpc_stop_cond_review_after, "review");
  if (rc == 0 && cfg->review.when_enabled)
    rc = machine_add(m, decide, DDPC_STATE_AWAIT_REVIEW, review_when_label(&cfg->review), ddpc_stop_cond_review_when,
                     "review");
  if (rc == 0 && cfg->checkpoint.every_epochs > 0)
    rc = machine_add(m, decide, DDPC_STATE_CHECKPOINT, ddpc_format("checkpoint(every %d epochs)", cfg->checkpoint.every_epochs),
                     ddpc_stop_cond_checkpoint_due, "checkpoint due");
  if (rc == 0) rc = machine_add(m, decide, DDPC_STATE_TRAIN_EPOCH, ddpc_strdup("continue"), NULL, "continue");
  return rc;
}

int ddpc_machine_create(const ddpc_config *cfg, ddpc_machine **out) {
  *out = NULL;
  ddpc_machine *m = ddpc_calloc(1, sizeof *m, "state machine");
  if (!m) return -1;
  m->cfg = cfg;
  int rc = 0;
  if (cfg->stop.max_epochs == 0)
    rc = machine_add(m, DDPC_STATE_INIT, DDPC_STATE_DONE, ddpc_strdup("max_epochs(0)"), ddpc_stop_cond_evaluation_only,
                     "max_epochs 0: evaluation only");
  if (rc == 0)
    rc = machine_add(m, DDPC_STATE_INIT, DDPC_STATE_TRAIN_EPOCH, ddpc_strdup("start / resume"), ddpc_stop_cond_start,
                     "start");
  if (rc == 0)
    rc = machine_add(m, DDPC_STATE_TRAIN_EPOCH, DDPC_STATE_PREEMPTED, ddpc_strdup("stop signal"),
                     ddpc_stop_cond_signal, "signal received: checkpoint and stop");
  if (rc == 0)
    rc = machine_add(m, DDPC_STATE_TRAIN_EPOCH, DDPC_STATE_DIVERGED, ddpc_strdup("non-finite"),
                     ddpc_stop_cond_nonfinite, "non-finite loss or gradients");
  if (rc == 0)
    rc = machine_add(m, DDPC_STATE_TRAIN_EPOCH, DDPC_STATE_EVALUATE, ddpc_strdup("epoch finished"), NULL,
                     "epoch finished");
  if (rc == 0)
    rc = machine_add(m, DDPC_STATE_EVALUATE, DDPC_STATE_DECIDE, ddpc_strdup("evaluated"), NULL, "evaluated");
  if (rc == 0) rc = machine_add_decide(m, cfg);
  if (rc == 0)
    rc = machine_add(m, DDPC_STATE_CHECKPOINT, DDPC_STATE_TRAIN_EPOCH, ddpc_strdup("checkpoint written"), NULL,
                     "checkpoint written");
  // A run that stopped at a review gate resumes here with the reviewer's answer.
  bool gated = cfg->review.after_epochs > 0 || cfg->review.when_enabled;
  if (rc == 0 && gated)
    rc = machine_add(m, DDPC_STATE_AWAIT_REVIEW, DDPC_STATE_REJECTED, ddpc_strdup("review answer(reject)"),
                     ddpc_stop_cond_review_rejected, "rejected by the reviewer");
  if (rc == 0 && gated)
    rc = machine_add(m, DDPC_STATE_AWAIT_REVIEW, DDPC_STATE_DECIDE, ddpc_strdup("review answer(approve)"),
                     ddpc_stop_cond_review_approved, "approved by the reviewer");
  if (rc != 0) {
    ddpc_machine_free(m);
    return -1;
  }
  *out = m;
  return 0;
}

void ddpc_machine_free(ddpc_machine *m) {
  if (!m) return;
  for (int i = 0; i < m->n_rows; i++) row_free(&m->rows[i]);
  free(m->rows);
  free(m);
}

int ddpc_machine_add_stop(ddpc_machine *m, const char *label, ddpc_condition_fn condition) {
  if (!label || !condition) return ddpc_error_set("ddpc_machine_add_stop: a stop condition needs a name and a function");
  int rc = machine_insert(m, m->custom_at, DDPC_STATE_DECIDE, DDPC_STATE_DONE, ddpc_strdup(label), condition,
                          ddpc_format("stop condition '%s'", label));
  if (rc == 0) m->custom_at++;
  return rc;
}

int ddpc_machine_decide(const ddpc_machine *m, ddpc_state from, const ddpc_machine_facts *facts, ddpc_state *to,
                        char **reason) {
  *reason = NULL;
  for (int i = 0; i < m->n_rows; i++) {
    const ddpc_transition *t = &m->rows[i];
    if (t->from != from) continue;
    char *why = NULL;
    if (t->condition && !t->condition(m->cfg, facts, &why)) {
      free(why);
      continue;
    }
    *reason = why ? why : ddpc_strdup(t->reason);
    if (!*reason) return -1;
    *to = t->to;
    return 0;
  }
  return ddpc_error_set("state machine: no transition out of state '%s'",
                        from >= 0 && from < DDPC_STATE_COUNT ? ddpc_state_names[from] : "?");
}

/* A DOT string literal: quotes and backslashes escaped, control characters as spaces. */
static void dot_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else
      fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
  }
  fputc('"', out);
}

void ddpc_machine_write_dot(const ddpc_machine *m, FILE *out) {
  fputs("digraph ddpc {\n  rankdir=TB;\n", out);
  for (int s = 0; s < DDPC_STATE_COUNT; s++)
    fprintf(out, "  %s [shape=%s];\n", ddpc_state_names[s], ddpc_state_is_final((ddpc_state)s) ? "doublecircle" : "box");
  for (int i = 0; i < m->n_rows; i++) {
    const ddpc_transition *t = &m->rows[i];
    fprintf(out, "  %s -> %s [label=", ddpc_state_names[t->from], ddpc_state_names[t->to]);
    dot_string(out, t->label);
    fputs("];\n", out);
  }
  fputs("}\n", out);
}
