/* Checkpoint files (format in checkpoint.h): writing through the atomic-replace helper,
 * reading with every size, offset and CRC verified before a byte is trusted, and the
 * listing `ddpc inspect` prints. Which files a run directory keeps is checkpoint_dir.c's. */
#include "core/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/machine.h"
#include "core/metrics.h"

#define CKPT_MAGIC "DDPCCKPT"
#define CKPT_HEADER_BYTES 20
#define CKPT_DESC_BYTES 52
#define CKPT_NAME_BYTES 16
// Level 1: measured in bench/checkpoint_bench.c on normal(0, 0.05) float weights, level 6
// is ~15% slower and shrinks them to 92.6% instead of 92.9%; the write pauses training.
#define CKPT_ZLIB_LEVEL 1
// A section larger than this is refused before any allocation (a corrupted or hostile size).
#define CKPT_MAX_RAW_BYTES (64ull << 30)
// zlib cannot expand data by more than about 1032:1; a larger claimed ratio is corruption.
#define CKPT_MAX_ZLIB_RATIO 1040ull

enum { CKPT_CODEC_NONE = 0, CKPT_CODEC_ZLIB = 1 };

typedef struct {
  uint32_t id;                    // section id
  uint32_t codec;                 // CKPT_CODEC_*
  char name[CKPT_NAME_BYTES];     // NUL-terminated name
  uint64_t raw_bytes;             // size after decoding
  uint64_t stored_bytes;          // size in the file
  uint32_t crc;                   // CRC32 of the raw bytes
  uint32_t stored_crc;            // CRC32 of the stored bytes (the same as crc when stored as is)
  uint64_t offset;                // byte offset of the descriptor in the file
  unsigned char *data;            // decoded bytes (NULL for an empty section)
} checkpoint_entry;

struct ddpc_checkpoint {
  char *path;                // file it was read from (for messages and describe)
  uint32_t version;          // format version of the file
  uint64_t file_bytes;       // file size
  int count;                 // sections
  checkpoint_entry *entries; // in file order
};

/* CRC32 of any size (zlib's length argument is narrower than size_t on some builds). */
static uint32_t checkpoint_crc32(const void *data, size_t bytes) {
  return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), (const Bytef *)data, bytes);
}

/* ---- META ---- */

// Field order and widths of the META payload; encode and decode both walk this table.
static const struct {
  size_t offset;  // offsetof in ddpc_checkpoint_meta
  size_t size;    // 4 or 8 bytes
} meta_fields[] = {
    {offsetof(ddpc_checkpoint_meta, world_size), 4},      {offsetof(ddpc_checkpoint_meta, state), 4},
    {offsetof(ddpc_checkpoint_meta, config_hash), 8},     {offsetof(ddpc_checkpoint_meta, seed), 8},
    {offsetof(ddpc_checkpoint_meta, epoch), 8},           {offsetof(ddpc_checkpoint_meta, step), 8},
    {offsetof(ddpc_checkpoint_meta, batch_in_epoch), 8},  {offsetof(ddpc_checkpoint_meta, optimizer_steps), 8},
    {offsetof(ddpc_checkpoint_meta, elapsed_seconds), 8}, {offsetof(ddpc_checkpoint_meta, best_value), 8},
    {offsetof(ddpc_checkpoint_meta, best_epoch), 8},      {offsetof(ddpc_checkpoint_meta, bad_epochs), 8},
    {offsetof(ddpc_checkpoint_meta, reviewed_epoch), 8},  {offsetof(ddpc_checkpoint_meta, epoch_loss_sum), 8},
    {offsetof(ddpc_checkpoint_meta, epoch_correct), 8},   {offsetof(ddpc_checkpoint_meta, epoch_samples), 8},
    {offsetof(ddpc_checkpoint_meta, epoch_seconds), 8},
};
// A field added to ddpc_checkpoint_meta must be added to the table and DDPC_CHECKPOINT_META_BYTES.
_Static_assert(sizeof(ddpc_checkpoint_meta) == DDPC_CHECKPOINT_META_BYTES,
               "update meta_fields and DDPC_CHECKPOINT_META_BYTES");

