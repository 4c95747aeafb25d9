/* The run directory's lock (launch/train/run_lock.c), which keeps a restarted trial from training
 * beside the previous attempt's lingering rank: held by another process is seen without
 * taking it, a second taker waits and then gives up with a message naming the directory,
 * and the lock is free once its holder is gone (also when it was killed). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/sysinfo.h"
#include "launch/train/run_lock.h"
#include "testing.h"

int main(void) {
  const char *dir = testing_temp_dir();
  CHECK(ddpc_run_lock_held(dir) == 0, "never taken: free (%s)", ddpc_error_message());

  int ready[2];
  CHECK(pipe(ready) == 0, "pipe");
  fflush(NULL);
  pid_t holder = fork();
  if (holder == 0) {
    close(ready[0]);
    int fd = ddpc_run_lock_take(dir, 0);
    char ok = fd >= 0 ? 'y' : 'n';
    if (write(ready[1], &ok, 1) != 1) _exit(3);
    pause();  // until killed
    _exit(0);
  }
  close(ready[1]);
  char ok = 0;
  CHECK(read(ready[0], &ok, 1) == 1 && ok == 'y', "another process took the lock");
  close(ready[0]);

  CHECK(ddpc_run_lock_held(dir) == 1, "held by the other process");
  CHECK(ddpc_run_lock_held(dir) == 1, "asking did not take it");
  double t0 = ddpc_time_seconds();
  ddpc_error_clear();
  int fd = ddpc_run_lock_take(dir, 0.3);
  double waited = ddpc_time_seconds() - t0;
  CHECK(fd < 0, "a second taker is turned away");
  CHECK(waited >= 0.25, "after waiting its time (%.2f s)", waited);
  CHECK(strstr(ddpc_error_message(), dir) && strstr(ddpc_error_message(), "another training is running"),
        "the message names the directory: %s", ddpc_error_message());

  kill(holder, SIGKILL);
  waitpid(holder, NULL, 0);
  CHECK(ddpc_run_lock_held(dir) == 0, "free once its holder was killed");
  fd = ddpc_run_lock_take(dir, 0);
  CHECK(fd >= 0, "taken then: %s", ddpc_error_message());
  CHECK(ddpc_run_lock_held(dir) == 0, "a process's own lock does not count as another's");
  ddpc_run_lock_release(fd);

  CHECK(ddpc_run_lock_take("/nonexistent/run", 0) < 0 && strstr(ddpc_error_message(), "/nonexistent/run/.lock"),
        "a missing directory: %s", ddpc_error_message());
  return testing_finish();
}
