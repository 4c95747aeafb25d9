/* Tests of the sharded epoch sampler: one permutation per (seed, epoch) shared by every
 * rank, shards disjoint and covering, the documented counts, and bad arguments. */
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/rng.h"
#include "testing.h"

static void test_world(uint32_t n, int world, uint64_t seed, uint64_t epoch) {
  uint32_t *full = malloc((n ? n : 1) * sizeof *full), *out = malloc((n ? n : 1) * sizeof *out);
  unsigned char *seen = calloc(n ? n : 1, 1);
  CHECK(ddpc_sampler_epoch_positions(seed, epoch, n, 0, 1, full) == n, "world 1 takes all %u", n);
  // World 1 is the permutation itself: every position once.
  int perm_ok = 1;
  for (uint32_t i = 0; i < n; i++) {
    if (full[i] >= n || seen[full[i]]) perm_ok = 0;
    else seen[full[i]] = 1;
  }
  CHECK(perm_ok, "n=%u: a permutation of 0..n-1", n);
  ddpc_rng rng = ddpc_rng_make(seed, DDPC_RNG_SHUFFLE, epoch, 0);
  ddpc_rng_permutation(&rng, out, n);
  CHECK(n == 0 || memcmp(out, full, n * sizeof *out) == 0, "n=%u: the documented rng stream", n);
  memset(seen, 0, n ? n : 1);
  uint32_t total = 0;
  int same = 1, disjoint = 1;
  for (int r = 0; r < world; r++) {
    uint32_t count = ddpc_sampler_epoch_positions(seed, epoch, n, r, world, out);
    uint32_t want = n / (uint32_t)world + ((uint32_t)r < n % (uint32_t)world);
    CHECK(count == want, "n=%u world=%d rank %d: %u positions, want %u", n, world, r, count, want);
    for (uint32_t k = 0; k < count; k++) {
      same &= out[k] == full[(uint32_t)r + k * (uint32_t)world];
      if (out[k] >= n || seen[out[k]]) disjoint = 0;
      else seen[out[k]] = 1;
    }
    total += count;
  }
  CHECK(same, "n=%u world=%d: each rank takes i %% world == rank of the shared permutation", n, world);
  CHECK(disjoint && total == n, "n=%u world=%d: shards disjoint and covering (%u)", n, world, total);
  free(full);
  free(out);
  free(seen);
}

int main(void) {
  test_world(10, 3, 1, 0);
  test_world(1000, 4, 99, 5);
  test_world(1001, 8, 99, 5);
  test_world(3, 5, 2, 1);
  test_world(0, 2, 2, 1);
  uint32_t a[100], b[100];
  ddpc_sampler_epoch_positions(7, 0, 100, 0, 1, a);
  ddpc_sampler_epoch_positions(7, 1, 100, 0, 1, b);
  CHECK(memcmp(a, b, sizeof a) != 0, "epochs draw different permutations");
  ddpc_sampler_epoch_positions(7, 0, 100, 0, 1, b);
  CHECK(memcmp(a, b, sizeof a) == 0, "same (seed, epoch), same permutation");
  CHECK(ddpc_sampler_epoch_positions(7, 0, 100, 2, 2, a) == 0, "rank >= world gives nothing");
  CHECK(ddpc_sampler_epoch_positions(7, 0, 100, -1, 2, a) == 0, "negative rank gives nothing");
  CHECK(ddpc_sampler_epoch_positions(7, 0, 100, 0, 0, a) == 0, "world 0 gives nothing");
  return testing_finish();
}
