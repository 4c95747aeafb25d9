/* `ddpc train` and `ddpc resume`: argument parsing and exit codes; the run itself is
 * ddpc_train_run (launch/train/train.c). `resume RUN_DIR` is `train RUN_DIR/config.yaml
 * --run-dir RUN_DIR --resume auto` plus the answer to a review gate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "ddpc/ddpc.h"
#include "launch/cli/cli.h"
#include "core/exit_code.h"
#include "export/export.h"
#include "launch/groups/groups.h"

static const char cli_exit_codes[] =
    "exit codes: 0 done (or rejected at review, or pruned by the tuner), 1 failed (the\n"
    "message names the file and place), 2 bad command line, 3 diverged, 4 awaiting review,\n"
    "5 preempted (checkpointed; --resume auto continues), 6 a rank failed during training\n"
    "and the job was aborted (--resume auto continues from the last checkpoint), 7 some\n"
    "groups failed or diverged (data.group_by; summary.json's groups table says which)\n";

static void cli_train_usage(FILE *out) {
  fputs("usage: ddpc train CONFIG [--set key=value]... [--run-dir DIR] [--resume auto|PATH]\n"
        "                  [--allow-changes KEY,...] [--quiet]\n"
        "\n"
        "Trains the model CONFIG describes through the epoch state machine (train, evaluate,\n"
        "decide, checkpoint; see `ddpc graph CONFIG`) and writes the run directory\n"
        "(output.dir, or DIR): config.yaml, metrics.jsonl, events.jsonl, summary.json,\n"
        "meta.json, checkpoints/. Under mpirun or srun every rank runs it. A fresh run whose\n"
        "output.dir holds an earlier run goes to the first free output.dir-2, -3, ...\n"
        "With data.group_by every group of the CSV gets a model of its own, trained on its\n"
        "rows alone in RUN_DIR/groups/<value>/, the groups spread over the ranks.\n"
        "\n"
        "options:\n"
        "  --set key=value     override a config key, e.g. --set optimizer.lr=0.01,\n"
        "                      --set model.variant=large, --set model.0.units=512 (repeatable)\n"
        "  --run-dir DIR       write the run directory here instead of output.dir\n"
        "  --resume auto|PATH  continue from the newest valid checkpoint of the run directory\n"
        "                      (auto; a fresh start when there is none) or from PATH\n"
        "  --allow-changes KEY,...\n"
        "                      resume although these config keys (or sections) differ from\n"
        "                      the checkpoint's and change what the run computes: seed, loss,\n"
        "                      optimizer, schedule, train.batch_size, train.drop_last,\n"
        "                      train.grad_clip, and train.epochs/stop.max_epochs under a\n"
        "                      cosine schedule. Other changes (stop conditions, checkpoints,\n"
        "                      logging) are announced; data and model cannot change\n"
        "  --quiet             print nothing but errors\n"
        "  -h, --help          show this help\n"
        "\n"
        "SIGTERM or SIGUSR1 makes every rank checkpoint at the next step boundary and stop.\n",
        out);
  fputs(cli_exit_codes, out);
}

static void cli_resume_usage(FILE *out) {
  fputs("usage: ddpc resume RUN_DIR [--approve | --reject] [--set key=value]...\n"
        "                   [--allow-changes KEY,...] [--quiet]\n"
        "\n"
        "Continues the run in RUN_DIR from its newest valid checkpoint with its own\n"
        "config.yaml. A run stopped at a review gate (exit code 4, review.json) needs an\n"
        "answer: --approve continues training, --reject ends the run in state `rejected`.\n"
        "The answer, who gave it and when go to RUN_DIR/events.jsonl. --set changes the\n"
        "config (--set train.epochs=N also sets stop.max_epochs when the run's followed it,\n"
        "and extends a finished run); changes that alter what the run computes need\n"
        "--allow-changes (see ddpc train --help).\n",
        out);
  fputs(cli_exit_codes, out);
}

static int cli_run(const char *cmd, ddpc_train_options *opt) {
  // A config with data.group_by trains one model per group (launch/groups); a config that
  // does not load goes on to ddpc_train_run, which reports it.
  ddpc_config cfg;
  if (ddpc_config_load(opt->config_path, opt->overrides, opt->n_overrides, &cfg) == 0) {
    bool grouped = cfg.data.group_by && *cfg.data.group_by;
    int rc = grouped ? ddpc_groups_run(opt, &cfg) : 0;
    ddpc_config_free(&cfg);
    if (grouped) return rc;
  }
  ddpc_error_clear();
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
  // `train` takes the first five, `resume` the last five.
  const ddpc_cli_option options[] = {
      DDPC_CLI_OPT_STRING("--run-dir", &o->run_dir),
      DDPC_CLI_OPT_STRING("--resume", &o->resume),
      DDPC_CLI_OPT_REPEATABLE("--set", a->overrides, &o->n_overrides),
      DDPC_CLI_OPT_FLAG("--quiet", &a->quiet),
      DDPC_CLI_OPT_STRING("--allow-changes", &o->allow_changes),
      DDPC_CLI_OPT_FLAG("--approve", &a->approve),
      DDPC_CLI_OPT_FLAG("--reject", &a->reject),
  };
  const ddpc_cli_command c = resume ? (ddpc_cli_command){"resume", cli_resume_usage, options + 2, 5, "RUN_DIR",
                                                         &o->run_dir, true}
                                    : (ddpc_cli_command){"train", cli_train_usage, options, 5, "CONFIG",
                                                         &o->config_path, true};
  int rc = ddpc_cli_parse(&c, argc, argv);
  o->overrides = a->overrides;
  o->quiet = a->quiet;
  o->export_model = ddpc_export_model;  // a run tracked in MLflow uploads its model too
  o->review_answer = a->approve ? 1 : a->reject ? -1 : 0;
  if (rc < 0 && a->approve && a->reject) {
    fputs("ddpc resume: --approve and --reject exclude each other\n", stderr);
    rc = DDPC_EXIT_USAGE;
  }
  return rc;
}

/* `ddpc resume` reads the run's resolved config.yaml, where stop.max_epochs is written out:
 * --set train.epochs=N alone would leave the run's length as it was. When the run's
 * stop.max_epochs followed train.epochs (they are equal) and no --set names the stop
 * section, it follows again: the override to add, or NULL. */
