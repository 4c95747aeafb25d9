/* The IDX reader on real data: Debian's Fashion-MNIST test set (dataset-fashion-mnist,
 * /usr/share/datasets/fashion-mnist), compared against a direct zlib read. Reported as
 * skipped (77) where the package is not installed. The reader's own cases, on files the
 * tests write: test_data_idx.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/data.h"
#include "core/error.h"
#include "testing.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

static void test_t10k(void) {
  const char *images = FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz";
  const char *labels = FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz";
  if (access(images, R_OK) != 0 || access(labels, R_OK) != 0) {
    testing_skip("Fashion-MNIST is not installed (%s; Debian package dataset-fashion-mnist)", FASHION_MNIST_DIR);
    return;
  }
  ddpc_table t;
  ddpc_shape shape = {0};
  int rc = ddpc_idx_read_images(images, &t, &shape);
  CHECK(rc == 0, "t10k images: %s", ddpc_error_message());
  int32_t *y = NULL;
  uint32_t n = 0;
  CHECK(ddpc_idx_read_labels(labels, &y, &n) == 0, "t10k labels: %s", ddpc_error_message());
  CHECK(t.rows == 10000 && n == 10000 && t.features == 784, "t10k: %u images, %u labels, %u features", t.rows, n,
        t.features);
  CHECK(shape.h == 28 && shape.w == 28 && shape.c == 1, "t10k shape");
  static const int first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
  for (int i = 0; i < 10 && y; i++) CHECK(y[i] == first[i], "t10k label %d: %d vs %d", i, y[i], first[i]);
  unsigned char direct[16 + 784];
  gzFile f = gzopen(images, "rb");
  int got = f ? gzread(f, direct, sizeof direct) : -1;
  if (f) gzclose(f);
  CHECK(got == (int)sizeof direct && rc == 0 && memcmp(direct + 16, t.x, 784) == 0,
        "first image bytes match a direct read");
  ddpc_table_free(&t);
  free(y);
}

int main(void) {
  test_t10k();
  return testing_finish();
}
