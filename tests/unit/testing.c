/* Implementation of the unit-test harness declared in testing.h. */
#include "testing.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TESTING_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TESTING_ASAN 1
#endif
#endif

int testing_passed = 0;
int testing_failed = 0;
int testing_skipped = 0;

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

void testing_skip(const char *fmt, ...) {
  testing_skipped++;
  fputs("SKIPPED: ", stdout);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
}

int testing_finish(void) {
  printf("%d passed, %d failed, %d skipped\n", testing_passed, testing_failed, testing_skipped);
  if (testing_failed > 0) return 1;
  if (testing_passed == 0 && testing_skipped == 0) {
    fprintf(stderr, "FAILED: no check ran (a test program must check something, or say what it skipped)\n");
    return 1;
  }
  return testing_passed == 0 ? 77 : 0;
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

char *testing_run_limited(size_t extra, void (*fn)(void *arg, char *text, size_t size), void *arg, bool *limited) {
#ifdef TESTING_ASAN
  bool limit = false;
#else
  bool limit = true;
#endif
  if (limited) *limited = limit;
  enum { TEXT_SIZE = 4096 };
  int fds[2];
  if (pipe(fds) != 0) return NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return NULL;
  }
  if (pid == 0) {
    close(fds[0]);
    long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm || fscanf(statm, "%ld", &pages) != 1) _exit(3);
    fclose(statm);
    rlim_t at = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)extra;
    struct rlimit rl = {at, at};
    if (limit && setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
    char text[TEXT_SIZE] = {0};
    fn(arg, text, sizeof text);
    text[sizeof text - 1] = '\0';
    ssize_t w = write(fds[1], text, strlen(text));
    _exit(w < 0 ? 3 : 0);
  }
  close(fds[1]);
  char *text = calloc(TEXT_SIZE, 1);
  size_t got = 0;
  ssize_t n;
  while (text && got < TEXT_SIZE - 1 && (n = read(fds[0], text + got, TEXT_SIZE - 1 - got)) > 0) got += (size_t)n;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    free(text);
    return NULL;
  }
  return text;
}

unsigned char *testing_read_file(const char *path, size_t *bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  unsigned char *data = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
  *bytes = data ? fread(data, 1, (size_t)n, f) : 0;
  fclose(f);
  return data;
}

int testing_write_file(const char *path, const void *data, size_t bytes) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t put = fwrite(data, 1, bytes, f);
  return fclose(f) == 0 && put == bytes ? 0 : -1;
}
