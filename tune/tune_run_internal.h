/* What the tuner's scheduler loop (tune_run.c) shares with its backends
 * (tune_backend_local.c, tune_backend_slurm.c): the loop's state, a trial as the loop
 * follows it, and the table of functions through which a backend runs trials, so that the
 * loop never asks which backend it has. Internal to the tuner. */
#ifndef DDPC_TUNE_RUN_INTERNAL_H
#define DDPC_TUNE_RUN_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "tune/tune_asha.h"
#include "tune/tune_run.h"
#include "tune/tune_sampler.h"
#include "tune/tune_store.h"
#include "tune/tune_table.h"
#include "tune/tune_trial.h"

/* A trial as the loop follows it. */
typedef struct {
  ddpc_tune_trial rec;               // what the store has
  bool active;                       // an attempt runs (a process, or a job in the queue)
  pid_t pid;                         // local: the attempt's mpirun
  char *job_id;                      // slurm: the attempt's batch job
  bool queued;                       // slurm: the last squeue listed the job
  char *log_path;                    // the attempt's output (the tail of a failed one is kept)
  int slot;                          // the slot it occupies (-1: none)
  ddpc_tune_metrics_reader metrics;  // its metrics.jsonl
  double best;                       // best value of the metric so far (NaN: none)
  double attempt_started;            // when the running attempt started or was adopted (monotonic)
  bool timed_out;                    // asked to stop for tune.trial_max_seconds
  double stop_sent;                  // when its graceful stop last went out (monotonic; 0: never)
  char *started_file;                // local: the attempt's start marker (launch/train/start_marker.h)
  bool stepped;                      // local: the attempt has taken a training step
  bool held_said;                    // said that a previous attempt still holds its run directory
} tune_live;

typedef struct tune_loop tune_loop;

/* How trials run: one set of functions per tune.backend, so the loop never asks which. */
typedef struct {
  /* Prepares the backend once, before any trial (NULL: nothing to do). */
  int (*setup)(tune_loop *t);
  /* Starts an attempt of l (its run directory exists): sets l's handle and log_path. */
  int (*start)(tune_loop *t, tune_live *l, int slot, const char *const *overrides, int n_overrides);
  /* Once a pass, before the trials are polled: learns about all of them at once (NULL: none). */
  int (*refresh)(tune_loop *t);
  /* 1 when l's attempt has ended (how in *e), 0 while it runs, -1 on error. */
  int (*poll)(tune_loop *t, tune_live *l, ddpc_tune_trial_exit *e);
  /* SIGINT/SIGTERM to the tuner: l's attempt should checkpoint and stop (exit 5). */
  void (*stop)(tune_loop *t, tune_live *l);
  /* l's attempt took no training step within tune.trial_startup_seconds: end it, so that it
   * counts as a crash (NULL: the backend has no start-up deadline). */
  void (*end_hung)(tune_loop *t, tune_live *l);
  /* The tuner ends on an error while l's attempt runs. */
  void (*abandon)(tune_loop *t, tune_live *l);
  /* --resume: follows the attempt a previous tuner left running; 1 adopted, 0 none (NULL:
   * attempts never outlive their tuner). */
  int (*adopt)(tune_loop *t, tune_live *l);
  /* l's attempt has ended and its end is in the store (NULL: nothing to do). */
  void (*release)(tune_loop *t, tune_live *l);
} tune_backend;

struct tune_loop {
  const ddpc_tune_study *study;     // what to run
  const ddpc_tune_run_options *opt; // where and how
  ddpc_tune_store *store;           // the study store
  ddpc_tune_sampler *sampler;       // proposes parameters
  ddpc_tune_asha asha;              // rung bookkeeping (scheduler asha)
  tune_live *trials;                // every trial of the study, by number
  int n_trials;                     // how many
  int cap;                          // allocated
  int *slot_owner;                  // trial number per slot (-1: free)
  int n_slots;                      // parallelism
  bool bind_cores;                  // each slot has cores of its own
  double started;                   // when this tuner process started (monotonic)
  bool grid_exhausted;              // the grid has no point left
  char *rung_override;              // "pruning.rungs=[...]" for asha, or NULL
  const tune_backend *backend;      // how trials run
  char *job_prefix;                 // slurm: job names are PREFIX.NNNN
  double slurm_polled;              // slurm: when squeue last answered or was tried (monotonic)
  bool slurm_failing;               // slurm: the last squeue failed (said once)
  ddpc_tune_live_view *view;        // the live table when stdout is a terminal (NULL: plain lines)
  bool held;                        // an interrupted trial waits for its run directory's lock
  struct ddpc_track *track;         // the study's parent run in MLflow (tune_track.c), NULL: not tracked
};

/* A line of progress on stdout ("[HH:MM:SS] ..."), above the live table when there is one;
 * nothing with --quiet. */
void tune_say(const tune_loop *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* tune_track.c: the study in MLflow, when tracking is configured. start: the parent run
 * (before any trial; sets DDPC_MLFLOW_PARENT_RUN_ID for the trials); trial_end: after a
 * trial's end is recorded, its tags and the best value so far; finish: the parent's status
 * from the tuner's exit code, then a bounded wait for the sender. */
void tune_track_start(tune_loop *t);
void tune_track_trial_end(tune_loop *t, const tune_live *l);
void tune_track_finish(tune_loop *t, int code);

/* The backends (tune.backend local and slurm). */
extern const tune_backend tune_backend_local;
extern const tune_backend tune_backend_slurm;

#endif
