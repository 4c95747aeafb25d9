/* ddpc_data_load(): cache lookup, else read -> check labels -> split -> prepare -> cache
 * write; and ddpc_data_gather(), the per-step batch assembly that applies the folded
 * affine preparation while converting the stored values to float. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/data_tabular.h"
#include "core/error.h"

static double data_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool data_has(const char *s) { return s && *s; }

/* Every data file given must open before anything is read: the message names where the
 * config gave it ("run.yaml:5:12: data.train.path: cannot open '/d/x.csv': No such file or
 * directory"), not only the file. Checked here, when the data is needed, and not when the
 * config is read: ddpc graph, export, predict and submit read configs whose data is
 * elsewhere or not made yet. */
static int data_check_file(const char *file, const char *at, const char *which, const char *key) {
  if (!data_has(file)) return 0;
  int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // O_NONBLOCK: a FIFO does not block here
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  int err = errno;
  return ddpc_error_set("%s%sdata.%s.%s: cannot open '%s': %s", at ? at : "", at ? ": " : "", which, key, file,
                        strerror(err));
}

static int data_check_files(const ddpc_data_config *dc) {
  const ddpc_data_source *src[2] = {&dc->train, &dc->test};
  const char *which[2] = {"train", "test"};
  for (int i = 0; i < 2; i++) {
    int rc = dc->format == DDPC_DATA_FORMAT_CSV
                 ? data_check_file(src[i]->path, src[i]->path_at, which[i], "path")
                 : data_check_file(src[i]->images, src[i]->images_at, which[i], "images") ||
                       data_check_file(src[i]->labels, src[i]->labels_at, which[i], "labels");
    if (rc != 0) return -1;
  }
  return 0;
}

/* Reads one source (train or test) into t; shape gets the per-sample shape. A CSV is read
 * with data.missing, data.categorical and text labels (found gets what the reader found;
 * labels_stay_text: the training file's labels are texts). */
static int data_read_source(const ddpc_data_config *dc, const ddpc_data_source *src, const char *which,
                            ddpc_table *t, ddpc_shape *shape, ddpc_csv_found *found, bool labels_stay_text) {
  bool cls = dc->task == DDPC_TASK_CLASSIFICATION;
  if (dc->format == DDPC_DATA_FORMAT_CSV) {
    if (!data_has(src->path)) return ddpc_error_set("data.%s.path is not set: the CSV file is required", which);
    ddpc_csv_spec spec = {.missing = dc->missing,
                          .rules = dc->missing_rules,
                          .n_rules = dc->n_missing_rules,
                          .categorical = dc->categorical,
                          .categorical_at = dc->categorical_at,
                          .n_categorical = dc->n_categorical,
                          .text_labels = cls,
                          .labels_stay_text = labels_stay_text};
    if (ddpc_csv_read_tabular(src->path, dc->label_column, dc->task, cls ? dc->num_classes : 0, &spec, t, found) != 0)
      return -1;
    *shape = ddpc_shape_vector((int)t->features);
    return 0;
  }
  if (!cls)
    return ddpc_error_set("data.task: regression needs a CSV source; IDX files hold class labels (use "
                          "task: classification)");
  if (!data_has(src->images) || !data_has(src->labels))
    return ddpc_error_set("data.%s.%s is not set: IDX data needs both images and labels files", which,
                          data_has(src->images) ? "labels" : "images");
  if (ddpc_idx_read_images(src->images, t, shape) != 0) return -1;
  int32_t *labels;
  uint32_t count;
  if (ddpc_idx_read_labels(src->labels, &labels, &count) != 0) return -1;
  t->labels = labels;
  if (count != t->rows)
    return ddpc_error_set("%s: byte 4: %u labels, but %s has %u images: the two files must hold the same samples",
                          src->labels, count, src->images, t->rows);
  return ddpc_idx_check_labels(src->labels, labels, count, dc->num_classes);
}

static int32_t data_max_label(const ddpc_table *t) {
  int32_t m = -1;
  for (uint32_t i = 0; i < t->rows; i++)
    if (t->labels[i] > m) m = t->labels[i];
  return m;
}

