/* Fuzzes the IDX reader (core/data_idx.c), gzip-compressed and raw: the input is one file,
 * read as an images file and as a labels file (its magic decides which one gets past the
 * header), then the labels checked against 10 classes. */
#include <stdlib.h>
#include <zlib.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Known finding, fixed apart from the fuzzers: the reader allocates what the header claims
 * before it knows the file holds that much. Until that lands, headers claiming more than
 * this are skipped, so the fuzzer goes on to other findings. */
#define FUZZ_IDX_MAX_CLAIM (256ull << 20)

static uint64_t fuzz_be32(const unsigned char *p) {
  return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

/* Bytes the readers would allocate for the (uncompressed) header of path. */
static uint64_t fuzz_idx_claim(const char *path) {
  gzFile f = gzopen(path, "rb");
  unsigned char h[16];
  int got = f ? gzread(f, h, sizeof h) : 0;
  if (f) gzclose(f);
  if (got >= 8 && h[3] == 1) return 5 * fuzz_be32(h + 4);  // labels: bytes and int32s
  if (got >= 16 && h[3] == 3) return fuzz_be32(h + 4) * fuzz_be32(h + 8) * fuzz_be32(h + 12);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("data.idx", data, size);
  if (fuzz_idx_claim(path) > FUZZ_IDX_MAX_CLAIM) {
    fuzz_remove(path);
    return 0;
  }
  ddpc_table t;
  ddpc_shape shape;
  if (ddpc_idx_read_images(path, &t, &shape) == 0) ddpc_table_free(&t);
  int32_t *labels = NULL;
  uint32_t count = 0;
  if (ddpc_idx_read_labels(path, &labels, &count) == 0) {
    (void)ddpc_idx_check_labels(path, labels, count, 10);
    free(labels);
  }
  ddpc_error_clear();
  fuzz_remove(path);
  return 0;
}
