/* The `ddpc` command: dispatches to its subcommands. Exit codes (also in README.md):
 * 0 success; 1 the run failed (bad config, bad data, I/O or runtime error — the message
 * says which file and place); 2 bad command line; 3 training diverged (non-finite loss). */
#include <stdio.h>
#include <string.h>

#include "ddpc/ddpc.h"
#include "launch/blas.h"
#include "launch/cli.h"

static void main_usage(FILE *out) {
  fputs("usage: ddpc <command> [options]\n"
        "\n"
        "Distributed data-parallel training from a declarative YAML config.\n"
        "\n"
        "commands:\n"
        "  train CONFIG [--set key=value]... [--run-dir DIR] [--quiet]\n"
        "                 train a model as CONFIG says (one rank; under mpirun, one per rank)\n"
        "\n"
        "options:\n"
        "  -h, --help     show this help (`ddpc train --help` for the command's own)\n"
        "  --version      print the version\n"
        "\n"
        "environment:\n"
        "  DDPC_BLAS_CORETYPE  OpenBLAS kernels: auto (best for this CPU, default), env\n"
        "                      (keep OPENBLAS_CORETYPE), or a core name such as Haswell\n"
        "  DDPC_CACHE_DIR      where prepared data is cached (default ~/.cache/ddpc)\n"
        "  OPENBLAS_NUM_THREADS  threads of the matrix products\n"
        "\n"
        "See README.md for the config reference.\n",
        out);
}

int main(int argc, char **argv) {
  ddpc_blas_select_kernels(argv);
  ddpc_blas_select_threads();
  if (argc < 2) {
    main_usage(stderr);
    return DDPC_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    main_usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("ddpc %s\n", ddpc_version());
    return 0;
  }
  if (strcmp(cmd, "train") == 0) return ddpc_cli_train(argc - 1, argv + 1);
  fprintf(stderr, "ddpc: unknown command '%s'\n", cmd);
  main_usage(stderr);
  return DDPC_EXIT_USAGE;
}
