/* The sharded epoch sampler (see data.h): every rank draws the same permutation of the
 * split for (seed, epoch) and keeps every world-th position, so the shards are disjoint
 * and need no communication. Every rank gets the same count, so all ranks take the same
 * number of steps (and collectives): DROP leaves out the last n % world entries of the
 * permutation, PAD repeats its first entries to fill the last round, as PyTorch's
 * DistributedSampler does with drop_last false and true. `out` doubles as the permutation
 * buffer, so the caller's one allocation of n entries is all the memory this needs. */
#include "core/data.h"
#include "core/rng.h"

uint32_t ddpc_data_sampler_epoch_positions(uint64_t seed, uint64_t epoch, uint32_t n, int rank, int world,
                                           ddpc_data_sampler_mode mode, uint32_t *out) {
  if (world <= 0 || rank < 0 || rank >= world || n == 0) return 0;
  ddpc_rng rng = ddpc_rng_make(seed, DDPC_RNG_SHUFFLE, epoch, 0);
  ddpc_rng_permutation(&rng, out, n);
  uint32_t w = (uint32_t)world, r = (uint32_t)rank;
  uint32_t count = mode == DDPC_DATA_SAMPLER_PAD ? (n + w - 1) / w : n / w;
  // A padded rank's last position wraps to the permutation's start; fewer than `world`
  // entries are padded, so each rank wraps at most once. Read it before compaction.
  uint32_t last = r + (count ? count - 1 : 0) * w;
  uint32_t wrapped = count && last >= n ? out[last - n] : 0;
  // Compacting in place is safe: the source index rank + k * world is never below k.
  for (uint32_t k = 0; k < count; k++) {
    uint32_t i = r + k * w;
    out[k] = i < n ? out[i] : wrapped;
  }
  return count;
}