void ddpc_checkpoint_encode_meta(const ddpc_checkpoint_meta *m, unsigned char out[DDPC_CHECKPOINT_META_BYTES]) {
  size_t at = 0;
  for (size_t i = 0; i < sizeof meta_fields / sizeof *meta_fields; i++) {
    const unsigned char *field = (const unsigned char *)m + meta_fields[i].offset;
    if (meta_fields[i].size == 4) {
      uint32_t v;
      memcpy(&v, field, 4);
      ddpc_put_u32(out + at, v);
    } else {
      uint64_t v;
      memcpy(&v, field, 8);
      ddpc_put_u64(out + at, v);
    }
    at += meta_fields[i].size;
  }
}

static void checkpoint_meta_decode(const unsigned char *in, ddpc_checkpoint_meta *m) {
  size_t at = 0;
  memset(m, 0, sizeof *m);
  for (size_t i = 0; i < sizeof meta_fields / sizeof *meta_fields; i++) {
    unsigned char *field = (unsigned char *)m + meta_fields[i].offset;
    if (meta_fields[i].size == 4) {
      uint32_t v = ddpc_get_u32(in + at);
      memcpy(field, &v, 4);
    } else {
      uint64_t v = ddpc_get_u64(in + at);
      memcpy(field, &v, 8);
    }
    at += meta_fields[i].size;
  }
}

/* ---- writing ---- */

typedef struct {
  const char *path;                         // destination (for messages)
  const ddpc_checkpoint_section *sections;  // what to write
  int n_sections;                           // how many
} checkpoint_writer;

static int checkpoint_put(FILE *out, const void *data, size_t bytes, const char *path) {
  if (bytes > 0 && fwrite(data, 1, bytes, out) != bytes)
    return ddpc_error_set("cannot write '%s': %s", path, strerror(errno));
  return 0;
}

/* Whether zlib is worth trying on a large section: level 1 runs at ~40 MB/s on trained
 * float weights and saves ~7% there, so compressing 100 MB only to store it as is would
 * pause training for seconds. Compresses 4 evenly spaced 64 KiB slices; a sample that
 * saves less than 10% decides "as is" for the whole section. */
static bool checkpoint_worth_compressing(const ddpc_checkpoint_section *s) {
  enum { SLICES = 4, SLICE = 64 << 10 };
  if (s->bytes < (size_t)2 * SLICES * SLICE) return true;
  unsigned char *scratch = malloc(compressBound(SLICE));
  if (!scratch) return true;  // the full attempt reports a real shortage
  uint64_t in = 0, packed = 0;
  for (int i = 0; i < SLICES; i++) {
    const Bytef *slice = (const Bytef *)s->data + (s->bytes - SLICE) / (SLICES - 1) * (size_t)i;
    uLongf out = compressBound(SLICE);
    if (compress2(scratch, &out, slice, SLICE, CKPT_ZLIB_LEVEL) != Z_OK) out = SLICE;
    in += SLICE;
    packed += out;
  }
  free(scratch);
  return packed * 10 <= in * 9;
}

