/* Argument helpers shared by the subcommands (see cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch/cli.h"

const char *ddpc_cli_option_value(const char *cmd, int argc, char **argv, int *i, const char *name) {
  size_t len = strlen(name);
  if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=') return argv[*i] + len + 1;
  if (strcmp(argv[*i], name) != 0) return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "ddpc %s: option %s needs a value\n", cmd, name);
    exit(DDPC_EXIT_USAGE);
  }
  return argv[++*i];
}
