/* The subcommands' table-driven option parser and the helpers they share (see cli.h). */
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

/* Seconds >= 0 (at most 1e9) for `option`; -1 after a message when `v` is not such a number. */
static double cli_parse_seconds(const char *cmd, const char *option, const char *v) {
  char *end;
  errno = 0;
  double s = strtod(v, &end);
  if (end == v || *end != '\0' || errno != 0 || !(s >= 0.0) || s > 1e9) {
    fprintf(stderr, "ddpc %s: %s expects seconds >= 0, got '%s'\n", cmd, option, v);
    return -1.0;
  }
  return s;
}

/* The entry of c's table that argv[*i] names, with its value in *value (*i moved past a
 * separate one); NULL when it names none. *missing is set when a value is due but argv
 * ended. */
static const ddpc_cli_option *cli_match(const ddpc_cli_command *c, int argc, char **argv, int *i, const char **value,
                                        bool *missing) {
  const char *arg = argv[*i];
  for (int k = 0; k < c->n_options; k++) {
    const ddpc_cli_option *o = &c->options[k];
    size_t len = strlen(o->name);
    if (strncmp(arg, o->name, len) != 0) continue;
    if (o->kind == DDPC_CLI_FLAG) {
      if (arg[len] == '\0') return o;
    } else if (arg[len] == '=') {
      *value = arg + len + 1;
      return o;
    } else if (arg[len] == '\0') {
      *missing = *i + 1 >= argc;
      if (!*missing) *value = argv[++*i];
      return o;
    }
  }
  return NULL;
}

/* Stores one option's value; -1 to go on, or the exit code. */
static int cli_take(const char *cmd, const ddpc_cli_option *o, const char *v) {
  switch (o->kind) {
    case DDPC_CLI_FLAG:
      *(bool *)o->dest = true;
      return -1;
    case DDPC_CLI_STRING:
      *(const char **)o->dest = v;
      return -1;
    case DDPC_CLI_COUNT: {
      int n = ddpc_cli_parse_count(cmd, o->name, v, o->min);
      if (n < 0) return DDPC_EXIT_USAGE;
      *(int *)o->dest = n;
      return -1;
    }
    case DDPC_CLI_SECONDS: {
      double s = cli_parse_seconds(cmd, o->name, v);
      if (s < 0) return DDPC_EXIT_USAGE;
      *(double *)o->dest = s;
      return -1;
    }
    case DDPC_CLI_REPEATABLE:
      ((const char **)o->dest)[(*o->count)++] = v;
      return -1;
    case DDPC_CLI_CALL:
      return o->call(cmd, o, v);
  }
  return -1;
}

int ddpc_cli_parse(const ddpc_cli_command *c, int argc, char **argv) {
  const char *cmd = c->cmd;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *value = NULL;
    bool missing = false;
    const ddpc_cli_option *o = cli_match(c, argc, argv, &i, &value, &missing);
    int rc = -1;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      c->usage(stdout);
      rc = DDPC_EXIT_OK;
    } else if (missing) {
      fprintf(stderr, "ddpc %s: option %s needs a value\n", cmd, o->name);
      rc = DDPC_EXIT_USAGE;
    } else if (o) {
      rc = cli_take(cmd, o, value);
    } else if (arg[0] == '-' && arg[1] != '\0') {
      fprintf(stderr, "ddpc %s: unknown option '%s' (see ddpc %s --help)\n", cmd, arg, cmd);
      rc = DDPC_EXIT_USAGE;
    } else if (!*c->positional_dest) {
      *c->positional_dest = arg;
    } else {
      fprintf(stderr, "ddpc %s: unexpected argument '%s'%s%s%s\n", cmd, arg, c->positional ? ": only one " : "",
              c->positional ? c->positional : "", c->positional ? " is taken" : "");
      rc = DDPC_EXIT_USAGE;
    }
    if (rc >= 0) return rc;
  }
  if (c->positional_required && !*c->positional_dest) {
    fprintf(stderr, "ddpc %s: missing %s (see ddpc %s --help)\n", cmd, c->positional, cmd);
    return DDPC_EXIT_USAGE;
  }
  return -1;
}
