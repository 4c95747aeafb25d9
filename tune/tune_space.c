/* The tuner's search space (see tune_space.h): reading `tune.space` with one clear message
 * per mistake, the grid of each parameter, snapping a value onto what the distribution
 * allows, and the text of a value for `--set` overrides and for tables. */
#include "tune/tune_space.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_read.h"
#include "core/error.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const space_dist_names[] = {"uniform", "loguniform", "quniform", "int", "choice"};
// What each distribution takes, for arity messages (choice is checked on its own).
static const char *const space_dist_args[] = {"[low, high]", "[low, high]", "[low, high, q]", "[low, high]", ""};
static const int space_dist_arity[] = {2, 2, 3, 2, 0};

#define SPACE_DIST_LIST "uniform, loguniform, quniform, int or choice"
// Integers beyond 2^53 would not survive the trip through a double.
#define SPACE_INT_LIMIT 9007199254740992.0

const char *ddpc_tune_dist_name(ddpc_tune_dist dist) {
  return (unsigned)dist < (unsigned)COUNT(space_dist_names) ? space_dist_names[dist] : "?";
}

/* ---- reading ---- */

static int space_dist_index(const char *name) {
  for (int d = 0; d < COUNT(space_dist_names); d++)
    if (strcmp(space_dist_names[d], name) == 0) return d;
  return -1;
}

/* A finite number from a scalar node; `what` names it in the message. */
static int space_read_number(const ddpc_config_node *node, const char *what, double *out) {
  static const ddpc_config_range any_finite = {-INFINITY, INFINITY, false, false};
  return ddpc_config_read_number(node, what, any_finite, false, out);
}

/* The list of `arity` numbers of uniform/loguniform/quniform/int, into v[]. */
static int space_read_bounds(const ddpc_config_node *args, const char *name, int dist, double *v) {
  const char *dname = space_dist_names[dist];
  if (args->kind != DDPC_CONFIG_NODE_LIST) {
    char *what = ddpc_format("%s: %s", name, dname);
    int rc = what ? ddpc_config_type_error(args, what, space_dist_args[dist]) : -1;
    free(what);
    return rc;
  }
  if ((int)args->n_items != space_dist_arity[dist])
    return ddpc_config_node_error(args, "%s: %s takes %s, got %zu value%s", name, dname, space_dist_args[dist],
                                  args->n_items, args->n_items == 1 ? "" : "s");
  static const char *const roles[] = {"low", "high", "q"};
  for (int i = 0; i < space_dist_arity[dist]; i++) {
    char *what = ddpc_format("%s: %s %s", name, dname, roles[i]);
    int rc = what ? space_read_number(args->items[i], what, &v[i]) : -1;
    free(what);
    if (rc != 0) return -1;
  }
  const char *lo = args->items[0]->value, *hi = args->items[1]->value;
  if (dist == DDPC_TUNE_DIST_INT) {
    for (int i = 0; i < 2; i++)
      if (v[i] != floor(v[i]) || fabs(v[i]) > SPACE_INT_LIMIT)
        return ddpc_config_node_error(args->items[i], "%s: int bounds must be whole numbers (|n| <= 2^53), got '%s'",
                                      name, args->items[i]->value);
    if (v[0] > v[1]) return ddpc_config_node_error(args, "%s: int needs low <= high, got [%s, %s]", name, lo, hi);
    return 0;
  }
  if (v[0] >= v[1]) return ddpc_config_node_error(args, "%s: %s needs low < high, got [%s, %s]", name, dname, lo, hi);
  if (dist == DDPC_TUNE_DIST_LOGUNIFORM && v[0] <= 0)
    return ddpc_config_node_error(args, "%s: loguniform needs 0 < low (its bounds are in natural units), got low %s",
                                  name, lo);
  if (dist == DDPC_TUNE_DIST_QUNIFORM && v[2] <= 0)
    return ddpc_config_node_error(args->items[2], "%s: quniform needs a step q > 0, got %s", name,
                                  args->items[2]->value);
  // Values are round(x / q) * q as in hyperopt: some multiple of q must lie in the range.
  if (dist == DDPC_TUNE_DIST_QUNIFORM && ceil(v[0] / v[2] - 1e-9) > floor(v[1] / v[2] + 1e-9))
    return ddpc_config_node_error(args, "%s: quniform gives multiples of q, and no multiple of %s lies in [%s, %s]",
                                  name, args->items[2]->value, lo, hi);
  return 0;
}

