/* Tests of the prepared-data cache and its hash: a first load misses and writes the file,
 * the second maps it (pointers into the mapping) and gathers bitwise-identical batches,
 * changed input bytes or settings miss, corrupt files are rebuilt with a warning (also a
 * single flipped bit anywhere in the data), an unwritable cache directory only warns.
 * Times a miss and a hit on Fashion-MNIST. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/hash.h"
#include "data_fixtures.h"

static void test_hash(void) {
  // Reference values of XXH64 (seed 0) from the xxHash project.
  CHECK(ddpc_hash_bytes("", 0, 0) == 0xEF46DB3751D8E999ull, "xxh64('')");
  CHECK(ddpc_hash_bytes("a", 1, 0) == 0xD24EC4F1A98C6E5Bull, "xxh64('a')");
  CHECK(ddpc_hash_bytes("abc", 3, 0) == 0x44BC2CF5AD770999ull, "xxh64('abc')");
  const char *s = "Nobody inspects the spammish repetition";
  CHECK(ddpc_hash_bytes(s, strlen(s), 0) == 0xFBCEA83C8A378BF1ull, "xxh64(spammish)");
  // Streaming in uneven pieces equals the one-shot hash.
  unsigned char buf[1000];
  for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 37 + 11);
  ddpc_hash h;
  ddpc_hash_init(&h, 5);
  size_t at = 0, step = 1;
  while (at < sizeof buf) {
    size_t take = step < sizeof buf - at ? step : sizeof buf - at;
    ddpc_hash_update(&h, buf + at, take);
    at += take;
    step = step * 3 % 41 + 1;
  }
  CHECK(ddpc_hash_final(&h) == ddpc_hash_bytes(buf, sizeof buf, 5), "streaming = one shot");
  CHECK(ddpc_hash_bytes(buf, sizeof buf, 5) != ddpc_hash_bytes(buf, sizeof buf, 6), "seed matters");
}

/* Gathers every sample of a split (in position order) into freshly allocated arrays. */
static void gather_all(const ddpc_dataset *ds, const ddpc_split *sp, float **x, int32_t **y, float **t) {
  uint32_t n = sp->count, F = sp->table->features;
  uint32_t *pos = malloc((n + 1) * sizeof *pos);
  for (uint32_t i = 0; i < n; i++) pos[i] = n - 1 - i;  // reversed: order must not matter
  *x = malloc(((size_t)n * F + 1) * sizeof **x);
  *y = malloc((n + 1) * sizeof **y);
  *t = malloc((n + 1) * sizeof **t);
  memset(*y, 0, (n + 1) * sizeof **y);
  memset(*t, 0, (n + 1) * sizeof **t);
  ddpc_data_gather(ds, sp, pos, (int)n, *x, *y, *t);
  free(pos);
}

/* Checks that b (a cache hit) holds exactly what a (a miss) holds. */
static void check_same(const ddpc_dataset *a, const ddpc_dataset *b, const char *what) {
  CHECK(a->num_classes == b->num_classes && a->target_width == b->target_width, "%s: classes", what);
  CHECK(a->shape.h == b->shape.h && a->shape.w == b->shape.w && a->shape.c == b->shape.c, "%s: shape", what);
  CHECK(a->fit.dtype == b->fit.dtype && a->fit.rows == b->fit.rows, "%s: fit table", what);
  uint32_t F = a->fit.features;
  CHECK(memcmp(a->scale, b->scale, F * 4) == 0 && memcmp(a->shift, b->shift, F * 4) == 0, "%s: scale/shift", what);
  const ddpc_split *sa[3] = {&a->train, &a->val, &a->test}, *sb[3] = {&b->train, &b->val, &b->test};
  for (int s = 0; s < 3; s++) {
    CHECK(sa[s]->count == sb[s]->count, "%s: split %d count", what, s);
    if (sa[s]->count != sb[s]->count) continue;
    CHECK(memcmp(sa[s]->rows, sb[s]->rows, sa[s]->count * 4) == 0, "%s: split %d rows", what, s);
    float *xa, *xb, *ta, *tb;
    int32_t *ya, *yb;
    gather_all(a, sa[s], &xa, &ya, &ta);
    gather_all(b, sb[s], &xb, &yb, &tb);
    size_t n = sa[s]->count;
    CHECK(memcmp(xa, xb, n * F * sizeof *xa) == 0, "%s: split %d gathered x bitwise equal", what, s);
    CHECK(memcmp(ya, yb, n * sizeof *ya) == 0 && memcmp(ta, tb, n * sizeof *ta) == 0,
          "%s: split %d labels/targets equal", what, s);
    free(xa), free(xb), free(ya), free(yb), free(ta), free(tb);
  }
}

