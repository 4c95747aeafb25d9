/* The tuner's search algorithms: where the next trial goes, given the trials so far.
 *   random — each parameter drawn from its distribution (log-uniform in log space,
 *            quniform snapped after a uniform draw, as hyperopt's rand.suggest does);
 *   grid   — every combination of the parameters' grid values (tune_space.h), the last
 *            parameter changing fastest, like itertools.product; trial n is point n;
 *   tpe    — hyperopt's Tree-structured Parzen Estimator with its constants (tune_tpe.h).
 * A proposal is a pure function of (seed, trial number, history): its random numbers come
 * from ddpc_rng_make(seed, DDPC_RNG_TUNE, trial number, parameter index), so a resumed
 * study proposes exactly what the uninterrupted one would have. */
#ifndef DDPC_LAUNCH_TUNE_SAMPLER_H
#define DDPC_LAUNCH_TUNE_SAMPLER_H

#include <stdint.h>

#include "tune/tune_space.h"

typedef enum {
  DDPC_TUNE_ALGORITHM_RANDOM,  // independent draws from each distribution
  DDPC_TUNE_ALGORITHM_GRID,    // every combination of grid values, in order
  DDPC_TUNE_ALGORITHM_TPE,     // hyperopt's TPE after 20 random trials
} ddpc_tune_algorithm;

/* One earlier trial as the sampler sees it. */
typedef struct {
  const double *x;  // its point, one value per parameter (tune_space.h)
  double loss;      // lower is better (negate a maximised metric); +INFINITY while running or failed
} ddpc_tune_observation;

typedef struct ddpc_tune_sampler ddpc_tune_sampler;

/* A sampler over `space`, which must outlive it, in *out. -1 (and *out NULL) with a message
 * when the grid algorithm meets a parameter without grid values (ddpc_tune_space_check_grid). */
int ddpc_tune_sampler_create(ddpc_tune_algorithm alg, const ddpc_tune_space *space, uint64_t seed,
                             ddpc_tune_sampler **out);
void ddpc_tune_sampler_free(ddpc_tune_sampler *s);

/* Writes the point of trial `trial_number` into x_out (space->n_params values).
 * `history` holds the n_history earlier trials in the order they were proposed (trial i at
 * index i), finished or not. Returns 0 on success, 1 when a grid has no point left
 * (trial_number >= ddpc_tune_space_grid_size), -1 with a message on error. */
int ddpc_tune_sampler_propose(ddpc_tune_sampler *s, int trial_number, const ddpc_tune_observation *history,
                              int n_history, double *x_out);

#endif
