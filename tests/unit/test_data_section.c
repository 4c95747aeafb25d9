/* A checkpoint's data section as a resume reads it (launch/train/train_data_hash.c): the
 * line for a key gives its content hash and size only when written as the writer writes it
 * ("KEY XXH64 BYTES", 16 lowercase hex digits, a decimal size); the key must match whole. */
#include <stdint.h>
#include <string.h>

#include "launch/train/train_internal.h"
#include "testing.h"

/* Reads key from text; returns whether a line was found, with its values. */
static bool read_line(const char *text, const char *key, uint64_t *xxh64, uint64_t *bytes) {
  *xxh64 = *bytes = 0;
  return train_data_hash_saved(text, strlen(text), key, xxh64, bytes);
}

int main(void) {
  uint64_t h = 0, n = 0;
  const char *idx = "data.train.images 0123456789abcdef 26421880\ndata.train.labels fedcba9876543210 29515\n";
  CHECK(read_line(idx, "data.train.labels", &h, &n) && h == 0xfedcba9876543210u && n == 29515,
        "the second line: %llx %llu", (unsigned long long)h, (unsigned long long)n);
  CHECK(read_line(idx, "data.train.images", &h, &n) && h == 0x0123456789abcdefu && n == 26421880, "the first line");
  CHECK(!read_line(idx, "data.train.path", &h, &n), "a key without a line");
  CHECK(!read_line(idx, "data.train", &h, &n), "a key that is a prefix of another");
  // The last line needs no newline; the largest size fits, one more does not.
  CHECK(read_line("data.test.path 00000000000000ff 18446744073709551615", "data.test.path", &h, &n) && h == 255 &&
            n == UINT64_MAX,
        "the largest size");
  CHECK(read_line("data.test.path 00000000000000ff 0", "data.test.path", &h, &n) && n == 0, "size 0");
  static const char *const bad[] = {
      "data.test.path 00000000000000ff 18446744073709551616",  // past 64 bits
      "data.test.path 00000000000000FF 1",                      // uppercase
      "data.test.path 0ff 1",                                   // too few digits
      "data.test.path 00000000000000ff1 1",                     // too many
      "data.test.path 00000000000000ff 01",                     // a leading zero
      "data.test.path 00000000000000ff -1",                     // a sign
      "data.test.path 00000000000000ff 1 ",                     // trailing text
      "data.test.path 00000000000000ff",                        // no size
      "data.test.path  00000000000000ff 1",                     // two spaces
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(!read_line(bad[i], "data.test.path", &h, &n), "refused: '%s'", bad[i]);
  // A malformed line does not hide a good one for the same key further down.
  CHECK(read_line("data.test.path zz 1\ndata.test.path 0000000000000001 2\n", "data.test.path", &h, &n) && h == 1 &&
            n == 2,
        "the well-formed line after a malformed one");
  // Bytes are counted, not read to a NUL: a section cut in the middle of a line.
  const char *cut = "data.train.path 0000000000000001 12345";
  CHECK(read_line(cut, "data.train.path", &h, &n) && n == 12345, "whole");
  CHECK(train_data_hash_saved(cut, strlen(cut) - 3, "data.train.path", &h, &n) && n == 12,
        "cut 3 bytes short: size %llu", (unsigned long long)n);
  return testing_finish();
}
