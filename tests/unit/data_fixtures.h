/* Shared helpers of the data-pipeline tests (test_data_*.c): write small IDX and CSV files
 * into the test's temporary directory, build a data config, and capture stderr. Header-only
 * (static functions) because each test is its own program. */
#ifndef DDPC_TEST_DATA_FIXTURES_H
#define DDPC_TEST_DATA_FIXTURES_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/config.h"
#include "core/error.h"
#include "testing.h"

/* A path inside the test's temporary directory; the caller frees it. */
static inline char *fixture_path(const char *name) {
  char *p = ddpc_format("%s/%s", testing_temp_dir(), name);
  if (!p) exit(2);
  return p;
}

/* Writes bytes to path, gzip-compressed when gz (whatever the file name says). */
static inline void fixture_write(const char *path, const void *data, size_t len, int gz) {
  if (gz) {
    gzFile f = gzopen(path, "wb");
    if (!f || (len && gzwrite(f, data, (unsigned)len) != (int)len) || gzclose(f) != Z_OK) {
      fprintf(stderr, "cannot write %s\n", path);
      exit(2);
    }
    return;
  }
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(2);
  }
}

static inline void fixture_text(const char *path, const char *text) { fixture_write(path, text, strlen(text), 0); }

static inline void fixture_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
  p[3] = (unsigned char)v;
}

/* IDX images n x h x w with pixel (i, k) = (i * 31 + k * 7) % 256, and `extra` bytes of
 * data more (negative: fewer) than the header says. */
static inline void fixture_idx_images(const char *path, int gz, uint32_t n, uint32_t h, uint32_t w, long extra) {
  size_t data = (size_t)n * h * w;
  size_t len = 16 + (size_t)((long)data + extra);
  unsigned char *buf = calloc(len + 1, 1);
  fixture_be32(buf, 0x803), fixture_be32(buf + 4, n), fixture_be32(buf + 8, h), fixture_be32(buf + 12, w);
  for (size_t i = 16; i < len; i++) {
    size_t s = (i - 16) / ((size_t)h * w), k = (i - 16) % ((size_t)h * w);
    buf[i] = (unsigned char)((s * 31 + k * 7) % 256);
  }
  fixture_write(path, buf, len, gz);
  free(buf);
}

static inline unsigned char fixture_pixel(size_t sample, size_t k) { return (unsigned char)((sample * 31 + k * 7) % 256); }

/* IDX labels: labels[i] for i < n. */
static inline void fixture_idx_labels(const char *path, int gz, uint32_t n, const unsigned char *labels) {
  unsigned char *buf = malloc(8 + (size_t)n);
  fixture_be32(buf, 0x801), fixture_be32(buf + 4, n);
  memcpy(buf + 8, labels, n);
  fixture_write(path, buf, 8 + (size_t)n, gz);
  free(buf);
}

/* A config for IDX classification with no preprocessing and no cache. */
static inline void fixture_config_idx(ddpc_config *cfg, char *images, char *labels) {
  memset(cfg, 0, sizeof *cfg);
  cfg->seed = 42;
  cfg->data.format = DDPC_DATA_FORMAT_IDX;
  cfg->data.task = DDPC_TASK_CLASSIFICATION;
  cfg->data.train.images = images;
  cfg->data.train.labels = labels;
  cfg->data.val_fraction = 0.2;
}

static inline void fixture_config_csv(ddpc_config *cfg, char *path, char *label_column, ddpc_task task) {
  memset(cfg, 0, sizeof *cfg);
  cfg->seed = 42;
  cfg->data.format = DDPC_DATA_FORMAT_CSV;
  cfg->data.task = task;
  cfg->data.train.path = path;
  cfg->data.label_column = label_column;
}

/* Stderr capture: fixture_capture_begin() sends stderr to a file, _end() restores it and
 * returns what was written (caller frees). */
static int fixture_saved_stderr = -1;
static inline void fixture_capture_begin(void) {
  fflush(stderr);
  char *p = fixture_path("stderr.txt");
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  free(p);
  fixture_saved_stderr = dup(2);
  dup2(fd, 2);
  close(fd);
}

static inline char *fixture_capture_end(void) {
  fflush(stderr);
  dup2(fixture_saved_stderr, 2);
  close(fixture_saved_stderr);
  char *p = fixture_path("stderr.txt");
  FILE *f = fopen(p, "rb");
  free(p);
  char *text = calloc(1 << 16, 1);
  if (f) {
    size_t got = fread(text, 1, (1 << 16) - 1, f);
    text[got] = '\0';
    fclose(f);
  }
  return text;
}

/* CHECK that the last error message contains `part`. */
#define CHECK_ERROR_HAS(part)                                                                        \
  CHECK(strstr(ddpc_error_message(), (part)) != NULL, "error message '%s' should contain '%s'", \
        ddpc_error_message(), (part))

#endif
