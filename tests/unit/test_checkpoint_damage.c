/* Damage to a real checkpoint, exhaustively: one written by training the CSV example
 * through ddpc_train_run is cut at every offset and has every bit of every byte flipped,
 * one at a time (every k-th offset when the file is large, to keep the test to a few
 * seconds). Every
 * damaged file must be refused, never accepted or crashed on, with a message naming the
 * file and the damaged place: the header, or the section that owns the byte (by number
 * for a descriptor, by name for its data). A flip in an uncompressed section's data must
 * be caught by that section's CRC. The test walks the file layout on its own (not through
 * the reader) so that it checks the reader's messages against an independent map. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "ddpc/ddpc.h"
#include "testing.h"

// The layout of core/checkpoint.h, restated: header, then a descriptor and data per section.
enum { HEADER_BYTES = 20, DESC_BYTES = 52, NAME_BYTES = 16 };
// At most this many offsets are damaged; beyond that every k-th offset is taken.
#define MAX_OFFSETS 8192

/* One region of the file: the header, a section's descriptor or a section's data. */
typedef struct {
  uint64_t begin, end;      // byte range [begin, end)
  int section;              // 1-based section number; 0 for the header
  bool data;                // the section's data (else its descriptor)
  uint64_t desc_at;         // byte offset of the section's descriptor
  uint32_t codec;           // 0 stored as is, 1 zlib
  char name[NAME_BYTES];    // the section's name
} region;

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* Maps the intact file into regions; returns how many (0 when the walk does not end at
 * the file's end, which the test reports). */
static int layout_map(const unsigned char *b, size_t n, region *out, int cap) {
  if (n < HEADER_BYTES) return 0;
  uint32_t count = get_u32(b + 12);
  out[0] = (region){0, HEADER_BYTES, 0, false, 0, 0, "header"};
  int k = 1;
  uint64_t at = HEADER_BYTES;
  for (uint32_t i = 0; i < count && k + 2 <= cap; i++) {
    if (at + DESC_BYTES > n) return 0;
    region d = {at, at + DESC_BYTES, (int)i + 1, false, at, get_u32(b + at + 4), ""};
    memcpy(d.name, b + at + 8, NAME_BYTES);
    d.name[NAME_BYTES - 1] = '\0';
    uint64_t stored = get_u64(b + at + 32);
    region data = d;
    data.begin = d.end;
    data.end = d.end + stored;
    data.data = true;
    out[k++] = d;
    if (stored > 0) out[k++] = data;
    at = data.end;
  }
  return at == n ? k : 0;
}

static const region *layout_find(const region *map, int n_regions, uint64_t offset) {
  for (int i = 0; i < n_regions; i++)
    if (offset >= map[i].begin && offset < map[i].end) return &map[i];
  return NULL;
}

/* Flips the bits of `mask` in byte `at` of `path` in place (a second call undoes it):
 * one byte written per case instead of the whole file. */
static int file_flip(const char *path, size_t at, unsigned char mask) {
  int fd = open(path, O_RDWR);
  unsigned char b = 0;
  int rc = fd >= 0 && pread(fd, &b, 1, (off_t)at) == 1 ? 0 : -1;
  b ^= mask;
  if (rc == 0 && pwrite(fd, &b, 1, (off_t)at) != 1) rc = -1;
  if (fd >= 0) close(fd);
  return rc;
}


/* The error of reading `path`, or NULL when the reader accepted it. */
static const char *damage_read(const char *path) {
  ddpc_checkpoint *ck = NULL;
  int rc = ddpc_checkpoint_read(path, &ck);
  ddpc_checkpoint_free(ck);
  return rc == 0 ? NULL : ddpc_error_message();
}

static bool has(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool has(const char *text, const char *fmt, ...) {
  char want[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(want, sizeof want, fmt, ap);
  va_end(ap);
  return strstr(text, want) != NULL;
}

/* Whether msg names region r: "header at byte 0" / "bad magic at byte 0" for the header,
 * "section #i at byte P" for a descriptor, "section 'name' ... at byte P" for data. */
static bool names_region(const char *msg, const region *r) {
  if (r->section == 0) return has(msg, "at byte 0");
  if (!r->data) return has(msg, "section #%d ", r->section) && has(msg, "at byte %" PRIu64, r->desc_at);
  return has(msg, "section '%s' ", r->name) && has(msg, "at byte %" PRIu64, r->desc_at);
}

/* Trains the CSV example for two epochs; the newest checkpoint's path (caller frees). */
static char *damage_make_checkpoint(const char *run_dir) {
  const char *config = testing_source_path("examples/cultivars_csv.yaml");
  const char *overrides[] = {"train.epochs=2"};
  ddpc_train_options opt;
  memset(&opt, 0, sizeof opt);
  opt.config_path = config;
  opt.overrides = overrides;
  opt.n_overrides = 1;
  opt.run_dir = run_dir;
  opt.quiet = 1;
  ddpc_train_result res;
  int rc = ddpc_train_run(&opt, &res);
  CHECK(rc == 0 && strcmp(res.state, "done") == 0, "training the CSV example: rc %d, state %s: %s", rc, res.state,
        ddpc_last_error());
  char *path = NULL;
  ddpc_checkpoint *ck = NULL;
  CHECK(ddpc_checkpoint_find_latest(run_dir, &path, &ck) == 0, "a checkpoint of the run: %s", ddpc_error_message());
  ddpc_checkpoint_free(ck);
  return path;
}

static void test_damage_sweep(void) {
  char run_dir[4200], bad[4200];
  snprintf(run_dir, sizeof run_dir, "%s/run", testing_temp_dir());
  snprintf(bad, sizeof bad, "%s/damaged.ddpc", testing_temp_dir());
  char *good = damage_make_checkpoint(run_dir);
  if (!good) return;
  size_t n = 0;
  unsigned char *bytes = testing_read_file(good, &n);
  CHECK(bytes && n > 1000, "the checkpoint has %zu bytes", n);
  region map[64];
  int n_regions = bytes ? layout_map(bytes, n, map, 64) : 0;
  CHECK(n_regions > 0, "the layout walk ends at the file's end (%zu bytes)", n);
  if (n_regions == 0) {
    free(bytes);
    free(good);
    return;
  }
  bool params_as_is = false, some_zlib = false;
  for (int i = 0; i < n_regions; i++) {
    params_as_is |= map[i].data && map[i].codec == 0 && strcmp(map[i].name, "params") == 0;
    some_zlib |= map[i].data && map[i].codec == 1;
  }
  CHECK(params_as_is && some_zlib, "the real checkpoint has params stored as is and zlib sections (both paths swept)");
  size_t stride = (n + MAX_OFFSETS - 1) / MAX_OFFSETS;

  // Every cut: the first missing byte is at `len`; the message names the header or the
  // section owning that byte, says "truncated", and gives the offset or the file's size.
  int cuts = 0, accepted = 0, unnamed = 0, io_failed = 0, cuts_accepted;
  io_failed += testing_write_file(bad, bytes, n) != 0;
  // Longest first, so each cut is one truncate() of the same file.
  for (size_t k = (n - 1) / stride + 1; k-- > 0; cuts++) {
    size_t len = k * stride;
    io_failed += truncate(bad, (off_t)len) != 0;
    const char *msg = damage_read(bad);
    if (!msg) {
      accepted++;
      fprintf(stderr, "accepted: cut at byte %zu\n", len);
      continue;
    }
    const region *r = layout_find(map, n_regions, len);
    bool ok = strncmp(msg, bad, strlen(bad)) == 0;
    if (len == 0) ok = ok && strstr(msg, "the file is empty");
    else if (strstr(msg, "sections cannot fit")) ok = ok && has(msg, "header at byte 12") && has(msg, "file's %zu bytes", len);
    else ok = ok && strstr(msg, "truncated") && has(msg, "byte %zu", len) && r && names_region(msg, r);
    if (!ok && unnamed++ < 5) fprintf(stderr, "cut at byte %zu (in %s): unexpected message: %s\n", len, r ? r->name : "?", msg);
  }
  CHECK(accepted == 0, "every cut refused (%d of %d accepted)", accepted, cuts);
  CHECK(unnamed == 0, "every cut's message names the file, the place and the offset (%d did not)", unnamed);
  cuts_accepted = accepted;

  // Every bit of every offset, one at a time. A flip in an uncompressed section's data
  // must be that section's CRC; elsewhere the owning region must be named.
  int flips = 0, crc_missed = 0;
  accepted = unnamed = 0;
  io_failed += testing_write_file(bad, bytes, n) != 0;
  for (size_t at = 0; at < n; at += stride) {
    const region *r = layout_find(map, n_regions, at);
    for (int bit = 0; bit < 8; bit++, flips++) {
      unsigned char mask = (unsigned char)(1u << bit);
      io_failed += file_flip(bad, at, mask) != 0;
      const char *msg = damage_read(bad);
      io_failed += file_flip(bad, at, mask) != 0;
      if (!msg) {
        if (accepted++ < 5) fprintf(stderr, "accepted: bit %d of byte %zu (in %s) flipped\n", bit, at, r ? r->name : "?");
        continue;
      }
      if (strncmp(msg, bad, strlen(bad)) != 0 || !r || !names_region(msg, r)) {
        if (unnamed++ < 5) fprintf(stderr, "flip at byte %zu (in %s): unexpected message: %s\n", at, r ? r->name : "?", msg);
        continue;
      }
      if (r->data && r->codec == 0 && !has(msg, "CRC32 mismatch in the data at byte %" PRIu64, r->begin) &&
          crc_missed++ < 5)
        fprintf(stderr, "flip at byte %zu of '%s' not caught by its CRC: %s\n", at, r->name, msg);
    }
  }
  CHECK(accepted == 0, "every flipped bit refused (%d of %d accepted)", accepted, flips);
  CHECK(unnamed == 0, "every flip's message names the file and the damaged region (%d did not)", unnamed);
  CHECK(crc_missed == 0, "every flip in uncompressed data is caught by the section's CRC (%d were not)", crc_missed);
  CHECK(damage_read(bad) == NULL, "the file is intact again after the flips: %s", ddpc_error_message());
  printf("checkpoint %zu bytes, %" PRIu32 " sections: %d cuts (%d accepted), %d one-bit flips (every bit of every "
         "%zu byte(s); %d accepted)\n", n, get_u32(bytes + 12), cuts, cuts_accepted, flips, stride, accepted);
  CHECK(io_failed == 0, "every damaged file written (%d writes failed)", io_failed);
  free(bytes);
  free(good);
}

int main(void) {
  if (!testing_source_path("examples/cultivars_csv.yaml")) {
    testing_skip("DDPC_SOURCE_DIR is not set (run through ctest)");
    return testing_finish();
  }
  // Prepared-data caches go to this test's own folder, not the user's.
  char cache[4200];
  snprintf(cache, sizeof cache, "%s/cache", testing_temp_dir());
  setenv("DDPC_CACHE_DIR", cache, 1);
  test_damage_sweep();
  return testing_finish();
}
