/* The config schema: walks the tree of config_tree.c key by key, reads each value with the
 * typed readers of config_read.c (type and range checked), fills in every default and
 * resolves relative paths, producing a ddpc_config. Every check names the place
 * (file:line:col or the --set text) and the dotted key, so the first error is enough for a
 * user to fix the input. The reference of all keys is docs/config.md; keep the two in
 * step. */
// realpath() is XSI, beyond the POSIX level the build asks for.
#define _XOPEN_SOURCE 700

#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_read.h"
#include "core/config_tree.h"
#include "core/device.h"
#include "core/error.h"
#include "core/metrics.h"

const char *const ddpc_config_format_names[2] = {"idx", "csv"};
const char *const ddpc_config_task_names[2] = {"classification", "regression"};
const char *const ddpc_config_standardize_names[2] = {"global", "per_feature"};
const char *const ddpc_config_missing_names[3] = {"error", "drop_rows", "mean"};
const char *const ddpc_config_init_names[3] = {"default", "he", "xavier"};

// Preprocessing ops in ddpc_prep_kind order. The other enums' names come from the
// modules that own them (ddpc_layer_kind_names, ddpc_loss_names, ...), in enum order too.
static const char *const prep_op_names[] = {"scale", "standardize", "flatten", "reshape"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
// Linear weights between consecutive linear layers above this are refused up front.
#define CONFIG_MAX_LINEAR_PARAMS 1e9

typedef struct {
  ddpc_config_tree tree;  // the file plus overrides
  char *file_dir;         // absolute folder of the config file: base of relative paths in it
  char *cwd;              // absolute current folder: base of relative paths given by --set
} config_ctx;

static int missing_key(const config_ctx *ctx, ddpc_config_section s, const char *key) {
  const char *dot = *s.path ? "." : "";
  if (s.map && s.map->line > 0)
    return ddpc_config_node_error(s.map, "missing required key '%s%s%s'", s.path, dot, key);
  return ddpc_error_set("%s: missing required key '%s%s%s'", ctx->tree.path, s.path, dot, key);
}

/* The map under `key` (see ddpc_config_get_section) with every key of it one of `allowed`. */
static int get_checked_section(ddpc_config_section s, const char *key, const char *path, const char *const *allowed,
                               int n_allowed, ddpc_config_section *out) {
  if (ddpc_config_get_section(s, key, path, out) != 0) return -1;
  return ddpc_config_check_keys(*out, path, allowed, n_allowed);
}

/* base + "/" + value unless value is already absolute. The file need not exist yet. */
static int absolute_path(const char *base, const char *value, char **out) {
  char *abs = NULL;
  if (value[0] == '/') {
    abs = ddpc_strdup(value);
  } else {
    while (strncmp(value, "./", 2) == 0) value += 2;
    size_t n = strlen(base);
    abs = ddpc_format("%s%s%s", base, n && base[n - 1] == '/' ? "" : "/", value);
  }
  if (!abs) return -1;
  free(*out);
  *out = abs;
  return 0;
}

/* A path value: relative ones are taken from the config file's folder when written in the
 * file, from the current folder when given by --set. `where`, when not NULL, gets where the
 * value was given (for messages about the file later). */
static int get_path(const config_ctx *ctx, ddpc_config_section s, const char *key, char **out, char **where) {
  char *path = NULL;
  const ddpc_config_node *n = ddpc_config_field(s, key, &path);
  if (!n) return 0;
  char *value = NULL;
  int rc = ddpc_config_read_string(n, path, &value);
  free(path);
  if (rc == 0) rc = absolute_path(n->line > 0 ? ctx->file_dir : ctx->cwd, value, out);
  free(value);
  if (rc == 0 && where) {
    free(*where);
    rc = (*where = ddpc_config_node_where(n)) ? 0 : -1;
  }
  return rc == 0 ? 1 : -1;
}

static const ddpc_config_range unit_interval_open = {0, 1, false, true};      // [0, 1)
static const ddpc_config_range non_negative = {0, INFINITY, false, false};     // [0, inf)
static const ddpc_config_range positive = {0, INFINITY, true, false};          // (0, inf)
static const ddpc_config_range any_finite = {-INFINITY, INFINITY, false, false};

/* ---- data ---- */

static const char *const source_keys_idx[] = {"images", "labels"};
static const char *const source_keys_csv[] = {"path"};

static int read_source(const config_ctx *ctx, ddpc_config_section data, const char *key, const char *path,
                       bool required, ddpc_data_format format, ddpc_data_source *src, bool *given) {
  ddpc_config_section s;
  if (ddpc_config_get_section(data, key, path, &s) != 0) return -1;
  *given = s.map != NULL;
  if (!s.map) return required ? missing_key(ctx, data, key) : 0;
  bool csv = format == DDPC_DATA_FORMAT_CSV;
  const char *const *keys = csv ? source_keys_csv : source_keys_idx;
  const char *const *other = csv ? source_keys_idx : source_keys_csv;
  int n_keys = csv ? COUNT(source_keys_csv) : COUNT(source_keys_idx);
  int n_other = csv ? COUNT(source_keys_idx) : COUNT(source_keys_csv);
  for (size_t i = 0; i < s.map->n_items; i++)
    for (int k = 0; k < n_other; k++)
      if (strcmp(s.map->items[i]->key, other[k]) == 0)
        return ddpc_config_key_error(s.map->items[i], "%s.%s: only used with data.format: %s (data.format is %s)",
                                     path, other[k], ddpc_config_format_names[!csv],
                                     ddpc_config_format_names[csv]);
  if (ddpc_config_check_keys(s, path, keys, n_keys) != 0) return -1;
  for (int k = 0; k < n_keys; k++) {
    char **slot = csv ? &src->path : (k == 0 ? &src->images : &src->labels);
    char **at = csv ? &src->path_at : (k == 0 ? &src->images_at : &src->labels_at);
    int rc = get_path(ctx, s, keys[k], slot, at);
    if (rc < 0) return -1;
    if (rc == 0) return missing_key(ctx, s, keys[k]);
  }
  return 0;
}

static int read_shape(const ddpc_config_node *n, const char *path, ddpc_shape *shape) {
  if (n->kind != DDPC_CONFIG_NODE_LIST || n->n_items < 1 || n->n_items > 3)
    return ddpc_config_type_error(n, path, "a list of 1 to 3 positive integers like [28, 28, 1]");
  int dims[3] = {1, 1, 1};
  int64_t total = 1;
  for (size_t i = 0; i < n->n_items; i++) {
    char *p = ddpc_format("%s.%zu", path, i);
    int64_t v = 0;
    int rc = p ? ddpc_config_read_int(n->items[i], p, 1, 1 << 24, &v) : -1;
    free(p);
    if (rc != 0) return -1;
    total *= v;
    dims[n->n_items == 1 ? 2 : i] = (int)v;  // [n] -> (1, 1, n); [h, w] -> (h, w, 1)
  }
  if (total > INT_MAX) return ddpc_config_node_error(n, "%s: %lld values per sample is too many", path, (long long)total);
  shape->h = dims[0];
  shape->w = dims[1];
  shape->c = dims[2];
  return 0;
}

static int read_prep_scale(ddpc_config_section s, const char *path, ddpc_prep_step *step) {
  double m = 0, d = 0;
  int has_m = ddpc_config_get_number(s, "multiply", any_finite, true, &m);
  int has_d = has_m < 0 ? -1 : ddpc_config_get_number(s, "divide", any_finite, true, &d);
  if (has_m < 0 || has_d < 0) return -1;
  const ddpc_config_node *dn = ddpc_config_node_get(s.map, "divide");
  if (has_m && has_d) return ddpc_config_key_error(dn, "%s: give either multiply or divide, not both", path);
  if (!has_m && !has_d)
    return ddpc_config_node_error(s.map, "%s: scale needs a 'multiply' or a 'divide' key", path);
  if (has_m) {
    step->multiply = (float)m;
    return 0;
  }
  float inverse = (float)(1.0 / d);
  if (d == 0 || !isfinite(inverse))
    return ddpc_config_node_error(dn, "%s.divide: must not be 0 (or so small that 1/divide overflows), got %s",
                                  path, dn->value);
  step->divide = (float)d;
  step->multiply = inverse;
  return 0;
}

static int read_prep_step(const config_ctx *ctx, const ddpc_config_node *item, const char *path,
                          ddpc_prep_step *step) {
  static const char *const scale_keys[] = {"op", "multiply", "divide"};
  static const char *const standardize_keys[] = {"op", "mode"};
  static const char *const flatten_keys[] = {"op"};
  static const char *const reshape_keys[] = {"op", "shape"};
  static const char *const *const keys[] = {scale_keys, standardize_keys, flatten_keys, reshape_keys};
  static const int n_keys[] = {COUNT(scale_keys), COUNT(standardize_keys), COUNT(flatten_keys),
                               COUNT(reshape_keys)};
  if (item->kind != DDPC_CONFIG_NODE_MAP)
    return ddpc_config_type_error(item, path, "a map like {op: scale, divide: 255}");
  ddpc_config_section s = {item, path};
  int op = 0;
  int rc = ddpc_config_get_enum(s, "op", prep_op_names, COUNT(prep_op_names), &op);
  if (rc <= 0) return rc < 0 ? -1 : missing_key(ctx, s, "op");
  char *where = ddpc_format("%s (op %s)", path, prep_op_names[op]);
  if (!where) return -1;
  rc = ddpc_config_check_keys(s, where, keys[op], n_keys[op]);
  free(where);
  if (rc != 0) return -1;
  memset(step, 0, sizeof *step);
  step->kind = (ddpc_prep_kind)op;
  switch (step->kind) {
    case DDPC_PREP_SCALE:
      return read_prep_scale(s, path, step);
    case DDPC_PREP_STANDARDIZE: {
      int mode = DDPC_STANDARDIZE_GLOBAL;
      rc = ddpc_config_get_enum(s, "mode", ddpc_config_standardize_names, 2, &mode);
      step->standardize = (ddpc_standardize_mode)mode;
      return rc < 0 ? -1 : 0;
    }
    case DDPC_PREP_FLATTEN:
      return 0;
    case DDPC_PREP_RESHAPE: {
      char *p = NULL;
      const ddpc_config_node *n = ddpc_config_field(s, "shape", &p);
      if (!n) return missing_key(ctx, s, "shape");
      rc = read_shape(n, p, &step->shape);
      free(p);
      return rc;
    }
  }
  return 0;
}

static int read_preprocess(const config_ctx *ctx, ddpc_config_section data, ddpc_data_config *dc) {
  char *path = NULL;
  const ddpc_config_node *n = ddpc_config_field(data, "preprocess", &path);
  if (!n) return 0;
  int rc = 0;
  if (n->kind != DDPC_CONFIG_NODE_LIST)
    rc = ddpc_config_type_error(n, path, "a list of steps like [{op: scale, divide: 255}]");
  else if (n->n_items > DDPC_MAX_PREP_STEPS)
    rc = ddpc_config_node_error(n, "%s: at most %d steps, got %zu", path, DDPC_MAX_PREP_STEPS, n->n_items);
  for (size_t i = 0; rc == 0 && i < n->n_items; i++) {
    char *p = ddpc_format("%s.%zu", path, i);
    rc = p ? read_prep_step(ctx, n->items[i], p, &dc->prep[i]) : -1;
    free(p);
    dc->n_prep = (int)i + 1;
  }
  free(path);
  return rc;
}

static int default_cache_dir(const config_ctx *ctx, char **out) {
  const char *env = NULL;
  char *dir = NULL;
  if ((env = getenv("DDPC_CACHE_DIR")) && *env)
    dir = ddpc_strdup(env);
  else if ((env = getenv("XDG_CACHE_HOME")) && *env)
    dir = ddpc_format("%s/ddpc", env);
  else if ((env = getenv("HOME")) && *env)
    dir = ddpc_format("%s/.cache/ddpc", env);
  else
    dir = ddpc_strdup(".ddpc-cache");
  if (!dir) return -1;
  int rc = absolute_path(ctx->cwd, dir, out);
  free(dir);
  return rc;
}

static int read_fractions(ddpc_config_section data, bool has_test, ddpc_data_config *dc) {
  dc->val_fraction = 0.1;
  dc->test_fraction = has_test ? 0.0 : 0.1;
  int has_val = ddpc_config_get_double(data, "val_fraction", unit_interval_open, &dc->val_fraction);
  if (has_val < 0) return -1;
  int has_tf = ddpc_config_get_double(data, "test_fraction", unit_interval_open, &dc->test_fraction);
  if (has_tf < 0) return -1;
  const ddpc_config_node *tn = ddpc_config_node_get(data.map, "test_fraction");
  if (has_test && dc->test_fraction > 0)
    return ddpc_config_node_error(tn, "data.test_fraction: must be 0 when data.test is given, got %s", tn->value);
  if (dc->val_fraction + dc->test_fraction >= 1) {
    const ddpc_config_node *at = has_tf ? tn : ddpc_config_node_get(data.map, "val_fraction");
    return ddpc_config_node_error(at, "data.val_fraction + data.test_fraction must be < 1, got %g + %g",
                                  dc->val_fraction, dc->test_fraction);
  }
  return 0;
}

/* data.missing: one policy for every column, or a mapping column -> policy (columns not
 * named keep `error`). The columns are checked against the CSV's header when it is read. */
static int read_missing(ddpc_config_section data, ddpc_data_config *dc) {
  char *path = NULL;
  const ddpc_config_node *n = ddpc_config_field(data, "missing", &path);
  if (!n) return 0;
  int rc = 0, policy = 0;
  if (dc->format != DDPC_DATA_FORMAT_CSV) {
    rc = ddpc_config_node_error(n, "%s: only used with data.format: csv (IDX images have no missing cells)", path);
  } else if (n->kind == DDPC_CONFIG_NODE_SCALAR) {
    rc = ddpc_config_read_enum(n, path, ddpc_config_missing_names, 3, &policy);
    dc->missing = (ddpc_missing_policy)policy;
  } else if (n->kind != DDPC_CONFIG_NODE_MAP) {
    rc = ddpc_config_type_error(n, path, "one of error, drop_rows, mean, or a mapping column: policy");
  } else {
    dc->missing_rules = ddpc_calloc(n->n_items ? n->n_items : 1, sizeof *dc->missing_rules, "data.missing");
    rc = dc->missing_rules ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n->n_items; i++) {
      const ddpc_config_node *item = n->items[i];
      char *p = ddpc_format("%s.%s", path, item->key);
      ddpc_missing_rule *r = &dc->missing_rules[i];
      rc = p ? ddpc_config_read_enum(item, p, ddpc_config_missing_names, 3, &policy) : -1;
      free(p);
      if (rc != 0) break;
      dc->n_missing_rules = (int)i + 1;
      r->policy = (ddpc_missing_policy)policy;
      r->column = ddpc_strdup(item->key);
      r->at = ddpc_config_node_where(item);
      if (!r->column || !r->at) rc = -1;
    }
  }
  free(path);
  return rc;
}

