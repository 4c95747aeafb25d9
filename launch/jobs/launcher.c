/* The `ddpc launch` supervisor (see launcher.h): one child mpirun per attempt, restarts
 * after faults with a capped exponential pause, signal forwarding, attempts.jsonl. */
#include "launch/jobs/launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/sysinfo.h"
#include "launch/jobs/abort_watch.h"
#include "launch/jobs/mpirun_argv.h"
#include "launch/train/run_lock.h"
#include "core/exit_code.h"
#include "launch/jobs/run_summary.h"
#include "launch/train/start_marker.h"

/* Longest pause between attempts, in seconds. */
#define LAUNCH_BACKOFF_CAP 10.0
/* After the job announced an abort, how long mpirun may take to end before the launcher
 * kills it (see launch/jobs/abort_watch.c for why it can hang). Not SIGTERM: an aborting mpirun
 * takes it as a second abort request and crashes in PMIx_Finalize (Open MPI 4.1). */
#define LAUNCH_ABORT_GRACE_SECONDS 5.0
/* After the run wrote its summary.json, how long mpirun may take to end before the
 * launcher ends it: a normal end takes well under a second, but Open MPI 4.1 at times hangs
 * in its shutdown (MPI_Finalize's fence across a broken network, PMIx_server_finalize). */
#define LAUNCH_FINISH_GRACE_SECONDS 30.0

/* Before a restart, how long the launcher waits for the previous attempt's rank 0 to let go
 * of the run directory's lock (launch/train/run_lock.h). Killing mpirun's process group does not
 * reach the daemons Open MPI started on other hosts (orted --daemonize leaves the group);
 * they end their ranks once they notice mpirun is gone, which can take seconds under load.
 * A new attempt started before then would meet the old rank 0's lock and give up. */
#define LAUNCH_LOCK_WAIT_SECONDS 60.0

/* A second stop signal this soon after the first is the same request delivered twice:
 * `timeout`, for one, signals its child and then its whole process group. */
#define LAUNCH_SIGNAL_REPEAT_SECONDS 1

/* Stop signals the launcher received, and the mpirun they go to (0 between attempts).
 * The handler forwards them itself, so a job hears about it while the launcher waits. */
static volatile sig_atomic_t launch_signal_count;
static volatile sig_atomic_t launch_child_pid;
static volatile sig_atomic_t launch_first_signal_at;  // CLOCK_MONOTONIC seconds of the first

static void launch_on_signal(int sig) {
  (void)sig;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  if (launch_signal_count == 1 && now.tv_sec - launch_first_signal_at <= LAUNCH_SIGNAL_REPEAT_SECONDS) return;
  if (launch_signal_count == 0) launch_first_signal_at = (sig_atomic_t)now.tv_sec;
  launch_signal_count = launch_signal_count + 1;
  pid_t pid = (pid_t)launch_child_pid;
  // The first asks for a checkpoint and a clean stop (Open MPI passes SIGUSR1 to every
  // rank); a second means "now": mpirun ends the job on SIGTERM.
  if (pid > 0) kill(pid, launch_signal_count == 1 ? SIGUSR1 : SIGTERM);
}

char *ddpc_launch_find_program(const char *name) {
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    size_t len = strcspn(path, ":");
    // An empty PATH entry means the current folder.
    char *candidate = len ? ddpc_format("%.*s/%s", (int)len, path, name) : ddpc_format("./%s", name);
    if (!candidate) return NULL;
    if (access(candidate, X_OK) == 0) return candidate;
    free(candidate);
    path += len;
    if (*path == ':') path++;
  }
  return NULL;
}

char **ddpc_launch_build_argv(const ddpc_launch_options *opt, int *argc_out) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const char *blas_threads = getenv("OPENBLAS_NUM_THREADS");
  ddpc_mpirun_train m = {
      .mpirun = opt->mpirun,
      // Without a hostfile every rank lands on this machine; Open MPI refuses more ranks
      // than cores unless told.
      .oversubscribe = !opt->hostfile && cores > 0 && opt->ranks > cores,
      .hostfile = opt->hostfile,
      .ranks = opt->ranks,
      .extra = opt->mpirun_args, .n_extra = opt->n_mpirun_args,
      // The user's thread count reaches every rank, on this host and the others.
      .blas_export = blas_threads && *blas_threads ? "OPENBLAS_NUM_THREADS" : NULL,
      .started_file = opt->started_file,
      .self_exe = opt->self_exe,
      .config_path = opt->config_path,
      .run_dir = opt->run_dir,
      .overrides = opt->overrides, .n_overrides = opt->n_overrides,
      .allow_changes = opt->allow_changes,
      .quiet = opt->quiet,
  };
  return ddpc_mpirun_train_argv(&m, argc_out);
}

