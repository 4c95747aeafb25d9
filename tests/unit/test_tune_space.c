/* Tests of the tuner's search space (tune/tune_space.c) and its two simple samplers:
 * parsing every distribution, every error message with its file:line, the --set text of a
 * value (shortest round trip, integers, choices as YAML flow text that reads back the same),
 * table labels, grid values, grid enumeration order and exhaustion, and random draws that
 * stay in bounds, on the quantization steps, and depend only on (seed, trial). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_tree.h"
#include "core/error.h"
#include "tune/tune_sampler.h"
#include "tune/tune_space.h"
#include "testing.h"

static int file_counter;  // makes each YAML file name unique

/* Writes `yaml` to a fresh file and loads it; the caller frees the tree. */
static char *write_yaml(const char *yaml, ddpc_config_tree *tree) {
  char *path = ddpc_format("%s/space%d.yaml", testing_temp_dir(), file_counter++);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(yaml, f);
  fclose(f);
  memset(tree, 0, sizeof *tree);
  if (ddpc_config_tree_load(path, tree) != 0) {
    fprintf(stderr, "cannot load %s: %s\n", path, ddpc_error_message());
    exit(2);
  }
  return path;
}

/* Parses the file's `space:` entry as tune.space. */
static int parse_yaml(const char *yaml, ddpc_tune_space *space, char **path_out) {
  ddpc_config_tree tree;
  char *path = write_yaml(yaml, &tree);
  int rc = ddpc_tune_space_parse(ddpc_config_node_get(tree.root, "space"), "tune.space", space);
  ddpc_config_tree_free(&tree);
  if (path_out) *path_out = path;
  else free(path);
  return rc;
}

/* Parsing must fail with a message that contains "<file>:<line>:" and both fragments. */
static void expect_error(int at, const char *yaml, int line, const char *frag1, const char *frag2) {
  ddpc_tune_space space;
  char *path = NULL;
  ddpc_error_clear();
  int rc = parse_yaml(yaml, &space, &path);
  const char *msg = ddpc_error_message();
  char *where = ddpc_format("%s:%d:", path, line);
  bool ok = rc != 0 && strstr(msg, where) && (!frag1 || strstr(msg, frag1)) && (!frag2 || strstr(msg, frag2));
  testing_check(ok, __FILE__, at, "expected an error at %s with '%s' and '%s', got rc %d: %s", where,
                frag1 ? frag1 : "", frag2 ? frag2 : "", rc, msg);
  if (rc == 0) ddpc_tune_space_free(&space);
  free(where);
  free(path);
}

static void test_parse(void) {
  ddpc_tune_space s;
  char *path = NULL;
  int rc = parse_yaml("space:\n"
                      "  optimizer.lr: {loguniform: [1e-4, 0.1]}\n"
                      "  optimizer.momentum: {uniform: [0.8, 0.99], points: 3}\n"
                      "  train.batch_size: {quniform: [16, 128, 16]}\n"
                      "  model.depth: {int: [1, 4]}\n"
                      "  model.variant: {choice: [small, large]}\n"
                      "  model.layers:\n"
                      "    choice:\n"
                      "      narrow: [{type: linear, units: 64}, {type: relu}]\n"
                      "      wide: [{type: linear, units: 512}]\n",
                      &s, &path);
  CHECK(rc == 0, "parse: %s", ddpc_error_message());
  if (rc != 0) return;
  CHECK(s.n_params == 6 && strcmp(s.path, "tune.space") == 0, "6 parameters, got %d", s.n_params);
  const ddpc_tune_param *p = s.params;
  CHECK(strcmp(p[0].key, "optimizer.lr") == 0 && p[0].dist == DDPC_TUNE_DIST_LOGUNIFORM && p[0].low == 1e-4 &&
            p[0].high == 0.1,
        "loguniform in natural units");
  char *where = ddpc_format("%s:2:3", path);
  CHECK(strcmp(p[0].where, where) == 0, "where: %s vs %s", p[0].where, where);
  free(where);
  CHECK(p[1].dist == DDPC_TUNE_DIST_UNIFORM && p[1].points == 3 && p[1].low == 0.8, "uniform with points");
  CHECK(p[2].dist == DDPC_TUNE_DIST_QUNIFORM && p[2].q == 16 && p[2].high == 128, "quniform");
  CHECK(p[3].dist == DDPC_TUNE_DIST_INT && p[3].low == 1 && p[3].high == 4, "int");
  CHECK(p[4].dist == DDPC_TUNE_DIST_CHOICE && p[4].n_choices == 2 && p[4].high == 1 &&
            strcmp(p[4].labels[1], "large") == 0 && strcmp(p[4].values[0], "small") == 0,
        "choice list: labels are the values");
  CHECK(p[5].n_choices == 2 && strcmp(p[5].labels[0], "narrow") == 0 &&
            strcmp(p[5].values[0], "[{type: linear, units: 64}, {type: relu}]") == 0,
        "choice map: label 'narrow', value %s", p[5].values[0]);
  ddpc_tune_space_free(&s);
  free(path);
}

