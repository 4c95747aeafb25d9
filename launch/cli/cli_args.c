/* Argument helpers shared by the subcommands (see cli.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "launch/cli/cli.h"

int ddpc_cli_parse_count(const char *cmd, const char *option, const char *v, int min) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < min || n > INT_MAX) {
    fprintf(stderr, "ddpc %s: %s wants a whole number >= %d, got '%s'\n", cmd, option, min, v);
    return -1;
  }
  return (int)n;
}

char *ddpc_cli_self_exe(void) {
  for (size_t size = 256;; size *= 2) {
    char *buf = ddpc_malloc(size, "path of the ddpc binary");
    if (!buf) return NULL;
    ssize_t n = readlink("/proc/self/exe", buf, size);
    if (n < 0) {
      ddpc_error_set("/proc/self/exe: %s", strerror(errno));
      free(buf);
      return NULL;
    }
    if ((size_t)n < size) {
      buf[n] = '\0';
      return buf;
    }
    free(buf);
  }
}

int ddpc_cli_option_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value) {
  size_t len = strlen(name);
  *value = NULL;
  if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=') {
    *value = argv[*i] + len + 1;
    return 1;
  }
  if (strcmp(argv[*i], name) != 0) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "ddpc %s: option %s needs a value\n", cmd, name);
    return -1;
  }
  *value = argv[++*i];
  return 1;
}
