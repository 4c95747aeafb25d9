/* The search space of `ddpc tune`: the study file's `tune.space` mapping, one entry per
 * training-config key, each naming one distribution:
 *
 *   optimizer.lr:     {loguniform: [1e-4, 0.1]}     # 0 < low < high, natural units
 *   optimizer.momentum: {uniform: [0.8, 0.99]}      # low < high
 *   train.batch_size: {quniform: [16, 256, 16]}     # round(x/q)*q as hyperopt: multiples of q in [low, high]
 *   model.depth:      {int: [1, 8]}                 # integers, both ends included
 *   model.variant:    {choice: [small, large]}      # any YAML values, in order
 *   model.layers:     {choice: {narrow: [...], wide: [...]}}   # labelled values
 *
 * A grid study needs a point count on a continuous range: `{uniform: [0, 1], points: 5}`
 * is 0, 0.25, 0.5, 0.75, 1 (log-spaced for loguniform); other algorithms ignore `points`.
 *
 * A point of the space is one double per parameter: the value itself for uniform,
 * loguniform, quniform and int, the index of the value for choice. Formatting turns it into
 * the text of a `--set key=value` override (choices as YAML flow text, so a choice can be a
 * whole list of layers) or a short label for tables. */
#ifndef DDPC_LAUNCH_TUNE_SPACE_H
#define DDPC_LAUNCH_TUNE_SPACE_H

#include <stdint.h>

#include "core/config_tree.h"

/* The most values one choice may list; callers may size stack arrays by it. */
#define DDPC_TUNE_MAX_CHOICES 1024

typedef enum {
  DDPC_TUNE_DIST_UNIFORM,     // uniform on [low, high]
  DDPC_TUNE_DIST_LOGUNIFORM,  // log-uniform on [low, high], 0 < low
  DDPC_TUNE_DIST_QUNIFORM,    // uniform, then round(x/q)*q kept inside [low, high] (hyperopt's rounding)
  DDPC_TUNE_DIST_INT,         // uniform integer in [low, high]
  DDPC_TUNE_DIST_CHOICE,      // one of n_choices values
} ddpc_tune_dist;

typedef struct {
  char *key;            // training-config key it sets, e.g. "optimizer.lr"
  char *where;          // "study.yaml:7:5", where it was given, for later messages
  ddpc_tune_dist dist;  // its distribution
  double low;           // lower bound, natural units (choice: 0)
  double high;          // upper bound, included (choice: n_choices - 1)
  double q;             // quniform step (0 for the others)
  int points;           // grid points of a uniform/loguniform range (0: not given)
  int n_choices;        // choice: how many values
  char **labels;        // choice: label of each value (its map key, or its flow text)
  char **values;        // choice: each value as YAML flow text, ready for --set
} ddpc_tune_param;

typedef struct {
  char *path;               // the place in the study, e.g. "tune.space", for messages
  ddpc_tune_param *params;  // in the order of the file
  int n_params;             // how many
} ddpc_tune_space;

/* "uniform", "loguniform", "quniform", "int", "choice" ("?" for anything else). */
const char *ddpc_tune_dist_name(ddpc_tune_dist dist);

/* Reads `map` (the node of `path`, e.g. "tune.space"). Returns -1 with one message naming
 * file:line: an unknown distribution (with the nearest name), wrong arity, a bound that is
 * no number, bounds out of order, loguniform low <= 0, q <= 0 or no multiple of q in the
 * range, an empty choice or one
 * listing a value twice, a duplicate or overlapping key. */
int ddpc_tune_space_parse(const ddpc_config_node *map, const char *path, ddpc_tune_space *space);
void ddpc_tune_space_free(ddpc_tune_space *space);

/* Checks that every parameter has finitely many grid values (a continuous range needs
 * `points`); -1 with a message naming the parameter otherwise. */
int ddpc_tune_space_check_grid(const ddpc_tune_space *space);
/* Grid values of one parameter: choices, integers, quantized steps, or `points` spaced
 * values (0 when the range is continuous without points; saturates at INT64_MAX). */
int64_t ddpc_tune_param_grid_count(const ddpc_tune_param *p);
/* The i-th grid value of a parameter, 0 <= i < ddpc_tune_param_grid_count(p). */
double ddpc_tune_param_grid_value(const ddpc_tune_param *p, int64_t i);
/* The points of the whole grid (product of the counts; saturates at INT64_MAX). */
int64_t ddpc_tune_space_grid_size(const ddpc_tune_space *space);

/* Snaps x to the nearest allowed value: into [low, high]; for quniform round(x/q)*q as
 * hyperopt does, the multiple nearest the range when that falls outside it (rounded to 15
 * significant digits so 0.1 steps print as 0.3, not 0.30000000000000004); to an integer
 * for int and choice. */
double ddpc_tune_param_snap(const ddpc_tune_param *p, double x);

/* The text of a --set override for value x (malloc'd; NULL with a message on a bad x):
 * floats as the shortest text that reads back as the same double, integers as integers,
 * a choice as its YAML flow text. */
char *ddpc_tune_param_format_value(const ddpc_tune_param *p, double x);
/* A short text for tables (malloc'd): a choice's label, floats to 6 significant digits. */
char *ddpc_tune_param_format_label(const ddpc_tune_param *p, double x);

/* A config node as YAML flow text: scalars plain when that reads back the same, quoted
 * otherwise; maps and lists as {k: v, ...} and [a, b, ...]. malloc'd; NULL on failure. */
char *ddpc_tune_node_flow_text(const ddpc_config_node *node);

#endif
