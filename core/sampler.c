/* The sharded epoch sampler (see data.h): every rank draws the same permutation of the
 * split for (seed, epoch) and keeps every world-th position, so the shards are disjoint,
 * cover the split, and need no communication. `out` doubles as the permutation buffer, so
 * the caller's one allocation of n entries is all the memory this needs. */
#include "core/data.h"
#include "core/rng.h"

uint32_t ddpc_sampler_epoch_positions(uint64_t seed, uint64_t epoch, uint32_t n, int rank, int world,
                                      uint32_t *out) {
  if (world <= 0 || rank < 0 || rank >= world || n == 0) return 0;
  ddpc_rng rng = ddpc_rng_make(seed, DDPC_RNG_SHUFFLE, epoch, 0);
  ddpc_rng_permutation(&rng, out, n);
  // Compacting in place is safe: the source index rank + k * world is never below k.
  uint32_t w = (uint32_t)world, count = 0;
  for (uint32_t i = (uint32_t)rank; i < n; i += w) out[count++] = out[i];
  return count;
}