static int count_files(const char *dir, const char *part) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) n += strstr(e->d_name, part) != NULL;
  if (d) closedir(d);
  return n;
}

static void copy_file(const char *from, const char *to) {
  FILE *f = fopen(from, "rb");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n);
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  fixture_write(to, buf, got, 0);
  free(buf);
}

/* Loads expecting a warning on stderr containing `warning` and a rebuilt (miss) dataset. */
static void expect_rebuild(const ddpc_config *cfg, const ddpc_dataset *ref, const char *warning) {
  ddpc_dataset ds;
  fixture_capture_begin();
  int rc = ddpc_data_load(cfg, &ds);
  char *err = fixture_capture_end();
  CHECK(rc == 0 && !ds.cache_hit, "corrupt cache (%s) is rebuilt: %s", warning, ddpc_error_message());
  char *want = ddpc_format("ddpc: warning: data cache %s: ignored and rebuilt: %s\n", ref->cache_path, warning);
  CHECK(strcmp(err, want) == 0, "one warning line '%s', got '%s'", want, err);
  free(want);
  free(err);
  if (rc == 0) ddpc_data_free(&ds);
  rc = ddpc_data_load(cfg, &ds);
  CHECK(rc == 0 && ds.cache_hit, "after the rebuild the cache hits again");
  if (rc == 0) check_same(ref, &ds, "rebuilt");
  if (rc == 0) ddpc_data_free(&ds);
}

/* Flips bit `bit` of byte `at` of path. */
static void flip_bit(const char *path, long at, int bit) {
  FILE *f = fopen(path, "r+b");
  CHECK(f != NULL, "open %s", path);
  if (!f) return;
  fseek(f, at, SEEK_SET);
  int c = fgetc(f);
  fseek(f, at, SEEK_SET);
  fputc(c ^ (1 << bit), f);
  fclose(f);
}

/* One flipped bit inside a section's data is refused with the section named, and the
 * rebuilt data equals the original; a flip anywhere else in the file never gives data
 * that differs from the original (a hit is allowed only where nothing is read: padding). */
static void test_flipped_bits(const ddpc_config *cfg, const ddpc_dataset *ref) {
  ddpc_dataset hit;
  if (ddpc_data_load(cfg, &hit) != 0 || !hit.cache_hit) {
    CHECK(0, "flipped bits: the cache should hit first: %s", ddpc_error_message());
    return;
  }
  // Section offsets, from where a hit points into the mapping.
  const char *base = ((const ddpc_data_store *)hit.internal)->map;
  struct {
    const void *at;    // start of the section in the mapping
    size_t inside;     // byte within the section to damage
    const char *name;  // as the warning names it
  } sections[] = {
      {hit.fit.x, 17, "training-file samples"},  {hit.fit.labels, 4 * 39 + 3, "training-file labels"},
      {hit.test_table.x, 0, "test-file samples"}, {hit.test_table.labels, 4 * 11, "test-file labels"},
      {hit.train.rows, 1, "training split rows"}, {hit.val.rows, 0, "validation split rows"},
      {hit.test.rows, 2, "test split rows"},      {hit.scale, 4 * 19 + 1, "preprocessing scales"},
      {hit.shift, 6, "preprocessing shifts"},
  };
  long offsets[sizeof sections / sizeof *sections];
  for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
    offsets[i] = (long)((const char *)sections[i].at - base) + (long)sections[i].inside;
  size_t file_size = ((const ddpc_data_store *)hit.internal)->map_size;
  ddpc_data_free(&hit);
  for (size_t i = 0; i < sizeof sections / sizeof *sections; i++) {
    for (int bit = 0; bit < 8; bit += 7) {
      flip_bit(ref->cache_path, offsets[i], bit);
      char *warning = ddpc_format("its %s are damaged (CRC32 mismatch)", sections[i].name);
      expect_rebuild(cfg, ref, warning);
      free(warning);
    }
  }
  // Every 37th byte of the file, header and padding included: a hit must hold the original.
  int refused = 0, hits = 0;
  for (size_t at = 0; at < file_size; at += 37) {
    flip_bit(ref->cache_path, (long)at, (int)(at % 8));
    ddpc_dataset ds;
    fixture_capture_begin();
    int rc = ddpc_data_load(cfg, &ds);
    char *err = fixture_capture_end();
    CHECK(rc == 0, "byte %zu flipped: the load still works: %s", at, ddpc_error_message());
    if (rc != 0) {
      free(err);
      continue;
    }
    if (ds.cache_hit) {
      hits++;
      CHECK(err[0] == '\0', "byte %zu flipped: a hit says nothing, got '%s'", at, err);
      check_same(ref, &ds, "a hit after a flipped bit in padding");
      ddpc_data_free(&ds);
      flip_bit(ref->cache_path, (long)at, (int)(at % 8));  // undo it, for the next byte
    } else {
      refused++;
      CHECK(strstr(err, "ignored and rebuilt") != NULL && strchr(err, '\n') == strchr(err, '\0') - 1,
            "byte %zu flipped: one warning line, got '%s'", at, err);
      check_same(ref, &ds, "rebuilt after a flipped bit");
      ddpc_data_free(&ds);
    }
    free(err);
  }
  CHECK(refused > 0 && refused > hits, "flips refused %d times, in padding %d times", refused, hits);
}

