/* `ddpc train` and `ddpc resume`: argument parsing and exit codes; the run itself is
 * ddpc_train_run (launch/train/train.c). `resume RUN_DIR` is `train RUN_DIR/config.yaml
 * --run-dir RUN_DIR --resume auto` plus the answer to a review gate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ddpc/ddpc.h"
#include "launch/cli/cli.h"
#include "core/exit_code.h"

static const char cli_exit_codes[] =
    "exit codes: 0 done (or rejected at review, or pruned by the tuner), 1 failed (the\n"
    "message names the file and place), 2 bad command line, 3 diverged, 4 awaiting review,\n"
    "5 preempted (checkpointed; --resume auto continues), 6 a rank failed during training\n"
    "and the job was aborted (--resume auto continues from the last checkpoint)\n";

static void cli_train_usage(FILE *out) {
  fputs("usage: ddpc train CONFIG [--set key=value]... [--run-dir DIR] [--resume auto|PATH] [--quiet]\n"
        "\n"
        "Trains the model CONFIG describes through the epoch state machine (train, evaluate,\n"
        "decide, checkpoint; see `ddpc graph CONFIG`) and writes the run directory\n"
        "(output.dir, or DIR): config.yaml, metrics.jsonl, events.jsonl, summary.json,\n"
        "meta.json, checkpoints/. Under mpirun or srun every rank runs it.\n"
        "\n"
        "options:\n"
        "  --set key=value     override a config key, e.g. --set optimizer.lr=0.01,\n"
        "                      --set model.variant=large, --set model.0.units=512 (repeatable)\n"
        "  --run-dir DIR       write the run directory here instead of output.dir\n"
        "  --resume auto|PATH  continue from the newest valid checkpoint of the run directory\n"
        "                      (auto; a fresh start when there is none) or from PATH\n"
        "  --quiet             print nothing but errors\n"
        "  -h, --help          show this help\n"
        "\n"
        "SIGTERM or SIGUSR1 makes every rank checkpoint at the next step boundary and stop.\n",
        out);
  fputs(cli_exit_codes, out);
}

static void cli_resume_usage(FILE *out) {
  fputs("usage: ddpc resume RUN_DIR [--approve | --reject] [--set key=value]... [--quiet]\n"
        "\n"
        "Continues the run in RUN_DIR from its newest valid checkpoint with its own\n"
        "config.yaml. A run stopped at a review gate (exit code 4, review.json) needs an\n"
        "answer: --approve continues training, --reject ends the run in state `rejected`.\n"
        "The answer, who gave it and when go to RUN_DIR/events.jsonl.\n",
        out);
  fputs(cli_exit_codes, out);
}

static int cli_run(const char *cmd, ddpc_train_options *opt) {
  ddpc_train_result result;
  int rc = ddpc_train_run(opt, &result);
  if (rc == 0) return ddpc_exit_code_of_state(result.state);
  if (!result.quiet_error) fprintf(stderr, "ddpc %s: error: %s\n", cmd, ddpc_last_error());
  return result.aborted ? DDPC_EXIT_FAULT : DDPC_EXIT_FAILED;
}

/* What differs between `train` and `resume`: the positional argument and the options of
 * their own. */
typedef struct {
  const char *cmd;         // "train" or "resume"
  const char *positional;  // "CONFIG" or "RUN_DIR"
  void (*usage)(FILE *out);
  /* Takes argv[*i] when it is an option of this command: returns 1, or 0 when it is not;
   * may set *rc to an exit code to stop. */
  int (*option)(int argc, char **argv, int *i, ddpc_train_options *opt, int *rc);
} cli_command;

/* Parses argv into opt; returns -1 to go on and run, or the exit code to return. The
 * positional argument goes to *positional. */
static int cli_parse(const cli_command *c, int argc, char **argv, ddpc_train_options *opt, const char **overrides,
                     const char **positional) {
  int rc = -1;
  for (int i = 1; i < argc && rc < 0; i++) {
    const char *v;
    int got;
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      c->usage(stdout);
      rc = DDPC_EXIT_OK;
    } else if ((got = ddpc_cli_option_value(c->cmd, argc, argv, &i, "--set", &v)) != 0) {
      if (got < 0) rc = DDPC_EXIT_USAGE;
      else overrides[opt->n_overrides++] = v;
    } else if (strcmp(argv[i], "--quiet") == 0) {
      opt->quiet = 1;
    } else if (c->option(argc, argv, &i, opt, &rc)) {
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "ddpc %s: unknown option '%s' (see ddpc %s --help)\n", c->cmd, argv[i], c->cmd);
      rc = DDPC_EXIT_USAGE;
    } else if (!*positional) {
      *positional = argv[i];
    } else {
      fprintf(stderr, "ddpc %s: unexpected argument '%s': only one %s is taken\n", c->cmd, argv[i], c->positional);
      rc = DDPC_EXIT_USAGE;
    }
  }
  if (rc < 0 && !*positional) {
    fprintf(stderr, "ddpc %s: missing %s (see ddpc %s --help)\n", c->cmd, c->positional, c->cmd);
    rc = DDPC_EXIT_USAGE;
  }
  opt->overrides = overrides;
  return rc;
}

static int cli_train_option(int argc, char **argv, int *i, ddpc_train_options *opt, int *rc) {
  const char *v;
  int got = ddpc_cli_option_value("train", argc, argv, i, "--run-dir", &v);
  if (got > 0) opt->run_dir = v;
  if (got == 0 && (got = ddpc_cli_option_value("train", argc, argv, i, "--resume", &v)) > 0) opt->resume = v;
  if (got < 0) *rc = DDPC_EXIT_USAGE;
  return got != 0;
}

static int cli_resume_option(int argc, char **argv, int *i, ddpc_train_options *opt, int *rc) {
  if (strcmp(argv[*i], "--approve") != 0 && strcmp(argv[*i], "--reject") != 0) return 0;
  int answer = argv[*i][2] == 'a' ? 1 : -1;
  if (opt->review_answer && opt->review_answer != answer) {
    fputs("ddpc resume: --approve and --reject exclude each other\n", stderr);
    *rc = DDPC_EXIT_USAGE;
  }
  opt->review_answer = answer;
  return 1;
}

int ddpc_cli_train(int argc, char **argv) {
  static const cli_command train = {"train", "CONFIG", cli_train_usage, cli_train_option};
  ddpc_train_options opt;
  memset(&opt, 0, sizeof opt);
  const char **overrides = calloc((size_t)argc, sizeof *overrides);
  if (!overrides) return DDPC_EXIT_FAILED;
  int rc = cli_parse(&train, argc, argv, &opt, overrides, &opt.config_path);
  if (rc < 0) rc = cli_run("train", &opt);
  free(overrides);
  return rc;
}

int ddpc_cli_resume(int argc, char **argv) {
  static const cli_command resume = {"resume", "RUN_DIR", cli_resume_usage, cli_resume_option};
  ddpc_train_options opt;
  memset(&opt, 0, sizeof opt);
  const char **overrides = calloc((size_t)argc, sizeof *overrides);
  if (!overrides) return DDPC_EXIT_FAILED;
  int rc = cli_parse(&resume, argc, argv, &opt, overrides, &opt.run_dir);
  char *config = NULL;
  if (rc < 0) {
    // The run's own resolved config: resuming with another would be refused anyway.
    config = ddpc_format("%s/config.yaml", opt.run_dir);
    opt.config_path = config;
    opt.resume = "auto";
    rc = config ? cli_run("resume", &opt) : DDPC_EXIT_FAILED;
  }
  free(config);
  free(overrides);
  return rc;
}