char *ddpc_data_describe_max_label(const ddpc_dataset *ds, const ddpc_config *cfg) {
  const ddpc_data_config *dc = &cfg->data;
  bool test_separate = ds->test.table == &ds->test_table && ds->test_table.rows > 0;
  // Text labels: the classes are the texts (data_tabular.c), not counted from a largest one.
  if (ds->tabular && ds->tabular->n_labels) return NULL;
  if (!ds->fit.labels || (test_separate && !ds->test_table.labels)) return NULL;
  // The first sample holding the largest label, training file first (as it was counted).
  bool in_test = test_separate && data_max_label(&ds->test_table) > data_max_label(&ds->fit);
  const ddpc_table *t = in_test ? &ds->test_table : &ds->fit;
  const ddpc_data_source *src = in_test ? &dc->test : &dc->train;
  int32_t max = data_max_label(t);
  uint32_t row = 0;
  while (row < t->rows && t->labels[row] != max) row++;
  if (row == t->rows) return NULL;
  if (dc->format == DDPC_DATA_FORMAT_IDX)
    return ddpc_format("%s: byte %llu: sample %u: label %d", src->labels, 8ull + row, row, max);
  // The reader knows each row's line; rows dropped (data.missing drop_rows) leave the
  // data row count behind it, and then the line is named without its column.
  const uint32_t *lines = in_test ? ds->test_lines : ds->fit_lines;
  int line = 0, column = 0;
  if (ddpc_csv_locate_row(src->path, dc->label_column, row, &line, &column) != 0) {
    ddpc_error_clear();  // only a detail of another message is lost
    return ddpc_format("%s: data row %u: label %d", src->path, row + 1, max);
  }
  if (lines && (uint32_t)line != lines[row]) return ddpc_format("%s:%u: label %d", src->path, lines[row], max);
  return ddpc_format("%s:%d:%d: label %d", src->path, line, column, max);
}

/* A test file read for text labels: each mapped to the training file's list by its text. */
static int data_map_test_labels(const ddpc_data_config *dc, ddpc_dataset *ds, ddpc_data_store *store,
                                const ddpc_csv_found *test) {
  if (!ds->test_table.labels) return 0;
  if (!store->tabular->n_labels && test->labels_are_text) {
    const ddpc_vocab *v = &test->labels;
    uint32_t id = 0;  // the first text that is not a number
    for (char *end; id < v->count && (strtod(v->text[id], &end), *end == '\0'); id++) continue;
    id = id < v->count ? id : 0;
    return ddpc_error_set("%s:%d:%d: column '%s': class '%s' is a text, but the training file %s holds integer "
                          "class labels", dc->test.path, v->line[id], v->column[id], dc->label_column, v->text[id],
                          dc->train.path);
  }
  return ddpc_tabular_map_labels(store->tabular, test, (int32_t *)ds->test_table.labels, ds->test_table.rows,
                                 dc->test.path, dc->label_column);
}

/* Appends "; " and `text` (taken over, freed here; NULL: out of memory) to *notes. */
static int data_note(char **notes, char *text) {
  char *more = ddpc_format("%s%s%s", *notes ? *notes : "", *notes && **notes ? "; " : "", text ? text : "");
  int rc = more && text ? 0 : -1;
  free(text);
  free(*notes);
  *notes = more;
  return rc;
}

/* CSV: fits the encoding on the training split and replaces the tables' read values (NaN
 * for a missing cell, a category's index as read) with the model's inputs. */
static int data_encode(ddpc_dataset *ds, ddpc_data_store *store, ddpc_csv_found found[2], ddpc_shape *shape) {
  ddpc_tabular *t = store->tabular;
  if (ddpc_tabular_fit(t, &ds->fit, &found[0], ds->train.rows, ds->train.count) != 0) return -1;
  uint32_t F = found[0].columns;
  uint64_t *unseen = ddpc_calloc(F ? F : 1, sizeof *unseen, "unseen category counts");
  if (!unseen) return -1;
  ddpc_table *tables[2] = {&ds->fit, &ds->test_table};
  int rc = 0;
  // Numeric columns without a missing-cell policy are their own inputs: nothing to copy.
  bool plain = ddpc_tabular_is_plain(t);
  for (int i = 0; i < 2 && rc == 0 && !plain; i++) {
    if (!tables[i]->rows || !tables[i]->x) continue;
    float *x = NULL;
    rc = ddpc_tabular_encode(t, tables[i]->x, tables[i]->rows, &found[i], &x, unseen);
    if (rc != 0) break;
    free((void *)tables[i]->x);
    tables[i]->x = x;
    tables[i]->features = t->width;
  }
  *shape = ddpc_shape_vector((int)t->width);
  uint64_t dropped = found[0].dropped + found[1].dropped, filled = 0;
  for (uint32_t c = 0; c < F; c++) filled += found[0].n_missing[c] + (found[1].columns ? found[1].n_missing[c] : 0);
  if (rc == 0 && !(store->notes = ddpc_strdup(""))) rc = -1;
  if (rc == 0 && dropped)
    rc = data_note(&store->notes, ddpc_format("%llu rows with a missing cell dropped (data.missing drop_rows)",
                                              (unsigned long long)dropped));
  if (rc == 0 && filled)
    rc = data_note(&store->notes, ddpc_format("%llu missing cells filled from the training split (data.missing "
                                              "mean)", (unsigned long long)filled));
  for (uint32_t c = 0; rc == 0 && c < F; c++)
    if (unseen[c])
      rc = data_note(&store->notes, ddpc_format("column '%s': %llu rows of validation/test hold a category the "
                                                "training split lacks (encoded as all zeros)",
                                                t->columns[c].name, (unsigned long long)unseen[c]));
  free(unseen);
  ds->notes = store->notes;
  return rc;
}