bool ddpc_launch_is_fault(int exit_code, int signal) {
  if (signal > 0) return true;
  // 7: a grouped run's failed groups have ended (diverged, bad rows): a restart repeats them.
  return exit_code < 0 || (exit_code > 5 && exit_code != DDPC_EXIT_GROUPS_FAILED);
}

/* Writes a message from the forked child, where stdio is off limits. */
static void launch_child_say(const char *a, const char *b) {
  if (write(STDERR_FILENO, a, strlen(a)) < 0 || write(STDERR_FILENO, b, strlen(b)) < 0) return;
  if (write(STDERR_FILENO, "\n", 1) < 0) return;
}

void ddpc_launch_exec_child(char **argv, pid_t parent, const sigset_t *old_mask, int stdout_fd, int stderr_fd) {
  // Its own process group: a Ctrl-C at the terminal reaches the launcher only, which
  // turns it into the job's SIGUSR1 instead of mpirun's immediate kill.
  setpgid(0, 0);
  // A launcher killed outright (SIGKILL) still takes its job down.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(127);
  // mpirun forwards stdin to rank 0; from a background process group reading the
  // terminal would stop it (SIGTTIN). Training reads no stdin.
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    if (null_fd != STDIN_FILENO) close(null_fd);
  }
  if (stdout_fd >= 0 && dup2(stdout_fd, STDOUT_FILENO) < 0) _exit(127);
  if (stderr_fd >= 0 && dup2(stderr_fd, STDERR_FILENO) < 0) _exit(127);
  signal(SIGINT, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigprocmask(SIG_SETMASK, old_mask, NULL);
  execv(argv[0], argv);
  launch_child_say("ddpc launch: cannot run ", argv[0]);
  _exit(127);
}

/* Seconds from environment variable `name`, or `fallback` when unset or not a number >= 0
 * (which is said once). */
static double launch_env_seconds(const char *name, double fallback) {
  const char *v = getenv(name);
  if (!v || !*v) return fallback;
  char *end;
  double s = strtod(v, &end);
  if (*end != '\0' || !(s >= 0.0)) {
    fprintf(stderr, "ddpc launch: ignoring %s='%s': not a number of seconds >= 0\n", name, v);
    return fallback;
  }
  return s;
}

/* How one attempt ended. */
typedef struct {
  int exit_code;     // mpirun's exit code, or 128 + signal
  int signal;        // the signal that ended mpirun, 0 when it exited
  bool lost_daemon;  // mpirun reported a daemon lost or not started (a host's fault)
  bool hung_at_end;  // the run had finished but mpirun did not end: the code is the run's
  bool hung_at_start;  // no training step within the start-up deadline: ended, a fault
} launch_outcome;

/* Whether RUN_DIR/summary.json was written at or after `since` (Unix seconds): the run
 * this attempt started has reached a final state. */
static bool launch_summary_written_since(const char *run_dir, double since) {
  char *path = ddpc_format("%s/summary.json", run_dir);
  struct stat st;
  bool fresh = path && stat(path, &st) == 0 &&
               (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec >= since;
  free(path);
  return fresh;
}

static double launch_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef enum { RELAY_MORE, RELAY_EMPTY, RELAY_END } launch_relay_result;

/* Copies what mpirun wrote to its stderr pipe onto the launcher's stderr and watches it. */
static launch_relay_result launch_relay_stderr(int fd, ddpc_abort_watch *watch) {
  char buf[4096];
  ssize_t got = read(fd, buf, sizeof buf);
  if (got < 0) return errno == EINTR ? RELAY_MORE : errno == EAGAIN ? RELAY_EMPTY : RELAY_END;
  if (got == 0) return RELAY_END;
  for (ssize_t off = 0; off < got;) {
    ssize_t put = write(STDERR_FILENO, buf + off, (size_t)(got - off));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) break;  // the launcher's stderr is gone: keep draining, keep watching
    off += put;
  }
  ddpc_abort_watch_feed(watch, buf, (size_t)got);
  return RELAY_MORE;
}

/* Waits for mpirun while relaying its stderr. Once the job has announced an abort, mpirun
 * gets LAUNCH_ABORT_GRACE_SECONDS to end, then SIGKILL, sent to its process group (mpirun,
 * the local daemons and rsh agents it started); once the run has written its summary,
 * LAUNCH_FINISH_GRACE_SECONDS, then the same, and the attempt ends as the summary says. */