/* data.categorical: a list of feature column names, each one-hot encoded. */
static int read_categorical(ddpc_config_section data, ddpc_data_config *dc) {
  char *path = NULL;
  const ddpc_config_node *n = ddpc_config_field(data, "categorical", &path);
  if (!n) return 0;
  int rc = 0;
  if (n->kind != DDPC_CONFIG_NODE_LIST) {
    rc = ddpc_config_type_error(n, path, "a list of column names like [color, size]");
  } else {
    dc->categorical = ddpc_calloc(n->n_items ? n->n_items : 1, sizeof(char *), "data.categorical");
    dc->categorical_at = ddpc_calloc(n->n_items ? n->n_items : 1, sizeof(char *), "data.categorical");
    rc = dc->categorical && dc->categorical_at ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n->n_items; i++) {
      char *p = ddpc_format("%s.%zu", path, i);
      rc = p ? ddpc_config_read_string(n->items[i], p, &dc->categorical[i]) : -1;
      free(p);
      if (rc != 0) break;
      dc->n_categorical = (int)i + 1;
      for (size_t k = 0; k < i; k++)
        if (strcmp(dc->categorical[k], dc->categorical[i]) == 0)
          rc = ddpc_config_node_error(n->items[i], "%s: column '%s' is listed twice", path, dc->categorical[i]);
      if (rc == 0 && !(dc->categorical_at[i] = ddpc_config_node_where(n->items[i]))) rc = -1;
    }
  }
  if (rc == 0 && n->kind == DDPC_CONFIG_NODE_LIST && n->n_items > 0 && dc->format != DDPC_DATA_FORMAT_CSV)
    rc = ddpc_config_node_error(n, "%s: only used with data.format: csv", path);
  free(path);
  return rc;
}

