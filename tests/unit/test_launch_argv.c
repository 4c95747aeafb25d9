/* What `ddpc launch` runs and when it restarts (launch/jobs/launcher.c): the mpirun argument
 * vector in each case (root, oversubscription, hostfile with the multi-host Open MPI
 * settings unless the user gives them, extra mpirun arguments, --set, --resume auto), and
 * which exits count as faults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/exit_code.h"
#include "launch/jobs/launcher.h"
#include "testing.h"

/* The vector as one space-separated string (the test's own view; nothing runs it). */
static char *joined(const ddpc_launch_options *o) {
  int argc = 0;
  char **argv = ddpc_launch_build_argv(o, &argc);
  if (!argv) return NULL;
  size_t len = 1;
  for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
  char *s = calloc(1, len);
  for (int i = 0; s && i < argc; i++) {
    if (i) strcat(s, " ");
    strcat(s, argv[i]);
  }
  CHECK(argv[argc] == NULL, "the vector is NULL-terminated");
  ddpc_launch_free_argv(argv);
  return s;
}

static int count_of(const char *s, const char *what) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what)) n++;
  return n;
}

static void test_argv(void) {
  const char *sets[] = {"train.epochs=3", "optimizer.lr=0.1"};
  ddpc_launch_options o = {
      .mpirun = "/usr/bin/mpirun", .self_exe = "/opt/ddpc/bin/ddpc", .ranks = 2, .config_path = "run.yaml",
      .run_dir = "runs/x", .overrides = sets, .n_overrides = 2, .quiet = true};
  unsetenv("OMPI_MCA_orte_startup_timeout");
  unsetenv("OPENBLAS_NUM_THREADS");
  char *s = joined(&o);
  const char *root = geteuid() == 0 ? "--allow-run-as-root " : "";
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const char *over = cores < 2 ? "--oversubscribe " : "";
  char want[512];
  snprintf(want, sizeof want,
           "/usr/bin/mpirun %s%s-n 2 /opt/ddpc/bin/ddpc train run.yaml --run-dir runs/x --set train.epochs=3 "
           "--set optimizer.lr=0.1 --resume auto --quiet",
           root, over);
  CHECK(s && strcmp(s, want) == 0, "local vector:\n  got  %s\n  want %s", s ? s : "(none)", want);
  CHECK(s && !strstr(s, "--mca"), "no Open MPI settings for a local job");
  free(s);

  // --allow-changes goes to ddpc train, after --resume auto (it applies to the resume).
  o.allow_changes = "train.epochs,stop.max_epochs";
  s = joined(&o);
  CHECK(s && strstr(s, " --resume auto --allow-changes train.epochs,stop.max_epochs --quiet"),
        "--allow-changes passed on: %s", s ? s : "");
  free(s);
  o.allow_changes = NULL;

  // More ranks than cores, no hostfile: --oversubscribe.
  o.ranks = (int)cores + 1;
  s = joined(&o);
  CHECK(s && strstr(s, " --oversubscribe "), "ranks above the cores: --oversubscribe (%s)", s ? s : "");
  free(s);

  // A hostfile: no --oversubscribe, and the multi-host settings, each once.
  o.hostfile = "hosts";
  s = joined(&o);
  CHECK(s && strstr(s, " --hostfile hosts ") && !strstr(s, "--oversubscribe"), "hostfile vector: %s", s ? s : "");
  CHECK(s && strstr(s, "--mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 5 "
                       "--mca oob_tcp_keepalive_probes 3 --mca orte_startup_timeout 60 "),
        "multi-host Open MPI settings: %s", s ? s : "");
  free(s);

  // The user's own values win: given as --mpirun-arg, or in the environment.
  const char *extra[] = {"--mca", "oob_tcp_keepalive_time", "2", "-x", "MY_VAR"};
  o.mpirun_args = extra;
  o.n_mpirun_args = 5;
  setenv("OMPI_MCA_orte_startup_timeout", "5", 1);
  s = joined(&o);
  CHECK(s && count_of(s, "oob_tcp_keepalive_time") == 1 && strstr(s, "--mca oob_tcp_keepalive_time 2 -x MY_VAR "),
        "the user's keepalive time, once, in order: %s", s ? s : "");
  CHECK(s && !strstr(s, "orte_startup_timeout") && strstr(s, "oob_tcp_keepalive_probes 3"),
        "OMPI_MCA_orte_startup_timeout in the environment wins; the rest stay: %s", s ? s : "");
  unsetenv("OMPI_MCA_orte_startup_timeout");
  free(s);

  // OPENBLAS_NUM_THREADS set here reaches every rank.
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  s = joined(&o);
  CHECK(s && strstr(s, " -x OPENBLAS_NUM_THREADS /opt/ddpc/bin/ddpc train "), "BLAS threads exported: %s", s ? s : "");
  unsetenv("OPENBLAS_NUM_THREADS");
  free(s);

  // The start marker reaches every rank, right before the program.
  o.started_file = "/abs/runs/x/.started";
  s = joined(&o);
  CHECK(s && strstr(s, " -x MY_VAR -x DDPC_STARTED_FILE=/abs/runs/x/.started /opt/ddpc/bin/ddpc train "),
        "start marker exported: %s", s ? s : "");
  free(s);
}

static void test_faults(void) {
  // ddpc train's own codes 0..5 are outcomes (done, bad input, bad command line, diverged,
  // review, preempted); 6, other codes and signals are faults.
  for (int code = 0; code <= 5; code++) CHECK(!ddpc_launch_is_fault(code, 0), "exit %d is no fault", code);
  CHECK(ddpc_launch_is_fault(6, 0), "exit 6 (aborted) is a fault");
  CHECK(!ddpc_launch_is_fault(7, 0), "exit 7 (some groups failed; a restart repeats them) is no fault");
  CHECK(ddpc_exit_code_of_state("groups_failed") == 7, "state groups_failed exits 7");
  CHECK(ddpc_launch_is_fault(137, 0), "exit 137 (a rank killed) is a fault");
  CHECK(ddpc_launch_is_fault(255, 0), "exit 255 is a fault");
  CHECK(ddpc_launch_is_fault(0, 9), "mpirun ended by a signal is a fault");
}

int main(void) {
  test_argv();
  test_faults();
  return testing_finish();
}