static void test_errors(void) {
  expect_error(__LINE__, "space:\n  optimizer.lr: {logunifrom: [0.001, 0.1]}\n", 2, "unknown distribution 'logunifrom'",
               "did you mean 'loguniform'");
  expect_error(__LINE__, "space:\n  optimizer.lr: {gaussian: [0, 1]}\n", 2, "unknown distribution 'gaussian'",
               "expected uniform, loguniform, quniform, int or choice");
  expect_error(__LINE__, "space:\n  train.batch_size: {choice: []}\n", 2, "tune.space.train.batch_size",
               "choice needs at least one value");
  expect_error(__LINE__, "space:\n  model.variant:\n    choice: {}\n", 3, "choice needs at least one value", NULL);
  expect_error(__LINE__, "space:\n  a.b: {choice: [32, 64, 32]}\n", 2, "choice lists 32 twice", NULL);
  expect_error(__LINE__, "space:\n  a.b: {choice: 5}\n", 2, "expected a list [v1, v2, ...] or a map", "got '5'");
  expect_error(__LINE__, "space:\n  optimizer.lr: {uniform: [0.5, 0.1]}\n", 2, "uniform needs low < high",
               "got [0.5, 0.1]");
  expect_error(__LINE__, "space:\n  optimizer.lr: {uniform: [0.5, 0.5]}\n", 2, "low < high", NULL);
  expect_error(__LINE__, "space:\n  optimizer.lr: {loguniform: [0, 0.1]}\n", 2, "loguniform needs 0 < low",
               "got low 0");
  expect_error(__LINE__, "space:\n  optimizer.lr: {loguniform: [-1, 0.1]}\n", 2, "0 < low", NULL);
  expect_error(__LINE__, "space:\n  optimizer.lr: {uniform: [0.1]}\n", 2, "uniform takes [low, high], got 1 value",
               NULL);
  expect_error(__LINE__, "space:\n  a: {quniform: [0, 1]}\n", 2, "quniform takes [low, high, q], got 2 values", NULL);
  expect_error(__LINE__, "space:\n  a: {int: [1, 2, 3]}\n", 2, "int takes [low, high], got 3 values", NULL);
  expect_error(__LINE__, "space:\n  a: {uniform: [low, 1]}\n", 2, "tune.space.a: uniform low: expected a number",
               "got 'low'");
  expect_error(__LINE__, "space:\n  a: {uniform: [0, [1]]}\n", 2, "uniform high: expected a number", "got a list");
  expect_error(__LINE__, "space:\n  a: {uniform: 5}\n", 2, "expected [low, high]", "got '5'");
  expect_error(__LINE__, "space:\n  a: {quniform: [0, 1, 0]}\n", 2, "quniform needs a step q > 0", "got 0");
  expect_error(__LINE__, "space:\n  a: {quniform: [0.2, 0.8, 1]}\n", 2, "no multiple of 1 lies in [0.2, 0.8]", NULL);
  expect_error(__LINE__, "space:\n  a: {int: [1.5, 4]}\n", 2, "int bounds must be whole numbers", "got '1.5'");
  expect_error(__LINE__, "space:\n  a: {int: [4, 1]}\n", 2, "int needs low <= high", "got [4, 1]");
  expect_error(__LINE__, "space:\n  a: {uniform: [0, 1], int: [0, 1]}\n", 2, "one distribution per key",
               "'uniform' and 'int'");
  expect_error(__LINE__, "space:\n  a: {points: 3}\n", 2, "no distribution", NULL);
  expect_error(__LINE__, "space:\n  a: {int: [0, 9], points: 3}\n", 2, "'points' applies to uniform and loguniform",
               NULL);
  expect_error(__LINE__, "space:\n  a: {uniform: [0, 1], points: 1}\n", 2, "points must be a whole number from 2",
               NULL);
  expect_error(__LINE__, "space:\n  a: {uniform: [0, 1], points: 2.5}\n", 2, "got 2.5", NULL);
  expect_error(__LINE__, "space:\n  optimizer.lr: 0.1\n", 2, "tune.space.optimizer.lr: expected {DISTRIBUTION: ARGS}",
               "got '0.1'");
  expect_error(__LINE__, "space: [1, 2]\n", 1, "tune.space: expected a map", "got a list");
  expect_error(__LINE__, "space: {}\n", 1, "tune.space: nothing to tune", NULL);
  expect_error(__LINE__, "space:\n  a..b: {uniform: [0, 1]}\n", 2, "'a..b' is not a config key", NULL);
  expect_error(__LINE__, "space:\n  optimizer: {choice: [{lr: 1}]}\n  optimizer.lr: {uniform: [0, 1]}\n", 3,
               "'optimizer' and 'optimizer.lr' overlap", NULL);
  // A file cannot hold a key twice (config_tree refuses it); the space checks its own keys
  // too, since overrides and inline studies build trees without the loader.
  {
    const char *yaml = "space:\n  a.b: {uniform: [0, 1]}\n  a.c: {uniform: [0, 1]}\n";
    ddpc_config_tree tree;
    char *path = write_yaml(yaml, &tree);
    ddpc_config_node *map = ddpc_config_node_get(tree.root, "space");
    free(map->items[1]->key);
    map->items[1]->key = ddpc_strdup("a.b");
    ddpc_tune_space s;
    int rc = ddpc_tune_space_parse(map, "tune.space", &s);
    char *where = ddpc_format("%s:3:3: tune.space: 'a.b' is given twice (first at %s:2:3)", path, path);
    CHECK(rc != 0 && strstr(ddpc_error_message(), where), "duplicate key: %s", ddpc_error_message());
    free(where);
    free(path);
    ddpc_config_tree_free(&tree);
  }
}

