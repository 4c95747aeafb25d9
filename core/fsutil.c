/* mkdir -p and atomic file replacement (see fsutil.h). */
#include "core/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

int ddpc_fs_mkdirs(const char *path, mode_t mode) {
  char *copy = ddpc_strdup(path);
  if (!copy) return -1;
  for (char *p = copy + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char saved = *p;
    *p = '\0';
    if (mkdir(copy, mode) != 0 && errno != EEXIST) {
      ddpc_error_set("cannot create directory '%s': %s", copy, strerror(errno));
      free(copy);
      return -1;
    }
    *p = saved;
    if (saved == '\0') break;
  }
  free(copy);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return ddpc_error_set("'%s' exists and is not a directory", path);
  return 0;
}

int ddpc_fs_sync_parent(const char *path) {
  char *dir = ddpc_strdup(path);
  if (!dir) return -1;
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else strcpy(dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  int rc = 0;
  if (fd < 0 || fsync(fd) != 0) rc = ddpc_error_set("cannot sync directory '%s': %s", dir, strerror(errno));
  if (fd >= 0) close(fd);
  free(dir);
  return rc;
}

/* Runs write on fd, which it closes; sync: fsync before closing. */
static int fs_write_fd(int fd, const char *path, ddpc_fs_writer write, void *user, bool sync) {
  FILE *out = fdopen(fd, "w");
  if (!out) {
    close(fd);
    return ddpc_error_set("cannot open '%s' for writing: %s", path, strerror(errno));
  }
  int rc = write(out, user);
  if (rc == 0 && (fflush(out) != 0 || ferror(out) || (sync && fsync(fd) != 0)))
    rc = ddpc_error_set("cannot write '%s': %s", path, strerror(errno));
  if (fclose(out) != 0 && rc == 0) rc = ddpc_error_set("cannot write '%s': %s", path, strerror(errno));
  return rc;
}

int ddpc_fs_write_atomic(const char *path, ddpc_fs_writer write, void *user) {
  // A target that exists and is no regular file (/dev/null, /dev/stdout, a named pipe) is
  // written in place: a temporary file renamed over it would replace the device or the pipe
  // with a file (as root, /dev/null itself), and atomicity means nothing there.
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ddpc_error_set("cannot open '%s' for writing: %s", path, strerror(errno));
    return fs_write_fd(fd, path, write, user, false);
  }
  char *tmp = ddpc_format("%s.tmp.%ld", path, (long)getpid());
  if (!tmp) return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    ddpc_error_set("cannot create '%s': %s", tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  int rc = fs_write_fd(fd, path, write, user, true);
  if (rc == 0 && rename(tmp, path) != 0)
    rc = ddpc_error_set("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
  if (rc != 0) unlink(tmp);
  else rc = ddpc_fs_sync_parent(path);
  free(tmp);
  return rc;
}

bool ddpc_fs_read_head(const char *run_dir, const char *name, char *buf, size_t size) {
  char *path = ddpc_format("%s/%s", run_dir, name);
  FILE *f = path ? fopen(path, "r") : NULL;
  free(path);
  if (!f) return false;
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  return true;
}
