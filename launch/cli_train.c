/* `ddpc train` and `ddpc resume`: argument parsing and exit codes; the run itself is
 * ddpc_train_run (launch/train.c). `resume RUN_DIR` is `train RUN_DIR/config.yaml
 * --run-dir RUN_DIR --resume auto` plus the answer to a review gate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ddpc/ddpc.h"
#include "launch/cli.h"

static const char cli_exit_codes[] =
    "exit codes: 0 done (or rejected at review), 1 failed (the message names the file and\n"
    "place), 2 bad command line, 3 diverged, 4 awaiting review, 5 preempted (checkpointed;\n"
    "--resume auto continues)\n";

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

static int cli_exit_code(const ddpc_train_result *r) {
  if (strcmp(r->state, "done") == 0 || strcmp(r->state, "rejected") == 0) return DDPC_EXIT_OK;
  if (strcmp(r->state, "diverged") == 0) return DDPC_EXIT_DIVERGED;
  if (strcmp(r->state, "await_review") == 0) return DDPC_EXIT_AWAIT_REVIEW;
  if (strcmp(r->state, "preempted") == 0) return DDPC_EXIT_PREEMPTED;
  return DDPC_EXIT_FAILED;
}

static int cli_run(const char *cmd, ddpc_train_options *opt) {
  ddpc_train_result result;
  int rc = ddpc_train_run(opt, &result);
  if (rc == 0) return cli_exit_code(&result);
  if (!result.quiet_error) fprintf(stderr, "ddpc %s: error: %s\n", cmd, ddpc_last_error());
  return DDPC_EXIT_FAILED;
}

/* Options both commands take; returns 1 when argv[*i] was one of them. */
static int cli_common_option(const char *cmd, int argc, char **argv, int *i, ddpc_train_options *opt,
                             const char **overrides) {
  const char *v;
  if ((v = ddpc_cli_option_value(cmd, argc, argv, i, "--set"))) overrides[opt->n_overrides++] = v;
  else if (strcmp(argv[*i], "--quiet") == 0) opt->quiet = 1;
  else return 0;
  return 1;
}

int ddpc_cli_train(int argc, char **argv) {
  ddpc_train_options opt;
  memset(&opt, 0, sizeof opt);
  const char **overrides = calloc((size_t)argc, sizeof *overrides);
  if (!overrides) return DDPC_EXIT_FAILED;
  int rc = -1;
  for (int i = 1; i < argc && rc < 0; i++) {
    const char *v;
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      cli_train_usage(stdout);
      rc = DDPC_EXIT_OK;
    } else if (cli_common_option("train", argc, argv, &i, &opt, overrides)) {
    } else if ((v = ddpc_cli_option_value("train", argc, argv, &i, "--run-dir"))) {
      opt.run_dir = v;
    } else if ((v = ddpc_cli_option_value("train", argc, argv, &i, "--resume"))) {
      opt.resume = v;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "ddpc train: unknown option '%s' (see ddpc train --help)\n", argv[i]);
      rc = DDPC_EXIT_USAGE;
    } else if (!opt.config_path) {
      opt.config_path = argv[i];
    } else {
      fprintf(stderr, "ddpc train: unexpected argument '%s': only one CONFIG is taken\n", argv[i]);
      rc = DDPC_EXIT_USAGE;
    }
  }
  if (rc < 0 && !opt.config_path) {
    fputs("ddpc train: missing CONFIG (a YAML file; see ddpc train --help)\n", stderr);
    rc = DDPC_EXIT_USAGE;
  }
  if (rc < 0) {
    opt.overrides = overrides;
    rc = cli_run("train", &opt);
  }
  free(overrides);
  return rc;
}

int ddpc_cli_resume(int argc, char **argv) {
  ddpc_train_options opt;
  memset(&opt, 0, sizeof opt);
  const char **overrides = calloc((size_t)argc, sizeof *overrides);
  if (!overrides) return DDPC_EXIT_FAILED;
  int rc = -1;
  for (int i = 1; i < argc && rc < 0; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      cli_resume_usage(stdout);
      rc = DDPC_EXIT_OK;
    } else if (cli_common_option("resume", argc, argv, &i, &opt, overrides)) {
    } else if (strcmp(argv[i], "--approve") == 0 || strcmp(argv[i], "--reject") == 0) {
      int answer = argv[i][2] == 'a' ? 1 : -1;
      if (opt.review_answer && opt.review_answer != answer) {
        fputs("ddpc resume: --approve and --reject exclude each other\n", stderr);
        rc = DDPC_EXIT_USAGE;
      }
      opt.review_answer = answer;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "ddpc resume: unknown option '%s' (see ddpc resume --help)\n", argv[i]);
      rc = DDPC_EXIT_USAGE;
    } else if (!opt.run_dir) {
      opt.run_dir = argv[i];
    } else {
      fprintf(stderr, "ddpc resume: unexpected argument '%s': only one RUN_DIR is taken\n", argv[i]);
      rc = DDPC_EXIT_USAGE;
    }
  }
  if (rc < 0 && !opt.run_dir) {
    fputs("ddpc resume: missing RUN_DIR (see ddpc resume --help)\n", stderr);
    rc = DDPC_EXIT_USAGE;
  }
  char *config = NULL;
  if (rc < 0) {
    config = ddpc_format("%s/config.yaml", opt.run_dir);
    opt.config_path = config;
    opt.resume = "auto";
    opt.overrides = overrides;
    rc = config ? cli_run("resume", &opt) : DDPC_EXIT_FAILED;
  }
  free(config);
  free(overrides);
  return rc;
}
