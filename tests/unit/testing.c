/* Implementation of the unit-test harness declared in testing.h. */
#include "testing.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int testing_passed = 0;
int testing_failed = 0;

void testing_check(bool ok, const char *file, int line, const char *fmt, ...) {
  if (ok) {
    testing_passed++;
    return;
  }
  testing_failed++;
  fprintf(stderr, "%s:%d: FAILED: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int testing_finish(void) {
  printf("%d passed, %d failed\n", testing_passed, testing_failed);
  return testing_failed == 0 ? 0 : 1;
}

const char *testing_source_path(const char *relative) {
  static char path[4096];
  const char *root = getenv("DDPC_SOURCE_DIR");
  if (!root) return NULL;
  snprintf(path, sizeof path, "%s/%s", root, relative);
  return path;
}

const char *testing_temp_dir(void) {
  static char dir[4096];
  if (dir[0]) return dir;
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/ddpc-test-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(2);
  }
  return dir;
}