static int space_read_choice(ddpc_tune_param *p, const ddpc_config_node *args, const char *name) {
  if (args->kind == DDPC_CONFIG_NODE_SCALAR) {
    char *what = ddpc_format("%s: choice", name);
    int rc = what ? ddpc_config_type_error(args, what, "a list [v1, v2, ...] or a map {label: value, ...}") : -1;
    free(what);
    return rc;
  }
  if (args->n_items == 0) return ddpc_config_node_error(args, "%s: choice needs at least one value", name);
  if (args->n_items > DDPC_TUNE_MAX_CHOICES)
    return ddpc_config_node_error(args, "%s: choice lists %zu values; at most %d", name, args->n_items,
                                  DDPC_TUNE_MAX_CHOICES);
  bool labelled = args->kind == DDPC_CONFIG_NODE_MAP;
  p->labels = ddpc_calloc(args->n_items, sizeof *p->labels, "choice labels");
  p->values = ddpc_calloc(args->n_items, sizeof *p->values, "choice values");
  if (!p->labels || !p->values) return -1;
  for (size_t i = 0; i < args->n_items; i++) {
    const ddpc_config_node *item = args->items[i];
    p->values[i] = ddpc_tune_node_flow_text(item);
    p->labels[i] = ddpc_strdup(labelled ? item->key : p->values[i]);
    p->n_choices++;  // counted as filled so free() releases exactly what was made
    if (!p->values[i] || !p->labels[i]) return -1;
    // The same value twice in a list is almost surely a typo, and it skews sampling.
    for (size_t j = 0; !labelled && j < i; j++)
      if (strcmp(p->values[i], p->values[j]) == 0)
        return ddpc_config_node_error(item, "%s: choice lists %s twice", name, p->values[i]);
  }
  p->low = 0;
  p->high = (double)(p->n_choices - 1);
  return 0;
}

/* `optimizer.lr`: dot-separated non-empty segments; nothing that would break `--set k=v`. */
static bool space_key_valid(const char *key) {
  if (!*key || key[0] == '.' || key[strlen(key) - 1] == '.' || strstr(key, "..")) return false;
  for (const char *c = key; *c; c++)
    if (isspace((unsigned char)*c) || *c == '=') return false;
  return true;
}

/* One key may not set what another key also sets: equal, or one a path inside the other. */
static int space_check_overlap(const ddpc_tune_space *space, const ddpc_config_node *entry, const char *path) {
  const char *key = entry->key;
  for (int j = 0; j < space->n_params; j++) {
    const char *other = space->params[j].key;
    if (strcmp(key, other) == 0)
      return ddpc_config_key_error(entry, "%s: '%s' is given twice (first at %s)", path, key, space->params[j].where);
    size_t lk = strlen(key), lo = strlen(other);
    const char *shorter = lk < lo ? key : other, *longer = lk < lo ? other : key;
    size_t ls = lk < lo ? lk : lo;
    if (strncmp(shorter, longer, ls) == 0 && longer[ls] == '.')
      return ddpc_config_key_error(entry, "%s: '%s' and '%s' overlap: one sets part of the other", path, other, key);
  }
  return 0;
}

static int space_read_points(ddpc_tune_param *p, const ddpc_config_node *node, const char *name) {
  if (p->dist != DDPC_TUNE_DIST_UNIFORM && p->dist != DDPC_TUNE_DIST_LOGUNIFORM)
    return ddpc_config_key_error(node, "%s: 'points' applies to uniform and loguniform (the grid of a continuous "
                                 "range); %s has its own grid", name, space_dist_names[p->dist]);
  double v = 0;
  char *what = ddpc_format("%s: points", name);
  int rc = what ? space_read_number(node, what, &v) : -1;
  free(what);
  if (rc != 0) return -1;
  if (v != floor(v) || v < 2 || v > 1e6)
    return ddpc_config_node_error(node, "%s: points must be a whole number from 2 to 1000000, got %s", name,
                                  node->value);
  p->points = (int)v;
  return 0;
}

