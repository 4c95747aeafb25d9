/* A local trial's plumbing (tune/tune_trial.c): the mpirun argument vector with and
 * without core binding, the metrics.jsonl reader (complete lines only, a partial last
 * line read later, a file rewritten by a resume, shorter or grown past the old end, each
 * epoch passed on once), verdict files,
 * the tail of a log, and summary.json's state; a started process's log and exit code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "launch/jobs/launcher.h"
#include "core/exit_code.h"
#include "launch/jobs/run_summary.h"
#include "tune/tune_trial.h"
#include "testing.h"

static bool argv_has(char **argv, int argc, const char *a, const char *b) {
  for (int i = 0; i + (b ? 1 : 0) < argc; i++)
    if (strcmp(argv[i], a) == 0 && (!b || strcmp(argv[i + 1], b) == 0)) return true;
  return false;
}

static void test_argv(void) {
  const char *overrides[] = {"optimizer.lr=0.01", "model.variant=small"};
  ddpc_tune_trial_launch l = {"/usr/bin/mpirun", "/opt/ddpc", "/s/base.yaml", "/s/trials/0003", 2, "2,3", false,
                              overrides, 2, "/s/trials/0003/.started"};
  int argc = 0;
  char **argv = ddpc_tune_trial_argv(&l, &argc);
  CHECK(argv && argc > 10 && argv[argc] == NULL, "argv built and NULL-terminated");
  if (!argv) return;
  CHECK(strcmp(argv[0], "/usr/bin/mpirun") == 0, "mpirun first");
  CHECK(argv_has(argv, argc, "-n", "2") && argv_has(argv, argc, "--bind-to", "core") &&
            argv_has(argv, argc, "--cpu-set", "2,3") && !argv_has(argv, argc, "--oversubscribe", NULL),
        "2 ranks bound to cores 2,3");
  CHECK(argv_has(argv, argc, "/opt/ddpc", "train") && argv_has(argv, argc, "train", "/s/base.yaml") &&
            argv_has(argv, argc, "--run-dir", "/s/trials/0003"),
        "ddpc train BASE --run-dir DIR");
  CHECK(argv_has(argv, argc, "--set", "optimizer.lr=0.01") && argv_has(argv, argc, "--set", "model.variant=small"),
        "overrides as --set pairs");
  CHECK(argv_has(argv, argc, "--resume", "auto") && strcmp(argv[argc - 1], "--quiet") == 0, "--resume auto --quiet");
  CHECK(argv_has(argv, argc, "-x", "DDPC_STARTED_FILE=/s/trials/0003/.started"),
        "the start marker passed to every rank");
  ddpc_launch_free_argv(argv);
  l.cpu_set = NULL;
  l.oversubscribe = true;
  argv = ddpc_tune_trial_argv(&l, &argc);
  CHECK(argv && argv_has(argv, argc, "--bind-to", "none") && argv_has(argv, argc, "--oversubscribe", NULL) &&
            !argv_has(argv, argc, "--cpu-set", NULL),
        "shared cores: unbound, oversubscribed");
  ddpc_launch_free_argv(argv);
}

typedef struct {
  int epochs[16];    // epochs seen
  double values[16]; // their values
  int n;             // how many
} seen_lines;

static void on_epoch(void *user, int epoch, double value) {
  seen_lines *s = user;
  if (s->n < 16) {
    s->epochs[s->n] = epoch;
    s->values[s->n++] = value;
  }
}

static void write_file(const char *path, const char *mode, const char *text) {
  FILE *f = fopen(path, mode);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static void test_metrics_reader(const char *dir) {
  char *path = ddpc_format("%s/metrics.jsonl", dir);
  ddpc_tune_metrics_reader r;
  memset(&r, 0, sizeof r);
  r.path = path;
  seen_lines s = {{0}, {0}, 0};
  CHECK(ddpc_tune_metrics_read(&r, "val_accuracy", on_epoch, &s) == 0 && s.n == 0, "no file yet: nothing");
  write_file(path, "w", "{\"epoch\": 1, \"val_accuracy\": 0.5}\n{\"epoch\": 2, \"val_acc");
  CHECK(ddpc_tune_metrics_read(&r, "val_accuracy", on_epoch, &s) == 1 && s.n == 1 && s.epochs[0] == 1 &&
            s.values[0] == 0.5,
        "one complete line of two");
  write_file(path, "a", "uracy\": 0.625}\n{\"epoch\": 3, \"val_accuracy\": null}\n");
  CHECK(ddpc_tune_metrics_read(&r, "val_accuracy", on_epoch, &s) == 2 && s.n == 3 && s.epochs[1] == 2 &&
            s.values[1] == 0.625 && s.epochs[2] == 3 && isnan(s.values[2]),
        "the rest of line 2, and a null value as NaN");
  CHECK(ddpc_tune_metrics_read(&r, "val_accuracy", on_epoch, &s) == 0 && s.n == 3, "nothing new");
  // A resume from the epoch-1 checkpoint rewrote the file and, before this read, wrote
  // past the ~110 bytes read so far with longer lines: an offset would land inside the new
  // line of epoch 2. Read from the start, epochs with new values are passed on, epoch 1
  // (the same value) is not.
  write_file(path, "w",
             "{\"epoch\": 1, \"val_accuracy\": 0.5}\n"
             "{\"epoch\": 2, \"train_loss\": 0.25, \"val_accuracy\": 0.6875, \"seconds\": 1.5}\n"
             "{\"epoch\": 3, \"train_loss\": 0.25, \"val_accuracy\": 0.75, \"seconds\": 1.5}\n"
             "{\"epoch\": 4, \"train_loss\": 0.25, \"val_accuracy\": 0.8125, \"seconds\": 1.5}\n");
  CHECK(ddpc_tune_metrics_read(&r, "val_accuracy", on_epoch, &s) == 3 && s.n == 6 && s.epochs[3] == 2 &&
            s.values[3] == 0.6875 && s.epochs[4] == 3 && s.values[4] == 0.75 && s.epochs[5] == 4 &&
            s.values[5] == 0.8125,
        "rewritten and grown past the old end: epochs 2, 3 (new values) and 4 (%d lines)", s.n);
  CHECK(ddpc_tune_metrics_read(&r, "val_accuracy", on_epoch, &s) == 0 && s.n == 6, "nothing new again");
  // Rewritten shorter (a resume from epoch 1 again): what it still has was passed on already.
  write_file(path, "w", "{\"epoch\": 1, \"val_accuracy\": 0.5}\n");
  CHECK(ddpc_tune_metrics_read(&r, "val_accuracy", on_epoch, &s) == 0 && s.n == 6, "a shorter rewrite: no news");
  write_file(path, "a", "{\"epoch\": 2, \"val_accuracy\": 0.6875}\n{\"epoch\": 3, \"val_accuracy\": 0.7}\n");
  CHECK(ddpc_tune_metrics_read(&r, "val_accuracy", on_epoch, &s) == 1 && s.n == 7 && s.epochs[6] == 3 &&
            s.values[6] == 0.7,
        "then only the epoch whose value differs");
  ddpc_tune_metrics_reader_free(&r);
}

static void test_files(const char *dir) {
  CHECK(ddpc_tune_trial_write_verdict(dir, 3, true, "below the cutoff") == 0, "verdict written: %s",
        ddpc_error_message());
  char *vpath = ddpc_format("%s/verdicts/epoch-3", dir);
  char *tail = ddpc_tune_trial_log_tail(vpath, 5);
  CHECK(tail && strcmp(tail, "prune below the cutoff") == 0, "verdict text: [%s]", tail ? tail : "(null)");
  free(tail);
  CHECK(ddpc_tune_trial_write_verdict(dir, 1, false, NULL) == 0, "continue written");
  free(vpath);
  vpath = ddpc_format("%s/verdicts/epoch-1", dir);
  tail = ddpc_tune_trial_log_tail(vpath, 5);
  CHECK(tail && strcmp(tail, "continue") == 0, "continue text: [%s]", tail ? tail : "(null)");
  free(tail);
  free(vpath);

  char *log = ddpc_format("%s/trial.log", dir);
  write_file(log, "w", "one\ntwo\nthree\nfour\n\n");
  tail = ddpc_tune_trial_log_tail(log, 2);
  CHECK(tail && strcmp(tail, "three\nfour") == 0, "last 2 lines: [%s]", tail ? tail : "(null)");
  free(tail);
  tail = ddpc_tune_trial_log_tail(log, 10);
  CHECK(tail && strcmp(tail, "one\ntwo\nthree\nfour") == 0, "all lines when fewer: [%s]", tail ? tail : "(null)");
  free(tail);
  free(log);

  char *summary = ddpc_format("%s/summary.json", dir);
  CHECK(ddpc_run_summary_state(dir) == NULL, "no summary.json: NULL");
  write_file(summary, "w", "{\"state\": \"pruned\", \"stop_reason\": \"pruned at epoch 3\"}\n");
  char *state = ddpc_run_summary_state(dir);
  CHECK(state && strcmp(state, "pruned") == 0, "state: %s", state ? state : "(null)");
  free(state);
  // What each final state means as `ddpc train`'s exit code (launcher, Slurm trials).
  const char *states[] = {"done", "rejected", "pruned", "diverged", "await_review", "preempted", "failed", "?", NULL};
  const int codes[] = {0, 0, 0, 3, 4, 5, 6, 1, 1};
  for (int i = 0; i < 9; i++)
    CHECK((int)ddpc_exit_code_of_state(states[i]) == codes[i], "state %s: exit code %d, expected %d",
          states[i] ? states[i] : "(null)", (int)ddpc_exit_code_of_state(states[i]), codes[i]);
  free(summary);
}

static void test_process(const char *dir) {
  char *log = ddpc_format("%s/proc.log", dir);
  char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
  pid_t pid = ddpc_tune_trial_start(argv, log);
  CHECK(pid > 0, "started: %s", ddpc_error_message());
  ddpc_tune_trial_exit e = {-1, -1};
  for (int i = 0; pid > 0 && i < 500 && !ddpc_tune_trial_reap(pid, &e); i++) nanosleep(&(struct timespec){0, 10000000}, NULL);
  CHECK(e.exit_code == 3 && e.signal == 0, "exit code 3: got %d (signal %d)", e.exit_code, e.signal);
  char *tail = ddpc_tune_trial_log_tail(log, 5);
  CHECK(tail && strstr(tail, "out") && strstr(tail, "err"), "stdout and stderr in the log: [%s]", tail ? tail : "");
  free(tail);
  free(log);
}

int main(void) {
  const char *dir = testing_temp_dir();
  test_argv();
  test_metrics_reader(dir);
  test_files(dir);
  test_process(dir);
  return testing_finish();
}
