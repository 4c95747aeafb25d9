/* Reading a run's outcome from its summary.json (see run_summary.h). */
#include "launch/run_summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "launch/cli.h"

char *ddpc_run_summary_state(const char *run_dir) {
  char *path = ddpc_format("%s/summary.json", run_dir);
  FILE *f = path ? fopen(path, "r") : NULL;
  free(path);
  if (!f) return NULL;
  // The state is among the first keys ddpc writes; the head of the file is enough.
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *key = strstr(buf, "\"state\":");
  if (!key) return NULL;
  const char *q = strchr(key + 8, '"');
  const char *end = q ? strchr(q + 1, '"') : NULL;
  return end ? ddpc_format("%.*s", (int)(end - q - 1), q + 1) : NULL;
}

int ddpc_run_state_exit_code(const char *state) {
  static const struct {
    const char *state;  // a final state of the training machine
    int exit_code;      // what `ddpc train` exits with in it
  } codes[] = {{"done", DDPC_EXIT_OK},           {"rejected", DDPC_EXIT_OK},          {"pruned", DDPC_EXIT_OK},
               {"diverged", DDPC_EXIT_DIVERGED}, {"await_review", DDPC_EXIT_AWAIT_REVIEW},
               {"preempted", DDPC_EXIT_PREEMPTED}, {"failed", DDPC_EXIT_FAULT}};
  for (size_t i = 0; state && i < sizeof codes / sizeof codes[0]; i++)
    if (strcmp(state, codes[i].state) == 0) return codes[i].exit_code;
  return DDPC_EXIT_FAILED;
}