/* Text for --set and for tables. */
static void test_format(void) {
  ddpc_tune_space s;
  int rc = parse_yaml("space:\n"
                      "  lr: {loguniform: [1e-6, 1]}\n"
                      "  depth: {int: [-5, 5]}\n"
                      "  act: {choice: [relu, 'a: b', '', 'null', ~, '-', 'x #y', -1.5, hello world]}\n"
                      "  net: {choice: {small: [{type: linear, units: 64}], big: {a: [1, 2]}}}\n",
                      &s, NULL);
  CHECK(rc == 0, "parse: %s", ddpc_error_message());
  if (rc != 0) return;
  const ddpc_tune_param *lr = &s.params[0], *depth = &s.params[1], *act = &s.params[2], *net = &s.params[3];
  struct {
    double x;
    const char *text;
  } floats[] = {{0.1, "0.1"}, {1.0 / 3.0, "0.3333333333333333"}, {1e-5, "1e-05"}, {0.001, "0.001"}, {1, "1"},
                {0.30000000000000004, "0.30000000000000004"}, {20, "20"}, {1e6, "1000000"}};
  for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
    char *t = ddpc_tune_param_format_value(lr, floats[i].x);
    CHECK(t && strcmp(t, floats[i].text) == 0, "float %.17g -> '%s' (want '%s')", floats[i].x, t ? t : "NULL",
          floats[i].text);
    CHECK(t && strtod(t, NULL) == floats[i].x, "float text reads back");
    free(t);
  }
  char *t = ddpc_tune_param_format_value(depth, -3);
  CHECK(t && strcmp(t, "-3") == 0, "int -3 -> %s", t ? t : "NULL");
  free(t);
  t = ddpc_tune_param_format_label(lr, 0.000123456789);
  CHECK(t && strcmp(t, "0.000123457") == 0, "float label -> %s", t ? t : "NULL");
  free(t);
  const char *want[] = {"relu", "\"a: b\"", "\"\"", "\"null\"", "null", "\"-\"", "\"x #y\"", "-1.5", "hello world"};
  CHECK(act->n_choices == 9, "9 choices");
  for (int c = 0; c < act->n_choices && c < 9; c++) {
    t = ddpc_tune_param_format_value(act, c);
    CHECK(t && strcmp(t, want[c]) == 0, "choice %d -> '%s' (want '%s')", c, t ? t : "NULL", want[c]);
    free(t);
  }
  t = ddpc_tune_param_format_value(net, 1);
  CHECK(t && strcmp(t, "{a: [1, 2]}") == 0, "map choice value: %s", t ? t : "NULL");
  free(t);
  t = ddpc_tune_param_format_label(net, 1);
  CHECK(t && strcmp(t, "big") == 0, "map choice label: %s", t ? t : "NULL");
  free(t);
  ddpc_error_clear();
  CHECK(ddpc_tune_param_format_value(net, 2) == NULL && strstr(ddpc_error_message(), "out of range"),
        "index 2 of 2 refused: %s", ddpc_error_message());
  CHECK(ddpc_tune_param_format_value(lr, NAN) == NULL, "NaN refused");
  CHECK(ddpc_tune_param_format_label(net, 0.5) == NULL, "fractional index refused");

  // Every choice, applied as `--set key=text`, must read back as the very same node.
  ddpc_config_tree tree;
  char *path = write_yaml("x: 1\n", &tree);
  for (int p = 2; p < 4; p++) {
    for (int c = 0; c < s.params[p].n_choices; c++) {
      char *override = ddpc_format("x=%s", s.params[p].values[c]);
      rc = ddpc_config_tree_apply_override(&tree, override);
      char *back = rc == 0 ? ddpc_tune_node_flow_text(ddpc_config_node_get(tree.root, "x")) : NULL;
      CHECK(back && strcmp(back, s.params[p].values[c]) == 0, "round trip of %s: %s", override,
            back ? back : ddpc_error_message());
      free(back);
      free(override);
    }
  }
  ddpc_config_tree_free(&tree);
  free(path);
  ddpc_tune_space_free(&s);
}

