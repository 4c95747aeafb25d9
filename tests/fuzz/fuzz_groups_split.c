/* Fuzzes the split of a CSV by its group column (launch/groups/groups_split.c): the input is
 * one file grouped by the column `store`, split as the training file, then as the test file
 * of the same groups, then as ddpc predict's input (every column kept, each row's group
 * recorded). Every group's text must hold the header and as many lines as it counts rows,
 * and name a directory that is a safe file name. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fuzz_common.h"
#include "launch/groups/groups_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_lines(const char *text, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += text[i] == '\n';
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("data.csv", data, size);
  groups_list l;
  memset(&l, 0, sizeof l);
  if (groups_split_csv(path, "store", GROUPS_SPLIT_TRAIN, &l) == 0 &&
      groups_split_csv(path, "store", GROUPS_SPLIT_TEST, &l) == 0) {
    for (int i = 0; i < l.count; i++) {
      const groups_entry *e = &l.items[i];
      if (i > 0 && strcmp(l.items[i - 1].value, e->value) >= 0) abort();  // sorted, each value once
      if (e->rows == 0 || e->rows != e->test_rows) abort();  // the same file twice
      if (fuzz_lines(e->train_text, e->train_len) != e->rows + 1) abort();
      if (e->train_len != e->test_len || memcmp(e->train_text, e->test_text, e->train_len) != 0) abort();
      char *dir = groups_encode_name(e->value);
      if (!dir || !*dir || strcmp(dir, ".") == 0 || strcmp(dir, "..") == 0 || strchr(dir, '/')) abort();
      free(dir);
    }
  }
  groups_list_free(&l);
  // As ddpc predict splits its input: every column kept, each row's group recorded.
  if (groups_split_csv(path, "store", GROUPS_SPLIT_PREDICT, &l) == 0) {
    uint32_t rows = 0;
    for (int i = 0; i < l.count; i++) {
      rows += l.items[i].rows;
      if (fuzz_lines(l.items[i].train_text, l.items[i].train_len) != l.items[i].rows + 1) abort();
    }
    if (rows != l.n_rows) abort();
    for (uint32_t r = 0; r < l.n_rows; r++)
      if (l.row_group[r] < 0 || l.row_group[r] >= l.count || l.row_line[r] < 2) abort();
  }
  groups_list_free(&l);
  ddpc_error_clear();
  fuzz_remove(path);
  return 0;
}
