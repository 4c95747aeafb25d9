/* `ddpc submit`: writes RUN_DIR/submit.sbatch (launch/jobs/slurm_script.c) and hands it to
 * sbatch. The config is loaded first so a bad one fails here, not in the queue; sbatch is
 * run from an argument vector (no shell) and its refusal is reported in one line. */
#define _XOPEN_SOURCE 700  // realpath
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "launch/cli/cli.h"
#include "launch/jobs/slurm_script.h"

static void cli_submit_usage(FILE *out) {
  fputs("usage: ddpc submit [--nodes N] [--ntasks-per-node T] [--time HH:MM:SS] [--partition P]\n"
        "                   [--account A] [--job-name NAME] [--launcher srun|mpirun] [--no-requeue]\n"
        "                   [--dry-run] CONFIG [--set key=value]... [--run-dir DIR]\n"
        "                   [--allow-changes KEY,...]\n"
        "\n"
        "Submits `ddpc train CONFIG --resume auto` as a Slurm batch job of N nodes with T ranks\n"
        "each. The script goes to RUN_DIR/submit.sbatch (RUN_DIR: --run-dir, else output.dir),\n"
        "the job's output to RUN_DIR/slurm-<job id>.out. 60 s before the time limit the job\n"
        "checkpoints, requeues itself and continues where it stopped.\n"
        "\n"
        "options:\n"
        "  --nodes N            nodes (default 1)\n"
        "  --ntasks-per-node T  ranks per node (default 1)\n"
        "  --time T             time limit, e.g. 02:00:00 (default: the partition's)\n"
        "  --partition P        partition (default: the cluster's default)\n"
        "  --account A          account to charge\n"
        "  --job-name NAME      job name (default: the config's name)\n"
        "  --launcher L         srun (default; srun --mpi=pmix) or mpirun (Open MPI's)\n"
        "  --no-requeue         after a preemption, end the job (exit 5) instead of requeueing\n"
        "  --dry-run            print the batch script; write and submit nothing\n"
        "  --set key=value      override a config key (repeatable), passed on to the job\n"
        "  --run-dir DIR        the run directory (default: the config's output.dir)\n"
        "  --allow-changes KEY,...\n"
        "                       passed on to ddpc train: resume although these keys differ\n"
        "                       from the checkpoint's (see ddpc train --help)\n"
        "  -h, --help           show this help\n"
        "\n"
        "exit codes: 0 submitted (or printed), 1 bad config or sbatch refused the job,\n"
        "2 bad command line, 127 sbatch not found\n",
        out);
}

/* Parsed command line. */
typedef struct {
  ddpc_slurm_options script;  // what goes into the batch script
  const char *config;         // CONFIG as given
  const char *run_dir;        // --run-dir as given, or NULL
  const char **overrides;     // --set values (argc slots)
  bool dry_run;               // print, do not write or submit
} submit_args;

/* --launcher: srun or mpirun. */
static int submit_launcher(const char *cmd, const ddpc_cli_option *option, const char *v) {
  ddpc_slurm_launcher *launcher = option->dest;
  if (strcmp(v, "srun") == 0) {
    *launcher = DDPC_SLURM_LAUNCHER_SRUN;
  } else if (strcmp(v, "mpirun") == 0) {
    *launcher = DDPC_SLURM_LAUNCHER_MPIRUN;
  } else {
    fprintf(stderr, "ddpc %s: %s is srun or mpirun, got '%s'\n", cmd, option->name, v);
    return DDPC_EXIT_USAGE;
  }
  return -1;
}

/* Returns -1 to go on, or the exit code to return. */
static int submit_parse(int argc, char **argv, submit_args *a) {
  bool no_requeue = false;
  const ddpc_cli_option options[] = {
      DDPC_CLI_OPT_COUNT("--nodes", &a->script.nodes, 1),
      DDPC_CLI_OPT_COUNT("--ntasks-per-node", &a->script.ntasks_per_node, 1),
      DDPC_CLI_OPT_STRING("--time", &a->script.time),
      DDPC_CLI_OPT_STRING("--partition", &a->script.partition),
      DDPC_CLI_OPT_STRING("--account", &a->script.account),
      DDPC_CLI_OPT_STRING("--job-name", &a->script.job_name),
      DDPC_CLI_OPT_CALL("--launcher", submit_launcher, &a->script.launcher, 0),
      DDPC_CLI_OPT_REPEATABLE("--set", a->overrides, &a->script.n_overrides),
      DDPC_CLI_OPT_STRING("--run-dir", &a->run_dir),
      DDPC_CLI_OPT_STRING("--allow-changes", &a->script.allow_changes),
      DDPC_CLI_OPT_FLAG("--no-requeue", &no_requeue),
      DDPC_CLI_OPT_FLAG("--dry-run", &a->dry_run),
  };
  const ddpc_cli_command c = {"submit", cli_submit_usage, options, sizeof options / sizeof options[0],
                              "CONFIG", &a->config, true};
  int rc = ddpc_cli_parse(&c, argc, argv);
  if (no_requeue) a->script.requeue = false;
  return rc;
}