/* data.group_by and data.min_group_rows: one model per value of a CSV column. The default
 * 50 rows leave a 10 % validation split of 5 rows at least; fewer make early stopping and
 * the test metric noise (docs/training.md, "One model per group"). */
static int read_group_by(ddpc_config_section data, ddpc_data_config *dc) {
  dc->min_group_rows = 50;
  // null (`--set data.group_by=`) is one model for all rows: a group's own run is given so.
  const ddpc_config_node *given = ddpc_config_node_get(data.map, "group_by");
  bool none = given && given->kind == DDPC_CONFIG_NODE_SCALAR && given->is_null;
  if (!none && ddpc_config_get_string(data, "group_by", &dc->group_by) < 0) return -1;
  if (ddpc_config_get_int32(data, "min_group_rows", 1, 2000000000, &dc->min_group_rows) < 0) return -1;
  if (!dc->group_by || !*dc->group_by) return 0;
  const ddpc_config_node *n = ddpc_config_node_get(data.map, "group_by");
  if (dc->format != DDPC_DATA_FORMAT_CSV)
    return ddpc_config_node_error(n, "data.group_by: groups are the values of a CSV column; data.format is idx");
  if (dc->label_column && strcmp(dc->group_by, dc->label_column) == 0)
    return ddpc_config_node_error(n, "data.group_by: '%s' is the label column (data.label_column); name the column "
                                     "whose values are the groups", dc->group_by);
  return 0;
}

static int read_data(const config_ctx *ctx, ddpc_config_section top, ddpc_data_config *dc) {
  static const char *const keys[] = {"format",       "task",          "train",    "test",
                                     "label_column", "num_classes",   "val_fraction",
                                     "test_fraction", "stratify",     "preprocess",
                                     "group_by",     "min_group_rows",
                                     "cache",        "cache_dir",     "target_standardize",
                                     "missing",      "categorical"};
  ddpc_config_section data;
  if (ddpc_config_get_section(top, "data", "data", &data) != 0) return -1;
  if (!data.map) return missing_key(ctx, top, "data");
  if (ddpc_config_check_keys(data, "data", keys, COUNT(keys)) != 0) return -1;
  int format = DDPC_DATA_FORMAT_IDX, task = DDPC_TASK_CLASSIFICATION;
  if (ddpc_config_get_enum(data, "format", ddpc_config_format_names, 2, &format) < 0) return -1;
  if (ddpc_config_get_enum(data, "task", ddpc_config_task_names, 2, &task) < 0) return -1;
  dc->format = (ddpc_data_format)format;
  dc->task = (ddpc_task)task;
  bool has_train = false, has_test = false;
  if (read_source(ctx, data, "train", "data.train", true, dc->format, &dc->train, &has_train) != 0) return -1;
  if (read_source(ctx, data, "test", "data.test", false, dc->format, &dc->test, &has_test) != 0) return -1;
  dc->label_column = ddpc_strdup("label");
  if (!dc->label_column || ddpc_config_get_string(data, "label_column", &dc->label_column) < 0) return -1;
  if (ddpc_config_get_int32(data, "num_classes", 0, 100000, &dc->num_classes) < 0) return -1;
  if (read_fractions(data, has_test, dc) != 0) return -1;
  if (ddpc_config_get_bool(data, "stratify", &dc->stratify) < 0) return -1;
  if (read_group_by(data, dc) != 0) return -1;
  if (read_preprocess(ctx, data, dc) != 0) return -1;
  dc->cache = true;
  if (ddpc_config_get_bool(data, "cache", &dc->cache) < 0) return -1;
  if (ddpc_config_get_bool(data, "target_standardize", &dc->target_standardize) < 0) return -1;
  if (dc->target_standardize && dc->task != DDPC_TASK_REGRESSION)
    return ddpc_config_node_error(ddpc_config_node_get(data.map, "target_standardize"),
                                  "data.target_standardize: standardizes a regression target; data.task is "
                                  "classification");
  if (read_missing(data, dc) != 0 || read_categorical(data, dc) != 0) return -1;
  int rc = get_path(ctx, data, "cache_dir", &dc->cache_dir, NULL);
  if (rc < 0) return -1;
  return rc == 0 ? default_cache_dir(ctx, &dc->cache_dir) : 0;
}

