/* `ddpc graph CONFIG [--set key=value]...`: prints the state machine the config gets
 * (core/machine.c) as Graphviz DOT, e.g. `ddpc graph run.yaml | dot -Tsvg > run.svg`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/machine.h"
#include "launch/cli/cli.h"

static void cli_graph_usage(FILE *out) {
  fputs("usage: ddpc graph CONFIG [--set key=value]...\n"
        "\n"
        "Prints the epoch state machine CONFIG gets (states, and the transitions with their\n"
        "conditions in the order they are tried) as Graphviz DOT on stdout, e.g.\n"
        "  ddpc graph run.yaml | dot -Tsvg > machine.svg\n"
        "\n"
        "options:\n"
        "  --set key=value     override a config key first (repeatable)\n"
        "  -h, --help          show this help\n",
        out);
}

static int cli_graph_print(const char *config_path, const char *const *overrides, int n_overrides) {
  ddpc_config cfg;
  if (ddpc_config_load(config_path, overrides, n_overrides, &cfg) != 0) {
    fprintf(stderr, "ddpc graph: error: %s\n", ddpc_error_message());
    return DDPC_EXIT_FAILED;
  }
  ddpc_machine *m = NULL;
  int rc = DDPC_EXIT_OK;
  if (ddpc_machine_create(&cfg, &m) != 0) {
    fprintf(stderr, "ddpc graph: error: %s\n", ddpc_error_message());
    rc = DDPC_EXIT_FAILED;
  } else {
    ddpc_machine_write_dot(m, stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
      fputs("ddpc graph: error: cannot write the graph to stdout\n", stderr);
      rc = DDPC_EXIT_FAILED;
    }
  }
  ddpc_machine_free(m);
  ddpc_config_free(&cfg);
  return rc;
}

int ddpc_cli_graph(int argc, char **argv) {
  const char **overrides = calloc((size_t)argc, sizeof *overrides);
  if (!overrides) return DDPC_EXIT_FAILED;
  const char *config_path = NULL;
  int n_overrides = 0;
  const ddpc_cli_option options[] = {DDPC_CLI_OPT_REPEATABLE("--set", overrides, &n_overrides)};
  const ddpc_cli_command c = {"graph", cli_graph_usage, options, 1, "CONFIG", &config_path, false};
  int rc = ddpc_cli_parse(&c, argc, argv);
  if (rc < 0 && !config_path) {
    fputs("ddpc graph: missing CONFIG (a YAML file; see ddpc graph --help)\n", stderr);
    rc = DDPC_EXIT_USAGE;
  }
  if (rc < 0) rc = cli_graph_print(config_path, overrides, n_overrides);
  free(overrides);
  return rc;
}
