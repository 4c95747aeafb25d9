/* The single recorded error message and the checked allocators (see error.h). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *error_text = NULL;

__attribute__((format(printf, 1, 0)))
static char *error_vformat(const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

int ddpc_error_set(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = error_vformat(fmt, ap);
  va_end(ap);
  free(error_text);
  error_text = s;
  return -1;
}

int ddpc_error_prefix(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *prefix = error_vformat(fmt, ap);
  va_end(ap);
  if (!prefix) return -1;
  const char *old = error_text ? error_text : "";
  size_t n = strlen(prefix) + strlen(old) + 1;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s%s", prefix, old);
  free(prefix);
  free(error_text);
  error_text = s;
  return -1;
}

const char *ddpc_error_message(void) { return error_text ? error_text : ""; }

void ddpc_error_clear(void) {
  free(error_text);
  error_text = NULL;
}

void *ddpc_malloc(size_t bytes, const char *what) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) ddpc_error_set("out of memory (%zu bytes for %s)", bytes, what);
  return p;
}

void *ddpc_calloc(size_t count, size_t size, const char *what) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) ddpc_error_set("out of memory (%zu x %zu bytes for %s)", count, size, what);
  return p;
}

void *ddpc_alloc_aligned(size_t bytes, const char *what) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void *p = NULL;
  if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
    ddpc_error_set("out of memory (%zu bytes for %s)", bytes, what);
    return NULL;
  }
  memset(p, 0, rounded ? rounded : 64);
  return p;
}

char *ddpc_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = ddpc_malloc(n, "string");
  if (d) memcpy(d, s, n);
  return d;
}

char *ddpc_format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = error_vformat(fmt, ap);
  va_end(ap);
  if (!s) ddpc_error_set("out of memory formatting a string");
  return s;
}
