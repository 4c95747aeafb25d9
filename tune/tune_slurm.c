/* A trial as a Slurm batch job: its script, submission, job id file, queue state and end
 * (see tune_slurm.h). Every Slurm command runs from an argument vector (slurm_script.h). */
// realpath() is XSI, beyond the POSIX level the build asks for.
#define _XOPEN_SOURCE 700

#include "tune/tune_slurm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "core/exit_code.h"
#include "launch/jobs/run_summary.h"
#include "launch/jobs/slurm_script.h"

/* Warning before a time limit: the ranks then have a minute to write their checkpoint. */
#define TUNE_SLURM_SIGNAL_SECONDS 60

static int slurm_write_id(FILE *out, void *user) {
  return fprintf(out, "%s\n", (const char *)user) < 0 ? -1 : 0;
}

static char *slurm_id_path(const char *run_dir) {
  return ddpc_format("%s/slurm_job_id", run_dir);
}

char *ddpc_tune_slurm_submit(const ddpc_tune_slurm_job *j) {
  // The job may start in another directory, on another node: the script names absolute paths.
  char *run_dir = realpath(j->run_dir, NULL);
  if (!run_dir) {
    ddpc_error_set("%s: %s", j->run_dir, strerror(errno));
    return NULL;
  }
  ddpc_slurm_options o = {
      .job_name = j->job_name,
      .nodes = 1,
      .ntasks_per_node = j->ranks,
      .time = j->time,
      .partition = j->partition,
      .account = j->account,
      .run_dir = run_dir,
      .binary = j->self_exe,
      .config = j->base_path,
      .overrides = j->overrides,
      .n_overrides = j->n_overrides,
      .launcher = DDPC_SLURM_LAUNCHER_SRUN,
      // Exit 5 ends the job: the tuner tells a stop it asked for from a preemption.
      .requeue = false,
      .signal_seconds = TUNE_SLURM_SIGNAL_SECONDS,
  };
  char *text = ddpc_slurm_script(&o);
  char *script_path = ddpc_format("%s/submit.sbatch", run_dir);
  char *chdir_arg = ddpc_format("--chdir=%s", run_dir);
  char *id_path = slurm_id_path(run_dir);
  char *id = NULL;
  if (text && script_path && chdir_arg && id_path && ddpc_slurm_script_save(script_path, text) == 0) {
    const char *args[] = {chdir_arg};
    bool missing = false;
    id = ddpc_slurm_sbatch(script_path, args, 1, &missing);
  }
  if (id && ddpc_fs_write_atomic(id_path, slurm_write_id, id) != 0) {
    // Unrecorded, a later --resume could not follow it: better not to run it at all.
    char *msg = ddpc_strdup(ddpc_error_message());
    ddpc_tune_slurm_stop(id);
    ddpc_error_set("%s (job %s cancelled)", msg ? msg : "cannot record the job id", id);
    free(msg);
    free(id);
    id = NULL;
  }
  free(run_dir);
  free(text);
  free(script_path);
  free(chdir_arg);
  free(id_path);
  return id;
}

char *ddpc_tune_slurm_read_job_id(const char *run_dir) {
  char *path = slurm_id_path(run_dir);
  FILE *f = path ? fopen(path, "r") : NULL;
  free(path);
  if (!f) return NULL;
  char buf[64] = "";
  bool got = fgets(buf, sizeof buf, f) != NULL;
  fclose(f);
  buf[strcspn(buf, " \t\r\n")] = '\0';
  return got && buf[0] ? ddpc_strdup(buf) : NULL;
}

void ddpc_tune_slurm_forget_job(const char *run_dir) {
  char *path = slurm_id_path(run_dir);
  if (path) unlink(path);
  free(path);
}

char *ddpc_tune_slurm_log_path(const char *run_dir, const char *job_id) {
  return ddpc_format("%s/slurm-%s.out", run_dir, job_id);
}

int ddpc_tune_slurm_queue(const char *const *ids, int n, bool *listed) {
  for (int i = 0; i < n; i++) listed[i] = false;
  if (n == 0) return 0;
  size_t len = 1;
  for (int i = 0; i < n; i++) len += strlen(ids[i]) + 1;
  char *list = ddpc_malloc(len, "job id list");
  if (!list) return -1;
  list[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i) strcat(list, ",");
    strcat(list, ids[i]);
  }
  char *argv[] = {"squeue", "-h", "-j", list, "-o", "%i", NULL};
  ddpc_slurm_reply r;
  int rc = ddpc_slurm_command(argv, &r);
  free(list);
  if (rc != 0) return ddpc_error_prefix("cannot run squeue: ");
  if (r.exec_errno || r.exit_code != 0) {
    // squeue refuses a list made only of ids slurmctld no longer knows: all of them ended.
    bool all_gone = !r.exec_errno && r.err && strstr(r.err, "Invalid job id specified");
    if (!all_gone)
      rc = ddpc_error_set("squeue: %s", r.exec_errno ? strerror(r.exec_errno) : ddpc_slurm_first_line(r.err));
    ddpc_slurm_reply_free(&r);
    return rc;
  }
  if (r.out) ddpc_tune_slurm_parse_queue(r.out, ids, n, listed);
  ddpc_slurm_reply_free(&r);
  return 0;
}