static int launch_supervise(pid_t pid, int stderr_fd, const ddpc_launch_options *opt, double started_unix,
                            int *status, launch_outcome *out) {
  const char *program = opt->mpirun;
  // DDPC_LAUNCH_FINISH_GRACE_SECONDS: the tests wait less.
  const double finish_grace = launch_env_seconds("DDPC_LAUNCH_FINISH_GRACE_SECONDS", LAUNCH_FINISH_GRACE_SECONDS);
  ddpc_abort_watch watch;
  ddpc_abort_watch_init(&watch);
  bool stream_open = stderr_fd >= 0;
  double announced_at = -1.0, finished_at = -1.0, last_look = 0.0, started = launch_now();
  bool killed = false, stepped = false;
  for (;;) {
    pid_t done = waitpid(pid, status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return ddpc_error_set("waiting for %s: %s", program, strerror(errno));
    if (stream_open) {
      struct pollfd p = {.fd = stderr_fd, .events = POLLIN};
      int ready = poll(&p, 1, 100);
      if (ready > 0) stream_open = launch_relay_stderr(stderr_fd, &watch) != RELAY_END;
    } else {
      struct timespec pause = {0, 100 * 1000 * 1000};
      nanosleep(&pause, NULL);
    }
    double now = launch_now();
    if (finished_at < 0 && now - last_look >= 1.0) {  // a stat or two a second
      last_look = now;
      if (!stepped && opt->started_file && ddpc_start_marker_seen(opt->started_file)) stepped = true;
      if (launch_summary_written_since(opt->run_dir, started_unix)) finished_at = now;
    }
    // A run that ends without a step (max_epochs 0, a finished run resumed) writes its summary.
    if (!killed && !stepped && finished_at < 0 && opt->started_file && opt->startup_seconds > 0 &&
        now - started >= opt->startup_seconds) {
      fprintf(stderr,
              "ddpc launch: no training step %.0f s after %s started (--startup-timeout %g): the start hangs (a "
              "daemon that never called back, a host unreachable, a stuck file system); ending it\n",
              now - started, program, opt->startup_seconds);
      kill(-pid, SIGKILL);
      killed = true;
      out->hung_at_start = true;
    }
    if (!killed && finished_at >= 0 && now - finished_at >= finish_grace) {
      char *state = ddpc_run_summary_state(opt->run_dir);
      fprintf(stderr,
              "ddpc launch: the run ended (state %s in summary.json) but %s has not exited %.0f s later (Open MPI "
              "hung in its shutdown); ending it\n",
              state ? state : "?", program, now - finished_at);
      kill(-pid, SIGKILL);
      killed = true;
      out->hung_at_end = true;
      out->exit_code = ddpc_exit_code_of_state(state);
      free(state);
    }
    if (watch.announced && announced_at < 0) announced_at = now;
    if (announced_at < 0) continue;
    double waited = now - announced_at;
    if (!killed && waited >= LAUNCH_ABORT_GRACE_SECONDS) {
      fprintf(stderr,
              "ddpc launch: the job announced an abort %.0f s ago but %s has not ended (a host is probably "
              "unreachable); killing it\n",
              waited, program);
      kill(-pid, SIGKILL);
      killed = true;
    }
  }
  // What mpirun wrote last is still in the pipe; a daemon left running elsewhere may hold
  // its write end, so read only what is there.
  if (stream_open) {
    int flags = fcntl(stderr_fd, F_GETFL);
    if (flags >= 0) fcntl(stderr_fd, F_SETFL, flags | O_NONBLOCK);
    while (launch_relay_stderr(stderr_fd, &watch) == RELAY_MORE) {
    }
  }
  out->lost_daemon = watch.lost_daemon;
  return 0;
}

/* Starts argv and waits for it; -1 with an error when it cannot be started. */
static int launch_spawn_and_wait(char **argv, const ddpc_launch_options *opt, launch_outcome *out) {
  double started_unix = ddpc_time_unix();
  int pipe_fds[2] = {-1, -1};
  if (pipe(pipe_fds) != 0) return ddpc_error_set("cannot start %s: pipe: %s", argv[0], strerror(errno));
  // Close-on-exec: mpirun gets the write end as its stderr only, through dup2.
  fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(pipe_fds[1], F_SETFD, FD_CLOEXEC);
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // Blocked across fork, so a signal arriving now is forwarded once the pid is known.
  sigprocmask(SIG_BLOCK, &stop_signals, &old_mask);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) ddpc_launch_exec_child(argv, parent, &old_mask, -1, pipe_fds[1]);
  close(pipe_fds[1]);
  if (pid < 0) {
    int err = errno;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    close(pipe_fds[0]);
    return ddpc_error_set("cannot start %s: fork: %s", argv[0], strerror(err));
  }
  launch_child_pid = pid;
  // A signal that came before the child existed is forwarded now.
  if (launch_signal_count > 0) kill(pid, launch_signal_count == 1 ? SIGUSR1 : SIGTERM);
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  int status = 0;
  int rc = launch_supervise(pid, pipe_fds[0], opt, started_unix, &status, out);
  close(pipe_fds[0]);
  launch_child_pid = 0;
  if (rc != 0) return rc;
  if (out->hung_at_end) {
    out->signal = 0;  // the exit code is the run's (set above); mpirun's own end is not
  } else if (WIFSIGNALED(status)) {
    out->signal = WTERMSIG(status);
    out->exit_code = 128 + out->signal;
  } else {
    out->signal = 0;
    out->exit_code = WEXITSTATUS(status);
  }
  return 0;
}