static int checkpoint_write_section(FILE *out, const ddpc_checkpoint_section *s, const char *path) {
  uint32_t codec = CKPT_CODEC_NONE;
  const void *stored = s->data;
  uLongf stored_bytes = (uLongf)s->bytes;
  unsigned char *packed = NULL;
  if (s->bytes > 0 && checkpoint_worth_compressing(s)) {
    uLongf bound = compressBound((uLong)s->bytes);
    packed = ddpc_malloc(bound, "checkpoint section compression");
    if (!packed) return -1;
    uLongf packed_bytes = bound;
    int z = compress2(packed, &packed_bytes, (const Bytef *)s->data, (uLong)s->bytes, CKPT_ZLIB_LEVEL);
    if (z != Z_OK) {
      free(packed);
      return ddpc_error_set("%s: section '%s': zlib compression failed (%d)", path, s->name, z);
    }
    // Keep the zlib stream only when it saves at least 10%: inflating costs time on resume.
    if ((uint64_t)packed_bytes * 10 <= (uint64_t)s->bytes * 9) {
      codec = CKPT_CODEC_ZLIB;
      stored = packed;
      stored_bytes = packed_bytes;
    }
  }
  unsigned char desc[CKPT_DESC_BYTES];
  memset(desc, 0, sizeof desc);
  ddpc_put_u32(desc, s->id);
  ddpc_put_u32(desc + 4, codec);
  memcpy(desc + 8, s->name, strlen(s->name));
  ddpc_put_u64(desc + 24, (uint64_t)s->bytes);
  ddpc_put_u64(desc + 32, (uint64_t)stored_bytes);
  uint32_t raw_crc = checkpoint_crc32(s->bytes > 0 ? s->data : "", s->bytes);
  ddpc_put_u32(desc + 40, raw_crc);
  ddpc_put_u32(desc + 44, codec == CKPT_CODEC_NONE ? raw_crc : checkpoint_crc32(stored, (size_t)stored_bytes));
  ddpc_put_u32(desc + 48, checkpoint_crc32(desc, 48));
  int rc = checkpoint_put(out, desc, sizeof desc, path);
  if (rc == 0) rc = checkpoint_put(out, stored, (size_t)stored_bytes, path);
  free(packed);
  return rc;
}

static int checkpoint_write_all(FILE *out, void *user) {
  const checkpoint_writer *w = user;
  unsigned char header[CKPT_HEADER_BYTES];
  memcpy(header, CKPT_MAGIC, 8);
  ddpc_put_u32(header + 8, DDPC_CHECKPOINT_VERSION);
  ddpc_put_u32(header + 12, (uint32_t)w->n_sections);
  ddpc_put_u32(header + 16, checkpoint_crc32(header, 16));
  if (checkpoint_put(out, header, sizeof header, w->path) != 0) return -1;
  for (int i = 0; i < w->n_sections; i++)
    if (checkpoint_write_section(out, &w->sections[i], w->path) != 0) return -1;
  return 0;
}

/* Creates the folder that will hold `path` when it is missing. */
static int checkpoint_make_parent(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path) return 0;
  char *dir = ddpc_format("%.*s", (int)(slash - path), path);
  if (!dir) return -1;
  int rc = ddpc_fs_mkdirs(dir, 0755);
  free(dir);
  return rc;
}

int ddpc_checkpoint_write(const char *path, const ddpc_checkpoint_section *sections, int n_sections) {
  if (n_sections < 0) return ddpc_error_set("%s: negative section count %d", path, n_sections);
  for (int i = 0; i < n_sections; i++) {
    const ddpc_checkpoint_section *s = &sections[i];
    if (!s->name || s->name[0] == '\0' || strlen(s->name) >= CKPT_NAME_BYTES)
      return ddpc_error_set("%s: section %d (id %u): the name must have 1 to %d characters", path, i, s->id,
                            CKPT_NAME_BYTES - 1);
    if (s->bytes > 0 && !s->data) return ddpc_error_set("%s: section '%s': %zu bytes but no data", path, s->name, s->bytes);
    if ((uint64_t)s->bytes > CKPT_MAX_RAW_BYTES)
      return ddpc_error_set("%s: section '%s': %zu bytes exceed the 64 GiB limit", path, s->name, s->bytes);
    for (int j = 0; j < i; j++)
      if (sections[j].id == s->id)
        return ddpc_error_set("%s: sections '%s' and '%s' have the same id %u", path, sections[j].name, s->name, s->id);
  }
  if (checkpoint_make_parent(path) != 0) return -1;
  checkpoint_writer w = {path, sections, n_sections};
  return ddpc_fs_write_atomic(path, checkpoint_write_all, &w);
}

