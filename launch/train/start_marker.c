/* The start marker file (see start_marker.h). */
// realpath() is XSI, beyond the POSIX level the build asks for.
#define _XOPEN_SOURCE 700
#include "launch/train/start_marker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

char *ddpc_start_marker_prepare(const char *run_dir) {
  char *dir = realpath(run_dir, NULL);
  if (!dir) {
    ddpc_error_set("%s: %s", run_dir, strerror(errno));
    return NULL;
  }
  char *path = ddpc_format("%s/.started", dir);
  free(dir);
  if (path && unlink(path) != 0 && errno != ENOENT) {
    ddpc_error_set("cannot remove the start marker %s: %s", path, strerror(errno));
    free(path);
    return NULL;
  }
  return path;
}

bool ddpc_start_marker_seen(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

void ddpc_start_marker_write(void) {
  const char *path = getenv(DDPC_START_MARKER_ENV);
  if (!path || !*path) return;
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || close(fd) != 0)
    fprintf(stderr, "ddpc train: warning: cannot create the start marker %s (%s=%s): %s; the supervisor will take "
                    "this attempt for a hung start\n",
            path, DDPC_START_MARKER_ENV, path, strerror(errno));
}