/* ---- model ---- */

static const char *const *layer_keys(ddpc_layer_kind kind, int *n) {
  static const char *const linear_keys[] = {"type", "units", "bias", "init"};
  static const char *const conv2d_keys[] = {"type", "filters", "kernel", "stride", "padding", "bias", "init"};
  static const char *const maxpool2d_keys[] = {"type", "kernel", "stride"};
  static const char *const dropout_keys[] = {"type", "p"};
  static const char *const layernorm_keys[] = {"type", "eps"};
  static const char *const plain_keys[] = {"type"};
  switch (kind) {
    case DDPC_LAYER_LINEAR:
      return *n = COUNT(linear_keys), linear_keys;
    case DDPC_LAYER_CONV2D:
      return *n = COUNT(conv2d_keys), conv2d_keys;
    case DDPC_LAYER_MAXPOOL2D:
      return *n = COUNT(maxpool2d_keys), maxpool2d_keys;
    case DDPC_LAYER_DROPOUT:
      return *n = COUNT(dropout_keys), dropout_keys;
    case DDPC_LAYER_LAYERNORM:
      return *n = COUNT(layernorm_keys), layernorm_keys;
    default:
      return *n = COUNT(plain_keys), plain_keys;
  }
}

static int read_layer(const config_ctx *ctx, const ddpc_config_node *item, const char *path, ddpc_layer_spec *spec) {
  if (item->kind != DDPC_CONFIG_NODE_MAP)
    return ddpc_config_type_error(item, path, "a layer map like {type: linear, units: 128}");
  ddpc_config_section s = {item, path};
  int index = 0;
  int rc = ddpc_config_get_enum(s, "type", ddpc_layer_kind_names, DDPC_LAYER_COUNT, &index);
  if (rc <= 0) return rc < 0 ? -1 : missing_key(ctx, s, "type");
  *spec = ddpc_layer_spec_default((ddpc_layer_kind)index);
  int n_keys = 0;
  const char *const *keys = layer_keys(spec->kind, &n_keys);
  char *where = ddpc_format("%s (a %s layer)", path, ddpc_layer_kind_names[index]);
  if (!where) return -1;
  rc = ddpc_config_check_keys(s, where, keys, n_keys);
  free(where);
  if (rc != 0) return -1;
  // Keys that do not belong to this kind were refused above, so each read is absent
  // unless it applies.
  int init = (int)spec->init;
  int has_units = ddpc_config_get_int32(s, "units", 1, 1 << 20, &spec->units);
  int has_filters = has_units < 0 ? -1 : ddpc_config_get_int32(s, "filters", 1, 65536, &spec->filters);
  int has_kernel = has_filters < 0 ? -1 : ddpc_config_get_int32(s, "kernel", 1, 64, &spec->kernel);
  int has_stride = has_kernel < 0 ? -1 : ddpc_config_get_int32(s, "stride", 1, 64, &spec->stride);
  if (has_stride < 0 || ddpc_config_get_int32(s, "padding", 0, 64, &spec->padding) < 0 ||
      ddpc_config_get_bool(s, "bias", &spec->bias) < 0 ||
      ddpc_config_get_enum(s, "init", ddpc_config_init_names, 3, &init) < 0 ||
      ddpc_config_get_float(s, "p", unit_interval_open, &spec->p) < 0 ||
      ddpc_config_get_float(s, "eps", positive, &spec->eps) < 0)
    return -1;
  spec->init = (ddpc_init_kind)init;
  if (spec->kind == DDPC_LAYER_LINEAR && !has_units) return missing_key(ctx, s, "units");
  if (spec->kind == DDPC_LAYER_CONV2D && !has_filters) return missing_key(ctx, s, "filters");
  if (spec->kind == DDPC_LAYER_CONV2D && !has_kernel) return missing_key(ctx, s, "kernel");
  if (spec->kind == DDPC_LAYER_MAXPOOL2D && !has_stride) spec->stride = spec->kernel;
  return 0;
}

static int read_layer_list(const config_ctx *ctx, const ddpc_config_node *list, const char *path,
                           ddpc_layer_spec *specs, int *n_specs) {
  if (list->kind != DDPC_CONFIG_NODE_LIST) return ddpc_config_type_error(list, path, "a list of layers");
  if (list->n_items == 0) return ddpc_config_node_error(list, "%s: the model has no layers", path);
  if (list->n_items > DDPC_MAX_LAYERS)
    return ddpc_config_node_error(list, "%s: at most %d layers, got %zu", path, DDPC_MAX_LAYERS, list->n_items);
  double weights = 0;
  int features = 0;  // outputs of the last linear layer while still known, else 0
  for (size_t i = 0; i < list->n_items; i++) {
    char *p = ddpc_format("%s.%zu", path, i);
    int rc = p ? read_layer(ctx, list->items[i], p, &specs[i]) : -1;
    free(p);
    if (rc != 0) return -1;
    if (specs[i].kind == DDPC_LAYER_LINEAR) {
      weights += (double)features * specs[i].units;
      features = specs[i].units;
    } else if (specs[i].kind == DDPC_LAYER_CONV2D || specs[i].kind == DDPC_LAYER_MAXPOOL2D) {
      features = 0;
    }
  }
  if (weights > CONFIG_MAX_LINEAR_PARAMS)
    return ddpc_config_node_error(list, "%s: the linear layers would hold about %.3g weights, more than the limit of 1e9",
                                  path, weights);
  *n_specs = (int)list->n_items;
  return 0;
}

