/* hyperopt's Tree-structured Parzen Estimator (tune_tpe.h has the algorithm and its
 * constants): split the trials by loss, model each parameter's good and other values,
 * propose the candidate with the best likelihood ratio. */
#include "tune/tune_tpe.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

// hyperopt's EPS: the floor under sigmas and the scale of normal_cdf.
#define TPE_EPS 1e-12
// Truncated draws are by rejection, as in hyperopt's GMM1; the prior component alone puts
// over a third of its mass inside the range, so this many misses means something is wrong.
#define TPE_MAX_REJECTIONS 100000
#define TPE_SQRT_2PI 2.5066282746310002

/* ---- small numeric pieces ---- */

typedef struct {
  double value;  // what is sorted
  int index;     // its position before sorting: breaks ties so the order is deterministic
} tpe_keyed;

static int tpe_keyed_compare(const void *a, const void *b) {
  const tpe_keyed *x = a, *y = b;
  if (x->value < y->value) return -1;
  if (x->value > y->value) return 1;
  return (x->index > y->index) - (x->index < y->index);
}

static double tpe_normal_cdf(double x, double mu, double sigma) {
  return 0.5 * (1.0 + erf((x - mu) / fmax(sqrt(2.0) * sigma, TPE_EPS)));
}

/* log(sum(exp(t))) over terms added one at a time, scaled by the largest so far so that
 * nothing overflows and no array of terms is needed. */
typedef struct {
  double max;  // largest term so far (-inf: none)
  double sum;  // sum of exp(term - max)
} tpe_log_sum;

static void tpe_log_sum_add(tpe_log_sum *acc, double t) {
  if (t == -INFINITY) return;
  if (t > acc->max) {
    acc->sum = acc->sum * exp(acc->max - t) + 1.0;
    acc->max = t;
  } else {
    acc->sum += exp(t - acc->max);
  }
}

static double tpe_log_sum_value(const tpe_log_sum *acc) {
  return acc->sum > 0 ? log(acc->sum) + acc->max : -INFINITY;
}

void ddpc_tune_tpe_forgetting_weights(int n, double *out) {
  int ramp = n - DDPC_TUNE_TPE_FORGETTING;
  for (int i = 0; i < n; i++) out[i] = 1.0;
  // numpy.linspace(1/n, 1, ramp): evenly spaced, its last point exactly 1.
  for (int i = 0; i < ramp; i++)
    out[i] = ramp == 1 ? 1.0 / n : i == ramp - 1 ? 1.0 : 1.0 / n + i * ((1.0 - 1.0 / n) / (ramp - 1));
}

int ddpc_tune_tpe_n_below(int n) {
  int k = (int)ceil(DDPC_TUNE_TPE_GAMMA * sqrt((double)n));
  return k < DDPC_TUNE_TPE_FORGETTING ? k : DDPC_TUNE_TPE_FORGETTING;
}

/* ---- the adaptive Parzen estimator ---- */

void ddpc_tune_parzen_free(ddpc_tune_parzen *pz) {
  free(pz->weights);
  free(pz->mus);
  free(pz->sigmas);
  memset(pz, 0, sizeof *pz);
}