/* CSV: each row's line (split.json names rows by them), fit rows then the test table's. */
static int data_keep_lines(ddpc_dataset *ds, ddpc_data_store *store, const ddpc_csv_found found[2]) {
  size_t n = (size_t)ds->fit.rows + ds->test_table.rows;
  if (!(store->lines = ddpc_malloc((n ? n : 1) * sizeof *store->lines, "row lines"))) return -1;
  if (found[0].lines) memcpy(store->lines, found[0].lines, ds->fit.rows * sizeof *store->lines);
  if (found[1].lines) memcpy(store->lines + ds->fit.rows, found[1].lines, ds->test_table.rows * sizeof *store->lines);
  ds->fit_lines = store->lines;
  ds->test_lines = ds->test_table.rows ? store->lines + ds->fit.rows : NULL;
  return 0;
}

/* data_build with the readers' findings, freed by the caller. */
static int data_build_found(const ddpc_config *cfg, ddpc_dataset *ds, ddpc_data_store *store,
                            ddpc_csv_found found[2]) {
  const ddpc_data_config *dc = &cfg->data;
  bool cls = dc->task == DDPC_TASK_CLASSIFICATION;
  bool test_separate = dc->format == DDPC_DATA_FORMAT_IDX ? data_has(dc->test.images) : data_has(dc->test.path);
  store->owns_tables = true;
  ddpc_shape shape, test_shape;
  if (data_read_source(dc, &dc->train, "train", &ds->fit, &shape, &found[0], false) != 0) return -1;
  if (dc->format == DDPC_DATA_FORMAT_CSV) {
    if (!(store->tabular = ddpc_calloc(1, sizeof *store->tabular, "tabular encoding"))) return -1;
    ds->tabular = store->tabular;
    if (ds->fit.labels && ddpc_tabular_fit_labels(store->tabular, &found[0], (int32_t *)ds->fit.labels,
                                                  ds->fit.rows) != 0)
      return -1;
  }
  if (test_separate) {
    if (data_read_source(dc, &dc->test, "test", &ds->test_table, &test_shape, &found[1],
                         found[0].labels_are_text) != 0)
      return -1;
    if (dc->format == DDPC_DATA_FORMAT_CSV && data_map_test_labels(dc, ds, store, &found[1]) != 0) return -1;
    const char *test_name = dc->format == DDPC_DATA_FORMAT_IDX ? dc->test.images : dc->test.path;
    const char *train_name = dc->format == DDPC_DATA_FORMAT_IDX ? dc->train.images : dc->train.path;
    if (test_shape.h != shape.h || test_shape.w != shape.w || test_shape.c != shape.c)
      return ddpc_error_set("%s: samples of shape (%d, %d, %d) do not match the training data %s (%d, %d, %d)",
                            test_name, test_shape.h, test_shape.w, test_shape.c, train_name, shape.h, shape.w,
                            shape.c);
  }
  if (cls && store->tabular && store->tabular->n_labels) {
    ds->num_classes = (int)store->tabular->n_labels;
    if (dc->num_classes > 0 && dc->num_classes != ds->num_classes)
      return ddpc_error_set("%s: %d class labels (texts: '%s' ... '%s'), but data.num_classes is %d", dc->train.path,
                            ds->num_classes, store->tabular->labels[0], store->tabular->labels[ds->num_classes - 1],
                            dc->num_classes);
  } else if (cls) {
    int32_t m = data_max_label(&ds->fit);
    if (test_separate && data_max_label(&ds->test_table) > m) m = data_max_label(&ds->test_table);
    ds->num_classes = dc->num_classes > 0 ? dc->num_classes : m + 1;
  } else {
    ds->target_width = ds->fit.target_width;
  }

  uint32_t n = ds->fit.rows, n_test = test_separate ? ds->test_table.rows : 0;
  store->rows = ddpc_malloc(((size_t)n + n_test) * sizeof *store->rows, "split rows");
  if (!store->rows) return -1;
  uint32_t counts[3];
  // Stratify needs classes; for regression it is ignored rather than failing a config
  // whose default turns it on.
  if (ddpc_split_rows(n, ds->fit.labels, ds->num_classes, dc->val_fraction, test_separate ? 0 : dc->test_fraction,
                      dc->stratify && cls, cfg->seed, store->rows, counts) != 0)
    return -1;
  ds->train = (ddpc_split){&ds->fit, store->rows, counts[0]};
  ds->val = (ddpc_split){&ds->fit, store->rows + counts[0], counts[1]};
  if (test_separate) {
    for (uint32_t i = 0; i < n_test; i++) store->rows[n + i] = i;
    ds->test = (ddpc_split){&ds->test_table, store->rows + n, n_test};
  } else {
    ds->test = (ddpc_split){&ds->fit, store->rows + counts[0] + counts[1], counts[2]};
  }

  if (store->tabular && data_encode(ds, store, found, &shape) != 0) return -1;
  uint32_t F = ds->fit.features;
  store->affine = ddpc_malloc(2 * (size_t)F * sizeof *store->affine, "scale and shift");
  if (!store->affine) return -1;
  ds->scale = store->affine;
  ds->shift = store->affine + F;
  if (ddpc_prep_run(dc, &ds->fit, &ds->train, &shape, store->affine, store->affine + F) != 0) return -1;
  ds->shape = shape;
  return store->tabular ? data_keep_lines(ds, store, found) : 0;
}

