/* Tests of the IDX reader: raw and gzip files (told apart by content, not name), every
 * malformed-file error with its file and byte offset, and the image/label checks of
 * ddpc_data_load. The real Fashion-MNIST files: test_data_fashion_mnist.c. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/data.h"
#include "data_fixtures.h"

static void test_read_small(int gz, const char *name) {
  char *path = fixture_path(name);
  fixture_idx_images(path, gz, 5, 3, 4, 0);
  ddpc_table t;
  ddpc_shape shape;
  int rc = ddpc_idx_read_images(path, &t, &shape);
  CHECK(rc == 0, "%s: read failed: %s", name, ddpc_error_message());
  if (rc == 0) {
    CHECK(t.rows == 5 && t.features == 12 && t.dtype == DDPC_DTYPE_U8, "%s: rows %u features %u", name, t.rows,
          t.features);
    CHECK(shape.h == 3 && shape.w == 4 && shape.c == 1, "%s: shape (%d,%d,%d)", name, shape.h, shape.w, shape.c);
    int same = 1;
    for (size_t i = 0; i < 60; i++) same &= ((const uint8_t *)t.x)[i] == fixture_pixel(i / 12, i % 12);
    CHECK(same, "%s: pixels differ from what was written", name);
    CHECK(t.labels == NULL, "%s: images carry no labels", name);
  }
  ddpc_table_free(&t);
  free(path);
}

static void test_labels(void) {
  char *path = fixture_path("labels.idx");
  unsigned char want[6] = {3, 0, 9, 1, 1, 255};
  fixture_idx_labels(path, 1, 6, want);
  int32_t *labels;
  uint32_t n;
  int rc = ddpc_idx_read_labels(path, &labels, &n);
  CHECK(rc == 0 && n == 6, "labels: rc %d n %u (%s)", rc, n, ddpc_error_message());
  if (rc == 0)
    for (int i = 0; i < 6; i++) CHECK(labels[i] == want[i], "label %d: %d vs %d", i, labels[i], want[i]);
  free(labels);
  free(path);
}

/* Expects reading `path` as images to fail with a message containing `part` (the file name
 * and the place are part of every expected text). */
static void expect_image_error(const char *path, const char *part) {
  ddpc_table t;
  ddpc_shape shape;
  int rc = ddpc_idx_read_images(path, &t, &shape);
  CHECK(rc != 0, "%s should fail", path);
  char *full = ddpc_format("%s: %s", path, part);
  CHECK_ERROR_HAS(full);
  free(full);
  ddpc_table_free(&t);
}

static void test_errors(void) {
  char *missing = fixture_path("no-such-file");
  expect_image_error(missing, "byte 0: cannot open: No such file or directory");
  free(missing);

  char *p = fixture_path("bad.idx");
  unsigned char hdr[32] = {0};
  fixture_be32(hdr, 0x801), fixture_be32(hdr + 4, 5);  // a labels file given as images
  fixture_write(p, hdr, 16, 1);
  expect_image_error(p, "byte 0: wrong magic 0x00000801 (1 dimension): expected 0x00000803 (IDX images, 3 "
                        "dimensions)");

  fixture_be32(hdr, 0x89504e47);  // a PNG, say
  fixture_write(p, hdr, 16, 0);
  expect_image_error(p, "byte 0: wrong magic 0x89504e47: not an IDX file (expected 0x00000803");

  fixture_be32(hdr, 0x00000d03);  // float data
  fixture_be32(hdr + 4, 1), fixture_be32(hdr + 8, 1), fixture_be32(hdr + 12, 1);
  fixture_write(p, hdr, 20, 0);
  expect_image_error(p, "byte 2: wrong dtype code 0x0d: only 0x08 (unsigned byte) is supported");

  fixture_be32(hdr, 0x803);
  fixture_write(p, hdr, 10, 0);
  expect_image_error(p, "byte 10: header truncated: an IDX images header is 16 bytes, file has 10");
  fixture_write(p, hdr, 10, 1);
  expect_image_error(p, "byte 10: header truncated: an IDX images header is 16 bytes, file has 10 uncompressed");

  fixture_idx_images(p, 0, 5, 3, 4, -10);
  expect_image_error(p, "byte 66: the file has 66 bytes, the header declares 5 images of 3x4 bytes (76 bytes "
                        "with the 16-byte header)");
  fixture_idx_images(p, 1, 5, 3, 4, -10);
  expect_image_error(p, "byte 66: the file has 66 bytes uncompressed, the header declares 5 images of 3x4 bytes "
                        "(76 bytes with the 16-byte header)");
  fixture_idx_images(p, 0, 5, 3, 4, 7);
  expect_image_error(p, "byte 76: the file has 83 bytes, the header declares 5 images of 3x4 bytes (76 bytes "
                        "with the 16-byte header)");

  // A gzip stream cut in the middle: the size error says so.
  char *full = fixture_path("full.gz");
  fixture_idx_images(full, 1, 200, 10, 10, 0);
  FILE *f = fopen(full, "rb");
  unsigned char *gzbytes = malloc(1 << 16);
  size_t len = fread(gzbytes, 1, 1 << 16, f);
  fclose(f);
  fixture_write(p, gzbytes, len / 2, 0);
  ddpc_table t;
  CHECK(ddpc_idx_read_images(p, &t, NULL) != 0, "truncated gzip should fail");
  CHECK_ERROR_HAS("the header declares 200 images of 10x10 bytes (20016 bytes with the 16-byte header)");
  CHECK_ERROR_HAS("(the gzip stream is truncated)");
  free(gzbytes);
  free(full);

  unsigned char lab[4] = {1, 2, 3, 4};
  fixture_idx_labels(p, 0, 4, lab);
  unsigned char shortl[16];
  FILE *g = fopen(p, "rb");
  size_t got = fread(shortl, 1, sizeof shortl, g);
  fclose(g);
  fixture_write(p, shortl, got - 1, 0);
  int32_t *labels = NULL;
  uint32_t n;
  CHECK(ddpc_idx_read_labels(p, &labels, &n) != 0, "short labels should fail");
  char *want = ddpc_format("%s: byte 11: the file has 11 bytes, the header declares 4 labels of 1 byte (12 bytes "
                           "with the 8-byte header)",
                           p);
  CHECK_ERROR_HAS(want);
  free(want);
  free(p);
}