/* ---- reading ---- */

typedef struct {
  FILE *file;             // open file
  const char *path;       // for messages
  uint64_t size;          // file length
  uint64_t pos;           // bytes consumed so far
} checkpoint_reader;

/* Reads exactly `bytes` at the current position; `what` names the place for the message. */
static int checkpoint_take(checkpoint_reader *r, void *dst, uint64_t bytes, const char *what) {
  if (bytes > r->size - r->pos)
    return ddpc_error_set("%s: %s at byte %" PRIu64 ": truncated: needs %" PRIu64 " bytes, the file ends at byte %" PRIu64,
                          r->path, what, r->pos, bytes, r->size);
  if (bytes > 0 && fread(dst, 1, (size_t)bytes, r->file) != (size_t)bytes)
    return ddpc_error_set("%s: %s at byte %" PRIu64 ": cannot read: %s", r->path, what, r->pos,
                          ferror(r->file) ? strerror(errno) : "the file became shorter");
  r->pos += bytes;
  return 0;
}

static int checkpoint_read_header(checkpoint_reader *r, ddpc_checkpoint *ck) {
  unsigned char h[CKPT_HEADER_BYTES];
  if (r->size == 0) return ddpc_error_set("%s: not a ddpc checkpoint: the file is empty", r->path);
  // The magic first: a short file that is something else is named as such, not as truncated.
  size_t have = r->size < CKPT_HEADER_BYTES ? (size_t)r->size : CKPT_HEADER_BYTES;
  if (checkpoint_take(r, h, have, "header") != 0) return -1;
  if (memcmp(h, CKPT_MAGIC, have < 8 ? have : 8) != 0)
    return ddpc_error_set("%s: not a ddpc checkpoint: bad magic at byte 0 (expected \"" CKPT_MAGIC "\")", r->path);
  if (have < CKPT_HEADER_BYTES)
    return ddpc_error_set("%s: header at byte 0: truncated: needs %d bytes, the file ends at byte %zu", r->path,
                          CKPT_HEADER_BYTES, have);
  uint32_t stored = ddpc_get_u32(h + 16), computed = checkpoint_crc32(h, 16);
  if (stored != computed)
    return ddpc_error_set("%s: header at byte 0: CRC32 mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")",
                          r->path, stored, computed);
  ck->version = ddpc_get_u32(h + 8);
  if (ck->version > DDPC_CHECKPOINT_VERSION)
    return ddpc_error_set("%s: format version %" PRIu32 " is newer than this ddpc reads (%d): use a newer ddpc",
                          r->path, ck->version, DDPC_CHECKPOINT_VERSION);
  if (ck->version == 0) return ddpc_error_set("%s: header at byte 8: invalid format version 0", r->path);
  uint32_t count = ddpc_get_u32(h + 12);
  if (count > (r->size - r->pos) / CKPT_DESC_BYTES)
    return ddpc_error_set("%s: header at byte 12: %" PRIu32 " sections cannot fit in the file's %" PRIu64
                          " bytes: truncated", r->path, count, r->size);
  ck->entries = ddpc_calloc(count ? count : 1, sizeof *ck->entries, "checkpoint sections");
  if (!ck->entries) return -1;
  ck->count = (int)count;
  return 0;
}