/* The uncached path: read, split, prepare. Fills ds and the store's owned memory. */
static int data_build(const ddpc_config *cfg, ddpc_dataset *ds, ddpc_data_store *store) {
  ddpc_csv_found found[2] = {{0}, {0}};
  int rc = data_build_found(cfg, ds, store, found);
  ddpc_csv_found_free(&found[0]);
  ddpc_csv_found_free(&found[1]);
  return rc;
}

/* Regression: each target's mean and standard deviation over the training split (the
 * population's, as scikit-learn's StandardScaler; 1 for a constant target), summed in row
 * order in double so every rank gets the same floats. They centre the R² sums, and with
 * data.target_standardize the loss sees (target - mean) / std. Not cached: one pass. */
static int data_fit_targets(const ddpc_data_config *dc, ddpc_dataset *ds, ddpc_data_store *store) {
  uint32_t W = ds->target_width;
  if (dc->task != DDPC_TASK_REGRESSION || W == 0) return 0;
  store->target_stats = ddpc_malloc(2 * (size_t)W * sizeof(float), "target statistics");
  if (!store->target_stats) return -1;
  const ddpc_split *sp = &ds->train;
  const float *y = sp->table->targets;
  for (uint32_t j = 0; j < W; j++) {
    double sum = 0.0, squares = 0.0;
    for (uint32_t i = 0; i < sp->count; i++) sum += y[(size_t)sp->rows[i] * W + j];
    double mean = sp->count ? sum / sp->count : 0.0;
    for (uint32_t i = 0; i < sp->count; i++) {
      double d = y[(size_t)sp->rows[i] * W + j] - mean;
      squares += d * d;
    }
    float std = sp->count ? (float)sqrt(squares / sp->count) : 1.0f;
    store->target_stats[j] = (float)mean;
    store->target_stats[W + j] = std > 0.0f && isfinite(std) ? std : 1.0f;
  }
  ds->target_mean = store->target_stats;
  ds->target_std = store->target_stats + W;
  ds->target_standardized = dc->target_standardize;
  return 0;
}

