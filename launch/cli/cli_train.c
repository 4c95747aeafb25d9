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
        "meta.json, checkpoints/. Under mpirun or srun every rank runs it. A fresh run whose\n"
        "output.dir holds an earlier run goes to the first free output.dir-2, -3, ...\n"
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

/* Parsed command line of `train` or `resume`; strings point into argv. */
typedef struct {
  ddpc_train_options opt;  // what ddpc_train_run gets
  const char **overrides;  // storage for opt.overrides (argc slots)
  bool quiet;              // --quiet
  bool approve;            // resume --approve
  bool reject;             // resume --reject
} cli_train_args;

/* Parses argv for `resume` (resume true) or `train`; -1 to go on and run, or the exit code
 * to return. */
static int cli_train_parse(bool resume, int argc, char **argv, cli_train_args *a) {
  ddpc_train_options *o = &a->opt;
  // `train` takes the first four, `resume` the last four.
  const ddpc_cli_option options[] = {
      DDPC_CLI_OPT_STRING("--run-dir", &o->run_dir),
      DDPC_CLI_OPT_STRING("--resume", &o->resume),
      DDPC_CLI_OPT_REPEATABLE("--set", a->overrides, &o->n_overrides),
      DDPC_CLI_OPT_FLAG("--quiet", &a->quiet),
      DDPC_CLI_OPT_FLAG("--approve", &a->approve),
      DDPC_CLI_OPT_FLAG("--reject", &a->reject),
  };
  const ddpc_cli_command c = resume ? (ddpc_cli_command){"resume", cli_resume_usage, options + 2, 4, "RUN_DIR",
                                                         &o->run_dir, true}
                                    : (ddpc_cli_command){"train", cli_train_usage, options, 4, "CONFIG",
                                                         &o->config_path, true};
  int rc = ddpc_cli_parse(&c, argc, argv);
  o->overrides = a->overrides;
  o->quiet = a->quiet;
  o->review_answer = a->approve ? 1 : a->reject ? -1 : 0;
  if (rc < 0 && a->approve && a->reject) {
    fputs("ddpc resume: --approve and --reject exclude each other\n", stderr);
    rc = DDPC_EXIT_USAGE;
  }
  return rc;
}

/* `train`, or `resume` (`train RUN_DIR/config.yaml --run-dir RUN_DIR --resume auto`). */
static int cli_train_main(bool resume, int argc, char **argv) {
  cli_train_args a;
  memset(&a, 0, sizeof a);
  a.overrides = calloc((size_t)argc, sizeof *a.overrides);
  if (!a.overrides) return DDPC_EXIT_FAILED;
  int rc = cli_train_parse(resume, argc, argv, &a);
  char *config = NULL;
  if (rc < 0 && resume) {
    // The run's own resolved config: resuming with another would be refused anyway.
    config = ddpc_format("%s/config.yaml", a.opt.run_dir);
    a.opt.config_path = config;
    a.opt.resume = "auto";
    if (!config) rc = DDPC_EXIT_FAILED;
  }
  if (rc < 0) rc = cli_run(resume ? "resume" : "train", &a.opt);
  free(config);
  free(a.overrides);
  return rc;
}

int ddpc_cli_train(int argc, char **argv) { return cli_train_main(false, argc, argv); }

int ddpc_cli_resume(int argc, char **argv) { return cli_train_main(true, argc, argv); }