static int space_read_param(ddpc_tune_param *p, const ddpc_config_node *entry, const char *name) {
  const char *example = "{DISTRIBUTION: ARGS} such as {loguniform: [0.0001, 0.1]}";
  if (entry->kind != DDPC_CONFIG_NODE_MAP) return ddpc_config_type_error(entry, name, example);
  const ddpc_config_node *dist_node = NULL, *points_node = NULL;
  for (size_t i = 0; i < entry->n_items; i++) {
    const ddpc_config_node *item = entry->items[i];
    if (strcmp(item->key, "points") == 0) {
      points_node = item;
      continue;
    }
    if (space_dist_index(item->key) < 0) {
      const char *near = ddpc_config_suggest(item->key, space_dist_names, COUNT(space_dist_names));
      if (near)
        return ddpc_config_key_error(item,
                                     "%s: unknown distribution '%s' (did you mean '%s'?); expected " SPACE_DIST_LIST,
                                     name, item->key, near);
      return ddpc_config_key_error(item, "%s: unknown distribution '%s'; expected " SPACE_DIST_LIST, name, item->key);
    }
    if (dist_node)
      return ddpc_config_key_error(item, "%s: one distribution per key, got '%s' and '%s'", name, dist_node->key,
                                   item->key);
    dist_node = item;
  }
  if (!dist_node)
    return ddpc_config_node_error(entry, "%s: no distribution; expected %s with one of " SPACE_DIST_LIST, name,
                                  example);
  p->dist = (ddpc_tune_dist)space_dist_index(dist_node->key);
  if (p->dist == DDPC_TUNE_DIST_CHOICE) {
    if (space_read_choice(p, dist_node, name) != 0) return -1;
  } else {
    double v[3] = {0, 0, 0};
    if (space_read_bounds(dist_node, name, (int)p->dist, v) != 0) return -1;
    p->low = v[0];
    p->high = v[1];
    p->q = v[2];
  }
  return points_node ? space_read_points(p, points_node, name) : 0;
}

int ddpc_tune_space_parse(const ddpc_config_node *map, const char *path, ddpc_tune_space *space) {
  memset(space, 0, sizeof *space);
  if (!map) return ddpc_error_set("%s: missing; expected a map of KEY: {DISTRIBUTION: ARGS}", path);
  if (!(space->path = ddpc_strdup(path))) return -1;
  if (map->kind != DDPC_CONFIG_NODE_MAP) {
    ddpc_config_type_error(map, path, "a map of KEY: {DISTRIBUTION: ARGS}");
    ddpc_tune_space_free(space);
    return -1;
  }
  if (map->n_items == 0) {
    ddpc_config_node_error(map, "%s: nothing to tune; add e.g. optimizer.lr: {loguniform: [0.0001, 0.1]}", path);
    ddpc_tune_space_free(space);
    return -1;
  }
  space->params = ddpc_calloc(map->n_items, sizeof *space->params, "search space");
  int rc = space->params ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < map->n_items; i++) {
    const ddpc_config_node *entry = map->items[i];
    if (!space_key_valid(entry->key)) {
      rc = ddpc_config_key_error(entry, "%s: '%s' is not a config key such as optimizer.lr", path, entry->key);
      break;
    }
    if (space_check_overlap(space, entry, path) != 0) {
      rc = -1;
      break;
    }
    ddpc_tune_param *p = &space->params[space->n_params++];
    p->key = ddpc_strdup(entry->key);
    p->where = entry->key_line > 0 ? ddpc_format("%s:%d:%d", entry->origin, entry->key_line, entry->key_column)
                                   : ddpc_strdup(entry->origin);
    char *name = ddpc_format("%s.%s", path, entry->key);
    rc = p->key && p->where && name ? space_read_param(p, entry, name) : -1;
    free(name);
  }
  if (rc != 0) ddpc_tune_space_free(space);
  return rc;
}

void ddpc_tune_space_free(ddpc_tune_space *space) {
  for (int i = 0; space->params && i < space->n_params; i++) {
    ddpc_tune_param *p = &space->params[i];
    for (int c = 0; c < p->n_choices; c++) {
      free(p->labels[c]);
      free(p->values[c]);
    }
    free(p->labels);
    free(p->values);
    free(p->key);
    free(p->where);
  }
  free(space->params);
  free(space->path);
  memset(space, 0, sizeof *space);
}