typedef struct {
  const char *path;  // the IDX file
  int labels;        // read as labels (else images)
} idx_read_job;

/* Reads the file and writes the error message (or "(no error)") into text. */
static void idx_read_limited(void *arg, char *text, size_t size) {
  const idx_read_job *job = arg;
  int rc;
  if (job->labels) {
    int32_t *y = NULL;
    uint32_t n = 0;
    rc = ddpc_idx_read_labels(job->path, &y, &n);
    free(y);
  } else {
    ddpc_table t;
    rc = ddpc_idx_read_images(job->path, &t, NULL);
    ddpc_table_free(&t);
  }
  snprintf(text, size, "%s", rc != 0 ? ddpc_error_message() : "(no error)");
}

/* Reads `path` (labels or images) where a large allocation fails (testing_run_limited,
 * 256 MiB more than the process uses) and expects the message to hold `part`. */
static void expect_small_error(const char *path, int labels, const char *part) {
  idx_read_job job = {path, labels};
  char *msg = testing_run_limited(256u << 20, idx_read_limited, &job, NULL);
  CHECK(msg != NULL, "%s: the reader's process failed", path);
  char *full = ddpc_format("%s: %s", path, part);
  CHECK(msg && strstr(msg, full) != NULL, "lying header: message '%s' should contain '%s'", msg ? msg : "", full);
  free(full);
  free(msg);
}

/* Headers that declare gigabytes on a few bytes: the size error, before any allocation
 * the header asked for, raw and compressed. */
static void test_lying_headers(void) {
  char *p = fixture_path("lying.idx");
  unsigned char buf[16 + 1000] = {0};
  fixture_be32(buf, 0x801), fixture_be32(buf + 4, 0xffffffffu);
  fixture_write(p, buf, 8, 0);
  expect_small_error(p, 1, "byte 8: the file has 8 bytes, the header declares 4294967295 labels of 1 byte "
                           "(4294967303 bytes with the 8-byte header)");
  fixture_write(p, buf, 8 + 100, 1);
  expect_small_error(p, 1, "byte 108: the file has 108 bytes uncompressed, the header declares 4294967295 labels "
                           "of 1 byte (4294967303 bytes with the 8-byte header)");
  fixture_be32(buf, 0x803), fixture_be32(buf + 4, 0xffffffffu), fixture_be32(buf + 8, 28), fixture_be32(buf + 12, 28);
  fixture_write(p, buf, 16 + 100, 0);
  expect_small_error(p, 0, "byte 116: the file has 116 bytes, the header declares 4294967295 images of 28x28 bytes "
                           "(3367254359296 bytes with the 16-byte header)");
  fixture_be32(buf + 4, 100000), fixture_be32(buf + 8, 1000), fixture_be32(buf + 12, 1000);
  fixture_write(p, buf, 16 + 1000, 1);
  expect_small_error(p, 0, "byte 1016: the file has 1016 bytes uncompressed, the header declares 100000 images of "
                           "1000x1000 bytes (100000000016 bytes with the 16-byte header)");
  free(p);
}

