/* The tuner's local backend (tune.backend local): each attempt of a trial is an mpirun
 * process on this machine, bound to cores of its own when all the slots fit, ended by
 * signals to mpirun or its process group. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/error.h"
#include "launch/jobs/launcher.h"
#include "launch/train/start_marker.h"
#include "tune/tune_run_internal.h"
#include "tune/tune_trial.h"

/* Each slot gets ranks_per_trial cores of its own when all the slots fit the machine. */
static int tune_local_setup(tune_loop *t) {
  const ddpc_tune_study *st = t->study;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  t->bind_cores = cores > 0 && (long)st->parallelism * st->ranks_per_trial <= cores;
  if (!t->bind_cores && !t->opt->quiet)
    fprintf(stderr, "ddpc tune: %d trials x %d ranks exceed the %ld cores: trials share cores (unbound)\n",
            st->parallelism, st->ranks_per_trial, cores);
  return 0;
}

static int tune_local_start(tune_loop *t, tune_live *l, int slot, const char *const *overrides, int n_overrides) {
  const ddpc_tune_study *st = t->study;
  bool bind = t->bind_cores && slot >= 0;
  char cpu_set[256] = "";
  if (bind) {
    size_t used = 0;
    for (int r = 0; r < st->ranks_per_trial && used < sizeof cpu_set - 16; r++)
      used += (size_t)snprintf(cpu_set + used, sizeof cpu_set - used, "%s%d", r ? "," : "", slot * st->ranks_per_trial + r);
  }
  ddpc_tune_trial_launch launch = {
      .mpirun = t->opt->mpirun,
      .self_exe = t->opt->self_exe,
      .base_path = st->base_path,
      .run_dir = l->rec.run_dir,
      .ranks = st->ranks_per_trial,
      .cpu_set = bind ? cpu_set : NULL,
      .oversubscribe = !bind,
      .overrides = overrides,
      .n_overrides = n_overrides,
  };
  free(l->started_file);
  l->started_file = ddpc_start_marker_prepare(l->rec.run_dir);
  if (!l->started_file) return -1;
  launch.started_file = l->started_file;
  int argc = 0;
  char **argv = ddpc_tune_trial_argv(&launch, &argc);
  l->log_path = ddpc_format("%s/trial.log", l->rec.run_dir);
  pid_t pid = argv && l->log_path ? ddpc_tune_trial_start(argv, l->log_path) : -1;
  ddpc_launch_free_argv(argv);
  if (pid < 0) return -1;
  l->pid = pid;
  return 0;
}

static int tune_local_poll(tune_loop *t, tune_live *l, ddpc_tune_trial_exit *e) {
  (void)t;
  return ddpc_tune_trial_reap(l->pid, e) ? 1 : 0;
}

static void tune_local_stop(tune_loop *t, tune_live *l) {
  (void)t;
  kill(l->pid, SIGUSR1);  // mpirun passes it to every rank
}

static void tune_local_abandon(tune_loop *t, tune_live *l) {
  (void)t;
  kill(-l->pid, SIGTERM);
}

static void tune_local_end_hung(tune_loop *t, tune_live *l) {
  (void)t;
  kill(-l->pid, SIGKILL);  // mpirun's process group: its daemons and ranks too
}

const tune_backend tune_backend_local = {
    .setup = tune_local_setup,
    .start = tune_local_start,
    .poll = tune_local_poll,
    .stop = tune_local_stop,
    .end_hung = tune_local_end_hung,
    .abandon = tune_local_abandon,
};
