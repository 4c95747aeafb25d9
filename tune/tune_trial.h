/* One trial of `ddpc tune` as a process on this machine (backend local): `mpirun -n R
 * [binding] ddpc train BASE --run-dir STUDY/trials/NNNN --set k=v... --resume auto --quiet`
 * started from an argument vector with its output in the trial's trial.log; its per-epoch
 * metrics read from the trial's metrics.jsonl as they are written; pruning verdicts written
 * where the trial waits for them (config `pruning`); its end collected without blocking. */
#ifndef DDPC_LAUNCH_TUNE_TRIAL_H
#define DDPC_LAUNCH_TUNE_TRIAL_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

typedef struct {
  const char *mpirun;            // absolute path of mpirun
  const char *self_exe;          // the ddpc binary
  const char *base_path;         // training config
  const char *run_dir;           // the trial's run directory
  int ranks;                     // mpirun -n
  const char *cpu_set;           // cores to bind the ranks to ("0,1"), or NULL: no binding
  bool oversubscribe;            // more ranks than cores in all
  const char *const *overrides;  // "key=value" for --set, in order
  int n_overrides;               // how many
  const char *started_file;      // the start marker (launch/train/start_marker.h), or NULL
} ddpc_tune_trial_launch;

/* The argument vector of a trial (NULL-terminated, every string a copy; free with
 * ddpc_launch_free_argv), or NULL with an error set. */
char **ddpc_tune_trial_argv(const ddpc_tune_trial_launch *l, int *argc_out);

/* Starts argv with stdout and stderr appended to log_path; the process dies with the tuner
 * (SIGTERM, which mpirun passes to the ranks). Returns the pid, or -1 with an error. */
pid_t ddpc_tune_trial_start(char **argv, const char *log_path);

/* How a finished trial process ended. */
typedef struct {
  int exit_code;  // mpirun's exit code, or 128 + signal
  int signal;     // the signal that ended mpirun (0: it exited)
} ddpc_tune_trial_exit;

/* Whether pid has ended (then *out says how); never blocks. */
bool ddpc_tune_trial_reap(pid_t pid, ddpc_tune_trial_exit *out);

/* Reader of a trial's metrics.jsonl: complete lines only, each epoch passed on once (again
 * only when its value changed). A run resumed from a checkpoint truncates the file and
 * writes its history anew; the reader reads the whole file whenever it changed (inode, size
 * or time), so a rewrite is never read from the middle of a line. Zero it, set path, and
 * free it with ddpc_tune_metrics_reader_free. */
typedef struct {
  char *path;             // RUN_DIR/metrics.jsonl (owned)
  double *values;         // the value passed on for each epoch (index epoch - 1)
  bool *seen;             // whether that epoch was passed on
  int n_epochs;           // room in values and seen
  bool read_once;         // ino, size and mtime describe the last read
  ino_t ino;              // the file as last read: unchanged means nothing new
  off_t size;
  struct timespec mtime;
} ddpc_tune_metrics_reader;

/* Calls on_epoch(user, epoch, value) for each epoch not passed on before, or whose value
 * changed; lines without `metric` (a null value) are passed with NaN. Returns how many
 * were passed on, -1 on error. */
int ddpc_tune_metrics_read(ddpc_tune_metrics_reader *r, const char *metric,
                           void (*on_epoch)(void *user, int epoch, double value), void *user);
void ddpc_tune_metrics_reader_free(ddpc_tune_metrics_reader *r);

/* Writes RUN_DIR/verdicts/epoch-E ("continue", or "prune REASON") atomically. */
int ddpc_tune_trial_write_verdict(const char *run_dir, int epoch, bool prune, const char *reason);

/* The last `max_lines` lines of a text file (malloc'd), or NULL when it cannot be read. */
char *ddpc_tune_trial_log_tail(const char *path, int max_lines);

#endif