int ddpc_tune_parzen_fit(ddpc_tune_parzen *pz, const double *obs, int n_obs, double prior_mu, double prior_sigma) {
  memset(pz, 0, sizeof *pz);
  int n = n_obs + 1;
  pz->weights = ddpc_calloc((size_t)n, sizeof *pz->weights, "parzen weights");
  pz->mus = ddpc_calloc((size_t)n, sizeof *pz->mus, "parzen means");
  pz->sigmas = ddpc_calloc((size_t)n, sizeof *pz->sigmas, "parzen sigmas");
  tpe_keyed *sorted = ddpc_calloc((size_t)n, sizeof *sorted, "parzen order");
  double *age_weights = ddpc_calloc((size_t)n, sizeof *age_weights, "parzen forgetting");
  if (!pz->weights || !pz->mus || !pz->sigmas || !sorted || !age_weights) {
    free(sorted);
    free(age_weights);
    ddpc_tune_parzen_free(pz);
    return -1;
  }
  pz->n = n;
  for (int i = 0; i < n_obs; i++) sorted[i] = (tpe_keyed){obs[i], i};
  qsort(sorted, (size_t)n_obs, sizeof *sorted, tpe_keyed_compare);
  // The prior goes before the first observation not below it (numpy.searchsorted), except
  // that with one observation hyperopt puts it first only when strictly below.
  int pos = 0;
  while (pos < n_obs && (n_obs == 1 ? sorted[pos].value <= prior_mu : sorted[pos].value < prior_mu)) pos++;
  pz->prior_pos = pos;
  bool forget = DDPC_TUNE_TPE_FORGETTING < n_obs;
  if (forget) ddpc_tune_tpe_forgetting_weights(n_obs, age_weights);
  for (int i = 0, k = 0; i < n; i++) {
    if (i == pos) {
      pz->mus[i] = prior_mu;
      pz->weights[i] = DDPC_TUNE_TPE_PRIOR_WEIGHT;
      continue;
    }
    pz->mus[i] = sorted[k].value;
    pz->weights[i] = forget ? age_weights[sorted[k].index] : 1.0;
    k++;
  }
  // Each component is as wide as the larger gap to its neighbours (the ends: their one
  // gap); a lone observation gets half the prior's width.
  if (n == 1) {
    pz->sigmas[0] = prior_sigma;
  } else if (n == 2) {
    pz->sigmas[0] = pz->sigmas[1] = 0.5 * prior_sigma;
  } else {
    for (int i = 1; i < n - 1; i++)
      pz->sigmas[i] = fmax(pz->mus[i] - pz->mus[i - 1], pz->mus[i + 1] - pz->mus[i]);
    pz->sigmas[0] = pz->mus[1] - pz->mus[0];
    pz->sigmas[n - 1] = pz->mus[n - 1] - pz->mus[n - 2];
  }
  double min_sigma = prior_sigma / fmin(100.0, 1.0 + n);
  double total = 0;
  for (int i = 0; i < n; i++) {
    pz->sigmas[i] = fmin(fmax(pz->sigmas[i], min_sigma), prior_sigma);
    total += pz->weights[i];
  }
  pz->sigmas[pos] = prior_sigma;
  for (int i = 0; i < n; i++) pz->weights[i] /= total;
  free(sorted);
  free(age_weights);
  return 0;
}

/* Mass of the mixture inside [low, high]: what truncation divides by. */
static double tpe_parzen_mass(const ddpc_tune_parzen *pz, double low, double high) {
  double p = 0;
  for (int i = 0; i < pz->n; i++)
    p += pz->weights[i] *
         (tpe_normal_cdf(high, pz->mus[i], pz->sigmas[i]) - tpe_normal_cdf(low, pz->mus[i], pz->sigmas[i]));
  return p;
}

double ddpc_tune_parzen_lpdf(const ddpc_tune_parzen *pz, double x, double low, double high) {
  double log_accept = log(tpe_parzen_mass(pz, low, high));
  tpe_log_sum acc = {-INFINITY, 0};
  for (int i = 0; i < pz->n; i++) {
    double s = pz->sigmas[i], z = (x - pz->mus[i]) / fmax(s, TPE_EPS);
    tpe_log_sum_add(&acc, -0.5 * z * z + log(pz->weights[i] / (TPE_SQRT_2PI * s)) - log_accept);
  }
  return tpe_log_sum_value(&acc);
}

double ddpc_tune_parzen_lpdf_quantized(const ddpc_tune_parzen *pz, double x, double low, double high, double q) {
  double upper = fmin(x + 0.5 * q, high), lower = fmax(x - 0.5 * q, low);
  double p = 0;
  for (int i = 0; i < pz->n; i++) {
    // Two steps, as hyperopt adds them: slightly more accurate for nearby bounds.
    p += pz->weights[i] * tpe_normal_cdf(upper, pz->mus[i], pz->sigmas[i]);
    p -= pz->weights[i] * tpe_normal_cdf(lower, pz->mus[i], pz->sigmas[i]);
  }
  return log(p) - log(tpe_parzen_mass(pz, low, high));
}

double ddpc_tune_parzen_lpdf_lognormal(const ddpc_tune_parzen *pz, double x) {
  tpe_log_sum acc = {-INFINITY, 0};
  for (int i = 0; i < pz->n; i++) {
    double s = fmax(pz->sigmas[i], TPE_EPS), z = (log(x) - pz->mus[i]) / s;
    tpe_log_sum_add(&acc, log(pz->weights[i]) - 0.5 * z * z - log(s * x * TPE_SQRT_2PI));
  }
  return tpe_log_sum_value(&acc);
}

