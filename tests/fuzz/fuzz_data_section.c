/* Fuzzes the reader of a checkpoint's data section (launch/train/train_data_hash.c), the
 * lines "KEY XXH64 BYTES" a resume reads to tell a moved data file from another one. The
 * input is the section's bytes. Whatever they hold, a line it accepts must be one the
 * writer could have written: formatted back, the hash and size give the line's text. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "launch/train/train_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether some line of the section is exactly `want`. */
static bool fuzz_has_line(const char *section, size_t len, const char *want) {
  size_t want_len = strlen(want);
  for (size_t at = 0; at < len;) {
    const char *nl = memchr(section + at, '\n', len - at);
    size_t line_len = nl ? (size_t)(nl - (section + at)) : len - at;
    if (line_len == want_len && memcmp(section + at, want, want_len) == 0) return true;
    at += line_len + 1;
  }
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // An exact-size copy: a read past the section's end is a finding for AddressSanitizer.
  char *section = malloc(size ? size : 1);
  if (!section) return 0;
  memcpy(section, data, size);
  static const char *const keys[] = {"data.train.path", "data.train.images", "data.test.labels"};
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    uint64_t xxh64 = 0, bytes = 0;
    if (!train_data_hash_saved(section, size, keys[k], &xxh64, &bytes)) continue;
    char line[128];
    snprintf(line, sizeof line, "%s %016" PRIx64 " %" PRIu64, keys[k], xxh64, bytes);
    if (!fuzz_has_line(section, size, line)) {
      fprintf(stderr, "data section: read %s, which is no line of the input\n", line);
      abort();
    }
  }
  free(section);
  return 0;
}