/* ---- grid and snapping ---- */

// Rounds to 15 significant digits: steps such as 0.1 * 3 land on the decimal the user
// meant, which is also the value the override text will carry.
static double space_round15(double v) {
  char text[40];
  snprintf(text, sizeof text, "%.15g", v);
  return strtod(text, NULL);
}

/* The multiples k*q of a quniform range that lie in [low, high]: k from *k_lo to *k_hi (a
 * hair of tolerance so [0, 1, 0.1] has its 1.0). Empty when *k_lo > *k_hi. */
static void space_quniform_range(const ddpc_tune_param *p, double *k_lo, double *k_hi) {
  *k_lo = ceil(p->low / p->q - 1e-9);
  *k_hi = floor(p->high / p->q + 1e-9);
}

/* Values of a quniform range; saturates far below INT64_MAX. */
static int64_t space_quniform_count(const ddpc_tune_param *p) {
  double k_lo, k_hi;
  space_quniform_range(p, &k_lo, &k_hi);
  double n = k_hi - k_lo + 1;
  return n < 0 ? 0 : n > 4e18 ? (int64_t)4e18 : (int64_t)n;
}

int64_t ddpc_tune_param_grid_count(const ddpc_tune_param *p) {
  switch (p->dist) {
    case DDPC_TUNE_DIST_CHOICE: return p->n_choices;
    case DDPC_TUNE_DIST_INT: return (int64_t)p->high - (int64_t)p->low + 1;
    case DDPC_TUNE_DIST_QUNIFORM: return space_quniform_count(p);
    case DDPC_TUNE_DIST_UNIFORM:
    case DDPC_TUNE_DIST_LOGUNIFORM: return p->points;
  }
  return 0;
}

double ddpc_tune_param_grid_value(const ddpc_tune_param *p, int64_t i) {
  double v;
  switch (p->dist) {
    case DDPC_TUNE_DIST_CHOICE:
    case DDPC_TUNE_DIST_INT: return p->low + (double)i;
    case DDPC_TUNE_DIST_QUNIFORM: {
      double k_lo, k_hi;
      space_quniform_range(p, &k_lo, &k_hi);
      v = (k_lo + (double)i) * p->q;
      break;
    }
    case DDPC_TUNE_DIST_UNIFORM: v = p->low + (p->high - p->low) * (double)i / (double)(p->points - 1); break;
    case DDPC_TUNE_DIST_LOGUNIFORM:
      v = exp(log(p->low) + (log(p->high) - log(p->low)) * (double)i / (double)(p->points - 1));
      break;
    default: return p->low;
  }
  v = space_round15(v);
  return v < p->low ? p->low : v > p->high ? p->high : v;
}

int64_t ddpc_tune_space_grid_size(const ddpc_tune_space *space) {
  int64_t size = 1;
  for (int i = 0; i < space->n_params; i++) {
    int64_t n = ddpc_tune_param_grid_count(&space->params[i]);
    if (n <= 0) return 0;
    size = size > INT64_MAX / n ? INT64_MAX : size * n;
  }
  return size;
}

int ddpc_tune_space_check_grid(const ddpc_tune_space *space) {
  for (int i = 0; i < space->n_params; i++) {
    const ddpc_tune_param *p = &space->params[i];
    if (ddpc_tune_param_grid_count(p) <= 0)
      return ddpc_error_set("%s: %s.%s: a grid search needs a point count on a %s range, e.g. {%s: [%g, %g], "
                            "points: 5}",
                            p->where, space->path, p->key, space_dist_names[p->dist], space_dist_names[p->dist],
                            p->low, p->high);
  }
  return 0;
}

