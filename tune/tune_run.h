/* The tuner's scheduler loop (`ddpc tune`): keeps `parallelism` trials running and starts
 * the next one as soon as one ends (asynchronous refill); proposes each trial's parameters
 * from the results so far; follows every running trial's metrics as they are written,
 * stores them, and at ASHA rungs writes the verdict the trial waits for; restarts a crashed
 * trial from its checkpoint up to max_failures times; records everything in the study store
 * (tuner process only), so that `--resume` after the tuner itself died keeps finished trials
 * and continues interrupted ones from their checkpoints. */
#ifndef DDPC_LAUNCH_TUNE_RUN_H
#define DDPC_LAUNCH_TUNE_RUN_H

#include <stdbool.h>

#include "tune/tune_study.h"

typedef struct {
  const char *study_dir;  // where the store, trials/ and best.yaml go
  const char *mpirun;     // absolute path of mpirun (backend local; NULL for slurm)
  const char *self_exe;   // the ddpc binary the trials run
  bool resume;            // continue the study in study_dir
  bool quiet;             // no progress lines, only the final table and errors
} ddpc_tune_run_options;

/* Runs the study to its end. Returns the exit code of `ddpc tune`: 0 the study finished
 * (failed trials included), 1 it could not run (store, I/O; message printed), 5 it was
 * interrupted by SIGINT/SIGTERM (running trials checkpointed; --resume continues). */
int ddpc_tune_run(const ddpc_tune_study *study, const ddpc_tune_run_options *opt);

#endif
