/* The tuner's samplers (tune_sampler.h): random draws from each distribution, the grid in
 * mixed radix, and the hand-over to TPE (tune_tpe.c) once the startup trials are done. */
#include "tune/tune_sampler.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/rng.h"
#include "tune/tune_tpe.h"

struct ddpc_tune_sampler {
  ddpc_tune_algorithm alg;       // random, grid or tpe
  const ddpc_tune_space *space;  // what is searched (not owned)
  uint64_t seed;                 // the study's seed: proposals are a function of it
};

double ddpc_tune_rng_uniform(ddpc_rng *rng) {
  return (double)(ddpc_rng_next_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
}

double ddpc_tune_rng_normal(ddpc_rng *rng) {
  // 1 - u lies in (0, 1], so the logarithm is finite.
  double u1 = 1.0 - ddpc_tune_rng_uniform(rng);
  double u2 = ddpc_tune_rng_uniform(rng);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* One draw from a parameter's own distribution, as hyperopt's rand.suggest makes it. */
static double sampler_draw_prior(const ddpc_tune_param *p, ddpc_rng *rng) {
  switch (p->dist) {
    case DDPC_TUNE_DIST_UNIFORM: return p->low + ddpc_tune_rng_uniform(rng) * (p->high - p->low);
    case DDPC_TUNE_DIST_LOGUNIFORM: {
      double lo = log(p->low), hi = log(p->high);
      return ddpc_tune_param_snap(p, exp(lo + ddpc_tune_rng_uniform(rng) * (hi - lo)));
    }
    case DDPC_TUNE_DIST_QUNIFORM:
      return ddpc_tune_param_snap(p, p->low + ddpc_tune_rng_uniform(rng) * (p->high - p->low));
    case DDPC_TUNE_DIST_INT:
    case DDPC_TUNE_DIST_CHOICE:
      return p->low + (double)ddpc_rng_next_below(rng, (uint64_t)((int64_t)p->high - (int64_t)p->low) + 1);
  }
  return p->low;
}

int ddpc_tune_sampler_create(ddpc_tune_algorithm alg, const ddpc_tune_space *space, uint64_t seed,
                             ddpc_tune_sampler **out) {
  *out = NULL;
  if (alg != DDPC_TUNE_ALGORITHM_RANDOM && alg != DDPC_TUNE_ALGORITHM_GRID && alg != DDPC_TUNE_ALGORITHM_TPE)
    return ddpc_error_set("tune: unknown search algorithm %d", (int)alg);
  if (alg == DDPC_TUNE_ALGORITHM_GRID && ddpc_tune_space_check_grid(space) != 0) return -1;
  ddpc_tune_sampler *s = ddpc_calloc(1, sizeof *s, "sampler");
  if (!s) return -1;
  s->alg = alg;
  s->space = space;
  s->seed = seed;
  *out = s;
  return 0;
}

void ddpc_tune_sampler_free(ddpc_tune_sampler *s) { free(s); }

/* Grid point `number`: mixed radix with the last parameter as the fastest digit. */
static int sampler_grid_point(const ddpc_tune_space *space, int number, double *x_out) {
  if ((int64_t)number >= ddpc_tune_space_grid_size(space)) return 1;
  int64_t rest = number;
  for (int p = space->n_params - 1; p >= 0; p--) {
    int64_t count = ddpc_tune_param_grid_count(&space->params[p]);
    x_out[p] = ddpc_tune_param_grid_value(&space->params[p], rest % count);
    rest /= count;
  }
  return 0;
}

int ddpc_tune_sampler_propose(ddpc_tune_sampler *s, int trial_number, const ddpc_tune_observation *history,
                              int n_history, double *x_out) {
  if (trial_number < 0 || n_history < 0 || (n_history > 0 && !history))
    return ddpc_error_set("tune: bad proposal request (trial %d, %d earlier)", trial_number, n_history);
  const ddpc_tune_space *space = s->space;
  if (s->alg == DDPC_TUNE_ALGORITHM_GRID) return sampler_grid_point(space, trial_number, x_out);
  // hyperopt counts every earlier trial, running ones included, towards the startup.
  if (s->alg == DDPC_TUNE_ALGORITHM_TPE && n_history >= DDPC_TUNE_TPE_STARTUP_TRIALS)
    return ddpc_tune_tpe_propose(space, s->seed, trial_number, history, n_history, x_out);
  for (int p = 0; p < space->n_params; p++) {
    ddpc_rng rng = ddpc_rng_make(s->seed, DDPC_RNG_TUNE, (uint64_t)trial_number, (uint64_t)p);
    x_out[p] = sampler_draw_prior(&space->params[p], &rng);
  }
  return 0;
}
