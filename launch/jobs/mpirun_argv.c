/* The `mpirun ... ddpc train` argument vector and the vector builder (see mpirun_argv.h). */
#include "launch/jobs/mpirun_argv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "launch/train/start_marker.h"

/* Appends s, which the vector now owns (NULL: out of memory, an error already set). */
static void argv_adopt(ddpc_argv *a, char *s) {
  if (!s) a->failed = true;
  if (a->failed) {
    free(s);
    return;
  }
  if (a->n + 1 >= a->cap) {
    int cap = a->cap ? 2 * a->cap : 32;
    char **items = realloc(a->items, (size_t)cap * sizeof *items);
    if (!items) {
      ddpc_error_set("out of memory (argument vector of %d entries)", cap);
      a->failed = true;
      free(s);
      return;
    }
    a->items = items;
    a->cap = cap;
  }
  a->items[a->n++] = s;
  a->items[a->n] = NULL;
}

void ddpc_argv_push(ddpc_argv *a, const char *s) {
  if (a->failed) return;
  if (!s) {
    // A caller's option left unset: better no command than one with a hole in it.
    ddpc_error_set("argument vector: entry %d is missing", a->n);
    a->failed = true;
    return;
  }
  argv_adopt(a, ddpc_strdup(s));
}

void ddpc_argv_pushf(ddpc_argv *a, const char *fmt, ...) {
  if (a->failed) return;
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = len >= 0 ? ddpc_malloc((size_t)len + 1, "argument") : NULL;
  if (s) {
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
  } else if (len < 0) {
    ddpc_error_set("cannot format an argument (%s)", fmt);
  }
  argv_adopt(a, s);
}

void ddpc_launch_free_argv(char **argv) {
  if (!argv) return;
  for (char **p = argv; *p; p++) free(*p);
  free(argv);
}

char **ddpc_argv_finish(ddpc_argv *a, int *argc_out) {
  // Nothing pushed is still a vector: a lone NULL.
  char **argv = a->failed ? NULL : a->items ? a->items : ddpc_calloc(1, sizeof *argv, "argument vector");
  if (argv) *argc_out = a->n;
  else ddpc_launch_free_argv(a->items);
  memset(a, 0, sizeof *a);
  return argv;
}

/* Open MPI settings for jobs across hosts, which a restarting launcher depends on: without
 * keepalives mpirun never notices a host whose link went away, and without a start-up
 * timeout it waits forever for a daemon that never calls back (Open MPI's defaults: no
 * keepalive probes for minutes, orte_startup_timeout 0 = forever). A dead host is found
 * within about 10 + 3 x 5 s. The user's own values win. */
static const char *const mpirun_multihost_mca[][2] = {
    {"oob_tcp_keepalive_time", "10"},
    {"oob_tcp_keepalive_intvl", "5"},
    {"oob_tcp_keepalive_probes", "3"},
    {"orte_startup_timeout", "60"},
};
#define MPIRUN_MULTIHOST_MCA_COUNT (sizeof mpirun_multihost_mca / sizeof mpirun_multihost_mca[0])

/* Whether the extra arguments or the environment (OMPI_MCA_name) already set MCA `name`. */
static bool mpirun_sets_mca(const ddpc_mpirun_train *o, const char *name) {
  for (int i = 0; i < o->n_extra; i++)
    if (strcmp(o->extra[i], name) == 0) return true;
  char env[96];
  snprintf(env, sizeof env, "OMPI_MCA_%s", name);
  return getenv(env) != NULL;
}

char **ddpc_mpirun_train_argv(const ddpc_mpirun_train *o, int *argc_out) {
  ddpc_argv a = {0};
  ddpc_argv_push(&a, o->mpirun);
  if (geteuid() == 0) ddpc_argv_push(&a, "--allow-run-as-root");
  if (o->oversubscribe) ddpc_argv_push(&a, "--oversubscribe");
  if (o->hostfile) {
    ddpc_argv_push(&a, "--hostfile");
    ddpc_argv_push(&a, o->hostfile);
    for (size_t m = 0; m < MPIRUN_MULTIHOST_MCA_COUNT; m++) {
      if (mpirun_sets_mca(o, mpirun_multihost_mca[m][0])) continue;
      ddpc_argv_push(&a, "--mca");
      ddpc_argv_push(&a, mpirun_multihost_mca[m][0]);
      ddpc_argv_push(&a, mpirun_multihost_mca[m][1]);
    }
  }
  ddpc_argv_push(&a, "-n");
  ddpc_argv_pushf(&a, "%d", o->ranks);
  if (o->bind_to) {
    ddpc_argv_push(&a, "--bind-to");
    ddpc_argv_push(&a, o->bind_to);
  }
  if (o->cpu_set) {
    ddpc_argv_push(&a, "--cpu-set");
    ddpc_argv_push(&a, o->cpu_set);
  }
  for (int i = 0; i < o->n_extra; i++) ddpc_argv_push(&a, o->extra[i]);
  if (o->blas_export) {
    ddpc_argv_push(&a, "-x");
    ddpc_argv_push(&a, o->blas_export);
  }
  if (o->started_file) {
    ddpc_argv_push(&a, "-x");
    ddpc_argv_pushf(&a, "%s=%s", DDPC_START_MARKER_ENV, o->started_file);
  }
  ddpc_argv_push(&a, o->self_exe);
  ddpc_argv_push(&a, "train");
  ddpc_argv_push(&a, o->config_path);
  ddpc_argv_push(&a, "--run-dir");
  ddpc_argv_push(&a, o->run_dir);
  for (int i = 0; i < o->n_overrides; i++) {
    ddpc_argv_push(&a, "--set");
    ddpc_argv_push(&a, o->overrides[i]);
  }
  ddpc_argv_push(&a, "--resume");
  ddpc_argv_push(&a, "auto");
  if (o->allow_changes) {
    ddpc_argv_push(&a, "--allow-changes");
    ddpc_argv_push(&a, o->allow_changes);
  }
  if (o->quiet) ddpc_argv_push(&a, "--quiet");
  return ddpc_argv_finish(&a, argc_out);
}
