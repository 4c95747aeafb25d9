/* Tests of the sharded epoch sampler: one permutation per (seed, epoch) shared by every
 * rank, equal counts on every rank (drop or pad), shards disjoint and covering, and bad
 * arguments. */
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/rng.h"
#include "testing.h"

static void test_world(uint32_t n, int world, uint64_t seed, uint64_t epoch) {
  uint32_t *full = malloc((n ? n : 1) * sizeof *full), *out = malloc((n ? n : 1) * sizeof *out);
  unsigned char *seen = calloc(n ? n : 1, 1);
  CHECK(ddpc_data_sampler_epoch_positions(seed, epoch, n, 0, 1, DDPC_DATA_SAMPLER_DROP, full) == n,
        "world 1 takes all %u", n);
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
  // DROP: every rank n / world positions, disjoint, the permutation's tail left out.
  memset(seen, 0, n ? n : 1);
  uint32_t total = 0;
  int same = 1, disjoint = 1;
  for (int r = 0; r < world; r++) {
    uint32_t count = ddpc_data_sampler_epoch_positions(seed, epoch, n, r, world, DDPC_DATA_SAMPLER_DROP, out);
    uint32_t want = n / (uint32_t)world;
    CHECK(count == want, "drop n=%u world=%d rank %d: %u positions, want %u", n, world, r, count, want);
    for (uint32_t k = 0; k < count; k++) {
      same &= out[k] == full[(uint32_t)r + k * (uint32_t)world];
      if (out[k] >= n || seen[out[k]]) disjoint = 0;
      else seen[out[k]] = 1;
    }
    total += count;
  }
  CHECK(same, "drop n=%u world=%d: each rank takes i %% world == rank of the shared permutation", n, world);
  CHECK(disjoint && total == n - n % (uint32_t)world, "drop n=%u world=%d: shards disjoint (%u)", n, world, total);
  // PAD: every rank ceil(n / world); together they cover every position, and the padded
  // entries repeat the permutation's first ones (PyTorch's DistributedSampler rule).
  memset(seen, 0, n ? n : 1);
  int pad_same = 1;
  uint32_t covered = 0;
  for (int r = 0; r < world; r++) {
    uint32_t count = ddpc_data_sampler_epoch_positions(seed, epoch, n, r, world, DDPC_DATA_SAMPLER_PAD, out);
    uint32_t want = (n + (uint32_t)world - 1) / (uint32_t)world;
    CHECK(count == want, "pad n=%u world=%d rank %d: %u positions, want %u", n, world, r, count, want);
    for (uint32_t k = 0; k < count; k++) {
      uint32_t i = (uint32_t)r + k * (uint32_t)world;
      pad_same &= out[k] == full[i < n ? i : i - n];
      if (out[k] < n && !seen[out[k]]) {
        seen[out[k]] = 1;
        covered++;
      }
    }
  }
  CHECK(pad_same, "pad n=%u world=%d: padded shards follow the wrapped permutation", n, world);
  CHECK(covered == n, "pad n=%u world=%d: every position used (%u)", n, world, covered);
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
  ddpc_data_sampler_epoch_positions(7, 0, 100, 0, 1, DDPC_DATA_SAMPLER_DROP, a);
  ddpc_data_sampler_epoch_positions(7, 1, 100, 0, 1, DDPC_DATA_SAMPLER_DROP, b);
  CHECK(memcmp(a, b, sizeof a) != 0, "epochs draw different permutations");
  ddpc_data_sampler_epoch_positions(7, 0, 100, 0, 1, DDPC_DATA_SAMPLER_DROP, b);
  CHECK(memcmp(a, b, sizeof a) == 0, "same (seed, epoch), same permutation");
  CHECK(ddpc_data_sampler_epoch_positions(7, 0, 100, 2, 2, DDPC_DATA_SAMPLER_DROP, a) == 0,
        "rank >= world gives nothing");
  CHECK(ddpc_data_sampler_epoch_positions(7, 0, 100, -1, 2, DDPC_DATA_SAMPLER_DROP, a) == 0,
        "negative rank gives nothing");
  CHECK(ddpc_data_sampler_epoch_positions(7, 0, 100, 0, 0, DDPC_DATA_SAMPLER_DROP, a) == 0, "world 0 gives nothing");
  return testing_finish();
}
