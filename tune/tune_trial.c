/* A local trial process: its argument vector, start, end, metric stream and verdicts (see
 * tune_trial.h). */
#include "tune/tune_trial.h"

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
#include "launch/jobs/launcher.h"
#include "launch/jobs/mpirun_argv.h"

char **ddpc_tune_trial_argv(const ddpc_tune_trial_launch *l, int *argc_out) {
  ddpc_mpirun_train m = {
      .mpirun = l->mpirun,
      .oversubscribe = l->oversubscribe,
      .ranks = l->ranks,
      // Concurrent trials each get their own cores; when they must share, none is bound.
      .bind_to = l->cpu_set ? "core" : "none",
      .cpu_set = l->cpu_set,
      // One BLAS thread per rank: the cores are already divided among ranks and trials.
      .blas_export = "OPENBLAS_NUM_THREADS=1",
      .started_file = l->started_file,
      .self_exe = l->self_exe,
      .config_path = l->base_path,
      .run_dir = l->run_dir,
      .overrides = l->overrides, .n_overrides = l->n_overrides,
      // A trial restarted after a crash, or by `ddpc tune --resume`, continues its
      // checkpoint (--resume auto); its output goes to trial.log, progress lines unwanted.
      .quiet = true,
  };
  return ddpc_mpirun_train_argv(&m, argc_out);
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

/* Epochs a reader keeps track of: far beyond any training run, small enough that a corrupt
 * epoch number cannot ask for gigabytes. */
#define TRIAL_METRICS_MAX_EPOCHS 10000000

/* Makes room for `epoch` (1-based) in r's tables; false when out of memory or too far. */
static bool trial_metrics_reserve(ddpc_tune_metrics_reader *r, int epoch) {
  if (epoch <= r->n_epochs) return true;
  if (epoch > TRIAL_METRICS_MAX_EPOCHS) return false;
  int cap = r->n_epochs ? r->n_epochs : 64;
  while (cap < epoch) cap *= 2;
  double *values = realloc(r->values, (size_t)cap * sizeof *values);
  if (values) r->values = values;
  bool *seen = values ? realloc(r->seen, (size_t)cap * sizeof *seen) : NULL;
  if (!seen) return false;
  r->seen = seen;
  memset(r->seen + r->n_epochs, 0, (size_t)(cap - r->n_epochs) * sizeof *seen);
  r->n_epochs = cap;
  return true;
}

/* Same number, NaN equal to NaN: a null metric read again is no news. */
static bool trial_same_value(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

int ddpc_tune_metrics_read(ddpc_tune_metrics_reader *r, const char *metric,
                           void (*on_epoch)(void *user, int epoch, double value), void *user) {
  FILE *f = fopen(r->path, "r");
  if (!f) return errno == ENOENT ? 0 : ddpc_error_set("%s: %s", r->path, strerror(errno));
  // Looked at before reading, so a write during the read shows as a change next time.
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0) {
    fclose(f);
    return ddpc_error_set("%s: %s", r->path, strerror(errno));
  }
  if (r->read_once && sb.st_ino == r->ino && sb.st_size == r->size && sb.st_mtim.tv_sec == r->mtime.tv_sec &&
      sb.st_mtim.tv_nsec == r->mtime.tv_nsec) {
    fclose(f);
    return 0;
  }
  // The whole file each time it changed: a resumed run truncates it and writes its history
  // anew, and may have written past where an earlier read stopped before this one; an
  // offset would then land inside a line. Epochs already passed on with the same value are
  // not passed on again.
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int lines = 0;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] != '\n') break;  // still being written: read it next time
    double epoch = 0, value = NAN;
    if (ddpc_json_find_number(line, "epoch", &epoch) != 1 || epoch != floor(epoch) || epoch < 1) continue;
    if (ddpc_json_find_number(line, metric, &value) != 1) value = NAN;
    int e = (int)fmin(epoch, TRIAL_METRICS_MAX_EPOCHS + 1.0);
    if (!trial_metrics_reserve(r, e)) continue;  // no room: that epoch is not followed
    if (r->seen[e - 1] && trial_same_value(r->values[e - 1], value)) continue;
    r->seen[e - 1] = true;
    r->values[e - 1] = value;
    on_epoch(user, e, value);
    lines++;
  }
  free(line);
  fclose(f);
  r->read_once = true;
  r->ino = sb.st_ino;
  r->size = sb.st_size;
  r->mtime = sb.st_mtim;
  return lines;
}

void ddpc_tune_metrics_reader_free(ddpc_tune_metrics_reader *r) {
  free(r->path);
  free(r->values);
  free(r->seen);
  memset(r, 0, sizeof *r);
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
