/* The tuner's Slurm backend (tune.backend slurm): each attempt of a trial is a batch job
 * (Slurm's client commands in tune_slurm.c), followed through one squeue for all the jobs,
 * and left running when the tuner ends so that --resume adopts it by its id. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sysinfo.h"
#include "tune/tune_run_internal.h"
#include "tune/tune_slurm.h"

/* How often squeue is asked about the trial jobs: each call is an RPC to slurmctld, which a
 * cluster's users share. */
#define TUNE_SLURM_POLL_SECONDS 1.0

/* Job names are STUDY.NNNN after the study directory's name: squeue shows whose trial runs. */
static int tune_slurm_setup(tune_loop *t) {
  const char *dir = t->opt->study_dir;
  size_t end = strlen(dir);
  while (end > 1 && dir[end - 1] == '/') end--;
  size_t start = end;
  while (start > 0 && dir[start - 1] != '/') start--;
  t->job_prefix = ddpc_format("%.*s", (int)(end - start), dir + start);
  return t->job_prefix ? 0 : -1;
}

static int tune_slurm_start(tune_loop *t, tune_live *l, int slot, const char *const *overrides, int n_overrides) {
  (void)slot;  // Slurm places the job
  char *name = ddpc_format("%s.%04d", t->job_prefix, l->rec.number);
  ddpc_tune_slurm_job job = {
      .self_exe = t->opt->self_exe,
      .base_path = t->study->base_path,
      .run_dir = l->rec.run_dir,
      .job_name = name,
      .ranks = t->study->ranks_per_trial,
      .time = t->study->slurm_time,
      .partition = t->study->slurm_partition,
      .account = t->study->slurm_account,
      .overrides = overrides,
      .n_overrides = n_overrides,
  };
  char *id = name ? ddpc_tune_slurm_submit(&job) : NULL;
  free(name);
  if (!id) return -1;
  free(l->job_id);
  l->job_id = id;
  l->queued = true;
  l->log_path = ddpc_tune_slurm_log_path(l->rec.run_dir, id);
  tune_say(t, "trial %d is job %s (output %s)", l->rec.number, id, l->log_path ? l->log_path : "?");
  return l->log_path ? 0 : -1;
}

/* One squeue for every trial job, at most every TUNE_SLURM_POLL_SECONDS. A failing squeue
 * (slurmctld restarting, say) is not the study's end: the jobs are asked about again. */
static int tune_slurm_refresh(tune_loop *t) {
  double now = ddpc_time_seconds();
  if (now - t->slurm_polled < TUNE_SLURM_POLL_SECONDS) return 0;
  t->slurm_polled = now;
  const char **ids = ddpc_calloc((size_t)t->n_trials + 1, sizeof *ids, "job ids");
  int *which = ddpc_calloc((size_t)t->n_trials + 1, sizeof *which, "job trials");
  bool *listed = ddpc_calloc((size_t)t->n_trials + 1, sizeof *listed, "job states");
  int n = 0, rc = ids && which && listed ? 0 : -1;
  for (int i = 0; rc == 0 && i < t->n_trials; i++) {
    if (!t->trials[i].active) continue;
    which[n] = i;
    ids[n++] = t->trials[i].job_id;
  }
  if (rc == 0 && ddpc_tune_slurm_queue(ids, n, listed) != 0) {
    if (!t->slurm_failing)
      fprintf(stderr, "ddpc tune: %s; asking again every %g s\n", ddpc_error_message(), TUNE_SLURM_POLL_SECONDS);
    t->slurm_failing = true;
  } else if (rc == 0) {
    if (t->slurm_failing) tune_say(t, "squeue answers again");
    t->slurm_failing = false;
    for (int k = 0; k < n; k++) t->trials[which[k]].queued = listed[k];
  }
  free(ids);
  free(which);
  free(listed);
  return rc;
}

static int tune_slurm_poll(tune_loop *t, tune_live *l, ddpc_tune_trial_exit *e) {
  (void)t;
  if (l->queued) return 0;
  int ended = ddpc_tune_slurm_job_end(l->job_id, l->rec.run_dir, e);
  // squeue answered just before the job changed state: the next squeue tells.
  if (!ended) l->queued = true;
  return ended;
}

static void tune_slurm_stop(tune_loop *t, tune_live *l) {
  (void)t;
  if (ddpc_tune_slurm_stop(l->job_id) != 0)
    fprintf(stderr, "ddpc tune: trial %d: %s\n", l->rec.number, ddpc_error_message());
}

/* The job is worth more running than cancelled: --resume follows it by its id. */
static void tune_slurm_abandon(tune_loop *t, tune_live *l) {
  fprintf(stderr, "ddpc tune: trial %d's job %s keeps running; ddpc tune --resume %s follows it\n", l->rec.number,
          l->job_id, t->opt->study_dir);
}

static int tune_slurm_adopt(tune_loop *t, tune_live *l) {
  char *id = ddpc_tune_slurm_read_job_id(l->rec.run_dir);
  if (!id) return 0;
  l->job_id = id;
  l->queued = true;  // until squeue says otherwise
  l->log_path = ddpc_tune_slurm_log_path(l->rec.run_dir, id);
  if (!l->log_path) return -1;
  tune_say(t, "trial %d: following its job %s", l->rec.number, id);
  return 1;
}

static void tune_slurm_release(tune_loop *t, tune_live *l) {
  (void)t;
  ddpc_tune_slurm_forget_job(l->rec.run_dir);
}

const tune_backend tune_backend_slurm = {
    .setup = tune_slurm_setup,
    .start = tune_slurm_start,
    .refresh = tune_slurm_refresh,
    .poll = tune_slurm_poll,
    .stop = tune_slurm_stop,
    .abandon = tune_slurm_abandon,
    .adopt = tune_slurm_adopt,
    .release = tune_slurm_release,
};