/* Decodes the stored bytes of e (already read into `stored`) into e->data. */
static int checkpoint_decode(checkpoint_reader *r, checkpoint_entry *e, unsigned char *stored, const char *where) {
  if (e->codec == CKPT_CODEC_NONE) {
    e->data = stored;
    return 0;
  }
  e->data = ddpc_malloc((size_t)e->raw_bytes, "checkpoint section");
  if (!e->data) return ddpc_error_prefix("%s: %s: ", r->path, where);
  uLongf out_bytes = (uLongf)e->raw_bytes;
  uLong in_bytes = (uLong)e->stored_bytes;
  int z = uncompress2(e->data, &out_bytes, stored, &in_bytes);
  if (z != Z_OK || out_bytes != e->raw_bytes || in_bytes != e->stored_bytes)
    return ddpc_error_set("%s: %s: corrupt zlib data (%s; %lu of %" PRIu64 " bytes decoded from %lu of %" PRIu64 ")",
                          r->path, where, z == Z_OK ? "wrong length" : zError(z), (unsigned long)out_bytes,
                          e->raw_bytes, (unsigned long)in_bytes, e->stored_bytes);
  return 0;
}

static int checkpoint_read_section(checkpoint_reader *r, ddpc_checkpoint *ck, int index) {
  checkpoint_entry *e = &ck->entries[index];
  e->offset = r->pos;
  unsigned char d[CKPT_DESC_BYTES];
  char *where = ddpc_format("section #%d of %d", index + 1, ck->count);
  if (!where) return -1;
  int rc = checkpoint_take(r, d, sizeof d, where);
  free(where);
  if (rc != 0) return -1;
  uint32_t desc_crc = ddpc_get_u32(d + 48), computed = checkpoint_crc32(d, 48);
  if (desc_crc != computed)
    return ddpc_error_set("%s: section #%d at byte %" PRIu64 ": descriptor CRC32 mismatch (stored %08" PRIx32
                          ", computed %08" PRIx32 ")", r->path, index + 1, e->offset, desc_crc, computed);
  e->id = ddpc_get_u32(d);
  e->codec = ddpc_get_u32(d + 4);
  memcpy(e->name, d + 8, CKPT_NAME_BYTES);
  e->raw_bytes = ddpc_get_u64(d + 24);
  e->stored_bytes = ddpc_get_u64(d + 32);
  e->crc = ddpc_get_u32(d + 40);
  e->stored_crc = ddpc_get_u32(d + 44);
  bool name_ok = memchr(e->name, '\0', CKPT_NAME_BYTES) != NULL && e->name[0] != '\0';
  for (const char *c = e->name; name_ok && *c; c++) name_ok = *c > ' ' && *c < 127;
  if (!name_ok)
    return ddpc_error_set("%s: section #%d (id %" PRIu32 ") at byte %" PRIu64 ": invalid name", r->path, index + 1,
                          e->id, e->offset);
  where = ddpc_format("section '%s' (id %" PRIu32 ") at byte %" PRIu64, e->name, e->id, e->offset);
  if (!where) return -1;
  rc = -1;
  const char *problem = NULL;
  for (int j = 0; j < index; j++)
    if (ck->entries[j].id == e->id) problem = "the id appears twice";
  if (e->codec != CKPT_CODEC_NONE && e->codec != CKPT_CODEC_ZLIB) problem = "unknown codec";
  else if (e->raw_bytes > CKPT_MAX_RAW_BYTES) problem = "more than 64 GiB of raw bytes";
  else if (e->codec == CKPT_CODEC_NONE && e->stored_bytes != e->raw_bytes)
    problem = "stored and raw sizes differ for an uncompressed section";
  else if (e->codec == CKPT_CODEC_ZLIB &&
           (e->stored_bytes == 0 || e->raw_bytes == 0 || e->raw_bytes / CKPT_MAX_ZLIB_RATIO > e->stored_bytes))
    problem = "impossible sizes for zlib data";
  if (problem) {
    ddpc_error_set("%s: %s: %s (codec %" PRIu32 ", raw %" PRIu64 " bytes, stored %" PRIu64 ")", r->path, where,
                   problem, e->codec, e->raw_bytes, e->stored_bytes);
    goto done;
  }
  if (e->stored_bytes > r->size - r->pos) {
    ddpc_error_set("%s: %s: truncated: %" PRIu64 " bytes of data at byte %" PRIu64 ", the file ends at byte %" PRIu64,
                   r->path, where, e->stored_bytes, r->pos, r->size);
    goto done;
  }
  uint64_t data_at = r->pos;
  unsigned char *stored = NULL;
  if (e->stored_bytes > 0) {
    stored = ddpc_malloc((size_t)e->stored_bytes, "checkpoint section");
    if (!stored) {
      ddpc_error_prefix("%s: %s: ", r->path, where);
      goto done;
    }
  }
  if (checkpoint_take(r, stored, e->stored_bytes, where) != 0) {
    free(stored);
    goto done;
  }
  // The stored bytes first: a zlib stream has bits it ignores (the padding of its last
  // byte), so only their own CRC makes every flipped bit count.
  uint32_t crc = checkpoint_crc32(stored ? (const void *)stored : "", (size_t)e->stored_bytes);
  if (crc != e->stored_crc || (e->codec == CKPT_CODEC_NONE && crc != e->crc)) {
    ddpc_error_set("%s: %s: CRC32 mismatch in the data at byte %" PRIu64 " (stored %08" PRIx32 ", computed %08" PRIx32
                   ")", r->path, where, data_at, e->codec == CKPT_CODEC_NONE ? e->crc : e->stored_crc, crc);
    free(stored);
    goto done;
  }
  if (checkpoint_decode(r, e, stored, where) != 0) {
    if (e->data != stored) free(stored);
    goto done;
  }
  if (e->data != stored) free(stored);
  crc = e->codec == CKPT_CODEC_NONE ? crc : checkpoint_crc32(e->data, (size_t)e->raw_bytes);
  if (crc != e->crc) {
    ddpc_error_set("%s: %s: CRC32 mismatch in the decoded data at byte %" PRIu64 " (stored %08" PRIx32
                   ", computed %08" PRIx32 ")", r->path, where, data_at, e->crc, crc);
    goto done;
  }
  rc = 0;
done:
  free(where);
  return rc;
}