double ddpc_tune_param_snap(const ddpc_tune_param *p, double x) {
  if (isnan(x)) x = p->low;
  x = x < p->low ? p->low : x > p->high ? p->high : x;
  if (p->dist == DDPC_TUNE_DIST_INT || p->dist == DDPC_TUNE_DIST_CHOICE) return round(x);
  if (p->dist != DDPC_TUNE_DIST_QUNIFORM) return x;
  // hyperopt's round(x / q) * q, kept to the multiples of q inside [low, high].
  double k_lo, k_hi;
  space_quniform_range(p, &k_lo, &k_hi);
  double k = round(x / p->q);
  k = k < k_lo ? k_lo : k > k_hi ? k_hi : k;
  return ddpc_tune_param_grid_value(p, (int64_t)(k - k_lo));
}

/* ---- text ---- */

/* The shortest %.Ng text that reads back as exactly v; a whole number as digits ("20", not
 * "2e+01", which a key taking integers refuses). */
static char *space_format_shortest(double v) {
  char text[40];
  if (v == floor(v) && fabs(v) <= SPACE_INT_LIMIT) return ddpc_format("%.0f", v);
  for (int digits = 1; digits <= 17; digits++) {
    snprintf(text, sizeof text, "%.*g", digits, v);
    if (strtod(text, NULL) == v) break;
  }
  return ddpc_strdup(text);
}

static int space_choice_index(const ddpc_tune_param *p, double x) {
  if (!(x >= 0 && x < p->n_choices) || x != floor(x))
    return ddpc_error_set("%s: choice index %g out of range (0..%d)", p->key, x, p->n_choices - 1), -1;
  return (int)x;
}

char *ddpc_tune_param_format_value(const ddpc_tune_param *p, double x) {
  if (!isfinite(x)) return ddpc_error_set("%s: the value %g is not finite", p->key, x), NULL;
  if (p->dist == DDPC_TUNE_DIST_CHOICE) {
    int c = space_choice_index(p, x);
    return c < 0 ? NULL : ddpc_strdup(p->values[c]);
  }
  if (p->dist == DDPC_TUNE_DIST_INT) return ddpc_format("%.0f", x);
  return space_format_shortest(x);
}

char *ddpc_tune_param_format_label(const ddpc_tune_param *p, double x) {
  if (!isfinite(x)) return ddpc_error_set("%s: the value %g is not finite", p->key, x), NULL;
  if (p->dist == DDPC_TUNE_DIST_CHOICE) {
    int c = space_choice_index(p, x);
    return c < 0 ? NULL : ddpc_strdup(p->labels[c]);
  }
  if (p->dist == DDPC_TUNE_DIST_INT) return ddpc_format("%.0f", x);
  return ddpc_format("%.6g", x);
}

/* Plain scalars that a YAML flow parser reads back as the same text: letters, digits and
 * _ . + - / with inner spaces; no indicator first, no null spelling of a real string. */
static bool space_plain_safe(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || s[0] == ' ' || s[n - 1] == ' ') return false;
  if (s[0] == '-' && (n == 1 || s[1] == ' ')) return false;
  if (strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
    return false;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    if (!isalnum(*c) && !strchr("_.+-/ ", *c) && *c < 0x80) return false;
  return true;
}

static void space_write_scalar(FILE *f, const char *s) {
  if (space_plain_safe(s)) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
    else if (*c == '\n') fputs("\\n", f);
    else if (*c == '\t') fputs("\\t", f);
    else if (*c < 0x20) fprintf(f, "\\x%02x", *c);
    else fputc(*c, f);
  }
  fputc('"', f);
}

static void space_write_node(FILE *f, const ddpc_config_node *node) {
  if (node->kind == DDPC_CONFIG_NODE_SCALAR) {
    if (node->is_null) fputs("null", f);
    else space_write_scalar(f, node->value);
    return;
  }
  bool map = node->kind == DDPC_CONFIG_NODE_MAP;
  fputc(map ? '{' : '[', f);
  for (size_t i = 0; i < node->n_items; i++) {
    if (i > 0) fputs(", ", f);
    if (map) {
      space_write_scalar(f, node->items[i]->key);
      fputs(": ", f);
    }
    space_write_node(f, node->items[i]);
  }
  fputc(map ? '}' : ']', f);
}

char *ddpc_tune_node_flow_text(const ddpc_config_node *node) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return ddpc_error_set("out of memory (flow text)"), NULL;
  space_write_node(f, node);
  if (fclose(f) != 0) {
    free(text);
    return ddpc_error_set("out of memory (flow text)"), NULL;
  }
  return text;
}
