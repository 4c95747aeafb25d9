/* The one place that writes `mpirun ... ddpc train CONFIG --run-dir DIR [--set k=v]...
 * --resume auto [--allow-changes KEYS] [--quiet]` as an argument vector (no shell): `ddpc
 * launch`'s attempts (launch/jobs/launcher.c) and the tuner's local trials
 * (tune/tune_trial.c) both run it, so the two cannot drift apart. Also the growing vector of copied strings it is built in. */
#ifndef DDPC_LAUNCH_MPIRUN_ARGV_H
#define DDPC_LAUNCH_MPIRUN_ARGV_H

#include <stdbool.h>

/* A NULL-terminated vector being built: every entry a malloc'd copy. Zero it to start.
 * The first push that runs out of memory sets an error and `failed`; later pushes then do
 * nothing and ddpc_argv_finish returns NULL, so a builder checks once, at the end. */
typedef struct {
  char **items;  // entries so far, NULL after the last
  int n;         // how many
  int cap;       // room in items, the NULL included
  bool failed;   // out of memory on some push
} ddpc_argv;

/* Appends a copy of s. */
void ddpc_argv_push(ddpc_argv *a, const char *s);
/* Appends a printf-formatted entry. */
void ddpc_argv_pushf(ddpc_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The finished vector (*argc_out entries, NULL-terminated; free with ddpc_launch_free_argv),
 * or NULL with an error set when a push failed; `a` is emptied either way. */
char **ddpc_argv_finish(ddpc_argv *a, int *argc_out);
/* Frees a vector from ddpc_argv_finish (NULL is fine). */
void ddpc_launch_free_argv(char **argv);

/* What goes into one `mpirun ... ddpc train` command, in the order it is written:
 *   mpirun [--allow-run-as-root] [--oversubscribe] [--hostfile F [--mca K V]...] -n N
 *   [--bind-to B [--cpu-set C]] [extra...] [-x BLAS] [-x DDPC_STARTED_FILE=P]
 *   ddpc train CONFIG --run-dir DIR [--set k=v]... --resume auto [--allow-changes KEYS] [--quiet]
 * --allow-run-as-root is added when this process runs as root (Open MPI refuses otherwise). */
typedef struct {
  const char *mpirun;             // absolute path of mpirun
  bool oversubscribe;             // --oversubscribe: more ranks than cores
  const char *hostfile;           // --hostfile, then the multi-host Open MPI settings that
                                  // neither `extra` nor OMPI_MCA_* set already; or NULL
  int ranks;                      // -n
  const char *bind_to;            // --bind-to (core, none), or NULL: mpirun's default
  const char *cpu_set;            // --cpu-set after --bind-to, or NULL
  const char *const *extra;       // more mpirun arguments, in order, before the program
  int n_extra;                    // how many
  const char *blas_export;        // -x for OpenBLAS's threads: "OPENBLAS_NUM_THREADS" (this
                                  // process's value) or "OPENBLAS_NUM_THREADS=1"; NULL: none
  const char *started_file;       // the start marker (launch/train/start_marker.h), passed
                                  // as -x DDPC_STARTED_FILE=...; NULL: none
  const char *self_exe;           // the ddpc binary every rank runs
  const char *config_path;        // the training config
  const char *run_dir;            // --run-dir
  const char *const *overrides;   // "key=value" strings for --set, in order
  int n_overrides;                // how many
  const char *allow_changes;      // --allow-changes KEY,... for the resume, or NULL: none
  bool quiet;                     // pass --quiet
} ddpc_mpirun_train;

/* The argument vector (see ddpc_argv_finish), or NULL with an error set. Always
 * `--resume auto`: a fresh run directory starts fresh anyway, and a job started again
 * after a crash or a preemption continues from its newest checkpoint. */
char **ddpc_mpirun_train_argv(const ddpc_mpirun_train *o, int *argc_out);

#endif