static void test_grid(void) {
  ddpc_tune_space s;
  int rc = parse_yaml("space:\n"
                      "  a: {quniform: [0, 1, 0.1]}\n"
                      "  b: {loguniform: [1e-4, 0.1], points: 4}\n"
                      "  c: {choice: [x, y]}\n",
                      &s, NULL);
  CHECK(rc == 0, "parse: %s", ddpc_error_message());
  if (rc != 0) return;
  const ddpc_tune_param *a = &s.params[0], *b = &s.params[1];
  CHECK(ddpc_tune_param_grid_count(a) == 11, "quniform [0, 1, 0.1] has 11 values");
  CHECK(ddpc_tune_param_grid_value(a, 3) == 0.3 && ddpc_tune_param_grid_value(a, 10) == 1.0,
        "0.3 and 1.0 exactly (got %.17g)", ddpc_tune_param_grid_value(a, 3));
  const double logs[] = {1e-4, 1e-3, 1e-2, 1e-1};
  for (int i = 0; i < 4; i++)
    CHECK(ddpc_tune_param_grid_value(b, i) == logs[i], "log grid %d: %.17g", i, ddpc_tune_param_grid_value(b, i));
  CHECK(ddpc_tune_space_grid_size(&s) == 88, "11 x 4 x 2 = 88 points");
  CHECK(ddpc_tune_space_check_grid(&s) == 0, "grid ok: %s", ddpc_error_message());

  ddpc_tune_sampler *g = NULL;
  CHECK(ddpc_tune_sampler_create(DDPC_TUNE_ALGORITHM_GRID, &s, 7, &g) == 0 && g != NULL, "grid sampler");
  double x[3];
  // The last parameter changes fastest: (0, 1e-4, x), (0, 1e-4, y), (0, 1e-3, x), ...
  CHECK(ddpc_tune_sampler_propose(g, 0, NULL, 0, x) == 0 && x[0] == 0 && x[1] == 1e-4 && x[2] == 0, "point 0");
  CHECK(ddpc_tune_sampler_propose(g, 1, NULL, 0, x) == 0 && x[0] == 0 && x[1] == 1e-4 && x[2] == 1, "point 1");
  CHECK(ddpc_tune_sampler_propose(g, 2, NULL, 0, x) == 0 && x[0] == 0 && x[1] == 1e-3 && x[2] == 0, "point 2");
  CHECK(ddpc_tune_sampler_propose(g, 8, NULL, 0, x) == 0 && x[0] == 0.1 && x[1] == 1e-4 && x[2] == 0, "point 8");
  CHECK(ddpc_tune_sampler_propose(g, 87, NULL, 0, x) == 0 && x[0] == 1 && x[1] == 0.1 && x[2] == 1, "point 87");
  CHECK(ddpc_tune_sampler_propose(g, 88, NULL, 0, x) == 1, "exhausted after 88");
  CHECK(ddpc_tune_sampler_propose(g, 1000, NULL, 0, x) == 1, "still exhausted");
  ddpc_tune_sampler_free(g);
  ddpc_tune_space_free(&s);

  rc = parse_yaml("space:\n  d: {int: [2, 4]}\n  lr: {uniform: [0, 1]}\n", &s, NULL);
  CHECK(rc == 0 && ddpc_tune_param_grid_count(&s.params[0]) == 3, "int [2, 4] has 3 values");
  ddpc_error_clear();
  CHECK(ddpc_tune_space_check_grid(&s) != 0 && strstr(ddpc_error_message(), "tune.space.lr: a grid search needs a "
                                                                             "point count"),
        "uniform without points: %s", ddpc_error_message());
  CHECK(strstr(ddpc_error_message(), ":3:3: ") != NULL, "names the place: %s", ddpc_error_message());
  ddpc_tune_sampler *refused = NULL;
  CHECK(ddpc_tune_sampler_create(DDPC_TUNE_ALGORITHM_GRID, &s, 1, &refused) != 0 && refused == NULL,
        "grid sampler refused");
  ddpc_tune_sampler *r = NULL;
  CHECK(ddpc_tune_sampler_create(DDPC_TUNE_ALGORITHM_RANDOM, &s, 1, &r) == 0 && r != NULL, "random sampler takes it");
  ddpc_tune_sampler_free(r);
  ddpc_tune_space_free(&s);
}