static int read_model_variants(const config_ctx *ctx, const ddpc_config_node *model, ddpc_config *cfg) {
  static const char *const keys[] = {"variant", "variants"};
  ddpc_config_section s = {model, "model"};
  if (ddpc_config_check_keys(s, "model", keys, COUNT(keys)) != 0) return -1;
  int rc = ddpc_config_get_string(s, "variant", &cfg->model_variant);
  if (rc <= 0) return rc < 0 ? -1 : missing_key(ctx, s, "variant");
  char *path = NULL;
  const ddpc_config_node *variants = ddpc_config_field(s, "variants", &path);
  if (!variants) return missing_key(ctx, s, "variants");
  rc = 0;
  if (variants->kind != DDPC_CONFIG_NODE_MAP)
    rc = ddpc_config_type_error(variants, path, "a map of variant name -> list of layers");
  else if (variants->n_items == 0)
    rc = ddpc_config_node_error(variants, "%s: no variants given", path);
  free(path);
  if (rc != 0) return -1;
  const ddpc_config_node *chosen = ddpc_config_node_get(variants, cfg->model_variant);
  if (!chosen) {
    const char **names = ddpc_calloc(variants->n_items, sizeof *names, "variant names");
    char *lead = ddpc_format("model.variant: unknown variant '%s'", cfg->model_variant);
    if (names && lead) {
      for (size_t i = 0; i < variants->n_items; i++) names[i] = variants->items[i]->key;
      ddpc_config_unknown_name_error(ddpc_config_node_get(model, "variant"), false, lead, cfg->model_variant, names,
                         (int)variants->n_items);
    }
    free(lead);
    free(names);
    return -1;
  }
  // Every variant is checked, so a typo in one the tuner has not tried yet fails now.
  ddpc_layer_spec *scratch = ddpc_calloc(DDPC_MAX_LAYERS, sizeof *scratch, "layer specs");
  if (!scratch) return -1;
  for (size_t i = 0; rc == 0 && i < variants->n_items; i++) {
    const ddpc_config_node *v = variants->items[i];
    char *p = ddpc_format("model.variants.%s", v->key);
    int n = 0;
    rc = p ? read_layer_list(ctx, v, p, v == chosen ? cfg->layers : scratch, v == chosen ? &cfg->n_layers : &n) : -1;
    free(p);
  }
  free(scratch);
  return rc;
}

static int read_model(const config_ctx *ctx, ddpc_config_section top, ddpc_config *cfg) {
  const ddpc_config_node *model = ddpc_config_node_get(top.map, "model");
  if (!model || (model->kind == DDPC_CONFIG_NODE_SCALAR && model->is_null)) return missing_key(ctx, top, "model");
  if (model->kind == DDPC_CONFIG_NODE_LIST) return read_layer_list(ctx, model, "model", cfg->layers, &cfg->n_layers);
  if (model->kind == DDPC_CONFIG_NODE_MAP) return read_model_variants(ctx, model, cfg);
  return ddpc_config_type_error(model, "model", "a list of layers, or a map with 'variant' and 'variants'");
}

/* ---- optimizer, schedule, train, output ---- */

static int read_betas(ddpc_config_section s, ddpc_optimizer_config *o) {
  char *path = NULL;
  const ddpc_config_node *n = ddpc_config_field(s, "betas", &path);
  if (!n) return 0;
  int rc = 0;
  if (n->kind != DDPC_CONFIG_NODE_LIST || n->n_items != 2)
    rc = ddpc_config_type_error(n, path, "a list of two numbers [beta1, beta2]");
  double b[2] = {0, 0};
  for (size_t i = 0; rc == 0 && i < 2; i++) {
    char *p = ddpc_format("%s.%zu", path, i);
    rc = p ? ddpc_config_read_number(n->items[i], p, unit_interval_open, true, &b[i]) : -1;
    free(p);
  }
  free(path);
  o->beta1 = (float)b[0];
  o->beta2 = (float)b[1];
  return rc;
}

static int read_optimizer(ddpc_config_section top, ddpc_optimizer_config *o) {
  static const char *const keys[] = {"name", "lr", "momentum", "nesterov", "weight_decay", "betas", "eps"};
  ddpc_config_section s;
  if (get_checked_section(top, "optimizer", "optimizer", keys, COUNT(keys), &s) != 0) return -1;
  memset(o, 0, sizeof *o);
  int name = 0;
  if (ddpc_config_get_enum(s, "name", ddpc_optimizer_names, DDPC_OPTIMIZER_COUNT, &name) < 0) return -1;
  o->kind = (ddpc_optimizer_kind)name;
  o->lr = 0.01f;
  o->weight_decay = o->kind == DDPC_OPTIMIZER_ADAMW ? 0.01f : 0.0f;
  o->beta1 = 0.9f;
  o->beta2 = 0.999f;
  o->eps = 1e-8f;
  const ddpc_config_range lr_range = {0, 10, true, false};
  if (ddpc_config_get_float(s, "lr", lr_range, &o->lr) < 0 ||
      ddpc_config_get_float(s, "momentum", unit_interval_open, &o->momentum) < 0 ||
      ddpc_config_get_bool(s, "nesterov", &o->nesterov) < 0 ||
      ddpc_config_get_float(s, "weight_decay", non_negative, &o->weight_decay) < 0 || read_betas(s, o) != 0 ||
      ddpc_config_get_float(s, "eps", positive, &o->eps) < 0)
    return -1;
  if (o->nesterov && o->momentum == 0)
    return ddpc_config_node_error(ddpc_config_node_get(s.map, "nesterov"),
                                  "optimizer.nesterov: needs optimizer.momentum > 0 (momentum is 0)");
  return 0;
}

static int read_schedule(ddpc_config_section top, ddpc_schedule_config *sc) {
  static const char *const keys[] = {"name", "warmup_steps", "step_size", "gamma", "min_lr"};
  ddpc_config_section s;
  if (get_checked_section(top, "schedule", "schedule", keys, COUNT(keys), &s) != 0) return -1;
  memset(sc, 0, sizeof *sc);
  int name = 0;
  if (ddpc_config_get_enum(s, "name", ddpc_schedule_names, DDPC_SCHEDULE_COUNT, &name) < 0) return -1;
  sc->kind = (ddpc_schedule_kind)name;
  sc->step_size = 1;
  sc->gamma = 0.1f;
  const ddpc_config_range gamma_range = {0, 1, true, false};
  if (ddpc_config_get_int(s, "warmup_steps", 0, INT64_MAX, &sc->warmup_steps) < 0 ||
      ddpc_config_get_int32(s, "step_size", 1, INT_MAX, &sc->step_size) < 0 ||
      ddpc_config_get_float(s, "gamma", gamma_range, &sc->gamma) < 0 ||
      ddpc_config_get_float(s, "min_lr", non_negative, &sc->min_lr) < 0)
    return -1;
  return 0;
}

static int read_train(ddpc_config_section top, ddpc_train_config *t) {
  static const char *const keys[] = {"epochs", "batch_size", "eval_batch_size", "drop_last", "grad_clip",
                                     "log_every_steps"};
  ddpc_config_section s;
  if (get_checked_section(top, "train", "train", keys, COUNT(keys), &s) != 0) return -1;
  t->epochs = 10;
  t->batch_size = 64;
  t->eval_batch_size = 0;  // not given: the training batch size (see below)
  t->drop_last = true;
  t->grad_clip = 0;
  if (ddpc_config_get_int32(s, "epochs", 0, 1000000, &t->epochs) < 0 ||
      ddpc_config_get_int32(s, "batch_size", 1, 1 << 20, &t->batch_size) < 0 ||
      ddpc_config_get_int32(s, "eval_batch_size", 1, 1 << 20, &t->eval_batch_size) < 0 ||
      ddpc_config_get_bool(s, "drop_last", &t->drop_last) < 0 ||
      ddpc_config_get_double(s, "grad_clip", non_negative, &t->grad_clip) < 0 ||
      ddpc_config_get_int32(s, "log_every_steps", 0, INT_MAX, &t->log_every_steps) < 0)
    return -1;
  // Evaluation at the training batch size needs no activation memory beyond training's
  // (a larger one made the CNN's buffers 4x bigger for no speed gained).
  if (t->eval_batch_size == 0) t->eval_batch_size = t->batch_size;
  return 0;
}