int ddpc_checkpoint_read(const char *path, ddpc_checkpoint **out) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return ddpc_error_set("%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return ddpc_error_set("%s: not a regular file", path);
  }
  ddpc_checkpoint *ck = ddpc_calloc(1, sizeof *ck, "checkpoint");
  int rc = -1;
  if (!ck || !(ck->path = ddpc_strdup(path))) goto done;
  ck->file_bytes = (uint64_t)st.st_size;
  checkpoint_reader r = {f, path, (uint64_t)st.st_size, 0};
  if (checkpoint_read_header(&r, ck) != 0) goto done;
  for (int i = 0; i < ck->count; i++)
    if (checkpoint_read_section(&r, ck, i) != 0) goto done;
  if (r.pos != r.size) {
    ddpc_error_set("%s: %" PRIu64 " bytes of trailing garbage at byte %" PRIu64 " after the last section", path,
                   r.size - r.pos, r.pos);
    goto done;
  }
  rc = 0;
done:
  fclose(f);
  if (rc != 0) ddpc_checkpoint_free(ck);
  else *out = ck;
  return rc;
}

static const checkpoint_entry *checkpoint_find(const ddpc_checkpoint *ckpt, uint32_t id) {
  for (int i = 0; ckpt && i < ckpt->count; i++)
    if (ckpt->entries[i].id == id) return &ckpt->entries[i];
  return NULL;
}

const void *ddpc_checkpoint_find_section(const ddpc_checkpoint *ckpt, uint32_t id, size_t *bytes) {
  const checkpoint_entry *e = checkpoint_find(ckpt, id);
  if (bytes) *bytes = e ? (size_t)e->raw_bytes : 0;
  if (!e) return NULL;
  // An empty section is present: hand out a valid pointer so callers can tell it from absent.
  return e->data ? (const void *)e->data : (const void *)e->name;
}