/* Sleeps `seconds` unless a stop signal comes first; returns whether it slept it all. */
static bool launch_pause(double seconds) {
  struct timespec left = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (launch_signal_count == 0 && (left.tv_sec > 0 || left.tv_nsec > 0)) {
    if (nanosleep(&left, &left) == 0) break;
    if (errno != EINTR) break;
  }
  return launch_signal_count == 0;
}

/* Waits until no process of an earlier attempt holds run_dir (at most
 * LAUNCH_LOCK_WAIT_SECONDS, or until a stop signal); says so when it has to wait. */
static void launch_wait_for_run_dir(const char *run_dir, bool quiet) {
  double start = launch_now();
  bool said = false;
  for (;;) {
    int held = ddpc_run_lock_held(run_dir);
    if (held <= 0 || launch_signal_count > 0) return;  // free, or cannot be told: ddpc train says more
    if (!said && !quiet) fprintf(stderr, "ddpc launch: the previous attempt's rank 0 still holds %s; waiting\n", run_dir);
    said = true;
    if (launch_now() - start >= LAUNCH_LOCK_WAIT_SECONDS) {
      fprintf(stderr, "ddpc launch: %s still held after %.0f s; starting the next attempt anyway\n", run_dir,
              LAUNCH_LOCK_WAIT_SECONDS);
      return;
    }
    launch_pause(0.1);
  }
}

/* The first pause: 1 s, or DDPC_LAUNCH_BACKOFF_SECONDS (the tests set 0). */
static double launch_first_backoff(void) {
  double s = launch_env_seconds("DDPC_LAUNCH_BACKOFF_SECONDS", 1.0);
  return s < LAUNCH_BACKOFF_CAP ? s : LAUNCH_BACKOFF_CAP;
}

/* One line of attempts.jsonl. */
typedef struct {
  int attempt;                 // 1, 2, ...
  const char *started_at;      // ISO 8601 UTC
  const char *ended_at;        // ISO 8601 UTC
  launch_outcome outcome;      // how it ended
  bool restarted;              // whether another attempt followed
  char *const *argv;           // what was run
  int argc;                    // entries of argv
} launch_attempt;

static int launch_record_attempt(const char *path, const launch_attempt *a) {
  FILE *f = fopen(path, "a");
  if (!f) return ddpc_error_set("%s: cannot open for appending: %s", path, strerror(errno));
  ddpc_json j;
  ddpc_json_begin(&j, f);
  ddpc_json_int(&j, "attempt", a->attempt);
  ddpc_json_string(&j, "started_at", a->started_at);
  ddpc_json_string(&j, "ended_at", a->ended_at);
  if (a->outcome.signal > 0) ddpc_json_int(&j, "signal", a->outcome.signal);
  else ddpc_json_int(&j, "exit_code", a->outcome.exit_code);
  ddpc_json_bool(&j, "restarted", a->restarted);
  ddpc_json_string_array(&j, "argv", (const char *const *)a->argv, a->argc);
  ddpc_json_end(&j);
  fputc('\n', f);
  if (fclose(f) != 0) return ddpc_error_set("%s: write failed: %s", path, strerror(errno));
  return 0;
}

/* Installs the forwarding handlers and ignores SIGPIPE (a closed stderr must not end the
 * launcher while its job runs); *old receives the previous ones. */
