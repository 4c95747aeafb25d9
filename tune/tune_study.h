/* The study file of `ddpc tune`: which training config the trials start from (`base`: a
 * path, or the config inline), and `tune:` — the metric and its direction, the search space,
 * the algorithm, the budget, the parallelism, the scheduler (fifo or ASHA), the backend.
 * Command-line overrides apply first: `--set tune.KEY=V` to the study itself, any other
 * `--set KEY=V` to every trial's training config. Everything is checked before any trial
 * starts, including that every space key and every choice value makes a valid training
 * config. */
#ifndef DDPC_LAUNCH_TUNE_STUDY_H
#define DDPC_LAUNCH_TUNE_STUDY_H

#include <stdbool.h>
#include <stdint.h>

#include "tune/tune_sampler.h"
#include "tune/tune_space.h"

typedef enum {
  DDPC_TUNE_SCHEDULER_FIFO,  // every trial runs to its end
  DDPC_TUNE_SCHEDULER_ASHA,  // asynchronous successive halving (tune/tune_asha.h)
} ddpc_tune_scheduler_kind;

typedef enum {
  DDPC_TUNE_BACKEND_LOCAL,  // mpirun on this machine
  DDPC_TUNE_BACKEND_SLURM,  // one batch job per trial
} ddpc_tune_backend;

typedef struct {
  char *study_path;              // the study file as given
  char *base_path;               // absolute path of the training config every trial starts from
  char *metric;                  // what is optimised (a metrics.jsonl key such as val_accuracy)
  bool maximize;                 // tune.mode max (inferred from the metric's name when absent)
  ddpc_tune_space space;         // tune.space
  ddpc_tune_algorithm algorithm; // random | grid | tpe
  int max_trials;                // trials in all [20]
  double max_seconds;            // no new trial after this long (0: no limit) [0]
  int parallelism;               // trials at once [1]
  int ranks_per_trial;           // ranks of each trial [1]
  ddpc_tune_scheduler_kind scheduler;  // fifo | asha [fifo]
  int asha_grace;                // asha: first rung, epochs [1]
  int asha_reduction_factor;     // asha: eta [3]
  int asha_max_epochs;           // asha: a trial's full length [train.epochs of the base]
  int max_failures;              // restarts of a trial after a crash, before it is FAIL [1]
  double trial_max_seconds;      // an attempt running longer is stopped and FAIL (0: no limit) [0]
  double trial_startup_seconds;  // local: an attempt with no training step this long after its
                                 // start is ended, a crash (0: no deadline) [600]
  uint64_t seed;                 // proposals are a function of seed and results [0]
  ddpc_tune_backend backend;     // local | slurm [local]
  bool grouped;                  // the base config trains one model per group (data.group_by)
  bool per_group;                // tune.per_group: one study per group [false: one setting for all
                                 // groups, scored by the rows-weighted metric]
  char *slurm_time;              // tune.slurm.time: --time of each trial job (NULL: default)
  char *slurm_partition;         // tune.slurm.partition (NULL: the cluster's default)
  char *slurm_account;           // tune.slurm.account (NULL: the user's default)
  char **trial_overrides;        // "key=value" for every trial's training config
  int n_trial_overrides;         // how many
} ddpc_tune_study;

/* Loads and checks `path` with `overrides` ("tune.x=v" for the study, others for the trials).
 * `study_dir` is where an inline base config is written (base.yaml). Returns -1 with one
 * message (file:line: ...) in ddpc_error_message() on bad input. */
int ddpc_tune_study_load(const char *path, const char *const *overrides, int n_overrides, const char *study_dir,
                         ddpc_tune_study *st);
void ddpc_tune_study_free(ddpc_tune_study *st);

#endif