int ddpc_checkpoint_read_meta(const ddpc_checkpoint *ckpt, ddpc_checkpoint_meta *out) {
  const checkpoint_entry *e = checkpoint_find(ckpt, DDPC_CHECKPOINT_SECTION_META);
  if (!e) return 1;
  if (e->raw_bytes != DDPC_CHECKPOINT_META_BYTES)
    return ddpc_error_set("%s: section '%s' (id %" PRIu32 ") at byte %" PRIu64 ": %" PRIu64 " bytes, expected %d",
                          ckpt->path, e->name, e->id, e->offset, e->raw_bytes, DDPC_CHECKPOINT_META_BYTES);
  checkpoint_meta_decode(e->data, out);
  return 0;
}

/* An older checkpoint's history record: ddpc_epoch_metrics before val_mae, which the
 * current record begins with. */
#define CHECKPOINT_HISTORY_V1_BYTES offsetof(ddpc_epoch_metrics, val_mae)
_Static_assert(offsetof(ddpc_epoch_metrics, val_mae) == 88, "HISTORY_V1 records are 88 bytes");
/* ...and before val_macro_precision. */
#define CHECKPOINT_HISTORY_V2_BYTES offsetof(ddpc_epoch_metrics, val_macro_precision)
_Static_assert(offsetof(ddpc_epoch_metrics, val_macro_precision) == 112, "HISTORY_V2 records are 112 bytes");

int ddpc_checkpoint_read_history(const ddpc_checkpoint *ckpt, ddpc_epoch_metrics **out, int64_t *count) {
  *out = NULL;
  *count = 0;
  size_t record = sizeof(ddpc_epoch_metrics);
  const checkpoint_entry *e = checkpoint_find(ckpt, DDPC_CHECKPOINT_SECTION_HISTORY);
  if (!e && (e = checkpoint_find(ckpt, DDPC_CHECKPOINT_SECTION_HISTORY_V2))) record = CHECKPOINT_HISTORY_V2_BYTES;
  if (!e && (e = checkpoint_find(ckpt, DDPC_CHECKPOINT_SECTION_HISTORY_V1))) record = CHECKPOINT_HISTORY_V1_BYTES;
  if (!e) return 0;
  if (e->raw_bytes % record != 0)
    return ddpc_error_set("%s: section '%s': %" PRIu64 " bytes is not a whole number of %zu-byte metric records",
                          ckpt->path, e->name, e->raw_bytes, record);
  uint64_t n = e->raw_bytes / record;
  if (n == 0) return 0;
  ddpc_epoch_metrics *h = ddpc_calloc(n, sizeof *h, "metric history");
  if (!h) return -1;
  for (uint64_t i = 0; i < n; i++) {
    h[i].val_mae = h[i].val_rmse = h[i].val_r2 = NAN;  // what an older record lacks
    h[i].val_macro_precision = h[i].val_macro_recall = h[i].val_macro_f1 = NAN;
    h[i].val_top_k_accuracy = h[i].val_roc_auc = NAN;
    h[i].top_k = 0;
    memcpy(&h[i], e->data + i * record, record);
  }
  *out = h;
  *count = (int64_t)n;
  return 0;
}

void ddpc_checkpoint_free(ddpc_checkpoint *ckpt) {
  if (!ckpt) return;
  for (int i = 0; i < ckpt->count; i++) free(ckpt->entries[i].data);
  free(ckpt->entries);
  free(ckpt->path);
  free(ckpt);
}

/* ---- describe ---- */

