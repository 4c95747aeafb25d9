/* `ddpc train CONFIG [--set key=value]... [--run-dir DIR] [--quiet]`: argument parsing
 * and the exit code; the run itself is ddpc_train_run (launch/train.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ddpc/ddpc.h"
#include "launch/cli.h"

static void cli_train_usage(FILE *out) {
  fputs("usage: ddpc train CONFIG [--set key=value]... [--run-dir DIR] [--quiet]\n"
        "\n"
        "Trains the model CONFIG describes: loads (and caches) the data, trains for\n"
        "train.epochs epochs evaluating on the validation split after each, then on the\n"
        "test split, and writes the run directory (output.dir, or DIR):\n"
        "  config.yaml    the resolved config, every default filled in\n"
        "  metrics.jsonl  one JSON object per epoch\n"
        "  summary.json   final state, test metrics, params_crc32, speed, peak memory\n"
        "\n"
        "options:\n"
        "  --set key=value  override a config key, e.g. --set optimizer.lr=0.01,\n"
        "                   --set model.variant=large, --set model.0.units=512 (repeatable)\n"
        "  --run-dir DIR    write the run directory here instead of output.dir\n"
        "  --quiet          print nothing but errors\n"
        "  -h, --help       show this help\n"
        "\n"
        "exit codes: 0 done, 1 failed (message names the file and place), 2 bad command\n"
        "line, 3 diverged (non-finite loss)\n",
        out);
}

/* Value of an option given as "--name value" or "--name=value"; advances *i. */
static const char *cli_option_value(int argc, char **argv, int *i, const char *name) {
  size_t len = strlen(name);
  if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=') return argv[*i] + len + 1;
  if (strcmp(argv[*i], name) != 0) return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "ddpc train: option %s needs a value\n", name);
    exit(DDPC_EXIT_USAGE);
  }
  return argv[++*i];
}

int ddpc_cli_train(int argc, char **argv) {
  ddpc_train_options opt;
  memset(&opt, 0, sizeof opt);
  const char **overrides = ddpc_calloc((size_t)argc, sizeof *overrides, "overrides");
  if (!overrides) {
    fprintf(stderr, "ddpc train: %s\n", ddpc_error_message());
    return DDPC_EXIT_FAILED;
  }
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      cli_train_usage(stdout);
      free(overrides);
      return DDPC_EXIT_OK;
    } else if ((v = cli_option_value(argc, argv, &i, "--set"))) {
      overrides[opt.n_overrides++] = v;
    } else if ((v = cli_option_value(argc, argv, &i, "--run-dir"))) {
      opt.run_dir = v;
    } else if (strcmp(argv[i], "--quiet") == 0) {
      opt.quiet = 1;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "ddpc train: unknown option '%s' (see ddpc train --help)\n", argv[i]);
      free(overrides);
      return DDPC_EXIT_USAGE;
    } else if (!opt.config_path) {
      opt.config_path = argv[i];
    } else {
      fprintf(stderr, "ddpc train: unexpected argument '%s': only one CONFIG is taken\n", argv[i]);
      free(overrides);
      return DDPC_EXIT_USAGE;
    }
  }
  if (!opt.config_path) {
    fputs("ddpc train: missing CONFIG (a YAML file; see ddpc train --help)\n", stderr);
    free(overrides);
    return DDPC_EXIT_USAGE;
  }
  opt.overrides = overrides;
  ddpc_train_result result;
  int rc = ddpc_train_run(&opt, &result);
  free(overrides);
  if (rc == 0) return DDPC_EXIT_OK;
  if (!result.quiet_error) fprintf(stderr, "ddpc train: error: %s\n", ddpc_last_error());
  return strcmp(result.state, "diverged") == 0 ? DDPC_EXIT_DIVERGED : DDPC_EXIT_FAILED;
}
