/* Final state -> exit code (see exit_code.h). */
#include "core/exit_code.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

ddpc_exit_code ddpc_exit_code_of_state(const char *state) {
  static const struct {
    const char *state;        // a final state of the training machine
    ddpc_exit_code exit_code; // what `ddpc train` exits with in it
  } codes[] = {{"done", DDPC_EXIT_OK},           {"rejected", DDPC_EXIT_OK},          {"pruned", DDPC_EXIT_OK},
               {"diverged", DDPC_EXIT_DIVERGED}, {"await_review", DDPC_EXIT_AWAIT_REVIEW},
               {"preempted", DDPC_EXIT_PREEMPTED}, {"failed", DDPC_EXIT_FAULT},
               {"groups_failed", DDPC_EXIT_GROUPS_FAILED}};
  for (size_t i = 0; state && i < sizeof codes / sizeof codes[0]; i++)
    if (strcmp(state, codes[i].state) == 0) return codes[i].exit_code;
  return DDPC_EXIT_FAILED;
}

void ddpc_exit_code_explain(const char *state) {
  int code = (int)ddpc_exit_code_of_state(state);
  if (code == DDPC_EXIT_OK) return;
  fprintf(stderr,
          "ddpc: exit code %d is the run's outcome (state %s, in summary.json), not a crash: the launcher's "
          "report of a non-zero exit code is about this\n",
          code, state);
  fflush(stderr);
}