/* One draw from the mixture restricted to [low, high), by rejection as hyperopt's GMM1. */
static double tpe_parzen_draw(const ddpc_tune_parzen *pz, double low, double high, ddpc_rng *rng) {
  for (int tries = 0; tries < TPE_MAX_REJECTIONS; tries++) {
    double u = ddpc_tune_rng_uniform(rng), cumulative = 0;
    int c = pz->n - 1;  // the last when the weights sum to a hair under 1
    for (int i = 0; i < pz->n; i++) {
      cumulative += pz->weights[i];
      if (u < cumulative) {
        c = i;
        break;
      }
    }
    double d = pz->mus[c] + pz->sigmas[c] * ddpc_tune_rng_normal(rng);
    if (low <= d && d < high) return d;
  }
  return pz->mus[pz->prior_pos];  // the middle of the range
}

/* ---- the categorical posterior of int and choice ---- */

typedef struct {
  const double *obs;  // observed values, oldest first
  double *weights;    // their forgetting weights
  int n;              // how many
  double total;       // sum of the weights
  double n_values;    // size of the domain: each value gets the prior weight on top
} tpe_categorical;

static int tpe_categorical_init(tpe_categorical *c, const double *obs, int n, double n_values) {
  c->obs = obs;
  c->n = n;
  c->n_values = n_values;
  c->total = 0;
  c->weights = ddpc_calloc((size_t)n + 1, sizeof *c->weights, "categorical weights");
  if (!c->weights) return -1;
  ddpc_tune_tpe_forgetting_weights(n, c->weights);
  for (int i = 0; i < n; i++) c->total += c->weights[i];
  return 0;
}

static double tpe_categorical_prob(const tpe_categorical *c, double value) {
  double count = 0;
  for (int i = 0; i < c->n; i++)
    if (c->obs[i] == value) count += c->weights[i];
  return (count + DDPC_TUNE_TPE_PRIOR_WEIGHT) / (c->total + c->n_values * DDPC_TUNE_TPE_PRIOR_WEIGHT);
}

/* A draw with the probabilities above without a table per value (an int range may be
 * huge): an observation by weight, or with the prior's share a uniform value. */
static double tpe_categorical_draw(const tpe_categorical *c, double first, ddpc_rng *rng) {
  double u = ddpc_tune_rng_uniform(rng) * (c->total + c->n_values * DDPC_TUNE_TPE_PRIOR_WEIGHT);
  for (int i = 0; i < c->n; i++) {
    if (u < c->weights[i]) return c->obs[i];
    u -= c->weights[i];
  }
  return first + (double)ddpc_rng_next_below(rng, (uint64_t)c->n_values);
}

double ddpc_tune_tpe_categorical_prob(const double *obs, int n, double value, double n_values) {
  tpe_categorical c;
  if (tpe_categorical_init(&c, obs, n, n_values) != 0) return NAN;
  double p = tpe_categorical_prob(&c, value);
  free(c.weights);
  return p;
}

/* ---- one parameter ---- */

/* Of the candidates drawn from the good model, the one with the largest
 * log l(x) - log g(x); ties keep the earlier one, as numpy.argmax; a NaN score (both
 * densities 0) counts as the lowest. */
static int tpe_propose_categorical(const ddpc_tune_param *p, const double *below, int n_below, const double *above,
                                   int n_above, ddpc_rng *rng, double *out) {
  double n_values = (double)((int64_t)p->high - (int64_t)p->low + 1);
  tpe_categorical good, rest;
  memset(&rest, 0, sizeof rest);
  int rc = tpe_categorical_init(&good, below, n_below, n_values);
  if (rc == 0 && (rc = tpe_categorical_init(&rest, above, n_above, n_values)) == 0) {
    double best = -INFINITY;
    for (int c = 0; c < DDPC_TUNE_TPE_CANDIDATES; c++) {
      double v = tpe_categorical_draw(&good, p->low, rng);
      double score = log(tpe_categorical_prob(&good, v)) - log(tpe_categorical_prob(&rest, v));
      if (c == 0 || score > best) {
        best = isnan(score) ? -INFINITY : score;
        *out = v;
      }
    }
  }
  free(good.weights);
  free(rest.weights);
  return rc;
}

/* The log density ratio at candidate v (natural units) under the two models. */
static double tpe_score(const ddpc_tune_param *p, const ddpc_tune_parzen *good, const ddpc_tune_parzen *rest,
                        double v) {
  if (p->dist == DDPC_TUNE_DIST_LOGUNIFORM)
    return ddpc_tune_parzen_lpdf_lognormal(good, v) - ddpc_tune_parzen_lpdf_lognormal(rest, v);
  if (p->dist == DDPC_TUNE_DIST_QUNIFORM)
    return ddpc_tune_parzen_lpdf_quantized(good, v, p->low, p->high, p->q) -
           ddpc_tune_parzen_lpdf_quantized(rest, v, p->low, p->high, p->q);
  return ddpc_tune_parzen_lpdf(good, v, p->low, p->high) - ddpc_tune_parzen_lpdf(rest, v, p->low, p->high);
}

