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

/* Reads one source (train or test) into t; shape gets the per-sample shape. */
static int data_read_source(const ddpc_data_config *dc, const ddpc_data_source *src, const char *which,
                            ddpc_table *t, ddpc_shape *shape) {
  bool cls = dc->task == DDPC_TASK_CLASSIFICATION;
  if (dc->format == DDPC_DATA_FORMAT_CSV) {
    if (!data_has(src->path)) return ddpc_error_set("data.%s.path is not set: the CSV file is required", which);
    if (ddpc_csv_read_checked(src->path, dc->label_column, dc->task, cls ? dc->num_classes : 0, t) != 0) return -1;
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
  int line = 0, column = 0;
  if (ddpc_csv_locate_row(src->path, dc->label_column, row, &line, &column) != 0) {
    ddpc_error_clear();  // only a detail of another message is lost
    return ddpc_format("%s: data row %u: label %d", src->path, row + 1, max);
  }
  return ddpc_format("%s:%d:%d: label %d", src->path, line, column, max);
}

/* The uncached path: read, split, prepare. Fills ds and the store's owned memory. */
static int data_build(const ddpc_config *cfg, ddpc_dataset *ds, ddpc_data_store *store) {
  const ddpc_data_config *dc = &cfg->data;
  bool cls = dc->task == DDPC_TASK_CLASSIFICATION;
  bool test_separate = dc->format == DDPC_DATA_FORMAT_IDX ? data_has(dc->test.images) : data_has(dc->test.path);
  store->owns_tables = true;
  ddpc_shape shape, test_shape;
  if (data_read_source(dc, &dc->train, "train", &ds->fit, &shape) != 0) return -1;
  if (test_separate) {
    if (data_read_source(dc, &dc->test, "test", &ds->test_table, &test_shape) != 0) return -1;
    const char *test_name = dc->format == DDPC_DATA_FORMAT_IDX ? dc->test.images : dc->test.path;
    const char *train_name = dc->format == DDPC_DATA_FORMAT_IDX ? dc->train.images : dc->train.path;
    if (test_shape.h != shape.h || test_shape.w != shape.w || test_shape.c != shape.c)
      return ddpc_error_set("%s: samples of shape (%d, %d, %d) do not match the training data %s (%d, %d, %d)",
                            test_name, test_shape.h, test_shape.w, test_shape.c, train_name, shape.h, shape.w,
                            shape.c);
  }
  if (cls) {
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

  uint32_t F = ds->fit.features;
  store->affine = ddpc_malloc(2 * (size_t)F * sizeof *store->affine, "scale and shift");
  if (!store->affine) return -1;
  ds->scale = store->affine;
  ds->shift = store->affine + F;
  if (ddpc_prep_run(dc, &ds->fit, &ds->train, &shape, store->affine, store->affine + F) != 0) return -1;
  ds->shape = shape;
  return 0;
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
