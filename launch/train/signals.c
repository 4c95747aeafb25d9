/* Stop-signal flag (see signals.h). */
#include "launch/train/signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t signals_stop_requested = 0;
static struct sigaction signals_old_term, signals_old_usr1, signals_old_int;

static void signals_on_stop(int sig) {
  signals_stop_requested = 1;
  // Back to the default action: a second signal ends a process that cannot stop cleanly.
  if (sig == SIGTERM || sig == SIGINT) signal(sig, SIG_DFL);
  if (sig == SIGINT) {  // Ctrl-C at a terminal: say what happens, as every trainer does
    static const char msg[] = "\nddpc: interrupted: checkpointing at the next step, then stopping "
                              "(Ctrl-C again stops at once, without a checkpoint)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
  }
}

void ddpc_signals_install(void) {
  signals_stop_requested = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = signals_on_stop;
  sigemptyset(&sa.sa_mask);
  // Reads of data files and checkpoints go on as if nothing happened; the flag is looked
  // at between steps.
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, &signals_old_term);
  sigaction(SIGUSR1, &sa, &signals_old_usr1);
  sigaction(SIGINT, &sa, &signals_old_int);
}

bool ddpc_signals_pending(void) { return signals_stop_requested != 0; }

void ddpc_signals_restore(void) {
  sigaction(SIGTERM, &signals_old_term, NULL);
  sigaction(SIGUSR1, &signals_old_usr1, NULL);
  sigaction(SIGINT, &signals_old_int, NULL);
}
