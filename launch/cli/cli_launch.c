/* `ddpc launch`: argument parsing, usage text and exit codes; the supervisor itself is
 * ddpc_launch_run (launch/jobs/launcher.c). The config is loaded here once, to resolve the run
 * directory and to stop early with the config's own message rather than N ranks' worth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "launch/cli/cli.h"
#include "launch/jobs/launcher.h"
#include "launch/train/start_marker.h"

/* Restarts allowed when --max-restarts is not given. */
#define CLI_LAUNCH_DEFAULT_RESTARTS 3

static void cli_launch_usage(FILE *out) {
  fputs("usage: ddpc launch -n N [--hostfile F] [--max-restarts K] [--startup-timeout S]\n"
        "                   [--mpirun-arg ARG]... CONFIG [--set key=value]... [--run-dir DIR]\n"
        "                   [--allow-changes KEY,...] [--quiet]\n"
        "\n"
        "Runs `mpirun -n N ddpc train CONFIG --resume auto` and supervises it: output streams\n"
        "through, and when the job ends with a fault (exit code 6, a signal, or any code\n"
        "outside 0-5) it is started again with --resume auto after a pause (1 s, 2 s, 4 s...,\n"
        "at most 10 s), up to K times. Every attempt is one line of RUN_DIR/attempts.jsonl.\n"
        "--resume auto is passed every time, so launching again after a preemption (exit 5)\n"
        "continues the run; a fresh run directory starts fresh.\n"
        "\n"
        "Every attempt is bounded at both ends: one that has not taken its first training step\n"
        "S seconds after mpirun started (daemons that never call back, an unreachable host)\n"
        "is ended, mpirun's whole process group, and counts as a fault; so does an attempt\n"
        "in which mpirun reports a lost, failed or unroutable daemon. One whose run wrote its\n"
        "summary.json but whose mpirun does not exit within 30 s is ended with the run's code.\n"
        "\n"
        "options:\n"
        "  -n N                ranks (with no hostfile and N above the cores: --oversubscribe)\n"
        "  --hostfile F        mpirun's hostfile\n"
        "  --max-restarts K    restarts after faults (default 3; 0: none)\n"
        "  --startup-timeout S seconds from starting mpirun to the first training step before\n"
        "                      the attempt is taken for hung (default 600; 0: no deadline)\n"
        "  --mpirun-arg ARG    one more mpirun argument, in order (repeatable), e.g.\n"
        "                      --mpirun-arg=-x --mpirun-arg=MY_VAR\n"
        "  --set key=value     override a config key (repeatable; passed to every rank)\n"
        "  --run-dir DIR       the run directory instead of output.dir\n"
        "  --allow-changes KEY,...\n"
        "                      passed to ddpc train: resume although these keys differ\n"
        "                      from the checkpoint's (see ddpc train --help)\n"
        "  --quiet             print nothing but errors\n"
        "  -h, --help          show this help\n"
        "\n"
        "SIGINT or SIGTERM reaches the job as SIGUSR1: every rank checkpoints and stops\n"
        "(exit 5); a second one, more than a second later, as SIGTERM (mpirun ends the job).\n"
        "No restart follows either.\n"
        "\n"
        "exit codes: mpirun's, that is ddpc train's: 0 done, 1 failed (bad config or data;\n"
        "no restart), 2 bad command line, 3 diverged, 4 awaiting review, 5 preempted,\n"
        "6 a rank failed and restarts ran out; other codes (e.g. 137: a rank was killed)\n"
        "when restarts ran out; 127 mpirun not found on PATH.\n"
        "\n"
        "environment:\n"
        "  DDPC_LAUNCH_BACKOFF_SECONDS  the first pause between attempts (default 1)\n"
        "  DDPC_FAIL_AT        test hook, see ddpc train: removed before every restart\n",
        out);
}

/* Parsed command line; strings point into argv. */
typedef struct {
  ddpc_launch_options run;  // what the supervisor needs (mpirun, self_exe, run_dir filled later)
  const char **mpirun_args; // storage for run.mpirun_args
  const char **overrides;   // storage for run.overrides
} cli_launch_args;