/* uniform, quniform and loguniform: Parzen models in the space where the prior is uniform
 * (log space for loguniform); `below` and `above` are rewritten into that space. */
static int tpe_propose_continuous(const ddpc_tune_param *p, double *below, int n_below, double *above, int n_above,
                                  ddpc_rng *rng, double *out) {
  bool log_space = p->dist == DDPC_TUNE_DIST_LOGUNIFORM;
  double lo = log_space ? log(p->low) : p->low, hi = log_space ? log(p->high) : p->high;
  for (int i = 0; log_space && i < n_below; i++) below[i] = log(below[i]);
  for (int i = 0; log_space && i < n_above; i++) above[i] = log(above[i]);
  ddpc_tune_parzen good, rest;
  memset(&rest, 0, sizeof rest);
  int rc = ddpc_tune_parzen_fit(&good, below, n_below, 0.5 * (lo + hi), hi - lo);
  if (rc == 0 && (rc = ddpc_tune_parzen_fit(&rest, above, n_above, 0.5 * (lo + hi), hi - lo)) == 0) {
    double best = -INFINITY;
    for (int c = 0; c < DDPC_TUNE_TPE_CANDIDATES; c++) {
      double d = tpe_parzen_draw(&good, lo, hi, rng);
      double v = ddpc_tune_param_snap(p, log_space ? exp(d) : d);
      double score = tpe_score(p, &good, &rest, v);
      if (c == 0 || score > best) {
        best = isnan(score) ? -INFINITY : score;
        *out = v;
      }
    }
  }
  ddpc_tune_parzen_free(&good);
  ddpc_tune_parzen_free(&rest);
  return rc;
}

/* An observed value the models can use: finite, inside the range, whole where it must be
 * (a study resumed with an edited space may hold others; those are left out). */
static bool tpe_value_usable(const ddpc_tune_param *p, double x) {
  if (!isfinite(x) || x < p->low || x > p->high) return false;
  return (p->dist != DDPC_TUNE_DIST_INT && p->dist != DDPC_TUNE_DIST_CHOICE) || x == floor(x);
}

/* ---- the proposal ---- */

int ddpc_tune_tpe_propose(const ddpc_tune_space *space, uint64_t seed, int trial_number,
                          const ddpc_tune_observation *history, int n_history, double *x_out) {
  int n = n_history;
  tpe_keyed *order = ddpc_calloc((size_t)n + 1, sizeof *order, "tpe order");
  bool *is_below = ddpc_calloc((size_t)n + 1, sizeof *is_below, "tpe split");
  double *below = ddpc_calloc((size_t)n + 1, sizeof *below, "tpe below");
  double *above = ddpc_calloc((size_t)n + 1, sizeof *above, "tpe above");
  int rc = order && is_below && below && above ? 0 : -1;
  if (rc == 0) {
    // ap_split_trials: the n_below lowest losses, NaN counted as the worst.
    for (int i = 0; i < n; i++) order[i] = (tpe_keyed){isnan(history[i].loss) ? INFINITY : history[i].loss, i};
    qsort(order, (size_t)n, sizeof *order, tpe_keyed_compare);
    int n_good = ddpc_tune_tpe_n_below(n);
    for (int i = 0; i < n_good && i < n; i++) is_below[order[i].index] = true;
  }
  for (int p = 0; rc == 0 && p < space->n_params; p++) {
    const ddpc_tune_param *param = &space->params[p];
    int nb = 0, na = 0;
    for (int i = 0; i < n; i++) {  // trial order: forgetting discounts the oldest
      double x = history[i].x[p];
      if (!tpe_value_usable(param, x)) continue;
      if (is_below[i]) below[nb++] = x;
      else above[na++] = x;
    }
    ddpc_rng rng = ddpc_rng_make(seed, DDPC_RNG_TUNE, (uint64_t)trial_number, (uint64_t)p);
    if (param->dist == DDPC_TUNE_DIST_INT || param->dist == DDPC_TUNE_DIST_CHOICE)
      rc = tpe_propose_categorical(param, below, nb, above, na, &rng, &x_out[p]);
    else
      rc = tpe_propose_continuous(param, below, nb, above, na, &rng, &x_out[p]);
  }
  free(order);
  free(is_below);
  free(below);
  free(above);
  return rc;
}