static int read_comm(ddpc_config_section top, ddpc_comm_config *c) {
  static const char *const keys[] = {"bucket_mb", "overlap", "intra_node", "timeout_seconds"};
  ddpc_config_section s;
  if (get_checked_section(top, "comm", "comm", keys, COUNT(keys), &s) != 0) return -1;
  c->bucket_mb = DDPC_DEFAULT_BUCKET_MB;
  c->overlap = true;
  c->timeout_seconds = DDPC_DEFAULT_COMM_TIMEOUT_SECONDS;
  int intra = DDPC_INTRA_NODE_AUTO;
  const ddpc_config_range bucket_range = {0, 1024, true, false};
  if (ddpc_config_get_double(s, "bucket_mb", bucket_range, &c->bucket_mb) < 0 ||
      ddpc_config_get_bool(s, "overlap", &c->overlap) < 0 ||
      ddpc_config_get_enum(s, "intra_node", ddpc_intra_node_names, DDPC_INTRA_NODE_COUNT, &intra) < 0 ||
      ddpc_config_get_double(s, "timeout_seconds", positive, &c->timeout_seconds) < 0)
    return -1;
  c->intra_node = (ddpc_intra_node)intra;
  return 0;
}

/* ---- stop, checkpoint, review ---- */

static const char *const monitor_mode_names[2] = {"min", "max"};

/* `key` of s names a metric (core/metrics.h); *out keeps `fallback` when absent
 * (required: absent is an error). */
static int get_monitor(const config_ctx *ctx, ddpc_config_section s, const char *key, const char *fallback,
                       bool required, char **out) {
  int rc = ddpc_config_get_metric(s, key, out);
  if (rc != 0) return rc < 0 ? -1 : 0;
  if (required) return missing_key(ctx, s, key);
  return (*out = ddpc_strdup(fallback)) ? 0 : -1;
}

/* The optional `mode` key; absent: inferred from the monitor's name (accuracies improve upward). */
static int get_monitor_mode(ddpc_config_section s, const char *monitor, ddpc_monitor_mode *mode) {
  int m = ddpc_metric_higher_is_better(monitor) ? DDPC_MONITOR_MAX : DDPC_MONITOR_MIN;
  if (ddpc_config_get_enum(s, "mode", monitor_mode_names, 2, &m) < 0) return -1;
  *mode = (ddpc_monitor_mode)m;
  return 0;
}

/* A required number under `key`. */
static int need_number(const config_ctx *ctx, ddpc_config_section s, const char *key, double *out) {
  int rc = ddpc_config_get_double(s, key, any_finite, out);
  if (rc < 0) return -1;
  return rc == 0 ? missing_key(ctx, s, key) : 0;
}

static int read_early_stopping(const config_ctx *ctx, ddpc_config_section stop, ddpc_early_stopping_config *es) {
  static const char *const keys[] = {"monitor", "mode", "patience", "min_delta"};
  ddpc_config_section s;
  if (get_checked_section(stop, "early_stopping", "stop.early_stopping", keys, COUNT(keys), &s) != 0) return -1;
  es->enabled = s.map != NULL;  // `early_stopping: {}` enables it with every default
  if (!es->enabled) return 0;
  es->patience = 3;
  es->min_delta = 0;
  if (get_monitor(ctx, s, "monitor", "val_loss", false, &es->monitor) != 0 ||
      get_monitor_mode(s, es->monitor, &es->mode) != 0 ||
      ddpc_config_get_int32(s, "patience", 0, INT_MAX, &es->patience) < 0 ||
      ddpc_config_get_double(s, "min_delta", non_negative, &es->min_delta) < 0)
    return -1;
  return 0;
}

static int read_target(const config_ctx *ctx, ddpc_config_section stop, ddpc_target_config *t) {
  static const char *const keys[] = {"monitor", "mode", "value"};
  ddpc_config_section s;
  if (get_checked_section(stop, "target", "stop.target", keys, COUNT(keys), &s) != 0) return -1;
  t->enabled = s.map != NULL;
  if (!t->enabled) return 0;
  if (get_monitor(ctx, s, "monitor", NULL, true, &t->monitor) != 0 || get_monitor_mode(s, t->monitor, &t->mode) != 0 ||
      need_number(ctx, s, "value", &t->value) != 0)
    return -1;
  return 0;
}

static int read_divergence(const config_ctx *ctx, ddpc_config_section stop, ddpc_divergence_config *d) {
  static const char *const keys[] = {"monitor", "above"};
  ddpc_config_section s;
  if (get_checked_section(stop, "divergence", "stop.divergence", keys, COUNT(keys), &s) != 0) return -1;
  d->enabled = s.map != NULL;
  if (!d->enabled) return 0;
  if (get_monitor(ctx, s, "monitor", "train_loss", false, &d->monitor) != 0 ||
      need_number(ctx, s, "above", &d->above) != 0)
    return -1;
  return 0;
}

static int read_stop(const config_ctx *ctx, ddpc_config_section top, ddpc_config *cfg) {
  static const char *const keys[] = {"max_epochs", "max_seconds", "early_stopping", "target", "divergence"};
  ddpc_stop_config *st = &cfg->stop;
  ddpc_config_section s;
  if (get_checked_section(top, "stop", "stop", keys, COUNT(keys), &s) != 0) return -1;
  st->max_epochs = cfg->train.epochs;
  st->max_seconds = 0;
  if (ddpc_config_get_int32(s, "max_epochs", 0, 1000000, &st->max_epochs) < 0 ||
      ddpc_config_get_double(s, "max_seconds", non_negative, &st->max_seconds) < 0 ||
      read_early_stopping(ctx, s, &st->early_stopping) != 0 || read_target(ctx, s, &st->target) != 0 ||
      read_divergence(ctx, s, &st->divergence) != 0)
    return -1;
  return 0;
}

