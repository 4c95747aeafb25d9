/* The typed readers of config values (see config_read.h): one reader per type, each
 * refusing a value with the place, the dotted key, what was expected and what was given. */
#include "core/config_read.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/metrics.h"

char *ddpc_config_join_names(const char *const *names, int n) {
  size_t len = 1;
  for (int i = 0; i < n; i++) len += strlen(names[i]) + 2;
  char *s = ddpc_malloc(len, "name list");
  if (!s) return NULL;
  s[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i) strcat(s, ", ");
    strcat(s, names[i]);
  }
  return s;
}

static char *key_path(const char *parent, const char *key) {
  return *parent ? ddpc_format("%s.%s", parent, key) : ddpc_strdup(key);
}

/* The node under `key`, or NULL when absent or written as null. *path gets the dotted
 * path (caller frees) when the node is returned. */
const ddpc_config_node *ddpc_config_field(ddpc_config_section s, const char *key, char **path) {
  const ddpc_config_node *n = ddpc_config_node_get(s.map, key);
  if (!n || (n->kind == DDPC_CONFIG_NODE_SCALAR && n->is_null)) return NULL;
  *path = key_path(s.path, key);
  return *path ? n : NULL;
}

int ddpc_config_unknown_name_error(const ddpc_config_node *at, bool at_key, const char *lead, const char *given,
                                   const char *const *names, int n) {
  const char *hint = ddpc_config_suggest(given, names, n);
  char *list = ddpc_config_join_names(names, n);
  if (!list) return -1;
  int rc = hint ? (at_key ? ddpc_config_key_error(at, "%s; did you mean '%s'?", lead, hint)
                          : ddpc_config_node_error(at, "%s; expected one of %s; did you mean '%s'?", lead, list, hint))
                : (at_key ? ddpc_config_key_error(at, "%s; valid keys: %s", lead, list)
                          : ddpc_config_node_error(at, "%s; expected one of %s", lead, list));
  free(list);
  return rc;
}

/* Every key of s.map must be one of `allowed`; `where` names the map in the message. */
int ddpc_config_check_keys(ddpc_config_section s, const char *where, const char *const *allowed, int n) {
  if (!s.map) return 0;
  for (size_t i = 0; i < s.map->n_items; i++) {
    const ddpc_config_node *item = s.map->items[i];
    bool ok = false;
    for (int k = 0; k < n && !ok; k++) ok = strcmp(item->key, allowed[k]) == 0;
    if (ok) continue;
    char *lead = ddpc_format("unknown key '%s' in %s", item->key, where);
    if (!lead) return -1;
    ddpc_config_unknown_name_error(item, true, lead, item->key, allowed, n);
    free(lead);
    return -1;
  }
  return 0;
}

/* ---- scalar readers on one node; path is the dotted key for messages ---- */

int ddpc_config_read_int(const ddpc_config_node *n, const char *path, int64_t lo, int64_t hi, int64_t *out) {
  if (n->kind != DDPC_CONFIG_NODE_SCALAR) return ddpc_config_type_error(n, path, "an integer");
  const char *s = n->value;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  bool digits = *s && (*s == '-' || *s == '+' || (*s >= '0' && *s <= '9'));
  if (!digits || end == s || *end != '\0') return ddpc_config_type_error(n, path, "an integer");
  if (errno == ERANGE || v < lo || v > hi) {
    if (hi == INT64_MAX)
      return ddpc_config_node_error(n, "%s: must be >= %lld, got %s", path, (long long)lo, s);
    return ddpc_config_node_error(n, "%s: must be between %lld and %lld, got %s", path, (long long)lo,
                                  (long long)hi, s);
  }
  *out = v;
  return 0;
}

static char *range_text(ddpc_config_range r) {
  bool has_lo = isfinite(r.lo), has_hi = isfinite(r.hi);
  if (has_lo && has_hi && !r.lo_open && !r.hi_open) return ddpc_format("between %g and %g", r.lo, r.hi);
  if (has_lo && has_hi)
    return ddpc_format("%s %g and %s %g", r.lo_open ? ">" : ">=", r.lo, r.hi_open ? "<" : "<=", r.hi);
  if (has_lo) return ddpc_format("%s %g", r.lo_open ? ">" : ">=", r.lo);
  if (has_hi) return ddpc_format("%s %g", r.hi_open ? "<" : "<=", r.hi);
  return ddpc_format("a finite number");
}

/* as_float: the value is stored in a float, so the range is checked on the float. */
int ddpc_config_read_number(const ddpc_config_node *n, const char *path, ddpc_config_range r, bool as_float,
                            double *out) {
  if (n->kind != DDPC_CONFIG_NODE_SCALAR) return ddpc_config_type_error(n, path, "a number");
  const char *s = n->value;
  char *end = NULL;
  double v = strtod(s, &end);
  if (!*s || end == s || *end != '\0' || isnan(v)) return ddpc_config_type_error(n, path, "a number");
  bool overflow = isfinite(v) && as_float && !isfinite((float)v);
  if (as_float) v = (double)(float)v;
  bool ok = isfinite(v) && (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi);
  if (!ok) {
    char *text = range_text(r);
    if (!text) return -1;
    ddpc_config_node_error(n, "%s: must be %s%s, got %s", path, text, overflow ? " (and fit a float)" : "", s);
    free(text);
    return -1;
  }
  *out = v;
  return 0;
}

int ddpc_config_read_bool(const ddpc_config_node *n, const char *path, bool *out) {
  static const char *const yes[] = {"true", "True", "TRUE"};
  static const char *const no[] = {"false", "False", "FALSE"};
  if (n->kind == DDPC_CONFIG_NODE_SCALAR) {
    for (int i = 0; i < 3; i++) {
      if (strcmp(n->value, yes[i]) == 0) return *out = true, 0;
      if (strcmp(n->value, no[i]) == 0) return *out = false, 0;
    }
  }
  return ddpc_config_type_error(n, path, "true or false");
}