static char *cli_resume_length_override(const char *config, const char *const *overrides, int n) {
  const char *epochs = NULL;
  for (int i = 0; i < n; i++) {
    if (strncmp(overrides[i], "train.epochs=", 13) == 0) epochs = overrides[i] + 13;
    if (strncmp(overrides[i], "stop.max_epochs=", 16) == 0 || strncmp(overrides[i], "stop=", 5) == 0) return NULL;
  }
  if (!epochs) return NULL;
  ddpc_config cfg;
  if (ddpc_config_load(config, NULL, 0, &cfg) != 0) {
    ddpc_error_clear();  // the run itself reports it
    return NULL;
  }
  bool followed = cfg.stop.max_epochs == cfg.train.epochs;
  ddpc_config_free(&cfg);
  return followed ? ddpc_format("stop.max_epochs=%s", epochs) : NULL;
}

/* `train`, or `resume` (`train RUN_DIR/config.yaml --run-dir RUN_DIR --resume auto`). */
static int cli_train_main(bool resume, int argc, char **argv) {
  cli_train_args a;
  memset(&a, 0, sizeof a);
  a.overrides = calloc((size_t)argc + 1, sizeof *a.overrides);  // one more: the length override
  if (!a.overrides) return DDPC_EXIT_FAILED;
  int rc = cli_train_parse(resume, argc, argv, &a);
  char *config = NULL, *length = NULL;
  if (rc < 0 && resume) {
    // The run's own resolved config: resuming with another would be refused anyway.
    config = ddpc_format("%s/config.yaml", a.opt.run_dir);
    a.opt.config_path = config;
    a.opt.resume = "auto";
    if (!config) rc = DDPC_EXIT_FAILED;
    else if ((length = cli_resume_length_override(config, a.overrides, a.opt.n_overrides)))
      a.overrides[a.opt.n_overrides++] = length;
  }
  if (rc < 0) rc = cli_run(resume ? "resume" : "train", &a.opt);
  free(config);
  free(length);
  free(a.overrides);
  return rc;
}

int ddpc_cli_train(int argc, char **argv) { return cli_train_main(false, argc, argv); }

int ddpc_cli_resume(int argc, char **argv) { return cli_train_main(true, argc, argv); }
