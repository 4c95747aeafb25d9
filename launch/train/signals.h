/* Stop requests from outside: SIGTERM (a scheduler preempting or a user's kill), SIGINT
 * (Ctrl-C at a terminal) and SIGUSR1 (Slurm's warning before the time limit,
 * `--signal=B:USR1@60`). The handler only
 * sets a flag; the training loop polls it at step boundaries, agrees with the other ranks,
 * checkpoints and stops in state `preempted`. A second SIGINT/SIGTERM while the first is
 * being handled is left to the default action, so a stuck process can still be killed. */
#ifndef DDPC_LAUNCH_SIGNALS_H
#define DDPC_LAUNCH_SIGNALS_H

#include <stdbool.h>

void ddpc_signals_install(void);
/* Whether a stop signal arrived since install. */
bool ddpc_signals_pending(void);
/* Restores the previous handlers. */
void ddpc_signals_restore(void);

#endif
