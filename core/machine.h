/* The epoch state machine. Training is a sequence of states (train_epoch is an action,
 * decide is where stop conditions are checked, checkpoint writes a snapshot, ...) and the
 * transitions between them are a table: each row has a source state, a condition over the
 * facts rank 0 sees, the destination and a reason. Rows are tried in order; the first whose
 * condition holds is taken. Rank 0 decides and broadcasts; every rank follows. The table is
 * built from the config, so stop conditions are values there, not code paths in the loop,
 * and `ddpc graph` prints exactly the machine a config gets. */
#ifndef DDPC_CORE_MACHINE_H
#define DDPC_CORE_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/metrics.h"

typedef enum {
  DDPC_STATE_INIT,          // nothing trained yet (or resumed: continue where the checkpoint was)
  DDPC_STATE_TRAIN_EPOCH,   // run the epoch's remaining steps
  DDPC_STATE_EVALUATE,      // validation metrics of the finished epoch
  DDPC_STATE_DECIDE,        // stop conditions, review gates, checkpoint due?
  DDPC_STATE_CHECKPOINT,    // write a checkpoint, then continue
  DDPC_STATE_AWAIT_REVIEW,  // checkpoint written, waiting for `ddpc resume --approve/--reject` (final for this process)
  DDPC_STATE_PREEMPTED,     // stopped by SIGTERM/SIGUSR1 after a checkpoint (final for this process)
  DDPC_STATE_DIVERGED,      // non-finite loss or gradients, or the divergence condition (final)
  DDPC_STATE_DONE,          // a stop condition held (final)
  DDPC_STATE_FAILED,        // an error ended the run (final)
  DDPC_STATE_REJECTED,      // a reviewer rejected the run (final)
  DDPC_STATE_PRUNED,        // an outside scheduler (the tuner's ASHA) stopped it after a checkpoint (final)
  DDPC_STATE_COUNT
} ddpc_state;

extern const char *const ddpc_state_names[DDPC_STATE_COUNT];
bool ddpc_state_is_final(ddpc_state s);

/* What the conditions look at; rank 0 fills it (values reduced over ranks where needed). */
typedef struct {
  const ddpc_metric_history *history;  // completed epochs, newest last
  double elapsed_seconds;              // training time so far (resumes add up)
  bool nonfinite;                      // a non-finite loss or gradient on any rank this epoch
  bool stop_signal;                    // SIGTERM/SIGUSR1 seen on any rank
  int review_answer;                   // 0: none pending, 1: approved (continue), -1: rejected
  int64_t reviewed_epoch;              // last epoch a review was answered for
  bool checkpoint_due;                 // every_epochs says this epoch end is checkpointed
  int64_t bad_epochs;                  // early stopping counter (updated by ddpc_stop_update)
  double best_value;                   // best monitored value so far (NaN when none)
  int64_t best_epoch;                  // its epoch
  const char *custom_stop_reason;      // set when a stop condition from the C API fired (NULL: none)
  const char *prune_reason;            // set when the pruning verdict for this epoch says prune (NULL: go on)
} ddpc_machine_facts;

typedef bool (*ddpc_condition_fn)(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);

typedef struct {
  ddpc_state from;              // source state
  ddpc_state to;                // destination
  const char *label;            // short description for the graph ("early_stopping(val_loss, patience 3)")
  ddpc_condition_fn condition;  // NULL: always; otherwise may set *reason (malloc'd) to explain
  const char *reason;           // default reason when the condition sets none
} ddpc_transition;

typedef struct ddpc_machine ddpc_machine;

/* Builds the table for cfg (only the configured stop conditions and gates get rows). */
int ddpc_machine_create(const ddpc_config *cfg, ddpc_machine **out);
void ddpc_machine_free(ddpc_machine *m);
/* Picks the transition out of `from`: sets *to and *reason (malloc'd, caller frees). */
int ddpc_machine_decide(const ddpc_machine *m, ddpc_state from, const ddpc_machine_facts *facts, ddpc_state *to,
                        char **reason);
/* Adds a row before the built-in stop rows of DECIDE: a custom stop condition from the C API. */
int ddpc_machine_add_stop(ddpc_machine *m, const char *label, ddpc_condition_fn condition);
/* Graphviz DOT of the machine as configured. */
void ddpc_machine_write_dot(const ddpc_machine *m, FILE *out);

#endif
