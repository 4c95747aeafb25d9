/* The exit codes of the `ddpc` command, defined once: `ddpc train` ends with the code of its
 * final state, and the programs that watch a training from outside (the launcher, the
 * tuner, Slurm scripts) read those codes back. comm/watchdog.c's _exit and the launcher's
 * restart rule depend on the same numbers. */
#ifndef DDPC_CORE_EXIT_CODE_H
#define DDPC_CORE_EXIT_CODE_H

typedef enum {
  DDPC_EXIT_OK = 0,             // success (also: a run rejected at review, as asked, or pruned)
  DDPC_EXIT_FAILED = 1,         // the run failed: bad config or data, I/O or runtime error
  DDPC_EXIT_USAGE = 2,          // bad command line
  DDPC_EXIT_DIVERGED = 3,       // training stopped on a non-finite loss or the divergence rule
  DDPC_EXIT_AWAIT_REVIEW = 4,   // stopped at a review gate: `ddpc resume RUN_DIR --approve|--reject`
  DDPC_EXIT_PREEMPTED = 5,      // SIGTERM/SIGUSR1: checkpointed and stopped; `--resume auto` continues
  DDPC_EXIT_FAULT = 6,          // a rank failed during training (collective error or timeout, I/O):
                                // the job was aborted; `--resume auto` (or `ddpc launch`) continues
  DDPC_EXIT_GROUPS_FAILED = 7,  // one model per group (data.group_by): the other groups ended, some
                                // failed or diverged (summary.json's groups table says which and why)
} ddpc_exit_code;

/* The exit code `ddpc train` ends with in final state `state` (a state name as in
 * summary.json): 0 for done, rejected and pruned, 3 diverged, 4 await_review, 5 preempted,
 * 6 failed (a fault during training), 7 groups_failed (a grouped run, launch/groups), 1 for
 * anything else (NULL included). */
ddpc_exit_code ddpc_exit_code_of_state(const char *state);

/* Under a launcher (mpirun, srun), rank 0's one line on stderr before the launcher reports a
 * non-zero exit code as if something had crashed: "ddpc: exit code 5 is the run's outcome
 * (state preempted, in summary.json), not a crash: ...". Nothing for a state that exits 0. */
void ddpc_exit_code_explain(const char *state);

#endif