static int read_checkpoint(const config_ctx *ctx, ddpc_config_section top, ddpc_config *cfg) {
  static const char *const keys[] = {"every_epochs", "every_steps", "keep_last", "keep_best", "monitor", "mode"};
  ddpc_checkpoint_config *c = &cfg->checkpoint;
  ddpc_config_section s;
  if (get_checked_section(top, "checkpoint", "checkpoint", keys, COUNT(keys), &s) != 0) return -1;
  c->every_epochs = 1;
  c->every_steps = 0;
  c->keep_last = 2;
  c->keep_best = true;
  // best.ddpc follows what early stopping judges by, so "best" means one thing in a run.
  const ddpc_early_stopping_config *es = &cfg->stop.early_stopping;
  if (ddpc_config_get_int32(s, "every_epochs", 0, INT_MAX, &c->every_epochs) < 0 ||
      ddpc_config_get_int(s, "every_steps", 0, INT64_MAX, &c->every_steps) < 0 ||
      ddpc_config_get_int32(s, "keep_last", 1, INT_MAX, &c->keep_last) < 0 ||
      ddpc_config_get_bool(s, "keep_best", &c->keep_best) < 0 ||
      get_monitor(ctx, s, "monitor", es->enabled ? es->monitor : "val_loss", false, &c->monitor) != 0)
    return -1;
  // Absent mode with early stopping's own monitor takes early stopping's mode too.
  if (get_monitor_mode(s, c->monitor, &c->mode) != 0) return -1;
  if (es->enabled && !ddpc_config_node_get(s.map, "mode") && strcmp(c->monitor, es->monitor) == 0) c->mode = es->mode;
  return 0;
}

static int read_review(const config_ctx *ctx, ddpc_config_section top, ddpc_review_config *r) {
  static const char *const keys[] = {"after_epochs", "when"};
  static const char *const when_keys[] = {"monitor", "above", "below"};
  ddpc_config_section s, w;
  if (get_checked_section(top, "review", "review", keys, COUNT(keys), &s) != 0 ||
      get_checked_section(s, "when", "review.when", when_keys, COUNT(when_keys), &w) != 0)
    return -1;
  r->after_epochs = 0;
  if (ddpc_config_get_int32(s, "after_epochs", 0, INT_MAX, &r->after_epochs) < 0) return -1;
  r->when_enabled = w.map != NULL;
  if (!r->when_enabled) return 0;
  if (get_monitor(ctx, w, "monitor", NULL, true, &r->when_monitor) != 0) return -1;
  int above = ddpc_config_get_double(w, "above", any_finite, &r->when_above);
  int below = above < 0 ? -1 : ddpc_config_get_double(w, "below", any_finite, &r->when_below);
  if (above < 0 || below < 0) return -1;
  r->when_has_above = above == 1;
  r->when_has_below = below == 1;
  if (!above && !below) return ddpc_config_node_error(w.map, "review.when: needs 'above' or 'below' (or both)");
  return 0;
}

static int read_pruning(ddpc_config_section top, ddpc_pruning_config *p) {
  static const char *const keys[] = {"rungs", "wait_seconds"};
  ddpc_config_section s;
  if (get_checked_section(top, "pruning", "pruning", keys, COUNT(keys), &s) != 0) return -1;
  p->n_rungs = 0;
  p->wait_seconds = 300;
  if (!s.map) return 0;
  if (ddpc_config_get_double(s, "wait_seconds", positive, &p->wait_seconds) < 0) return -1;
  char *path = NULL;
  const ddpc_config_node *rungs = ddpc_config_field(s, "rungs", &path);
  if (!rungs) return ddpc_config_node_error(s.map, "pruning: needs 'rungs', a list of epochs such as [1, 3, 9]");
  int rc = 0;
  if (rungs->kind != DDPC_CONFIG_NODE_LIST)
    rc = ddpc_config_type_error(rungs, path, "a list of epochs");
  else if (rungs->n_items > DDPC_MAX_RUNGS)
    rc = ddpc_config_node_error(rungs, "%s: at most %d rungs, got %zu", path, DDPC_MAX_RUNGS, rungs->n_items);
  for (size_t i = 0; rc == 0 && rungs->kind == DDPC_CONFIG_NODE_LIST && i < rungs->n_items; i++) {
    char *item_path = ddpc_format("%s.%zu", path, i);
    int64_t v = 0;
    rc = item_path ? ddpc_config_read_int(rungs->items[i], item_path, 1, 1000000, &v) : -1;
    if (rc == 0 && p->n_rungs > 0 && v <= p->rungs[p->n_rungs - 1])
      rc = ddpc_config_node_error(rungs->items[i], "%s: rungs must ascend, got %lld after %d", item_path, (long long)v,
                                  p->rungs[p->n_rungs - 1]);
    if (rc == 0) p->rungs[p->n_rungs++] = (int)v;
    free(item_path);
  }
  free(path);
  return rc;
}

static int read_output(ddpc_config_section top, ddpc_config *cfg) {
  static const char *const keys[] = {"dir"};
  ddpc_config_section s;
  if (get_checked_section(top, "output", "output", keys, COUNT(keys), &s) != 0) return -1;
  int rc = ddpc_config_get_string(s, "dir", &cfg->output_dir);
  if (rc < 0) return -1;
  if (rc == 0 && !(cfg->output_dir = ddpc_format("runs/%s", cfg->name))) return -1;
  return 0;
}

