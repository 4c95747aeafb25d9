/* Search quality of the tuner's samplers on a cheap deterministic objective: random search
 * and TPE, the same budget over several seeds; prints the best value of each study, one
 * line per (method, seed), for bench/tune_search_vs_hyperopt.py to compare with hyperopt
 * and Optuna on the very same function. Usage:
 *   bench_tune_search [--trials 60] [--seeds 15] [--first-seed 1]
 *   bench_tune_search --history FILE [--proposals 2000]
 * The second form reads earlier trials ("lr layers act_index loss" per line) and prints
 * the TPE proposal after them for seeds 0, 1, ...: the distribution of the proposals is
 * compared with hyperopt's for the same history.
 * The objective (minimised; 0 at relu, lr = 10^-2.5, layers = 5):
 *   (log10(lr) - best_log_lr[act])^2 + 0.15 (layers - 5)^2 + penalty[act]
 * with lr log-uniform on [1e-5, 1], layers an int in [1, 8], act a choice of relu, tanh,
 * sigmoid (best_log_lr -2.5, -2, -1.5; penalty 0, 0.3, 0.6). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config_tree.h"
#include "core/error.h"
#include "tune/tune_sampler.h"
#include "tune/tune_space.h"

static const char *const bench_space_yaml =
    "space:\n"
    "  optimizer.lr: {loguniform: [1e-5, 1]}\n"
    "  model.layers: {int: [1, 8]}\n"
    "  model.activation: {choice: [relu, tanh, sigmoid]}\n";

/* Must stay the same as objective() in tune_search_vs_hyperopt.py. */
static double bench_objective(const double *x) {
  static const double best_log_lr[] = {-2.5, -2.0, -1.5}, penalty[] = {0.0, 0.3, 0.6};
  int act = (int)x[2];
  double a = log10(x[0]) - best_log_lr[act], b = x[1] - 5;
  return a * a + 0.15 * b * b + penalty[act];
}

static double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One study of n trials run one after the other; returns its best value. */
static double bench_study(const ddpc_tune_space *space, ddpc_tune_algorithm alg, uint64_t seed, int n,
                          double *seconds) {
  ddpc_tune_sampler *s = NULL;
  ddpc_tune_sampler_create(alg, space, seed, &s);
  double *xs = calloc((size_t)n * 3, sizeof *xs);
  ddpc_tune_observation *h = calloc((size_t)n, sizeof *h);
  if (!s || !xs || !h) {
    fprintf(stderr, "bench_tune_search: %s\n", ddpc_error_message());
    exit(1);
  }
  double best = INFINITY, start = bench_now();
  for (int t = 0; t < n; t++) {
    if (ddpc_tune_sampler_propose(s, t, h, t, &xs[3 * t]) != 0) {
      fprintf(stderr, "bench_tune_search: %s\n", ddpc_error_message());
      exit(1);
    }
    h[t].x = &xs[3 * t];
    h[t].loss = bench_objective(&xs[3 * t]);
    best = fmin(best, h[t].loss);
  }
  *seconds = bench_now() - start;
  ddpc_tune_sampler_free(s);
  free(xs);
  free(h);
  return best;
}

static const char *bench_arg_text(int argc, char **argv, const char *name) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return NULL;
}

static int bench_arg(int argc, char **argv, const char *name, int fallback) {
  const char *text = bench_arg_text(argc, argv, name);
  return text ? atoi(text) : fallback;
}

/* The TPE proposal after the trials of `path`, once per seed 0..n_proposals-1. */
static int bench_proposals(const ddpc_tune_space *space, const char *path, int n_proposals) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    return 1;
  }
  int n = 0, cap = 0;
  double *xs = NULL;
  ddpc_tune_observation *h = NULL;
  double x[3], loss;
  while (fscanf(f, "%lf %lf %lf %lf", &x[0], &x[1], &x[2], &loss) == 4) {
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      double *grown_x = realloc(xs, (size_t)cap * 3 * sizeof *xs);
      ddpc_tune_observation *grown_h = grown_x ? realloc(h, (size_t)cap * sizeof *h) : NULL;
      if (!grown_x || !grown_h) {
        fprintf(stderr, "bench_tune_search: out of memory\n");
        exit(1);
      }
      xs = grown_x;
      h = grown_h;
    }
    memcpy(&xs[3 * n], x, sizeof x);
    h[n++].loss = loss;
  }
  fclose(f);
  for (int i = 0; i < n; i++) h[i].x = &xs[3 * i];  // after the last realloc
  for (int seed = 0; seed < n_proposals; seed++) {
    ddpc_tune_sampler *s = NULL;
    ddpc_tune_sampler_create(DDPC_TUNE_ALGORITHM_TPE, space, (uint64_t)seed, &s);
    if (!s || ddpc_tune_sampler_propose(s, n, h, n, x) != 0) {
      fprintf(stderr, "bench_tune_search: %s\n", ddpc_error_message());
      return 1;
    }
    ddpc_tune_sampler_free(s);
    printf("%.17g %.0f %.0f\n", x[0], x[1], x[2]);
  }
  free(xs);
  free(h);
  return 0;
}

int main(int argc, char **argv) {
  int trials = bench_arg(argc, argv, "--trials", 60), seeds = bench_arg(argc, argv, "--seeds", 15);
  int first = bench_arg(argc, argv, "--first-seed", 1);
  char path[] = "/tmp/bench_tune_search_XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    perror("bench_tune_search: temporary file");
    return 1;
  }
  fputs(bench_space_yaml, f);
  fclose(f);
  ddpc_config_tree tree;
  ddpc_tune_space space;
  int rc = ddpc_config_tree_load(path, &tree);
  if (rc == 0) {
    rc = ddpc_tune_space_parse(ddpc_config_node_get(tree.root, "space"), "tune.space", &space);
    ddpc_config_tree_free(&tree);
  }
  remove(path);
  if (rc != 0) {
    fprintf(stderr, "bench_tune_search: %s\n", ddpc_error_message());
    return 1;
  }
  const char *history = bench_arg_text(argc, argv, "--history");
  if (history) {
    rc = bench_proposals(&space, history, bench_arg(argc, argv, "--proposals", 2000));
    ddpc_tune_space_free(&space);
    return rc;
  }
  const struct {
    const char *name;         // method name in the output
    ddpc_tune_algorithm alg;  // what runs
  } methods[] = {{"ddpc_random", DDPC_TUNE_ALGORITHM_RANDOM}, {"ddpc_tpe", DDPC_TUNE_ALGORITHM_TPE}};
  printf("# method seed best seconds (%d trials)\n", trials);
  for (int m = 0; m < 2; m++) {
    for (int s = first; s < first + seeds; s++) {
      double seconds = 0;
      double best = bench_study(&space, methods[m].alg, (uint64_t)s, trials, &seconds);
      printf("%s %d %.17g %.6f\n", methods[m].name, s, best, seconds);
    }
  }
  ddpc_tune_space_free(&space);
  return 0;
}
