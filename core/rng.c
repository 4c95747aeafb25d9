/* Counter-based generator (see rng.h): splitmix64's finaliser applied to key + counter,
 * which passes BigCrush as a counter-mode generator and costs a few cycles per value. */
#include "core/rng.h"

#include <math.h>

static uint64_t rng_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

ddpc_rng ddpc_rng_make(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b) {
  uint64_t key = rng_mix(seed + 0x9e3779b97f4a7c15ULL);
  key = rng_mix(key ^ (stream * 0xd1b54a32d192ed03ULL));
  key = rng_mix(key ^ (a * 0xabc98388fb8fac03ULL + 1));
  key = rng_mix(key ^ (b * 0x8cb92ba72f3d8dd7ULL + 2));
  ddpc_rng rng = {key, 0};
  return rng;
}

uint64_t ddpc_rng_next_u64(ddpc_rng *rng) { return ddpc_rng_draw_at(rng, rng->counter++); }

uint64_t ddpc_rng_draw_at(const ddpc_rng *rng, uint64_t k) {
  return rng_mix(rng->key + 0x9e3779b97f4a7c15ULL * (k + 1));
}

float ddpc_rng_next_float(ddpc_rng *rng) {
  return (float)(ddpc_rng_next_u64(rng) >> 40) * (1.0f / 16777216.0f);
}

uint64_t ddpc_rng_next_below(ddpc_rng *rng, uint64_t n) {
  // Rejection keeps the distribution exact; the loop almost never repeats.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = ddpc_rng_next_u64(rng);
  while (x >= limit);
  return x % n;
}

float ddpc_rng_next_normal(ddpc_rng *rng) {
  double u1 = ((double)(ddpc_rng_next_u64(rng) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (double)(ddpc_rng_next_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void ddpc_rng_permutation(ddpc_rng *rng, uint32_t *out, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) out[i] = i;
  for (uint32_t i = n; i > 1; i--) {
    uint32_t j = (uint32_t)ddpc_rng_next_below(rng, i);
    uint32_t t = out[i - 1];
    out[i - 1] = out[j];
    out[j] = t;
  }
}