/* quniform rounds as hyperopt does, round(x / q) * q, not to low + k*q; values stay the
 * multiples of q inside [low, high]. */
static void test_snap(void) {
  ddpc_tune_space s;
  int rc = parse_yaml("space:\n  q: {quniform: [1, 10, 3]}\n  i: {int: [0, 3]}\n  h: {quniform: [0.05, 1, 0.1]}\n",
                      &s, NULL);
  CHECK(rc == 0, "parse: %s", ddpc_error_message());
  if (rc != 0) return;
  const ddpc_tune_param *q = &s.params[0], *h = &s.params[2];
  // Multiples of 3 in [1, 10]: 3, 6, 9 (hyperopt's round(x/3)*3; never 1 or 10).
  CHECK(ddpc_tune_param_grid_count(q) == 3, "3 multiples of 3 in [1, 10] (got %lld)",
        (long long)ddpc_tune_param_grid_count(q));
  CHECK(ddpc_tune_param_grid_value(q, 0) == 3 && ddpc_tune_param_grid_value(q, 2) == 9, "grid 3 .. 9");
  CHECK(ddpc_tune_param_snap(q, 4.4) == 3 && ddpc_tune_param_snap(q, 4.6) == 6 && ddpc_tune_param_snap(q, 7.6) == 9,
        "round(x/3)*3: 4.4 -> 3, 4.6 -> 6, 7.6 -> 9 (got %g %g %g)", ddpc_tune_param_snap(q, 4.4),
        ddpc_tune_param_snap(q, 4.6), ddpc_tune_param_snap(q, 7.6));
  // round(1.2/3)*3 = 0 and round(10.6/3)*3 = 12 fall outside: kept to the nearest multiple inside.
  CHECK(ddpc_tune_param_snap(q, 1.2) == 3 && ddpc_tune_param_snap(q, 10.6) == 9, "clipped to the multiples inside");
  CHECK(ddpc_tune_param_snap(q, -50) == 3 && ddpc_tune_param_snap(q, 50) == 9, "snap clamps");
  CHECK(ddpc_tune_param_snap(h, 0.26) == 0.3 && ddpc_tune_param_snap(h, 0.05) == 0.1 && ddpc_tune_param_snap(h, 1) == 1,
        "[0.05, 1, 0.1]: 0.26 -> 0.3, 0.05 -> 0.1, 1 -> 1 (got %.17g)", ddpc_tune_param_snap(h, 0.26));
  CHECK(ddpc_tune_param_grid_count(h) == 10, "0.1 .. 1.0: 10 values");
  CHECK(ddpc_tune_param_snap(&s.params[1], 2.6) == 3 && ddpc_tune_param_snap(&s.params[1], 7) == 3, "int snap");
  ddpc_tune_space_free(&s);
}