static void test_idx_cache(void) {
  char *images = fixture_path("tr-img.gz"), *labels = fixture_path("tr-lab.gz");
  char *timages = fixture_path("te-img"), *tlabels = fixture_path("te-lab");
  char *dir = fixture_path("cache/nested/dir");  // created with mkdir -p
  unsigned char lab[40], tlab[12];
  for (int i = 0; i < 40; i++) lab[i] = (unsigned char)(i * 7 % 10);
  for (int i = 0; i < 12; i++) tlab[i] = (unsigned char)(i % 10);
  fixture_idx_images(images, 1, 40, 4, 5, 0);
  fixture_idx_labels(labels, 1, 40, lab);
  fixture_idx_images(timages, 0, 12, 4, 5, 0);
  fixture_idx_labels(tlabels, 0, 12, tlab);
  ddpc_config cfg;
  fixture_config_idx(&cfg, images, labels);
  cfg.data.test.images = timages;
  cfg.data.test.labels = tlabels;
  cfg.data.stratify = true;
  cfg.data.cache = true;
  cfg.data.cache_dir = dir;
  cfg.data.n_prep = 3;
  cfg.data.prep[0] = (ddpc_prep_step){.kind = DDPC_PREP_SCALE, .multiply = 1.0f / 255.0f};
  cfg.data.prep[1] = (ddpc_prep_step){.kind = DDPC_PREP_STANDARDIZE, .standardize = DDPC_STANDARDIZE_PER_FEATURE};
  cfg.data.prep[2] = (ddpc_prep_step){.kind = DDPC_PREP_FLATTEN};

  ddpc_dataset miss, hit;
  int rc = ddpc_data_load(&cfg, &miss);
  CHECK(rc == 0, "first load: %s", ddpc_error_message());
  if (rc != 0) return;
  CHECK(!miss.cache_hit && miss.cache_path != NULL, "first load is a miss that writes the cache");
  CHECK(miss.load_seconds > 0, "load_seconds set");
  struct stat st;
  CHECK(miss.cache_path && stat(miss.cache_path, &st) == 0 && (st.st_mode & 0777) == 0644 && st.st_size % 64 == 0,
        "cache file written with mode 0644");
  CHECK(miss.cache_path && strlen(miss.cache_path) == strlen(dir) + 1 + 16 + 9 &&
            strstr(miss.cache_path, ".ddpcdata") != NULL,
        "cache name <dir>/<16 hex>.ddpcdata: %s", miss.cache_path ? miss.cache_path : "(null)");
  CHECK(count_files(dir, ".tmp.") == 0, "no temporary file left behind");

  rc = ddpc_data_load(&cfg, &hit);
  CHECK(rc == 0 && hit.cache_hit, "second load is a hit: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(hit.cache_path && strcmp(hit.cache_path, miss.cache_path) == 0, "same cache path");
    const ddpc_data_store *store = hit.internal;
    const char *lo = store->map, *hi = lo + store->map_size;
    CHECK(store->map && (const char *)hit.fit.x >= lo && (const char *)hit.fit.x < hi &&
              (const char *)hit.train.rows >= lo && (const char *)hit.scale >= lo && (const char *)hit.test_table.x < hi,
          "a hit points into the mapping, no copy");
    CHECK(hit.fit.dtype == DDPC_DTYPE_U8, "cached x stays uint8");
    CHECK(((uintptr_t)hit.fit.x - (uintptr_t)lo) % 64 == 0 && ((uintptr_t)hit.scale - (uintptr_t)lo) % 64 == 0,
          "sections at 64-byte aligned offsets");
    CHECK(hit.test.table == &hit.test_table && hit.test.count == 12, "test split from the test file");
    check_same(&miss, &hit, "hit");
    ddpc_data_free(&hit);
  }

  test_flipped_bits(&cfg, &miss);

  // Corrupt caches: truncated, bad magic, a file of another key under this name.
  char *path = ddpc_strdup(miss.cache_path);
  CHECK(truncate(path, st.st_size - 64) == 0, "truncate");
  expect_rebuild(&cfg, &miss, "length does not match the header (truncated?)");
  FILE *f = fopen(path, "r+b");
  fputs("XXXX", f);
  fclose(f);
  expect_rebuild(&cfg, &miss, "bad magic");

  // Changed file contents (one label) => another key, a miss.
  lab[5] = (unsigned char)((lab[5] + 1) % 10);
  fixture_idx_labels(labels, 1, 40, lab);
  rc = ddpc_data_load(&cfg, &hit);
  CHECK(rc == 0 && !hit.cache_hit && hit.cache_path && strcmp(hit.cache_path, path) != 0,
        "changed input bytes miss under a new key");
  if (rc == 0) {
    char *other = ddpc_strdup(hit.cache_path);
    ddpc_data_free(&hit);
    ddpc_dataset now;  // reference content: the same config, uncached
    cfg.data.cache = false;
    rc = ddpc_data_load(&cfg, &now);
    cfg.data.cache = true;
    if (rc == 0) {
      copy_file(path, other);  // the old key's file under the new key's name
      now.cache_path = ddpc_strdup(other);
      expect_rebuild(&cfg, &now, "key mismatch");
      ddpc_data_free(&now);
    }
    free(other);
  }

  // A changed setting is another key too.
  cfg.seed = 43;
  rc = ddpc_data_load(&cfg, &hit);
  CHECK(rc == 0 && !hit.cache_hit, "changed seed misses");
  if (rc == 0) ddpc_data_free(&hit);
  cfg.seed = 42;

  // An unwritable cache directory: a warning, then the load goes on without the cache.
  char *file = fixture_path("plain-file");
  fixture_text(file, "x");
  char *bad_dir = ddpc_format("%s/sub", file);
  cfg.data.cache_dir = bad_dir;
  fixture_capture_begin();
  rc = ddpc_data_load(&cfg, &hit);
  char *err = fixture_capture_end();
  CHECK(rc == 0 && !hit.cache_hit && hit.cache_path == NULL, "unwritable cache dir: uncached load");
  char *want = ddpc_format("ddpc: warning: data cache %s: cannot write the cache directory, continuing without the "
                           "cache: Not a directory\n",
                           bad_dir);
  CHECK(strcmp(err, want) == 0, "warning '%s', got '%s'", want, err);
  free(want);
  free(err);
  if (rc == 0) ddpc_data_free(&hit);

  // A missing input file is an error, also when caching.
  cfg.data.cache_dir = dir;
  cfg.data.train.images = fixture_path("gone.gz");
  CHECK(ddpc_data_load(&cfg, &hit) != 0, "missing input fails");
  want = ddpc_format("data.train.images: cannot open '%s': No such file or directory", cfg.data.train.images);
  CHECK_ERROR_HAS(want);
  free(want);
  free(cfg.data.train.images);
  free(bad_dir), free(file), free(path);
  ddpc_data_free(&miss);
  free(images), free(labels), free(timages), free(tlabels), free(dir);
}

