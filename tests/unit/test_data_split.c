/* Tests of the train/validation/test split: sizes, disjoint and covering, ascending,
 * deterministic per seed, stratified class proportions, and its use by ddpc_data_load
 * (test carved from the training file, or a separate test file). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "data_fixtures.h"

/* Checks rows (n entries, three consecutive ascending splits) cover 0..n-1 exactly once. */
static void check_partition(const uint32_t *rows, uint32_t n, const uint32_t counts[3], const char *what) {
  CHECK(counts[0] + counts[1] + counts[2] == n, "%s: counts sum to n", what);
  unsigned char *seen = calloc(n, 1);
  int ok = 1, ascending = 1;
  uint32_t at = 0;
  for (int s = 0; s < 3; s++)
    for (uint32_t i = 0; i < counts[s]; i++, at++) {
      if (rows[at] >= n || seen[rows[at]]) ok = 0;
      else seen[rows[at]] = 1;
      if (i > 0 && rows[at] <= rows[at - 1]) ascending = 0;
    }
  CHECK(ok, "%s: splits are disjoint and cover every row", what);
  CHECK(ascending, "%s: each split is ascending", what);
  free(seen);
}

static void test_plain(void) {
  uint32_t n = 1000, counts[3], counts2[3];
  uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  CHECK(ddpc_split_rows(n, NULL, 0, 0.1, 0.25, false, 7, a, counts) == 0, "split: %s", ddpc_error_message());
  CHECK(counts[0] == 650 && counts[1] == 100 && counts[2] == 250, "sizes %u/%u/%u", counts[0], counts[1], counts[2]);
  check_partition(a, n, counts, "plain");
  CHECK(ddpc_split_rows(n, NULL, 0, 0.1, 0.25, false, 7, b, counts2) == 0, "split again");
  CHECK(memcmp(a, b, n * sizeof *a) == 0, "same seed, same split");
  CHECK(ddpc_split_rows(n, NULL, 0, 0.1, 0.25, false, 8, b, counts2) == 0, "split seed 8");
  CHECK(memcmp(a, b, n * sizeof *a) != 0, "another seed, another split");
  // Rounding: 0.15 of 33 = 4.95 -> 5.
  CHECK(ddpc_split_rows(33, NULL, 0, 0.15, 0, false, 1, a, counts) == 0 && counts[1] == 5 && counts[2] == 0,
        "rounded val count %u", counts[1]);
  CHECK(ddpc_split_rows(10, NULL, 0, 0.6, 0.4, false, 1, a, counts) != 0, "fractions summing to 1 fail");
  CHECK_ERROR_HAS("data.val_fraction (0.6) and data.test_fraction (0.4) must be in [0, 1) with a sum below 1");
  CHECK(ddpc_split_rows(1, NULL, 0, 0.6, 0, false, 1, a, counts) != 0, "no training rows left fails");
  CHECK_ERROR_HAS("the training split is empty");
  free(a);
  free(b);
}

static void test_stratified(void) {
  // Classes of sizes 500, 300, 150, 50, interleaved.
  uint32_t n = 1000, counts[3], counts2[3];
  int32_t *labels = malloc(n * sizeof *labels);
  const uint32_t sizes[4] = {500, 300, 150, 50};
  for (uint32_t i = 0; i < n; i++) labels[i] = i % 20 < 10 ? 0 : i % 20 < 16 ? 1 : i % 20 < 19 ? 2 : 3;
  uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  CHECK(ddpc_split_rows(n, labels, 4, 0.13, 0.07, true, 3, a, counts) == 0, "stratified: %s",
        ddpc_error_message());
  check_partition(a, n, counts, "stratified");
  uint32_t per[3][4] = {{0}};
  uint32_t at = 0;
  for (int s = 0; s < 3; s++)
    for (uint32_t i = 0; i < counts[s]; i++) per[s][labels[a[at++]]]++;
  for (int c = 0; c < 4; c++) {
    uint32_t val = (uint32_t)floor(sizes[c] * 0.13 + 0.5), test = (uint32_t)floor(sizes[c] * 0.07 + 0.5);
    CHECK(per[1][c] == val && per[2][c] == test && per[0][c] == sizes[c] - val - test,
          "class %d: %u/%u/%u, want %u/%u/%u", c, per[0][c], per[1][c], per[2][c], sizes[c] - val - test, val, test);
  }
  CHECK(ddpc_split_rows(n, labels, 4, 0.13, 0.07, true, 3, b, counts2) == 0 && memcmp(a, b, n * sizeof *a) == 0,
        "stratified split is deterministic");
  free(labels);
  free(a);
  free(b);
}

/* Through ddpc_data_load: test carved from train, or a separate test file. */
static void test_load(void) {
  char *train = fixture_path("train.csv"), *test = fixture_path("test.csv");
  size_t cap = 1 << 16, at = 0;
  char *text = malloc(cap);
  at += (size_t)snprintf(text + at, cap - at, "a,b,y\n");
  for (int i = 0; i < 200; i++) at += (size_t)snprintf(text + at, cap - at, "%d,%d,%d\n", i, -i, i % 3);
  fixture_text(train, text);
  fixture_text(test, "a,b,y\n1,2,0\n3,4,1\n5,6,2\n");
  free(text);
  ddpc_config cfg;
  fixture_config_csv(&cfg, train, "y", DDPC_TASK_CLASSIFICATION);
  cfg.data.val_fraction = 0.1;
  cfg.data.test_fraction = 0.2;
  ddpc_dataset ds;
  int rc = ddpc_data_load(&cfg, &ds);
  CHECK(rc == 0, "load: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(ds.train.count == 140 && ds.val.count == 20 && ds.test.count == 40, "carved %u/%u/%u", ds.train.count,
          ds.val.count, ds.test.count);
    CHECK(ds.test.table == &ds.fit && ds.test_table.rows == 0, "test carved from the training file");
    ddpc_data_free(&ds);
  }
  cfg.data.test.path = test;
  rc = ddpc_data_load(&cfg, &ds);
  CHECK(rc == 0, "load with test file: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(ds.train.count == 180 && ds.val.count == 20 && ds.test.count == 3, "separate %u/%u/%u", ds.train.count,
          ds.val.count, ds.test.count);
    CHECK(ds.test.table == &ds.test_table, "test split reads the test table");
    uint32_t pos[3] = {0, 1, 2};
    float x[6];
    int32_t y[3];
    ddpc_data_gather(&ds, &ds.test, pos, 3, x, y, NULL);
    CHECK(x[0] == 1 && x[5] == 6 && y[0] == 0 && y[2] == 2, "test rows gathered in file order");
    ddpc_data_free(&ds);
  }
  fixture_text(test, "a,y\n1,0\n");
  CHECK(ddpc_data_load(&cfg, &ds) != 0, "test file with other columns fails");
  char *want = ddpc_format("%s: samples of shape (1, 1, 1) do not match the training data %s (1, 1, 2)", test, train);
  CHECK_ERROR_HAS(want);
  free(want);
  free(train);
  free(test);
}

int main(void) {
  test_plain();
  test_stratified();
  test_load();
  return testing_finish();
}