int ddpc_config_read_string(const ddpc_config_node *n, const char *path, char **out) {
  if (n->kind != DDPC_CONFIG_NODE_SCALAR) return ddpc_config_type_error(n, path, "a string");
  if (!n->value[0]) return ddpc_config_node_error(n, "%s: must not be empty", path);
  char *s = ddpc_strdup(n->value);
  if (!s) return -1;
  free(*out);
  *out = s;
  return 0;
}

int ddpc_config_read_enum(const ddpc_config_node *n, const char *path, const char *const *names, int count,
                          int *out) {
  if (n->kind != DDPC_CONFIG_NODE_SCALAR) {
    char *list = ddpc_config_join_names(names, count);
    char *what = list ? ddpc_format("one of %s", list) : NULL;
    if (what) ddpc_config_type_error(n, path, what);
    free(what);
    free(list);
    return -1;
  }
  for (int i = 0; i < count; i++)
    if (strcmp(n->value, names[i]) == 0) return *out = i, 0;
  char *lead = ddpc_format("%s: unknown value '%s'", path, n->value);
  if (!lead) return -1;
  ddpc_config_unknown_name_error(n, false, lead, n->value, names, count);
  free(lead);
  return -1;
}

/* ---- the same readers on `key` of a section: 0 = absent (out untouched), 1 = read ---- */

#define FIELD_READ(call)                                           \
  do {                                                             \
    char *path = NULL;                                             \
    const ddpc_config_node *n = ddpc_config_field(s, key, &path);  \
    if (!n) return 0;                                              \
    int rc = (call);                                               \
    free(path);                                                    \
    return rc == 0 ? 1 : -1;                                       \
  } while (0)

int ddpc_config_get_int(ddpc_config_section s, const char *key, int64_t lo, int64_t hi, int64_t *out) {
  FIELD_READ(ddpc_config_read_int(n, path, lo, hi, out));
}

int ddpc_config_get_int32(ddpc_config_section s, const char *key, int lo, int hi, int *out) {
  int64_t v = *out;
  int rc = ddpc_config_get_int(s, key, lo, hi, &v);
  *out = (int)v;
  return rc;
}

int ddpc_config_get_number(ddpc_config_section s, const char *key, ddpc_config_range r, bool as_float,
                           double *out) {
  FIELD_READ(ddpc_config_read_number(n, path, r, as_float, out));
}

int ddpc_config_get_double(ddpc_config_section s, const char *key, ddpc_config_range r, double *out) {
  return ddpc_config_get_number(s, key, r, false, out);
}

int ddpc_config_get_float(ddpc_config_section s, const char *key, ddpc_config_range r, float *out) {
  double v = *out;
  int rc = ddpc_config_get_number(s, key, r, true, &v);
  *out = (float)v;
  return rc;
}

int ddpc_config_get_bool(ddpc_config_section s, const char *key, bool *out) {
  FIELD_READ(ddpc_config_read_bool(n, path, out));
}

int ddpc_config_get_string(ddpc_config_section s, const char *key, char **out) {
  FIELD_READ(ddpc_config_read_string(n, path, out));
}

int ddpc_config_get_enum(ddpc_config_section s, const char *key, const char *const *names, int count, int *out) {
  FIELD_READ(ddpc_config_read_enum(n, path, names, count, out));
}

/* The map under `key`; out->map stays NULL when it is absent. */
int ddpc_config_get_section(ddpc_config_section s, const char *key, const char *path, ddpc_config_section *out) {
  out->map = NULL;
  out->path = path;
  char *p = NULL;
  const ddpc_config_node *n = ddpc_config_field(s, key, &p);
  if (!n) return 0;
  int rc = 0;
  if (n->kind == DDPC_CONFIG_NODE_MAP)
    out->map = n;
  else
    rc = ddpc_config_type_error(n, p, "a map of keys");
  free(p);
  return rc;
}


int ddpc_config_unknown_metric_error(const ddpc_config_node *n, const char *path, const char *given,
                                     const char *const *names, int count) {
  char *lead = ddpc_format("%s: unknown metric '%s'", path, given);
  if (!lead) return -1;
  // "top5_acc": the list says topK_accuracy, which edit distance cannot match to a number.
  const char *top = strncmp(given, "val_", 4) == 0 ? given + 4 : given;
  size_t digits = strncmp(top, "top", 3) == 0 ? strspn(top + 3, "0123456789") : 0;
  // A monitor is a val_ name (also when given as the metrics: entry), an entry is not.
  const char *prefix = names == ddpc_metric_names ? "val_" : "";
  char *hint = digits > 0 && top[3] != '0' ? ddpc_format("%stop%.*s_accuracy", prefix, (int)digits, top + 3) : NULL;
  char *list = hint ? ddpc_config_join_names(names, count) : NULL;
  if (list)
    ddpc_config_node_error(n, "%s; expected one of %s; did you mean '%s'?", lead, list, hint);
  else if (!hint)
    ddpc_config_unknown_name_error(n, false, lead, given, names, count);
  free(hint);
  free(list);
  free(lead);
  return -1;
}

static int config_read_metric(const ddpc_config_node *n, const char *path, char **out) {
  if (ddpc_config_read_string(n, path, out) != 0) return -1;
  if (ddpc_metric_known(*out)) return 0;
  return ddpc_config_unknown_metric_error(n, path, *out, ddpc_metric_names, ddpc_metric_name_count);
}

int ddpc_config_get_metric(ddpc_config_section s, const char *key, char **out) {
  FIELD_READ(config_read_metric(n, path, out));
}