static void test_csv_cache(void) {
  char *p = fixture_path("reg.csv"), *dir = fixture_path("csv-cache");
  fixture_text(p, "a,b,target,c\n1,2,0.5,3\n4,5,1.5,6\n7,8,-2,9\n10,11,3.25,12\n13,14,0,15\n");
  ddpc_config cfg;
  fixture_config_csv(&cfg, p, "target", DDPC_TASK_REGRESSION);
  cfg.data.test_fraction = 0.2;
  cfg.data.val_fraction = 0.2;
  cfg.data.cache = true;
  cfg.data.cache_dir = dir;
  cfg.data.n_prep = 1;
  cfg.data.prep[0] = (ddpc_prep_step){.kind = DDPC_PREP_STANDARDIZE, .standardize = DDPC_STANDARDIZE_GLOBAL};
  ddpc_dataset miss, hit;
  int rc = ddpc_data_load(&cfg, &miss);
  CHECK(rc == 0 && !miss.cache_hit, "csv miss: %s", ddpc_error_message());
  if (rc != 0) return;
  rc = ddpc_data_load(&cfg, &hit);
  CHECK(rc == 0 && hit.cache_hit && hit.target_width == 1 && hit.fit.dtype == DDPC_DTYPE_F32, "csv hit");
  if (rc == 0) {
    check_same(&miss, &hit, "csv");
    ddpc_data_free(&hit);
  }
  ddpc_data_free(&miss);
  free(p), free(dir);
}