void ddpc_tune_slurm_parse_queue(const char *out, const char *const *ids, int n, bool *listed) {
  static const char blanks[] = " \t\r\v\f";
  for (const char *line = out; *line;) {
    size_t len = strcspn(line, "\n");
    size_t lead = strspn(line, blanks);
    if (lead > len) lead = len;
    size_t word = strcspn(line + lead, " \t\r\v\f\n");
    if (lead + word > len) word = len - lead;
    // Only the whole line is an id: a word cut short must not match a shorter id.
    bool alone = lead + word + strspn(line + lead + word, blanks) >= len;
    for (int i = 0; alone && word > 0 && i < n; i++)
      if (strlen(ids[i]) == word && memcmp(ids[i], line + lead, word) == 0) listed[i] = true;
    line += len + (line[len] == '\n');
  }
}

/* The value of `key=` in scontrol's one-line record, copied into out (empty when absent). */
static void slurm_field(const char *record, const char *key, char *out, size_t cap) {
  out[0] = '\0';
  size_t klen = strlen(key);
  for (const char *p = record; (p = strstr(p, key)) != NULL; p += klen) {
    if ((p != record && p[-1] != ' ') || p[klen] != '=') continue;
    const char *v = p + klen + 1;
    size_t n = strcspn(v, " \n");
    if (n >= cap) n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
    return;
  }
}

/* Job states after which the job runs no more. */
static bool slurm_is_final(const char *state) {
  static const char *const finals[] = {"COMPLETED", "FAILED",  "CANCELLED",     "TIMEOUT",  "NODE_FAIL",
                                       "PREEMPTED", "BOOT_FAIL", "OUT_OF_MEMORY", "DEADLINE", "SPECIAL_EXIT"};
  for (size_t i = 0; i < sizeof finals / sizeof finals[0]; i++)
    if (strcmp(state, finals[i]) == 0) return true;
  return false;
}

/* A decimal number in [0, max] that is all of text[0, len): its value, else -1. */
static int slurm_small_number(const char *text, size_t len, int max) {
  if (len == 0 || len > 3 || strspn(text, "0123456789") < len) return -1;
  int v = 0;
  for (size_t i = 0; i < len; i++) v = v * 10 + (text[i] - '0');
  return v <= max ? v : -1;
}

int ddpc_tune_slurm_parse_record(const char *record, ddpc_tune_trial_exit *e) {
  char state[64], code[64];
  slurm_field(record, "JobState", state, sizeof state);
  slurm_field(record, "ExitCode", code, sizeof code);
  if (!slurm_is_final(state)) return state[0] ? 0 : -1;
  const char *colon = strchr(code, ':');
  if (!colon) return -1;
  int status = slurm_small_number(code, (size_t)(colon - code), 255);
  int sig = slurm_small_number(colon + 1, strlen(colon + 1), 127);
  if (status < 0 || sig < 0) return -1;
  e->signal = sig;
  e->exit_code = sig ? 128 + sig : status;
  // Ended from outside with no code of its own: cancelled, out of time, node lost.
  if (!sig && !status && strcmp(state, "COMPLETED") != 0 && strcmp(state, "FAILED") != 0) {
    e->signal = strcmp(state, "CANCELLED") == 0 ? SIGTERM : SIGKILL;
    e->exit_code = 128 + e->signal;
  }
  return 1;
}

/* From scontrol: 1 ended (*e), 0 still on, -1 slurmctld does not know the job (any more). */
static int slurm_end_from_scontrol(const char *job_id, ddpc_tune_trial_exit *e) {
  char *argv[] = {"scontrol", "show", "job", "-o", (char *)job_id, NULL};
  ddpc_slurm_reply r;
  if (ddpc_slurm_command(argv, &r) != 0) return -1;
  int rc = -1;
  if (!r.exec_errno && r.exit_code == 0 && r.out) rc = ddpc_tune_slurm_parse_record(r.out, e);
  ddpc_slurm_reply_free(&r);
  return rc;
}

int ddpc_tune_slurm_job_end(const char *job_id, const char *run_dir, ddpc_tune_trial_exit *e) {
  int rc = slurm_end_from_scontrol(job_id, e);
  if (rc >= 0) return rc;
  // Forgotten by slurmctld (it ended long ago): the run's own record of its end.
  char *state = ddpc_run_summary_state(run_dir);
  e->signal = 0;
  // No summary at all: the job died before the run could end (a crash, restarted).
  e->exit_code = state ? ddpc_exit_code_of_state(state) : DDPC_EXIT_FAULT;
  free(state);
  return 1;
}

/* Runs scancel's argv about job_id; 0, or -1 with scancel's message. A job that has just
 * ended, or was cancelled by the first of the two calls, is no error: nothing to stop. */
static int slurm_scancel(char *const argv[], const char *job_id) {
  ddpc_slurm_reply r;
  if (ddpc_slurm_command(argv, &r) != 0) return ddpc_error_prefix("cannot run scancel: ");
  int rc = 0;
  bool gone = !r.exec_errno && r.err && strstr(r.err, "Invalid job id specified");
  if ((r.exec_errno || r.exit_code != 0) && !gone)
    rc = ddpc_error_set("scancel of job %s: %s", job_id,
                        r.exec_errno ? strerror(r.exec_errno) : ddpc_slurm_first_line(r.err));
  ddpc_slurm_reply_free(&r);
  return rc;
}

int ddpc_tune_slurm_stop(const char *job_id) {
  // slurmctld applies --state itself, so a job starting between the two calls is either
  // cancelled while pending or signalled once running; and the signal never waits for a
  // pending job to start, as a plain `scancel --signal` does.
  char *cancel[] = {"scancel", "--state=PENDING", (char *)job_id, NULL};
  char *usr1[] = {"scancel", "--state=RUNNING", "--signal=USR1", "--batch", (char *)job_id, NULL};
  int rc = slurm_scancel(cancel, job_id);
  if (slurm_scancel(usr1, job_id) != 0) rc = -1;
  return rc;
}
