/* Counter-based random numbers. There is no hidden global generator: every random value
 * is a pure function of (seed, stream ids, counter), so a run resumed in the middle of an
 * epoch draws exactly what the uninterrupted run would have drawn. Typical keys:
 * ddpc_rng_make(seed, DDPC_RNG_SHUFFLE, epoch, 0) for the per-epoch permutation,
 * ddpc_rng_make(seed, DDPC_RNG_DROPOUT, step, layer_index) for a dropout mask. */
#ifndef DDPC_CORE_RNG_H
#define DDPC_CORE_RNG_H

#include <stdint.h>

enum {
  DDPC_RNG_INIT = 1,     // parameter initialisation (a = layer index)
  DDPC_RNG_SHUFFLE = 2,  // per-epoch sample permutation (a = epoch)
  DDPC_RNG_SPLIT = 3,    // train/validation split
  DDPC_RNG_DROPOUT = 4,  // dropout masks (a = global step, b = layer index; counter = element of the global batch)
  DDPC_RNG_TUNE = 5,     // the tuner's proposals (a = trial number, b = parameter index)
};

typedef struct {
  uint64_t key;      // derived from seed and stream ids; fixed for the stream
  uint64_t counter;  // number of 64-bit values drawn so far
} ddpc_rng;

ddpc_rng ddpc_rng_make(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b);
uint64_t ddpc_rng_next_u64(ddpc_rng *rng);
/* Draw k (0-based) of the stream, what the (k+1)-th ddpc_rng_next_u64 returns, without
 * walking to it: a process that holds only part of a stream (its rows of a global batch)
 * reads its draws directly. */
uint64_t ddpc_rng_draw_at(const ddpc_rng *rng, uint64_t k);
/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
float ddpc_rng_next_float(ddpc_rng *rng);
/* Uniform integer in [0, n) without modulo bias. n > 0. */
uint64_t ddpc_rng_next_below(ddpc_rng *rng, uint64_t n);
/* Standard normal (Box-Muller on two draws). */
float ddpc_rng_next_normal(ddpc_rng *rng);
/* Fisher-Yates permutation of 0..n-1 into out. */
void ddpc_rng_permutation(ddpc_rng *rng, uint32_t *out, uint32_t n);

#endif
