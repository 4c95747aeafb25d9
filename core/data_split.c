/* Train / validation / test split of the training file. A seeded permutation picks the
 * held-out rows (validation first, then test); with `stratify` each class is permuted and
 * split on its own with the same fractions, so rare classes keep their share. Each split's
 * rows come out ascending: batches then read the table front to back, and the split does
 * not depend on anything but (seed, n, labels, fractions). Streams: the plain split draws
 * ddpc_rng_make(seed, DDPC_RNG_SPLIT, 0, 0); class c of a stratified split draws
 * ddpc_rng_make(seed, DDPC_RNG_SPLIT, 1, c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/data_internal.h"
#include "core/error.h"
#include "core/rng.h"

enum { SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2 };

static uint32_t split_round(uint32_t n, double fraction) { return (uint32_t)floor((double)n * fraction + 0.5); }

/* Marks perm[0..n) as val (first n_val), test (next n_test), train (rest). */
static void split_mark(const uint32_t *perm, uint32_t n, double val_fraction, double test_fraction,
                       unsigned char *which) {
  uint32_t n_val = split_round(n, val_fraction);
  uint32_t n_test = split_round(n, test_fraction);
  if (n_val + n_test > n) n_test = n - n_val;
  for (uint32_t i = 0; i < n; i++)
    which[perm[i]] = i < n_val ? SPLIT_VAL : i < n_val + n_test ? SPLIT_TEST : SPLIT_TRAIN;
}

int ddpc_split_rows(uint32_t n, const int32_t *labels, int num_classes, double val_fraction,
                    double test_fraction, bool stratify, uint64_t seed, uint32_t *rows_out,
                    uint32_t counts[3]) {
  if (!(val_fraction >= 0 && val_fraction < 1) || !(test_fraction >= 0 && test_fraction < 1) ||
      !(val_fraction + test_fraction < 1))
    return ddpc_error_set("data.val_fraction (%g) and data.test_fraction (%g) must be in [0, 1) with a sum below 1",
                          val_fraction, test_fraction);
  unsigned char *which = ddpc_malloc(n ? n : 1, "split marks");
  uint32_t *perm = ddpc_malloc((n ? n : 1) * sizeof *perm, "split permutation");
  if (!which || !perm) {
    free(which);
    free(perm);
    return -1;
  }
  if (stratify && labels && num_classes > 0) {
    // Rows of each class in ascending order (counting sort), then one independent
    // permutation per class: adding a class does not reshuffle the others.
    uint32_t *start = ddpc_calloc((size_t)num_classes + 1, sizeof *start, "split class counts");
    uint32_t *local = ddpc_malloc((n ? n : 1) * sizeof *local, "split class permutation");
    if (!start || !local) {
      free(start);
      free(local);
      free(which);
      free(perm);
      return -1;
    }
    for (uint32_t i = 0; i < n; i++) start[labels[i] + 1]++;
    for (int c = 0; c < num_classes; c++) start[c + 1] += start[c];
    // perm becomes the rows grouped by class; start[] advances as a cursor, then moves back.
    for (uint32_t i = 0; i < n; i++) perm[start[labels[i]]++] = i;
    for (int c = num_classes; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
    for (int c = 0; c < num_classes; c++) {
      uint32_t first = start[c], m = start[c + 1] - start[c];
      ddpc_rng rng = ddpc_rng_make(seed, DDPC_RNG_SPLIT, 1, (uint64_t)c);
      ddpc_rng_permutation(&rng, local, m);
      for (uint32_t k = 0; k < m; k++) local[k] = perm[first + local[k]];
      split_mark(local, m, val_fraction, test_fraction, which);
    }
    free(start);
    free(local);
  } else {
    ddpc_rng rng = ddpc_rng_make(seed, DDPC_RNG_SPLIT, 0, 0);
    ddpc_rng_permutation(&rng, perm, n);
    split_mark(perm, n, val_fraction, test_fraction, which);
  }
  counts[0] = counts[1] = counts[2] = 0;
  for (uint32_t i = 0; i < n; i++) counts[which[i]]++;
  uint32_t at[3] = {0, counts[0], counts[0] + counts[1]};
  for (uint32_t i = 0; i < n; i++) rows_out[at[which[i]]++] = i;  // ascending within each split
  free(which);
  free(perm);
  if (counts[SPLIT_TRAIN] == 0)
    return ddpc_error_set("the training split is empty: %u samples with data.val_fraction = %g and "
                          "data.test_fraction = %g leave none for training",
                          n, val_fraction, test_fraction);
  return 0;
}
