/* Internals of the tuner's samplers, shared by tune_sampler.c and tune_tpe.c and exposed
 * for tests: double-precision draws from the counter-based generator, and the pieces of
 * hyperopt's TPE (hyperopt/tpe.py), with its defaults:
 *   - the first 20 trials are random (n_startup_jobs);
 *   - the trials are split by loss: the best n_below = min(ceil(0.25 * sqrt(n)), 25) are
 *     "below" (ap_split_trials; ties by trial order), the rest "above";
 *   - per parameter, each group gets an adaptive Parzen estimator: one Gaussian per
 *     observation plus a prior component (mean the middle of the range, sigma its width,
 *     weight 1), sigmas from the gaps to the sorted neighbours clipped to
 *     [width / min(100, components + 1), width], observation weights ramped down for the
 *     oldest beyond 25 (linear_forgetting_weights); loguniform works in log space;
 *   - int and choice are categorical: the (forgetting-weighted) counts plus 1 per value;
 *   - 24 candidates are drawn from the "below" model and the one maximising
 *     log l(x) - log g(x) is proposed, each parameter on its own.
 * hyperopt's log-uniform density leaves the truncation mass out (LGMM1_lpdf divides by
 * p_accept only for quantized values); so does this one, to score as hyperopt does. */
#ifndef DDPC_LAUNCH_TUNE_TPE_H
#define DDPC_LAUNCH_TUNE_TPE_H

#include <stdint.h>

#include "core/rng.h"
#include "tune/tune_sampler.h"
#include "tune/tune_space.h"

#define DDPC_TUNE_TPE_STARTUP_TRIALS 20  // hyperopt's _default_n_startup_jobs
#define DDPC_TUNE_TPE_GAMMA 0.25         // hyperopt's _default_gamma
#define DDPC_TUNE_TPE_CANDIDATES 24      // hyperopt's _default_n_EI_candidates
#define DDPC_TUNE_TPE_PRIOR_WEIGHT 1.0   // hyperopt's _default_prior_weight
#define DDPC_TUNE_TPE_FORGETTING 25      // hyperopt's DEFAULT_LF (also the cap on n_below)

/* Uniform in [0, 1) with 53 random bits. */
double ddpc_tune_rng_uniform(ddpc_rng *rng);
/* Standard normal in double precision (Box-Muller). */
double ddpc_tune_rng_normal(ddpc_rng *rng);

/* A 1-D Gaussian mixture as adaptive_parzen_normal builds it. */
typedef struct {
  double *weights;  // mixture weights, summing to 1
  double *mus;      // component means, sorted, the prior's among them
  double *sigmas;   // component standard deviations
  int n;            // components: observations + 1
  int prior_pos;    // index of the prior component
} ddpc_tune_parzen;

/* Fits the mixture to n_obs observations given in trial order (oldest first). */
int ddpc_tune_parzen_fit(ddpc_tune_parzen *pz, const double *obs, int n_obs, double prior_mu, double prior_sigma);
void ddpc_tune_parzen_free(ddpc_tune_parzen *pz);
/* log density at x of the mixture truncated to [low, high] (GMM1_lpdf). */
double ddpc_tune_parzen_lpdf(const ddpc_tune_parzen *pz, double x, double low, double high);
/* log probability of the quantized value x: the mass of [x - q/2, x + q/2] within
 * [low, high], over the mass of [low, high] (GMM1_lpdf with q). */
double ddpc_tune_parzen_lpdf_quantized(const ddpc_tune_parzen *pz, double x, double low, double high, double q);
/* log density at x > 0 of the log-normal mixture whose log has this mixture (LGMM1_lpdf). */
double ddpc_tune_parzen_lpdf_lognormal(const ddpc_tune_parzen *pz, double x);

/* Weights of n observations, oldest first: 1 each up to 25, then a ramp from 1/n for the
 * oldest n - 25 (linear_forgetting_weights). */
void ddpc_tune_tpe_forgetting_weights(int n, double *out);
/* How many of n trials form the "below" (good) group. */
int ddpc_tune_tpe_n_below(int n);
/* Probability of `value` under the categorical posterior of the observations obs[0..n)
 * (oldest first) over n_values values: (weighted count + 1) / (total weight + n_values). */
double ddpc_tune_tpe_categorical_prob(const double *obs, int n, double value, double n_values);

/* The TPE proposal for trial `trial_number` after n_history >= 1 earlier trials. */
int ddpc_tune_tpe_propose(const ddpc_tune_space *space, uint64_t seed, int trial_number,
                          const ddpc_tune_observation *history, int n_history, double *x_out);

#endif