/* `path` made absolute against the working directory (the job may start elsewhere). */
static char *submit_absolute(const char *path) {
  if (path[0] == '/') return ddpc_strdup(path);
  char *cwd = getcwd(NULL, 0);
  if (!cwd) {
    ddpc_error_set("cannot read the working directory: %s", strerror(errno));
    return NULL;
  }
  char *abs = ddpc_format("%s/%s", cwd, path);
  free(cwd);
  return abs;
}

static char *submit_self_path(void) {
  char *self = realpath("/proc/self/exe", NULL);
  if (!self) ddpc_error_set("cannot find the ddpc binary (/proc/self/exe): %s", strerror(errno));
  return self;
}

/* sbatch --parsable SCRIPT; prints where to follow the job. */
static int submit_sbatch(const char *script_path, const char *run_dir) {
  bool missing = false;
  char *id = ddpc_slurm_sbatch(script_path, NULL, 0, &missing);
  if (!id) {
    fprintf(stderr, "ddpc submit: %s\n", ddpc_error_message());
    return missing ? 127 : DDPC_EXIT_FAILED;
  }
  printf("submitted job %s; run directory %s; follow: tail -f %s/slurm-%s.out\n", id, run_dir, run_dir, id);
  free(id);
  return DDPC_EXIT_OK;
}

/* Loads the config, fills in the paths and the defaults it gives, then prints or submits. */
static int submit_with_config(submit_args *a) {
  ddpc_config *cfg = ddpc_calloc(1, sizeof *cfg, "config");
  if (!cfg) return DDPC_EXIT_FAILED;
  int rc = DDPC_EXIT_FAILED;
  char *config = NULL, *run_dir = NULL, *self = NULL, *text = NULL, *script_path = NULL;
  if (ddpc_config_load(a->config, a->overrides, a->script.n_overrides, cfg) != 0) goto fail;
  if (!(config = realpath(a->config, NULL))) {
    ddpc_error_set("%s: %s", a->config, strerror(errno));
    goto fail;
  }
  if (!(run_dir = submit_absolute(a->run_dir ? a->run_dir : cfg->output_dir))) goto fail;
  if (!(self = submit_self_path())) goto fail;
  a->script.config = config;
  a->script.run_dir = run_dir;
  a->script.binary = self;
  if (!a->script.job_name) a->script.job_name = cfg->name;
  if (!(text = ddpc_slurm_script(&a->script))) goto fail;
  if (a->dry_run) {
    fputs(text, stdout);
    rc = DDPC_EXIT_OK;
    goto done;
  }
  if (!(script_path = ddpc_format("%s/submit.sbatch", run_dir))) goto fail;
  if (ddpc_fs_mkdirs(run_dir, 0755) != 0 || ddpc_slurm_script_save(script_path, text) != 0) goto fail;
  rc = submit_sbatch(script_path, run_dir);
  goto done;
fail:
  fprintf(stderr, "ddpc submit: error: %s\n", ddpc_error_message());
done:
  ddpc_config_free(cfg);
  free(cfg);
  free(config);
  free(run_dir);
  free(self);
  free(text);
  free(script_path);
  return rc;
}

int ddpc_cli_submit(int argc, char **argv) {
  submit_args a;
  memset(&a, 0, sizeof a);
  a.script.nodes = 1;
  a.script.ntasks_per_node = 1;
  a.script.launcher = DDPC_SLURM_LAUNCHER_SRUN;
  a.script.requeue = true;
  a.script.signal_seconds = 60;
  a.overrides = calloc((size_t)argc, sizeof *a.overrides);
  if (!a.overrides) return DDPC_EXIT_FAILED;
  a.script.overrides = a.overrides;
  int rc = submit_parse(argc, argv, &a);
  if (rc < 0) rc = submit_with_config(&a);
  free(a.overrides);
  return rc;
}
