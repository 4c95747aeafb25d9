/* The run directory's lock (see run_lock.h): an fcntl write lock on RUN_DIR/.lock. */
#include "launch/train/run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/sysinfo.h"

/* How often a waiting training tries again: a holder that was told to stop ends within a
 * few of these. */
#define RUN_LOCK_POLL_SECONDS 0.05

static char *run_lock_path(const char *run_dir) { return ddpc_format("%s/.lock", run_dir); }

int ddpc_run_lock_take(const char *run_dir, double wait_seconds) {
  char *path = run_lock_path(run_dir);
  int fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
  if (fd < 0) {
    if (path) ddpc_error_set("%s: cannot open: %s", path, strerror(errno));
    free(path);
    return -1;
  }
  double deadline = ddpc_time_seconds() + wait_seconds;
  for (;;) {
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &lock) == 0) break;
    int err = errno;
    if (err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS) {
      // A filesystem without locks (some NFS set-ups): training must still run there.
      fprintf(stderr, "ddpc: warning: %s: this filesystem offers no locks (%s); nothing keeps a second training out "
                      "of %s\n", path, strerror(err), run_dir);
      break;
    }
    if ((err != EACCES && err != EAGAIN) || ddpc_time_seconds() >= deadline) {
      if (err == EACCES || err == EAGAIN)
        ddpc_error_set("%s: another training is running in this run directory (it holds %s); wait for it to end, "
                       "or pick another --run-dir",
                       run_dir, path);
      else ddpc_error_set("%s: cannot lock: %s", path, strerror(err));
      close(fd);
      free(path);
      return -1;
    }
    struct timespec pause = {0, (long)(RUN_LOCK_POLL_SECONDS * 1e9)};
    nanosleep(&pause, NULL);
  }
  free(path);
  return fd;
}

int ddpc_run_lock_held(const char *run_dir) {
  char *path = run_lock_path(run_dir);
  int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) {
    int err = errno;
    int rc = !path ? -1 : err == ENOENT ? 0 : ddpc_error_set("%s: cannot open: %s", path, strerror(err));
    free(path);
    return rc;
  }
  // Asks without taking it: a lock taken even for a moment could turn a training away.
  struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  int rc = fcntl(fd, F_GETLK, &lock) != 0 ? ddpc_error_set("%s: cannot ask for its lock: %s", path, strerror(errno))
                                           : lock.l_type != F_UNLCK;
  close(fd);
  free(path);
  return rc;
}

void ddpc_run_lock_release(int fd) {
  if (fd >= 0) close(fd);
}
