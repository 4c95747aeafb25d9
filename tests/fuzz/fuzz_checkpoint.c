/* Fuzzes the checkpoint reader (core/checkpoint.c): the input is one checkpoint file, read
 * and verified, its meta decoded, its sections looked up and the whole described as
 * `ddpc inspect` does. Every CRC32 of the input (header, descriptors, stored and raw bytes)
 * is first set to what the bytes hold, so that mutations reach the size, codec and section
 * checks behind them instead of all stopping at the first CRC; a CRC that does not match is
 * tested by the unit tests. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CKPT_HEADER 20
#define FUZZ_CKPT_DESC 52
// Decoded sizes the repair inflates to compute a raw CRC; larger ones keep theirs.
#define FUZZ_CKPT_MAX_INFLATE (1u << 20)

static uint32_t fuzz_crc(const uint8_t *p, size_t n) { return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, n); }

/* Sets the raw CRC of a zlib section whose stream decodes to its raw size. */
static void fuzz_repair_zlib(uint8_t *desc, const uint8_t *stored, uint64_t stored_bytes) {
  uint64_t raw_bytes = fuzz_get_u64(desc + 24);
  if (raw_bytes == 0 || raw_bytes > FUZZ_CKPT_MAX_INFLATE) return;
  unsigned char *raw = malloc((size_t)raw_bytes);
  uLongf out = (uLongf)raw_bytes;
  uLong in = (uLong)stored_bytes;
  if (raw && uncompress2(raw, &out, stored, &in) == Z_OK && out == raw_bytes) fuzz_put_u32(desc + 40, fuzz_crc(raw, out));
  free(raw);
}

/* Writes into b the CRCs its bytes call for, walking the sections as the reader would. */
static void fuzz_repair_crcs(uint8_t *b, size_t n) {
  if (n < FUZZ_CKPT_HEADER) return;
  fuzz_put_u32(b + 16, fuzz_crc(b, 16));
  uint32_t count = fuzz_get_u32(b + 12);
  size_t pos = FUZZ_CKPT_HEADER;
  for (uint32_t i = 0; i < count && n - pos >= FUZZ_CKPT_DESC; i++) {
    uint8_t *desc = b + pos;
    pos += FUZZ_CKPT_DESC;
    uint64_t stored_bytes = fuzz_get_u64(desc + 32);
    bool whole = stored_bytes <= n - pos;
    if (whole) {
      uint32_t crc = fuzz_crc(b + pos, (size_t)stored_bytes);
      fuzz_put_u32(desc + 44, crc);
      if (fuzz_get_u32(desc + 4) == 0) fuzz_put_u32(desc + 40, crc);
      else fuzz_repair_zlib(desc, b + pos, stored_bytes);
    }
    fuzz_put_u32(desc + 48, fuzz_crc(desc, 48));
    if (!whole) break;
    pos += (size_t)stored_bytes;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *bytes = malloc(size ? size : 1);
  if (!bytes) return 0;
  if (size) memcpy(bytes, data, size);
  fuzz_repair_crcs(bytes, size);
  char *path = fuzz_write("ckpt-000000000001.ddpc", bytes, size);
  free(bytes);
  ddpc_checkpoint *ck = NULL;
  if (ddpc_checkpoint_read(path, &ck) == 0) {
    ddpc_checkpoint_meta meta;
    (void)ddpc_checkpoint_read_meta(ck, &meta);
    for (uint32_t id = DDPC_CHECKPOINT_SECTION_META; id <= DDPC_CHECKPOINT_SECTION_RUN; id++) {
      size_t n = 0;
      const unsigned char *p = ddpc_checkpoint_find_section(ck, id, &n);
      // Every byte the reader hands out must be readable (ASan checks the last one).
      if (p && n) {
        volatile unsigned char last = p[n - 1];
        (void)last;
      }
    }
    ddpc_checkpoint_describe(ck, fuzz_sink());
    ddpc_checkpoint_free(ck);
  }
  ddpc_error_clear();
  fuzz_remove(path);
  return 0;
}