/* tracking: {mlflow: {uri, experiment}}: where ddpc train logs in MLflow (track/track.h). */
static int read_tracking(ddpc_config_section top, ddpc_config *cfg) {
  static const char *const keys[] = {"mlflow"};
  static const char *const mlflow_keys[] = {"uri", "experiment"};
  ddpc_config_section s, m;
  if (get_checked_section(top, "tracking", "tracking", keys, COUNT(keys), &s) != 0) return -1;
  if (!s.map) return 0;
  if (get_checked_section(s, "mlflow", "tracking.mlflow", mlflow_keys, COUNT(mlflow_keys), &m) != 0) return -1;
  if (!m.map) return 0;
  if (ddpc_config_get_string(m, "uri", &cfg->tracking_uri) < 0 ||
      ddpc_config_get_string(m, "experiment", &cfg->tracking_experiment) < 0)
    return -1;
  const char *u = cfg->tracking_uri;
  if (u && strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
    return ddpc_config_node_error(ddpc_config_node_get(m.map, "uri"),
                                  "tracking.mlflow.uri: expected an http:// or https:// MLflow tracking server, got '%s'", u);
  return 0;
}

/* The file's name without folder and extension: "configs/mnist.yaml" -> "mnist". */
static char *default_name(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
  return len > 0 ? ddpc_format("%.*s", len, base) : ddpc_strdup("run");
}

static int read_name(const config_ctx *ctx, ddpc_config_section top, ddpc_config *cfg) {
  int rc = ddpc_config_get_string(top, "name", &cfg->name);
  if (rc < 0) return -1;
  if (rc == 0) return (cfg->name = default_name(ctx->tree.path)) ? 0 : -1;
  // The name becomes a folder (runs/<name>), so it must be one path component.
  if (strchr(cfg->name, '/') || strcmp(cfg->name, ".") == 0 || strcmp(cfg->name, "..") == 0)
    return ddpc_config_node_error(ddpc_config_node_get(top.map, "name"),
                                  "name: must be usable as a folder name (no '/', not '.' or '..'), got '%s'",
                                  cfg->name);
  return 0;
}

/* `device`: cpu or cuda. A build without CUDA refuses cuda here, where the message can name
 * the line; whether a GPU is present is each rank's own question, asked when training sets
 * up (ddpc launch may run where the ranks' GPUs are not). */
static int read_device(ddpc_config_section top, ddpc_config *cfg) {
  int device = DDPC_DEVICE_CPU;
  if (ddpc_config_get_enum(top, "device", ddpc_device_names, DDPC_DEVICE_COUNT, &device) < 0) return -1;
  cfg->device = (ddpc_device)device;
  if (!ddpc_device_built(cfg->device))
    return ddpc_config_node_error(ddpc_config_node_get(top.map, "device"), "device: %s: %s",
                                  ddpc_device_name(cfg->device), DDPC_DEVICE_NO_CUDA_MESSAGE);
  return 0;
}

static int config_resolve(const config_ctx *ctx, ddpc_config *cfg) {
  static const char *const keys[] = {"name", "seed", "device", "data", "model", "loss", "optimizer", "schedule", "train", "comm",
                                     "stop", "checkpoint", "review", "pruning", "output", "tracking", "metrics"};
  ddpc_config_section top = {ctx->tree.root, ""};
  if (ddpc_config_check_keys(top, "the top level", keys, COUNT(keys)) != 0 || read_name(ctx, top, cfg) != 0) return -1;
  int64_t seed = 0;
  if (ddpc_config_get_int(top, "seed", 0, INT64_MAX, &seed) < 0) return -1;
  cfg->seed = (uint64_t)seed;
  if (read_device(top, cfg) != 0 || read_data(ctx, top, &cfg->data) != 0 || read_model(ctx, top, cfg) != 0) return -1;
  int loss = cfg->data.task == DDPC_TASK_REGRESSION ? DDPC_LOSS_MSE : DDPC_LOSS_CROSS_ENTROPY;
  if (ddpc_config_get_enum(top, "loss", ddpc_loss_names, DDPC_LOSS_COUNT, &loss) < 0) return -1;
  cfg->loss = (ddpc_loss_kind)loss;
  if (read_optimizer(top, &cfg->optimizer) != 0 || read_schedule(top, &cfg->schedule) != 0 ||
      read_train(top, &cfg->train) != 0 || read_comm(top, &cfg->comm) != 0 || read_stop(ctx, top, cfg) != 0 ||
      read_checkpoint(ctx, top, cfg) != 0 || read_review(ctx, top, &cfg->review) != 0 || read_pruning(top, &cfg->pruning) != 0 ||
      read_output(top, cfg) != 0 || read_tracking(top, cfg) != 0 || ddpc_config_read_metrics(top.map, cfg) != 0)
    return -1;
  return 0;
}

static int ctx_locate(config_ctx *ctx, const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? ddpc_format("%.*s", slash == path ? 1 : (int)(slash - path), path) : ddpc_strdup(".");
  if (!dir) return -1;
  ctx->file_dir = realpath(dir, NULL);
  int rc = ctx->file_dir ? 0 : ddpc_error_set("%s: cannot resolve the folder '%s': %s", path, dir, strerror(errno));
  free(dir);
  if (rc == 0 && !(ctx->cwd = realpath(".", NULL)))
    rc = ddpc_error_set("cannot resolve the current folder: %s", strerror(errno));
  return rc;
}

/* Resolves a parsed tree into cfg; relative paths are taken from the folder of `path`
 * (a file) or, for text, from the current folder. Frees the tree. */
static int config_from_tree(config_ctx *ctx, const char *path, bool is_file, const char *const *overrides,
                            int n_overrides, ddpc_config *cfg) {
  int rc = 0;
  for (int i = 0; rc == 0 && i < n_overrides; i++) rc = ddpc_config_tree_apply_override(&ctx->tree, overrides[i]);
  if (rc == 0) rc = ctx_locate(ctx, is_file ? path : "./-");
  if (rc == 0) {
    cfg->source_path = is_file ? realpath(path, NULL) : NULL;
    if (!cfg->source_path && !(cfg->source_path = ddpc_strdup(path))) rc = -1;
  }
  if (rc == 0) rc = config_resolve(ctx, cfg);
  if (rc == 0) rc = ddpc_config_write_resolved(cfg);
  ddpc_config_tree_free(&ctx->tree);
  free(ctx->file_dir);
  free(ctx->cwd);
  if (rc != 0) ddpc_config_free(cfg);
  return rc;
}

int ddpc_config_load(const char *path, const char *const *overrides, int n_overrides, ddpc_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  if (!path) return ddpc_error_set("no config file given");
  config_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  if (ddpc_config_tree_load(path, &ctx.tree) != 0) {
    ddpc_config_tree_free(&ctx.tree);
    return -1;
  }
  return config_from_tree(&ctx, path, true, overrides, n_overrides, cfg);
}

int ddpc_config_load_text(const char *name, const char *yaml, size_t len, const char *const *overrides,
                          int n_overrides, ddpc_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  config_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  if (ddpc_config_tree_parse(name, yaml, len, &ctx.tree) != 0) {
    ddpc_config_tree_free(&ctx.tree);
    return -1;
  }
  return config_from_tree(&ctx, name, false, overrides, n_overrides, cfg);
}

static void source_free(ddpc_data_source *src) {
  free(src->images);
  free(src->labels);
  free(src->path);
  free(src->images_at);
  free(src->labels_at);
  free(src->path_at);
}

void ddpc_config_free(ddpc_config *cfg) {
  if (!cfg) return;
  free(cfg->source_path);
  free(cfg->name);
  source_free(&cfg->data.train);
  source_free(&cfg->data.test);
  free(cfg->data.label_column);
  free(cfg->data.group_by);
  free(cfg->data.cache_dir);
  for (int i = 0; i < cfg->data.n_missing_rules; i++) {
    free(cfg->data.missing_rules[i].column);
    free(cfg->data.missing_rules[i].at);
  }
  free(cfg->data.missing_rules);
  for (int i = 0; i < cfg->data.n_categorical; i++) {
    free(cfg->data.categorical[i]);
    free(cfg->data.categorical_at[i]);
  }
  free(cfg->data.categorical);
  free(cfg->data.categorical_at);
  free(cfg->model_variant);
  free(cfg->stop.early_stopping.monitor);
  free(cfg->stop.target.monitor);
  free(cfg->stop.divergence.monitor);
  free(cfg->checkpoint.monitor);
  free(cfg->review.when_monitor);
  free(cfg->metrics.at);
  free(cfg->output_dir);
  free(cfg->tracking_uri);
  free(cfg->tracking_experiment);
  free(cfg->resolved_yaml);
  memset(cfg, 0, sizeof *cfg);
}

uint64_t ddpc_config_hash(const ddpc_config *cfg) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (const unsigned char *p = (const unsigned char *)(cfg->resolved_yaml ? cfg->resolved_yaml : ""); *p; p++) {
    h ^= *p;
    h *= 1099511628211ull;  // FNV 64-bit prime
  }
  return h;
}
