/* A local trial process: its argument vector, start, end, metric stream and verdicts (see
 * tune_trial.h). */
#include "launch/tune_trial.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "launch/launcher.h"

/* Appends a copy of s; on failure makes later pushes no-ops. */
static void trial_push(char **argv, int *n, bool *failed, const char *s) {
  if (*failed) return;
  if (!(argv[*n] = ddpc_strdup(s))) *failed = true;
  else (*n)++;
}

char **ddpc_tune_trial_argv(const ddpc_tune_trial_launch *l, int *argc_out) {
  // mpirun, root flag, oversubscribe, -n pair, binding (4), -x pair, program, train, base,
  // --run-dir pair, --resume pair, --quiet, NULL: under 24.
  char **argv = ddpc_calloc(24 + 2 * (size_t)l->n_overrides, sizeof *argv, "trial argument vector");
  if (!argv) return NULL;
  int n = 0;
  bool failed = false;
  char ranks[32];
  snprintf(ranks, sizeof ranks, "%d", l->ranks);
  trial_push(argv, &n, &failed, l->mpirun);
  if (geteuid() == 0) trial_push(argv, &n, &failed, "--allow-run-as-root");
  if (l->oversubscribe) trial_push(argv, &n, &failed, "--oversubscribe");
  trial_push(argv, &n, &failed, "-n");
  trial_push(argv, &n, &failed, ranks);
  // Concurrent trials each get their own cores; when they must share, none is bound.
  trial_push(argv, &n, &failed, "--bind-to");
  trial_push(argv, &n, &failed, l->cpu_set ? "core" : "none");
  if (l->cpu_set) {
    trial_push(argv, &n, &failed, "--cpu-set");
    trial_push(argv, &n, &failed, l->cpu_set);
  }
  // One BLAS thread per rank: the cores are already divided among ranks and trials.
  trial_push(argv, &n, &failed, "-x");
  trial_push(argv, &n, &failed, "OPENBLAS_NUM_THREADS=1");
  trial_push(argv, &n, &failed, l->self_exe);
  trial_push(argv, &n, &failed, "train");
  trial_push(argv, &n, &failed, l->base_path);
  trial_push(argv, &n, &failed, "--run-dir");
  trial_push(argv, &n, &failed, l->run_dir);
  for (int i = 0; i < l->n_overrides; i++) {
    trial_push(argv, &n, &failed, "--set");
    trial_push(argv, &n, &failed, l->overrides[i]);
  }
  // A trial restarted after a crash, or by `ddpc tune --resume`, continues its checkpoint.
  trial_push(argv, &n, &failed, "--resume");
  trial_push(argv, &n, &failed, "auto");
  trial_push(argv, &n, &failed, "--quiet");
  if (failed) {
    ddpc_launch_free_argv(argv);
    return NULL;
  }
  *argc_out = n;
  return argv;
}

pid_t ddpc_tune_trial_start(char **argv, const char *log_path) {
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return ddpc_error_set("%s: cannot open for appending: %s", log_path, strerror(errno));
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);  // no handler of the tuner runs in the child
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) ddpc_launch_exec_child(argv, parent, &old, log_fd, log_fd);
  int err = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(log_fd);
  if (pid < 0) return ddpc_error_set("cannot start %s: fork: %s", argv[0], strerror(err));
  return pid;
}

bool ddpc_tune_trial_reap(pid_t pid, ddpc_tune_trial_exit *out) {
  int status = 0;
  pid_t done = waitpid(pid, &status, WNOHANG);
  if (done != pid) return false;
  if (WIFSIGNALED(status)) {
    out->signal = WTERMSIG(status);
    out->exit_code = 128 + out->signal;
  } else {
    out->signal = 0;
    out->exit_code = WEXITSTATUS(status);
  }
  return true;
}

int ddpc_tune_metrics_read(ddpc_tune_metrics_reader *r, const char *metric,
                           void (*on_epoch)(void *user, int epoch, double value), void *user) {
  FILE *f = fopen(r->path, "r");
  if (!f) return errno == ENOENT ? 0 : ddpc_error_set("%s: %s", r->path, strerror(errno));
  struct stat sb;
  // Shorter than what was read: the run was resumed and wrote its history anew.
  if (fstat(fileno(f), &sb) == 0 && sb.st_size < r->offset) r->offset = 0;
  if (fseek(f, r->offset, SEEK_SET) != 0) {
    fclose(f);
    return ddpc_error_set("%s: cannot seek to byte %ld", r->path, r->offset);
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int lines = 0;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] != '\n') break;  // still being written: read it next time
    r->offset += (long)len;
    double epoch = 0, value = NAN;
    if (ddpc_json_find_number(line, "epoch", &epoch) != 1) continue;
    if (ddpc_json_find_number(line, metric, &value) != 1) value = NAN;
    on_epoch(user, (int)epoch, value);
    lines++;
  }
  free(line);
  fclose(f);
  return lines;
}

typedef struct {
  bool prune;          // the verdict
  const char *reason;  // why (prune only)
} trial_verdict;

static int trial_write_verdict_text(FILE *out, void *user) {
  const trial_verdict *v = user;
  if (v->prune) fprintf(out, "prune %s\n", v->reason ? v->reason : "");
  else fputs("continue\n", out);
  return ferror(out) ? -1 : 0;
}

int ddpc_tune_trial_write_verdict(const char *run_dir, int epoch, bool prune, const char *reason) {
  char *dir = ddpc_format("%s/verdicts", run_dir);
  char *path = dir ? ddpc_format("%s/epoch-%d", dir, epoch) : NULL;
  trial_verdict v = {prune, reason};
  int rc = path ? ddpc_fs_mkdirs(dir, 0755) : -1;
  if (rc == 0) rc = ddpc_fs_write_atomic(path, trial_write_verdict_text, &v);
  free(dir);
  free(path);
  return rc;
}

char *ddpc_tune_trial_log_tail(const char *path, int max_lines) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  // The tail is in the last few KiB; a log can be long.
  long keep = 4096;
  if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > keep) fseek(f, -keep, SEEK_END);
  else fseek(f, 0, SEEK_SET);
  char *buf = ddpc_calloc((size_t)keep + 1, 1, "log tail");
  size_t n = buf ? fread(buf, 1, (size_t)keep, f) : 0;
  fclose(f);
  if (!buf) return NULL;
  buf[n] = '\0';
  while (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
  const char *start = buf + n;
  for (int lines = 0; start > buf && lines < max_lines;) {
    start--;
    if (*start == '\n' && ++lines == max_lines) start++;
  }
  char *tail = ddpc_strdup(start);
  free(buf);
  return tail;
}

char *ddpc_tune_trial_summary_state(const char *run_dir) {
  char *path = ddpc_format("%s/summary.json", run_dir);
  FILE *f = path ? fopen(path, "r") : NULL;
  free(path);
  if (!f) return NULL;
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *key = strstr(buf, "\"state\":");
  if (!key) return NULL;
  const char *q = strchr(key + 8, '"');
  const char *end = q ? strchr(q + 1, '"') : NULL;
  return end ? ddpc_format("%.*s", (int)(end - q - 1), q + 1) : NULL;
}