int ddpc_data_load(const ddpc_config *cfg, ddpc_dataset *ds) {
  double t0 = data_now();
  memset(ds, 0, sizeof *ds);
  ddpc_data_store *store = ddpc_calloc(1, sizeof *store, "dataset");
  if (!store) return -1;
  ds->internal = store;
  const ddpc_data_config *dc = &cfg->data;
  bool use_cache = dc->cache;
  char *path = NULL;
  uint64_t key = 0;
  if (data_check_files(dc) != 0) goto fail;
  if (use_cache && !data_has(dc->cache_dir)) {
    fprintf(stderr, "ddpc: warning: data.cache is on but data.cache_dir is empty; continuing without the cache\n");
    use_cache = false;
  }
  if (use_cache) {
    if (ddpc_cache_key(cfg, &key) != 0) goto fail;
    path = ddpc_format("%s/%016llx.ddpcdata", dc->cache_dir, (unsigned long long)key);
    if (!path) goto fail;
    if (ddpc_cache_open(path, key, ds, store) == 1) {
      ds->cache_hit = true;
      ds->cache_path = path;
      path = NULL;
      if (data_fit_targets(dc, ds, store) != 0) goto fail;
      ds->load_seconds = data_now() - t0;
      return 0;
    }
  }
  if (data_build(cfg, ds, store) != 0 || data_fit_targets(dc, ds, store) != 0) goto fail;
  if (use_cache && ddpc_cache_write(dc->cache_dir, path, key, ds) == 0) {
    ds->cache_path = path;
    path = NULL;
  }
  free(path);
  ds->load_seconds = data_now() - t0;
  return 0;
fail:
  free(path);
  ddpc_data_free(ds);
  return -1;
}

void ddpc_data_free(ddpc_dataset *ds) {
  if (!ds) return;
  ddpc_data_store *store = ds->internal;
  if (store) {
    if (store->map) munmap(store->map, store->map_size);
    if (store->owns_tables) {
      ddpc_table_free(&ds->fit);
      ddpc_table_free(&ds->test_table);
    }
    free(store->rows);
    free(store->affine);
    free(store->target_stats);
    ddpc_tabular_free(store->tabular);
    free(store->tabular);
    free(store->lines);
    free(store->notes);
    free(store);
  }
  free(ds->cache_path);
  memset(ds, 0, sizeof *ds);
}

/* One sample: dst[f] = stored[f] * scale[f] + shift[f]. Every path (cached, uncached,
 * any caller) goes through these two loops, so batches are bitwise identical. */
static void data_row_u8(const uint8_t *restrict src, const float *restrict scale, const float *restrict shift,
                        float *restrict dst, uint32_t F) {
  for (uint32_t f = 0; f < F; f++) dst[f] = (float)src[f] * scale[f] + shift[f];
}

static void data_row_f32(const float *restrict src, const float *restrict scale, const float *restrict shift,
                         float *restrict dst, uint32_t F) {
  for (uint32_t f = 0; f < F; f++) dst[f] = src[f] * scale[f] + shift[f];
}

void ddpc_data_prefetch(const ddpc_split *split, const uint32_t *pos, int n) {
  const ddpc_table *t = split->table;
  size_t bytes = (size_t)t->features * (t->dtype == DDPC_DTYPE_U8 ? 1 : sizeof(float));
  for (int i = 0; i < n; i++) {
    const char *row = (const char *)t->x + split->rows[pos[i]] * bytes;
    // Every line the row touches, its last partial one included.
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b);
    if (bytes) __builtin_prefetch(row + bytes - 1);
  }
}

void ddpc_data_gather(const ddpc_dataset *ds, const ddpc_split *split, const uint32_t *pos, int n, float *x,
                      int32_t *labels, float *targets) {
  const ddpc_table *t = split->table;
  uint32_t F = t->features, W = t->target_width;
  for (int i = 0; i < n; i++) {
    size_t row = split->rows[pos[i]];
    if (x) {
      float *dst = x + (size_t)i * F;
      if (t->dtype == DDPC_DTYPE_U8)
        data_row_u8((const uint8_t *)t->x + row * F, ds->scale, ds->shift, dst, F);
      else
        data_row_f32((const float *)t->x + row * F, ds->scale, ds->shift, dst, F);
    }
    if (labels && t->labels) labels[i] = t->labels[row];
    if (targets && t->targets) {
      float *dst = targets + (size_t)i * W;
      memcpy(dst, t->targets + row * W, W * sizeof *targets);
      for (uint32_t j = 0; ds->target_standardized && j < W; j++)
        dst[j] = (dst[j] - ds->target_mean[j]) / ds->target_std[j];
    }
  }
}
