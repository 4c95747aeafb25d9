/* The batch script `ddpc submit` (and `ddpc tune` with tune.backend slurm) hands to sbatch:
 * #SBATCH lines, then a bash body that runs the training step under srun (or mpirun),
 * passes the time-limit warning (USR1 to the batch shell) on to the step, and requeues the
 * job when the step was preempted. The text is a pure function of its options so it can be
 * checked without a cluster. Also how both commands run Slurm's client programs (sbatch,
 * squeue, scontrol, scancel): from an argument vector, never a shell, output captured. */
#ifndef DDPC_LAUNCH_SLURM_SCRIPT_H
#define DDPC_LAUNCH_SLURM_SCRIPT_H

#include <stdbool.h>

typedef enum {
  DDPC_SLURM_LAUNCHER_SRUN,    // srun --mpi=pmix: one task per rank, started by slurmstepd
  DDPC_SLURM_LAUNCHER_MPIRUN,  // Open MPI's mpirun, which reads the allocation itself
} ddpc_slurm_launcher;

typedef struct {
  const char *job_name;          // --job-name
  int nodes;                     // --nodes
  int ntasks_per_node;           // --ntasks-per-node: ranks on each node
  const char *time;              // --time, e.g. 01:00:00; NULL for the partition's default
  const char *partition;         // --partition, NULL for the cluster's default
  const char *account;           // --account, NULL for the user's default
  const char *run_dir;           // absolute run directory: --run-dir and the job's output file
  const char *binary;            // absolute path of the ddpc command the job runs
  const char *config;            // absolute path of the config
  const char *const *overrides;  // "key=value" strings passed on as --set
  int n_overrides;               // entries of overrides
  const char *allow_changes;     // --allow-changes KEY,... passed on to ddpc train, or NULL
  ddpc_slurm_launcher launcher;  // what starts the ranks inside the allocation
  bool requeue;                  // requeue the job after a preemption (exit code 5)
  int signal_seconds;            // USR1 reaches the batch shell this long before the time limit
} ddpc_slurm_options;

/* `s` as one shell word that bash reads back as exactly `s` (nothing expanded): as is
 * when it holds only characters no shell treats specially, else in single quotes with
 * each ' written '\''. Returns a malloc'd string, NULL (error set) when out of memory. */
char *ddpc_slurm_shell_quote(const char *s);

/* The whole batch script as a malloc'd string. NULL with an error set when a value
 * cannot go on an #SBATCH line (a control character; a backslash in the run directory,
 * which would turn off sbatch's %j in the output file name) or is out of range. */
char *ddpc_slurm_script(const ddpc_slurm_options *o);

/* Writes a script's text to path atomically (the old file or the whole new one). */
int ddpc_slurm_script_save(const char *path, const char *text);

/* What a Slurm client command did. */
typedef struct {
  char *out;       // its standard output (malloc'd; NULL when it printed nothing)
  char *err;       // its standard error (malloc'd; NULL when it printed nothing)
  int exit_code;   // its exit status, 128 + signal when a signal ended it
  int exec_errno;  // why it could not be started (ENOENT: not on PATH), else 0
} ddpc_slurm_reply;

/* Runs argv (argv[0] looked up on PATH) to its end with stdout and stderr captured, in a
 * process group of its own so that a Ctrl-C meant for ddpc does not cut it off half-way.
 * Returns 0 (free *r with ddpc_slurm_reply_free), or -1 with an error when no process
 * could be started (pipe, fork). */
int ddpc_slurm_command(char *const argv[], ddpc_slurm_reply *r);
void ddpc_slurm_reply_free(ddpc_slurm_reply *r);

/* The first non-empty line of a command's output, without its line end (text is cut
 * there), or "(no message)". */
const char *ddpc_slurm_first_line(char *text);

/* The job id in what `sbatch --parsable` printed ("ID" or "ID;CLUSTER", then a line end):
 * malloc'd, or NULL with an error quoting the output. An id is digits, with an array
 * task's "_N" or a heterogeneous component's "+N" after them, at most 63 characters: it
 * becomes part of file names (slurm-<id>.out) and is read back from RUN_DIR/slurm_job_id. */
char *ddpc_slurm_parse_job_id(const char *out);

/* `sbatch --parsable ARGS... SCRIPT`: the job id (malloc'd), or NULL with an error that
 * passes sbatch's own message on ("sbatch refused the job: ..."); *missing is set when
 * sbatch could not be started at all (not on PATH, not executable). */
char *ddpc_slurm_sbatch(const char *script_path, const char *const *args, int n_args, bool *missing);

#endif
