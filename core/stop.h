/* The conditions of the state machine's rows (core/machine.c builds the table from the
 * config and points each row at one of these). Each has the ddpc_condition_fn shape: it
 * looks at the config and the facts, and when it holds it may explain why in *reason.
 * Also the early-stopping bookkeeping those conditions read (ddpc_stop_update). */
#ifndef DDPC_CORE_STOP_H
#define DDPC_CORE_STOP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/machine.h"

bool ddpc_stop_cond_start(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_signal(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
/* INIT: stop.max_epochs 0 on a fresh run evaluates the initial weights only. */
bool ddpc_stop_cond_evaluation_only(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
/* AWAIT_REVIEW, on resume with the reviewer's answer (facts->review_answer). */
bool ddpc_stop_cond_review_approved(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_review_rejected(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_pruned(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_nonfinite(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_divergence(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_max_epochs(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_max_seconds(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_target(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_early_stopping(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_review_after(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_review_when(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);
bool ddpc_stop_cond_checkpoint_due(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason);

/* Epochs completed according to the history (the newest entry's epoch; 0 when empty). */
int64_t ddpc_stop_epochs_done(const ddpc_machine_facts *facts);

/* Early stopping bookkeeping after an epoch: updates best_value/best_epoch/bad_epochs in
 * facts from the newest history entry, per Lightning's EarlyStopping (improvement means
 * better than best by more than min_delta; patience counts epochs without improvement). */
void ddpc_stop_update(const ddpc_config *cfg, ddpc_machine_facts *facts);

#endif