static void checkpoint_describe_meta(const ddpc_checkpoint *ckpt, FILE *out) {
  ddpc_checkpoint_meta m;
  int rc = ddpc_checkpoint_read_meta(ckpt, &m);
  if (rc == 1) return;
  if (rc != 0) {
    fprintf(out, "meta: not decoded: %s\n", ddpc_error_message());
    ddpc_error_clear();
    return;
  }
  fprintf(out,
          "meta:\n"
          "  world_size       %" PRIu32 "\n"
          "  state            %" PRIu32 " (%s)\n"
          "  config_hash      %016" PRIx64 "\n"
          "  seed             %" PRIu64 "\n"
          "  epoch            %" PRId64 "\n"
          "  step             %" PRId64 "\n"
          "  batch_in_epoch   %" PRId64 "\n"
          "  optimizer_steps  %" PRIu64 "\n"
          "  elapsed_seconds  %.3f\n"
          "  best_value       %.9g\n"
          "  best_epoch       %" PRId64 "\n"
          "  bad_epochs       %" PRId64 "\n"
          "  reviewed_epoch   %" PRId64 "\n"
          "  epoch_loss_sum   %.9g\n"
          "  epoch_correct    %.9g\n"
          "  epoch_samples    %.9g\n"
          "  epoch_seconds    %.3f\n",
          m.world_size, m.state, m.state < DDPC_STATE_COUNT ? ddpc_state_names[m.state] : "unknown", m.config_hash, m.seed, m.epoch, m.step, m.batch_in_epoch, m.optimizer_steps,
          m.elapsed_seconds, m.best_value, m.best_epoch, m.bad_epochs, m.reviewed_epoch, m.epoch_loss_sum,
          m.epoch_correct, m.epoch_samples, m.epoch_seconds);
}

static void checkpoint_describe_history(const ddpc_checkpoint *ckpt, FILE *out) {
  ddpc_epoch_metrics *h = NULL;
  int64_t n = 0;
  if (ddpc_checkpoint_read_history(ckpt, &h, &n) != 0) {
    fprintf(out, "history: not decoded: %s\n", ddpc_error_message());
    ddpc_error_clear();
    return;
  }
  if (!checkpoint_find(ckpt, DDPC_CHECKPOINT_SECTION_HISTORY) && !checkpoint_find(ckpt, DDPC_CHECKPOINT_SECTION_HISTORY_V2) &&
      !checkpoint_find(ckpt, DDPC_CHECKPOINT_SECTION_HISTORY_V1))
    return;
  // A regression run has R² where a classification run has its accuracy.
  bool r2 = n > 0 && isnan(h[0].val_accuracy) && !isnan(h[0].val_r2);
  fprintf(out, "history: %" PRId64 " epochs\n  %6s %12s %12s %12s %12s\n", n, "epoch", "train_loss", "val_loss",
          r2 ? "val_r2" : "val_accuracy", "lr");
  for (int64_t i = 0; i < n; i++)
    fprintf(out, "  %6d %12.6g %12.6g %12.6g %12.6g\n", h[i].epoch, h[i].train_loss, h[i].val_loss,
            r2 ? h[i].val_r2 : h[i].val_accuracy, h[i].lr);
  free(h);
}

void ddpc_checkpoint_describe(const ddpc_checkpoint *ckpt, FILE *out) {
  fprintf(out, "%s: ddpc checkpoint, format version %" PRIu32 ", %d sections, %" PRIu64 " bytes\n", ckpt->path,
          ckpt->version, ckpt->count, ckpt->file_bytes);
  fprintf(out, "  %4s  %-15s %14s %14s  %-5s  %-8s  %s\n", "id", "name", "raw bytes", "stored bytes", "codec", "crc32",
          "at byte");
  for (int i = 0; i < ckpt->count; i++) {
    const checkpoint_entry *e = &ckpt->entries[i];
    fprintf(out, "  %4" PRIu32 "  %-15s %14" PRIu64 " %14" PRIu64 "  %-5s  %08" PRIx32 "  %" PRIu64 "\n", e->id,
            e->name, e->raw_bytes, e->stored_bytes, e->codec == CKPT_CODEC_ZLIB ? "zlib" : "none", e->crc, e->offset);
  }
  checkpoint_describe_meta(ckpt, out);
  checkpoint_describe_history(ckpt, out);
}
