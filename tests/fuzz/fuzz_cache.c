/* Fuzzes the prepared-data cache reader (core/data_cache.c): the input is one cache file,
 * opened as ddpc_data_load opens it (the key it expects is the one the file names), and
 * when it is accepted a few samples of every split are gathered as training would, and a
 * CSV's column encoding and row lines are read as the run directory's files read them. The
 * header's file length, checksum and section CRC32s are first set to what the bytes hold,
 * so mutations reach the checks behind them (a mismatch is tested by the unit tests). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/data_tabular.h"
#include "core/error.h"
#include "core/hash.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// The cache_header of core/data_cache.c (version 3): its size, the offsets of key,
// file_size, header_hash and the section table (offset, bytes, CRC32 per section), and the
// seed of its checksum.
#define FUZZ_CACHE_HEADER 464
#define FUZZ_CACHE_KEY 16
#define FUZZ_CACHE_SIZE 24
#define FUZZ_CACHE_HASH 32
#define FUZZ_CACHE_SECTION_TABLE 152
#define FUZZ_CACHE_SECTIONS 13
#define FUZZ_CACHE_HASH_SEED 0x64617461u
// Samples gathered from each split.
#define FUZZ_CACHE_GATHER 4

/* Sets the CRC32 of every section that lies inside the file, then the file length and the
 * header checksum (the reader hashes the header in native byte order; ddpc builds
 * little-endian). */
static void fuzz_repair_header(uint8_t *b, size_t n) {
  if (n < FUZZ_CACHE_HEADER) return;
  for (int s = 0; s < FUZZ_CACHE_SECTIONS; s++) {
    uint8_t *entry = b + FUZZ_CACHE_SECTION_TABLE + 24 * s;
    uint64_t off = fuzz_get_u64(entry), bytes = fuzz_get_u64(entry + 8);
    if (off <= n && bytes <= n - off)
      fuzz_put_u64(entry + 16, crc32_z(crc32_z(0, Z_NULL, 0), b + off, (size_t)bytes));
  }
  fuzz_put_u64(b + FUZZ_CACHE_SIZE, n);
  uint8_t header[FUZZ_CACHE_HEADER];
  memcpy(header, b, sizeof header);
  memset(header + FUZZ_CACHE_HASH, 0, 8);
  fuzz_put_u64(b + FUZZ_CACHE_HASH, ddpc_hash_bytes(header, sizeof header, FUZZ_CACHE_HASH_SEED));
}

static void fuzz_gather(const ddpc_dataset *ds, const ddpc_split *split) {
  uint32_t n = split->count < FUZZ_CACHE_GATHER ? split->count : FUZZ_CACHE_GATHER;
  if (n == 0) return;
  uint32_t pos[FUZZ_CACHE_GATHER];
  for (uint32_t i = 0; i < n; i++) pos[i] = split->count - 1 - i;  // the last ones: the far end of the file
  const ddpc_table *t = split->table;
  float *x = malloc((size_t)n * t->features * sizeof *x);
  float *targets = malloc((size_t)n * (t->target_width ? t->target_width : 1) * sizeof *targets);
  int32_t labels[FUZZ_CACHE_GATHER];
  if (x && targets) ddpc_data_gather(ds, split, pos, (int)n, x, labels, targets);
  free(x);
  free(targets);
}

/* What encoding.json and split.json read of an accepted CSV cache: every input's name and
 * every split row's line. */
static void fuzz_tabular(const ddpc_dataset *ds) {
  if (!ds->tabular) return;
  if (ds->tabular->width != ds->fit.features || !ds->fit_lines) abort();
  for (uint32_t i = 0; i < ds->tabular->width; i++) free(ddpc_tabular_input_name(ds->tabular, i));
  const ddpc_split *splits[3] = {&ds->train, &ds->val, &ds->test};
  volatile uint32_t sum = 0;
  for (int s = 0; s < 3; s++) {
    const uint32_t *lines = splits[s]->table == &ds->fit ? ds->fit_lines : ds->test_lines;
    for (uint32_t i = 0; lines && i < splits[s]->count; i++) sum += lines[splits[s]->rows[i]];
  }
  (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *bytes = malloc(size ? size : 1);
  if (!bytes) return 0;
  if (size) memcpy(bytes, data, size);
  fuzz_repair_header(bytes, size);
  uint64_t key = size >= FUZZ_CACHE_HEADER ? fuzz_get_u64(bytes + FUZZ_CACHE_KEY) : 0;
  char *path = fuzz_write("cache.ddpcdata", bytes, size);
  free(bytes);
  ddpc_dataset ds;
  memset(&ds, 0, sizeof ds);
  ddpc_data_store *store = calloc(1, sizeof *store);
  ds.internal = store;
  if (store && ddpc_cache_open(path, key, &ds, store) == 1) {
    fuzz_gather(&ds, &ds.train);
    fuzz_gather(&ds, &ds.val);
    fuzz_gather(&ds, &ds.test);
    fuzz_tabular(&ds);
  }
  ddpc_data_free(&ds);
  ddpc_error_clear();
  fuzz_remove(path);
  return 0;
}
