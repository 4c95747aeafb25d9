/* One trial of `ddpc tune` as a Slurm batch job (tune.backend slurm). Each attempt of a
 * trial is one job: RUN_DIR/submit.sbatch (launch/jobs/slurm_script.c, without requeue: the
 * tuner decides what happens after a preemption), handed to `sbatch --parsable`; the job
 * id is kept in RUN_DIR/slurm_job_id so that `ddpc tune --resume` follows a job a previous
 * tuner left in the queue instead of submitting the trial again. A job is followed with
 * squeue while it is listed; once it left the queue, its end comes from `scontrol show
 * job` while slurmctld still remembers it (MinJobAge), else from the run directory's
 * summary.json (the test bed, like many clusters, has no accounting for sacct). Metrics,
 * pruning verdicts and the job's output (RUN_DIR/slurm-<id>.out) travel through the run
 * directory, which the tuner and the nodes share. */
#ifndef DDPC_LAUNCH_TUNE_SLURM_H
#define DDPC_LAUNCH_TUNE_SLURM_H

#include <stdbool.h>

#include "tune/tune_trial.h"

typedef struct {
  const char *self_exe;          // the ddpc binary the job runs (the same path on the nodes)
  const char *base_path;         // absolute path of the training config
  const char *run_dir;           // the trial's run directory (exists)
  const char *job_name;          // --job-name
  int ranks;                     // tasks of the job on one node: srun starts one rank each
  const char *time;              // --time of each trial job, or NULL: the partition's default
  const char *partition;         // --partition, or NULL: the cluster's default
  const char *account;           // --account, or NULL: the user's default
  const char *const *overrides;  // "key=value" for --set, in order
  int n_overrides;               // how many
} ddpc_tune_slurm_job;

/* Writes RUN_DIR/submit.sbatch, submits it (working directory RUN_DIR) and records the id
 * in RUN_DIR/slurm_job_id. Returns the job id (malloc'd), or NULL with an error carrying
 * sbatch's own message. */
char *ddpc_tune_slurm_submit(const ddpc_tune_slurm_job *j);

/* The id in RUN_DIR/slurm_job_id (malloc'd), or NULL when there is none. */
char *ddpc_tune_slurm_read_job_id(const char *run_dir);

/* Removes RUN_DIR/slurm_job_id once the job's end is recorded: nothing left to follow. */
void ddpc_tune_slurm_forget_job(const char *run_dir);

/* RUN_DIR/slurm-<id>.out, where the job's output goes (malloc'd). */
char *ddpc_tune_slurm_log_path(const char *run_dir, const char *job_id);

/* One `squeue -h -j ID,ID,...` for n jobs: listed[i] says whether ids[i] is still in the
 * queue (pending, running, completing, suspended). Returns 0, or -1 with an error carrying
 * squeue's message (slurmctld unreachable: worth asking again later). */
int ddpc_tune_slurm_queue(const char *const *ids, int n, bool *listed);

/* The parsers of the two replies above, apart from running the commands (the fuzzer
 * feeds them any bytes). ddpc_tune_slurm_parse_queue: listed[i] is set when a line of
 * `squeue -h -o %i`'s output is ids[i] (surrounding blanks aside); others are left as
 * they are. ddpc_tune_slurm_parse_record: from one line of `scontrol show job -o`, 1 when
 * JobState is final and ExitCode reads "STATUS:SIGNAL" (0-255, 0-127), with *e filled as
 * ddpc_tune_slurm_job_end says; 0 when the job is in a state that is not final; -1 when
 * the record says neither (no JobState, or a final one with an unreadable ExitCode). */
void ddpc_tune_slurm_parse_queue(const char *out, const char *const *ids, int n, bool *listed);
int ddpc_tune_slurm_parse_record(const char *record, ddpc_tune_trial_exit *e);

/* How a job that left the queue ended, as a local trial's exit would say: the batch
 * script's exit code (the step's: 0, 3 diverged, 5 preempted, ...) or the signal that
 * ended it (a cancelled job: SIGTERM; a node failure or time-out: SIGKILL); when slurmctld
 * has forgotten the job, the exit code that summary.json's state stands for (no summary:
 * 6, a fault). Returns 1 with *e filled, 0 when slurmctld still has the job running (squeue
 * answered just before a state change). */
int ddpc_tune_slurm_job_end(const char *job_id, const char *run_dir, ddpc_tune_trial_exit *e);

/* Asks the job to checkpoint and stop: USR1 to its batch shell, which passes it to the
 * step, whose ranks checkpoint and exit with 5. A job still pending is cancelled instead
 * (scancel --signal would wait for it to start). Returns 0, or -1 with scancel's message. */
int ddpc_tune_slurm_stop(const char *job_id);

#endif