/* Returns -1 to go on, or the exit code to return. */
static int cli_launch_parse(int argc, char **argv, cli_launch_args *a) {
  ddpc_launch_options *o = &a->run;
  o->ranks = 0;
  o->max_restarts = CLI_LAUNCH_DEFAULT_RESTARTS;
  o->startup_seconds = DDPC_START_MARKER_DEFAULT_SECONDS;
  const ddpc_cli_option options[] = {
      DDPC_CLI_OPT_COUNT("-n", &o->ranks, 1),
      DDPC_CLI_OPT_COUNT("--max-restarts", &o->max_restarts, 0),
      DDPC_CLI_OPT_SECONDS("--startup-timeout", &o->startup_seconds),
      DDPC_CLI_OPT_STRING("--hostfile", &o->hostfile),
      DDPC_CLI_OPT_REPEATABLE("--mpirun-arg", a->mpirun_args, &o->n_mpirun_args),
      DDPC_CLI_OPT_REPEATABLE("--set", a->overrides, &o->n_overrides),
      DDPC_CLI_OPT_STRING("--run-dir", &o->run_dir),
      DDPC_CLI_OPT_STRING("--allow-changes", &o->allow_changes),
      DDPC_CLI_OPT_FLAG("--quiet", &o->quiet),
  };
  const ddpc_cli_command c = {"launch", cli_launch_usage, options, sizeof options / sizeof options[0],
                              "CONFIG", &o->config_path, true};
  int rc = ddpc_cli_parse(&c, argc, argv);
  if (rc >= 0) return rc;
  if (o->ranks == 0) {
    fputs("ddpc launch: missing -n N, the number of ranks (see ddpc launch --help)\n", stderr);
    return DDPC_EXIT_USAGE;
  }
  o->mpirun_args = a->mpirun_args;
  o->overrides = a->overrides;
  return -1;
}

/* Loads the config (its errors end the launch, exit 1) and resolves the run directory. */
static int cli_launch_resolve_run_dir(ddpc_launch_options *o, char **run_dir) {
  ddpc_config cfg;
  memset(&cfg, 0, sizeof cfg);
  if (ddpc_config_load(o->config_path, o->overrides, o->n_overrides, &cfg) != 0) {
    // ddpc_config_load has freed what it had made.
    fprintf(stderr, "ddpc launch: error: %s\n", ddpc_error_message());
    return DDPC_EXIT_FAILED;
  }
  *run_dir = ddpc_strdup(o->run_dir ? o->run_dir : cfg.output_dir);
  ddpc_config_free(&cfg);
  if (!*run_dir) return DDPC_EXIT_FAILED;
  o->run_dir = *run_dir;
  return -1;
}

int ddpc_cli_launch(int argc, char **argv) {
  cli_launch_args a;
  memset(&a, 0, sizeof a);
  a.mpirun_args = calloc((size_t)argc, sizeof *a.mpirun_args);
  a.overrides = calloc((size_t)argc, sizeof *a.overrides);
  char *run_dir = NULL, *mpirun = NULL, *self_exe = NULL;
  int rc = a.mpirun_args && a.overrides ? cli_launch_parse(argc, argv, &a) : DDPC_EXIT_FAILED;
  if (rc < 0) rc = cli_launch_resolve_run_dir(&a.run, &run_dir);
  if (rc < 0 && !(mpirun = ddpc_launch_find_program("mpirun"))) {
    fputs("ddpc launch: mpirun not found on PATH (install Open MPI: apt-get install openmpi-bin)\n", stderr);
    rc = 127;
  }
  if (rc < 0 && !(self_exe = ddpc_cli_self_exe())) {
    fprintf(stderr, "ddpc launch: error: %s\n", ddpc_error_message());
    rc = DDPC_EXIT_FAILED;
  }
  if (rc < 0) {
    a.run.mpirun = mpirun;
    a.run.self_exe = self_exe;
    rc = ddpc_launch_run(&a.run);
  }
  free(self_exe);
  free(mpirun);
  free(run_dir);
  free(a.overrides);
  free(a.mpirun_args);
  return rc;
}
