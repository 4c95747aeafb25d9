/* The fuzzers' shared helpers (see fuzz_common.h). */
#define _XOPEN_SOURCE 700  // nftw

#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *fuzz_folder;  // made by fuzz_dir(), removed at exit
static pid_t fuzz_owner;   // the process that made it (a forked child leaves it alone)

static void fuzz_die(const char *what) {
  fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
  abort();
}

static int fuzz_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void fuzz_cleanup(void) {
  if (fuzz_folder && getpid() == fuzz_owner) nftw(fuzz_folder, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void) {
  if (fuzz_folder) return fuzz_folder;
  const char *tmp = getenv("TMPDIR");
  size_t len = strlen(tmp && *tmp ? tmp : "/tmp") + sizeof "/ddpc-fuzz-XXXXXX";
  char *dir = malloc(len);
  if (!dir) fuzz_die("out of memory");
  snprintf(dir, len, "%s/ddpc-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) fuzz_die(dir);
  fuzz_folder = dir;
  fuzz_owner = getpid();
  atexit(fuzz_cleanup);
  return fuzz_folder;
}

char *fuzz_path(const char *name) {
  const char *dir = fuzz_dir();
  size_t len = strlen(dir) + strlen(name) + 2;
  char *path = malloc(len);
  if (!path) fuzz_die("out of memory");
  snprintf(path, len, "%s/%s", dir, name);
  return path;
}

char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
  char *path = fuzz_path(name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fuzz_die(path);
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fuzz_die(path);
    done += (size_t)n;
  }
  if (close(fd) != 0) fuzz_die(path);
  return path;
}

void fuzz_remove(char *path) {
  if (!path) return;
  unlink(path);
  free(path);
}

void fuzz_split(const uint8_t *data, size_t size, fuzz_parts *out) {
  memset(out, 0, sizeof *out);
  out->text = malloc(size + 1);
  if (!out->text) fuzz_die("out of memory");
  if (size) memcpy(out->text, data, size);
  out->text[size] = '\0';
  out->part[out->n++] = out->text;
  for (size_t i = 0; i < size && out->n < FUZZ_MAX_PARTS; i++)
    if (out->text[i] == '\0') out->part[out->n++] = out->text + i + 1;
}

void fuzz_parts_free(fuzz_parts *p) {
  free(p->text);
  memset(p, 0, sizeof *p);
}

FILE *fuzz_sink(void) {
  static FILE *sink;
  if (!sink && !(sink = fopen("/dev/null", "w"))) fuzz_die("/dev/null");
  return sink;
}

uint32_t fuzz_get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t fuzz_get_u64(const uint8_t *p) { return (uint64_t)fuzz_get_u32(p) | (uint64_t)fuzz_get_u32(p + 4) << 32; }

void fuzz_put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void fuzz_put_u64(uint8_t *p, uint64_t v) {
  fuzz_put_u32(p, (uint32_t)v);
  fuzz_put_u32(p + 4, (uint32_t)(v >> 32));
}