/* Loads through ddpc_data_load: count mismatch, num_classes range, shape and gather. */
static void test_load(void) {
  char *images = fixture_path("load-images"), *labels = fixture_path("load-labels.gz");
  unsigned char lab[10] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 7};
  fixture_idx_images(images, 1, 10, 2, 3, 0);
  fixture_idx_labels(labels, 0, 9, lab);
  ddpc_config cfg;
  fixture_config_idx(&cfg, images, labels);
  ddpc_dataset ds;
  CHECK(ddpc_data_load(&cfg, &ds) != 0, "9 labels for 10 images should fail");
  char *want = ddpc_format("%s: byte 4: 9 labels, but %s has 10 images", labels, images);
  CHECK_ERROR_HAS(want);
  free(want);

  fixture_idx_labels(labels, 1, 10, lab);
  cfg.data.num_classes = 5;
  CHECK(ddpc_data_load(&cfg, &ds) != 0, "label 7 with num_classes 5 should fail");
  want = ddpc_format("%s: byte 17: sample 9: label 7 outside [0, 5)", labels);
  CHECK_ERROR_HAS(want);
  free(want);

  cfg.data.num_classes = 0;  // inferred: max + 1
  cfg.data.n_prep = 2;
  cfg.data.prep[0].kind = DDPC_PREP_SCALE;
  cfg.data.prep[0].multiply = 1.0f / 255.0f;
  cfg.data.prep[1].kind = DDPC_PREP_FLATTEN;
  int rc = ddpc_data_load(&cfg, &ds);
  CHECK(rc == 0, "load: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(ds.num_classes == 8, "inferred num_classes %d", ds.num_classes);
    char *where = ddpc_data_describe_max_label(&ds, &cfg);
    want = ddpc_format("%s: byte 17: sample 9: label 7", labels);
    CHECK(where && strcmp(where, want) == 0, "largest label at '%s', expected '%s'", where ? where : "(null)", want);
    free(where), free(want);
    CHECK(ds.shape.h == 1 && ds.shape.w == 1 && ds.shape.c == 6, "flattened shape (%d,%d,%d)", ds.shape.h,
          ds.shape.w, ds.shape.c);
    CHECK(ds.train.count == 8 && ds.val.count == 2 && ds.test.count == 0, "split %u/%u/%u", ds.train.count,
          ds.val.count, ds.test.count);
    CHECK(!ds.cache_hit && ds.cache_path == NULL, "no cache configured");
    uint32_t pos[2] = {1, 0};
    float x[12];
    int32_t y[2];
    ddpc_data_gather(&ds, &ds.train, pos, 2, x, y, NULL);
    uint32_t r1 = ds.train.rows[1];
    for (int k = 0; k < 6; k++)
      CHECK(x[k] == (float)fixture_pixel(r1, (size_t)k) * (1.0f / 255.0f) + 0.0f, "gathered x[%d] = %g", k,
            (double)x[k]);
    CHECK(y[0] == lab[r1], "gathered label %d vs %d", y[0], lab[r1]);
    ddpc_data_free(&ds);
  }

  cfg.data.prep[0].multiply = 0;  // `divide: 255` as the config parser stores it, 1/d in double
  cfg.data.prep[0].divide = 255.0f;
  rc = ddpc_data_load(&cfg, &ds);
  CHECK(rc == 0 && ds.scale[5] == (float)(1.0 / 255.0) && ds.shift[5] == 0.0f, "divide 255: scale %.9g",
        rc == 0 ? (double)ds.scale[5] : 0.0);
  if (rc == 0) ddpc_data_free(&ds);
  cfg.data.prep[1].kind = DDPC_PREP_RESHAPE;
  cfg.data.prep[1].shape = (ddpc_shape){2, 2, 2};
  CHECK(ddpc_data_load(&cfg, &ds) != 0, "reshape to 8 values of a 6-value sample should fail");
  CHECK_ERROR_HAS("data.prep[1]: reshape to (2, 2, 2) needs 8 values per sample, but a sample has 6");
  cfg.data.prep[1].shape = (ddpc_shape){3, 1, 2};
  rc = ddpc_data_load(&cfg, &ds);
  CHECK(rc == 0 && ds.shape.h == 3 && ds.shape.w == 1 && ds.shape.c == 2, "reshape to (3,1,2): %s",
        ddpc_error_message());
  if (rc == 0) ddpc_data_free(&ds);
  free(images);
  free(labels);
}

int main(void) {
  test_read_small(0, "raw.idx");
  test_read_small(1, "compressed-without-gz-suffix");
  test_read_small(0, "raw-despite-the-suffix.gz");
  test_labels();
  test_errors();
  test_lying_headers();
  test_load();
  return testing_finish();
}
