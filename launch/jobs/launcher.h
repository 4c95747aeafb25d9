/* The supervisor behind `ddpc launch`: starts `mpirun ... ddpc train` as a child (an
 * argument vector, no shell), lets it write to the launcher's own stdout/stderr, and when
 * the job ends with a fault (exit code 6, a signal, or any code outside 0..5) starts it
 * again with `--resume auto` after a growing pause, at most max_restarts times. An attempt
 * is bounded at both ends: no training step within startup_seconds of its start, or no
 * exit soon after the run wrote its summary, and mpirun's process group is ended. Every
 * attempt becomes one line of RUN_DIR/attempts.jsonl. SIGINT/SIGTERM to the launcher
 * reach the job as SIGUSR1 (checkpoint and stop, exit 5), a second one (over a second
 * later) as SIGTERM. */
#ifndef DDPC_LAUNCH_LAUNCHER_H
#define DDPC_LAUNCH_LAUNCHER_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "launch/jobs/mpirun_argv.h"

typedef struct {
  const char *mpirun;                 // absolute path of mpirun
  const char *self_exe;               // the ddpc binary every rank runs
  int ranks;                          // mpirun -n
  const char *hostfile;               // mpirun --hostfile, or NULL
  int max_restarts;                   // restarts allowed after faults
  const char *const *mpirun_args;     // extra mpirun arguments, in order, before the program
  int n_mpirun_args;                  // how many
  const char *config_path;            // CONFIG as the user gave it
  const char *run_dir;                // resolved run directory (--run-dir or output.dir)
  const char *const *overrides;       // "key=value" strings for --set, in order
  int n_overrides;                    // how many
  const char *allow_changes;          // --allow-changes KEY,... passed to ddpc train, or NULL
  bool quiet;                         // pass --quiet; no notes from the launcher itself
  double startup_seconds;             // an attempt with no training step this long after mpirun
                                      // started is ended as a fault (0: no deadline)
  const char *started_file;           // the start marker rank 0 creates (launch/train/start_marker.h),
                                      // passed as -x DDPC_STARTED_FILE=...; NULL: none
} ddpc_launch_options;

/* The path of `name` found on PATH (malloc'd), or NULL when there is none. */
char *ddpc_launch_find_program(const char *name);

/* Builds the argument vector of one attempt (launch/jobs/mpirun_argv.h): --oversubscribe
 * when there is no hostfile and more ranks than cores, the hostfile with the multi-host
 * Open MPI settings, the extra mpirun arguments, -x OPENBLAS_NUM_THREADS when it is set
 * here. NULL-terminated, *argc_out entries, every string a copy; free with
 * ddpc_launch_free_argv. NULL with an error set when out of memory. */
char **ddpc_launch_build_argv(const ddpc_launch_options *opt, int *argc_out);

/* Whether an mpirun exit is a fault worth a restart: exit code 6, any code outside 0..5,
 * or an end by a signal (`signal` > 0). */
bool ddpc_launch_is_fault(int exit_code, int signal);

/* In a child between fork and exec (only async-signal-safe calls): its own process group,
 * SIGTERM when the parent dies, stdin from /dev/null, stdout/stderr onto the given
 * descriptors (-1: keep), default signal handling, the parent's mask `old_mask`; then
 * execv(argv[0]). Does not return. */
void ddpc_launch_exec_child(char **argv, pid_t parent, const sigset_t *old_mask, int stdout_fd, int stderr_fd);

/* Runs the attempts; returns the launcher's exit code (mpirun's last one, 128 + signal
 * when mpirun itself was killed, 1 when the run directory cannot be written). */
int ddpc_launch_run(const ddpc_launch_options *opt);

#endif