/* Random draws: in bounds, on the steps, every value reachable, log-uniform in log space,
 * and a pure function of (seed, trial). */
static void test_random(void) {
  ddpc_tune_space s;
  int rc = parse_yaml("space:\n"
                      "  u: {uniform: [-2, 3]}\n"
                      "  l: {loguniform: [1e-5, 1e-1]}\n"
                      "  q: {quniform: [0.1, 1.0, 0.2]}\n"
                      "  i: {int: [3, 7]}\n"
                      "  c: {choice: [a, b, c]}\n",
                      &s, NULL);
  CHECK(rc == 0, "parse: %s", ddpc_error_message());
  if (rc != 0) return;
  ddpc_tune_sampler *r = NULL;
  ddpc_tune_sampler_create(DDPC_TUNE_ALGORITHM_RANDOM, &s, 42, &r);
  enum { N = 4000 };
  int out_of_bounds = 0, off_step = 0, log_below = 0, seen_int[5] = {0}, seen_choice[3] = {0}, q_top = 0;
  double u_sum = 0;
  for (int t = 0; t < N; t++) {
    double x[5];
    CHECK(ddpc_tune_sampler_propose(r, t, NULL, 0, x) == 0, "propose");
    for (int p = 0; p < 5; p++) out_of_bounds += x[p] < s.params[p].low || x[p] > s.params[p].high;
    u_sum += x[0];
    log_below += x[1] < 1e-3;  // the geometric middle of [1e-5, 1e-1]
    double k = x[2] / 0.2;  // multiples of q, as hyperopt's round(x/q)*q
    off_step += fabs(k - round(k)) > 1e-9 || ddpc_tune_param_snap(&s.params[2], x[2]) != x[2];
    q_top += x[2] == 1.0;
    if (x[3] == floor(x[3]) && x[3] >= 3 && x[3] <= 7) seen_int[(int)x[3] - 3]++;
    if (x[4] == floor(x[4]) && x[4] >= 0 && x[4] <= 2) seen_choice[(int)x[4]]++;
  }
  CHECK(out_of_bounds == 0, "%d values out of bounds", out_of_bounds);
  CHECK(off_step == 0, "%d quniform values off the multiples of 0.2", off_step);
  CHECK(q_top > 0, "quniform reaches 1.0 (5 * 0.2)");
  CHECK(fabs(u_sum / N - 0.5) < 0.1, "uniform mean %g near 0.5", u_sum / N);
  CHECK(fabs((double)log_below / N - 0.5) < 0.05, "log-uniform: %d of %d below the geometric middle", log_below, N);
  for (int v = 0; v < 5; v++)
    CHECK(seen_int[v] > N / 5 - 200 && seen_int[v] < N / 5 + 200, "int %d: %d", v + 3, seen_int[v]);
  for (int v = 0; v < 3; v++) CHECK(seen_choice[v] > N / 3 - 200 && seen_choice[v] < N / 3 + 200, "choice %d", v);

  double a[5], b[5], c[5], d[5];
  ddpc_tune_sampler *r2 = NULL;
  ddpc_tune_sampler_create(DDPC_TUNE_ALGORITHM_RANDOM, &s, 42, &r2);
  ddpc_tune_sampler *r3 = NULL;
  ddpc_tune_sampler_create(DDPC_TUNE_ALGORITHM_RANDOM, &s, 43, &r3);
  ddpc_tune_sampler_propose(r, 17, NULL, 0, a);
  ddpc_tune_sampler_propose(r2, 17, NULL, 0, b);
  ddpc_tune_sampler_propose(r3, 17, NULL, 0, c);
  ddpc_tune_sampler_propose(r, 18, NULL, 0, d);
  CHECK(memcmp(a, b, sizeof a) == 0, "same seed and trial: same point");
  CHECK(a[0] != c[0] && a[1] != c[1], "another seed: another point");
  CHECK(a[0] != d[0] && a[1] != d[1], "another trial: another point");
  ddpc_tune_sampler_free(r);
  ddpc_tune_sampler_free(r2);
  ddpc_tune_sampler_free(r3);
  ddpc_tune_space_free(&s);
}

int main(void) {
  test_parse();
  test_errors();
  test_format();
  test_grid();
  test_snap();
  test_random();
  return testing_finish();
}