static void launch_install_signals(struct sigaction old[3]) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = launch_on_signal;
  sigemptyset(&sa.sa_mask);
  // One handler at a time, so the count and the forwarded signal agree.
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGTERM);
  sa.sa_flags = 0;  // no SA_RESTART: the pause between attempts must wake up
  sigaction(SIGINT, &sa, &old[0]);
  sigaction(SIGTERM, &sa, &old[1]);
  struct sigaction ignore;
  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, &old[2]);
}

int ddpc_launch_run(const ddpc_launch_options *opt) {
  if (ddpc_fs_mkdirs(opt->run_dir, 0755) != 0) {
    fprintf(stderr, "ddpc launch: error: %s\n", ddpc_error_message());
    return 1;
  }
  char *attempts_path = ddpc_format("%s/attempts.jsonl", opt->run_dir);
  char *marker = attempts_path ? ddpc_start_marker_prepare(opt->run_dir) : NULL;
  if (!marker) {
    fprintf(stderr, "ddpc launch: error: %s\n", ddpc_error_message());
    free(attempts_path);
    return 1;
  }
  ddpc_launch_options with_marker = *opt;
  with_marker.started_file = marker;
  opt = &with_marker;
  struct sigaction old[3];
  launch_signal_count = 0;
  launch_child_pid = 0;
  launch_install_signals(old);
  double backoff = launch_first_backoff();
  int restarts = 0, rc = 1;
  for (int attempt = 1;; attempt++) {
    int argc = 0;
    char **argv = ddpc_launch_build_argv(opt, &argc);
    if (!argv) {
      fprintf(stderr, "ddpc launch: error: %s\n", ddpc_error_message());
      break;
    }
    char started[32], ended[32];
    ddpc_time_iso8601(started, sizeof started);
    launch_outcome outcome = {0, 0, false, false, false};
    unlink(marker);  // the previous attempt's: this one's start is still to be seen
    if (launch_spawn_and_wait(argv, opt, &outcome) != 0) {
      fprintf(stderr, "ddpc launch: error: %s\n", ddpc_error_message());
      ddpc_launch_free_argv(argv);
      break;
    }
    ddpc_time_iso8601(ended, sizeof ended);
    rc = outcome.exit_code;
    // After the launcher itself was told to stop, the job's end is what was asked for. A
    // daemon lost makes mpirun exit with 1, the code of a bad config: its report decides.
    bool fault = (ddpc_launch_is_fault(outcome.exit_code, outcome.signal) || outcome.hung_at_start ||
                  (outcome.lost_daemon && outcome.exit_code != 0)) &&
                 launch_signal_count == 0;
    bool restart = fault && restarts < opt->max_restarts;
    if (restart) {
      if (!opt->quiet)
        fprintf(stderr, "ddpc launch: attempt %d ended with %s %d (%s); restart %d of %d in %g s with --resume auto\n",
                attempt, outcome.signal ? "signal" : "exit code", outcome.signal ? outcome.signal : outcome.exit_code,
                outcome.hung_at_start ? "a fault: no training step within the start-up deadline"
                : outcome.lost_daemon ? "a fault: Open MPI lost a daemon, a host or its network failed"
                                      : "a fault",
                restarts + 1, opt->max_restarts, backoff);
      restart = launch_pause(backoff);
      if (restart) launch_wait_for_run_dir(opt->run_dir, opt->quiet);
      restart = restart && launch_signal_count == 0;
    }
    launch_attempt rec = {attempt, started, ended, outcome, restart, argv, argc};
    int recorded = launch_record_attempt(attempts_path, &rec);
    ddpc_launch_free_argv(argv);
    if (recorded != 0) {
      fprintf(stderr, "ddpc launch: error: %s\n", ddpc_error_message());
      if (rc == 0) rc = 1;
      break;
    }
    if (!restart) {
      if (fault && restarts >= opt->max_restarts)
        fprintf(stderr, "ddpc launch: giving up after %d restarts (last exit code %d)\n", restarts, rc);
      break;
    }
    restarts++;
    backoff = backoff * 2 < LAUNCH_BACKOFF_CAP ? backoff * 2 : LAUNCH_BACKOFF_CAP;
    // Test hook (DDPC_FAIL_AT): the fault it injects belongs to the first attempt only;
    // a restart that inherited it would fail at the same step again.
    unsetenv("DDPC_FAIL_AT");
  }
  sigaction(SIGINT, &old[0], NULL);
  sigaction(SIGTERM, &old[1], NULL);
  sigaction(SIGPIPE, &old[2], NULL);
  unlink(marker);
  free(marker);
  free(attempts_path);
  return rc;
}