static double time_load(ddpc_config *cfg, ddpc_dataset *ds, bool *hit) {
  if (ddpc_data_load(cfg, ds) != 0) return -1;
  *hit = ds->cache_hit;
  return ds->load_seconds;
}

static void test_fashion_mnist(void) {
  char images[] = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
  char labels[] = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
  if (access(images, R_OK) != 0 || access(labels, R_OK) != 0) {
    testing_skip("Fashion-MNIST is not installed: the cache timing on real data");
    return;
  }
  char *dir = fixture_path("fmnist-cache");
  ddpc_config cfg;
  fixture_config_idx(&cfg, images, labels);
  cfg.data.val_fraction = 0.1;
  cfg.data.cache = true;
  cfg.data.cache_dir = dir;
  cfg.data.n_prep = 2;
  cfg.data.prep[0] = (ddpc_prep_step){.kind = DDPC_PREP_SCALE, .multiply = 1.0f / 255.0f};
  cfg.data.prep[1] = (ddpc_prep_step){.kind = DDPC_PREP_STANDARDIZE, .standardize = DDPC_STANDARDIZE_GLOBAL};
  ddpc_dataset miss, hit;
  bool h1 = true, h2 = false;
  double t_miss = time_load(&cfg, &miss, &h1);
  double t_hit = time_load(&cfg, &hit, &h2);
  CHECK(t_miss >= 0 && t_hit >= 0 && !h1 && h2, "Fashion-MNIST miss then hit: %s", ddpc_error_message());
  if (t_miss >= 0 && t_hit >= 0) {
    printf("Fashion-MNIST train (60000 x 784): miss %.3f s, hit %.4f s (%.0fx)\n", t_miss, t_hit, t_miss / t_hit);
    CHECK(miss.train.count == 54000 && miss.val.count == 6000 && miss.num_classes == 10, "60000 split 54000/6000");
    uint32_t pos[64];
    for (int i = 0; i < 64; i++) pos[i] = (uint32_t)(i * 811);
    float *xa = malloc(64 * 784 * sizeof *xa), *xb = malloc(64 * 784 * sizeof *xb);
    int32_t ya[64], yb[64];
    ddpc_data_gather(&miss, &miss.train, pos, 64, xa, ya, NULL);
    ddpc_data_gather(&hit, &hit.train, pos, 64, xb, yb, NULL);
    CHECK(memcmp(xa, xb, 64 * 784 * sizeof *xa) == 0 && memcmp(ya, yb, sizeof ya) == 0,
          "Fashion-MNIST batch bitwise equal from cache");
    // Gather speed: the per-step cost of assembling a 64 x 784 batch.
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int rep = 0; rep < 2000; rep++) ddpc_data_gather(&hit, &hit.train, pos, 64, xa, ya, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("gather 64 x 784: %.2f us per batch\n",
           ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 2000 / 1e3);
    free(xa), free(xb);
  }
  if (t_miss >= 0) ddpc_data_free(&miss);
  if (t_hit >= 0) ddpc_data_free(&hit);
  free(dir);
}

int main(void) {
  test_hash();
  test_idx_cache();
  test_csv_cache();
  test_fashion_mnist();
  return testing_finish();
}
