/* A trial of a grouped base config (data.group_by, tune.per_group false): the trial is a
 * grouped `ddpc train` run, one model per group with the trial's hyperparameters, and its
 * value is the rows-weighted mean over the groups trained of each group's best value of
 * tune.metric (read from RUN_DIR/groups/DIR/metrics.jsonl when the trial has ended). */
#ifndef DDPC_TUNE_GROUPS_H
#define DDPC_TUNE_GROUPS_H

#include <stdbool.h>

/* The value of the grouped trial in run_dir: *value the rows-weighted mean (weights: each
 * group's training rows, groups.json) of every trained group's best `metric`, *epochs the
 * most epochs any group ran. Groups skipped (too few rows) do not count; a group without a
 * finite value of the metric makes the trial's value NaN (it failed or diverged). Returns 0,
 * or -1 with an error when groups.json cannot be read (the run ended before writing it:
 * *value NaN, *epochs 0). */
int ddpc_tune_groups_value(const char *run_dir, const char *metric, bool maximize, double *value, int *epochs);

#endif
