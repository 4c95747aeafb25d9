/* The prepared-data cache: one file per (input bytes, data settings), named by the 64-bit
 * key, holding the stored tables, the split row indices and the affine preparation. A hit
 * maps the file read-only and points the dataset into the mapping, so nothing is parsed,
 * decompressed or copied, and ranks on one node share the page-cache pages.
 *
 * Layout (native byte order; a machine of the other order sees a bad version and rebuilds):
 *   cache_header at offset 0, then each section at a 64-byte aligned offset, zero padded.
 * A file is trusted only after its magic, version, key, length, header hash and every
 * section size check out, the CRC32 of its sections matches, and its row indices and
 * labels are in range: a bad cache is rebuilt with a warning, never a crash or a silently
 * different run. The atomic write keeps a file from being torn, but not from a flipped bit
 * on disk or in a copy, hence the CRC on every hit: zlib checks a few GB/s, so the 56 MB of
 * Fashion-MNIST cost about 20 ms, and training reads every page of it anyway. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/data_internal.h"
#include "core/data_tabular.h"
#include "core/error.h"
#include "core/hash.h"

#define CACHE_MAGIC "DDPCDAT1"
#define CACHE_VERSION 3u  // 2: payload CRC32 in the header; 3: a CSV's encoding and row lines
#define CACHE_ALIGN 64u

enum {
  CACHE_FIT_X,
  CACHE_FIT_LABELS,
  CACHE_FIT_TARGETS,
  CACHE_TEST_X,
  CACHE_TEST_LABELS,
  CACHE_TEST_TARGETS,
  CACHE_ROWS_TRAIN,
  CACHE_ROWS_VAL,
  CACHE_ROWS_TEST,
  CACHE_SCALE,
  CACHE_SHIFT,
  CACHE_LINES,    // CSV: each fit row's line, then each test-table row's
  CACHE_TABULAR,  // CSV: the fitted encoding (ddpc_tabular_write), then the notes, NUL-terminated
  CACHE_SECTIONS
};

typedef struct {
  char magic[8];             // "DDPCDAT1"
  uint64_t version;          // CACHE_VERSION
  uint64_t key;              // ddpc_cache_key() of the inputs and settings
  uint64_t file_size;        // bytes of the whole file
  uint64_t header_hash;      // hash of this header with header_hash = 0
  uint64_t dtype;            // ddpc_dtype of x (both tables)
  uint64_t features;         // values per sample
  uint64_t fit_rows;         // rows of the training-file table
  uint64_t test_rows;        // rows of the test-file table (0 when carved from fit)
  uint64_t test_separate;    // 1: the test split indexes the test table, 0: the fit table
  uint64_t num_classes;      // classification classes, 0 for regression
  uint64_t target_width;     // regression outputs per sample
  uint64_t shape[3];         // per-sample h, w, c after preprocessing
  uint64_t counts[3];        // train, val, test split sizes
  uint64_t tabular_bytes;    // CSV: bytes of the encoding and notes; 0 for IDX
  uint64_t section[CACHE_SECTIONS][3];  // offset, bytes and CRC32 of each section
} cache_header;

/* What each section holds, for the warning that names a damaged one. */
static const char *const cache_section_names[CACHE_SECTIONS] = {
    "training-file samples", "training-file labels", "training-file targets", "test-file samples",
    "test-file labels",      "test-file targets",    "training split rows",   "validation split rows",
    "test split rows",       "preprocessing scales", "preprocessing shifts", "row line numbers",
    "column encoding"};

static void cache_warn(const char *path, const char *what, const char *detail) {
  fprintf(stderr, "ddpc: warning: data cache %s: %s%s%s\n", path, what, detail ? ": " : "", detail ? detail : "");
}

static size_t cache_elem(uint64_t dtype) { return dtype == DDPC_DTYPE_U8 ? 1 : 4; }

/* Expected bytes of every section from the header's metadata. */
static void cache_section_sizes(const cache_header *h, uint64_t size[CACHE_SECTIONS]) {
  bool cls = h->num_classes > 0;
  size[CACHE_FIT_X] = h->fit_rows * h->features * cache_elem(h->dtype);
  size[CACHE_FIT_LABELS] = cls ? h->fit_rows * 4 : 0;
  size[CACHE_FIT_TARGETS] = cls ? 0 : h->fit_rows * h->target_width * 4;
  size[CACHE_TEST_X] = h->test_rows * h->features * cache_elem(h->dtype);
  size[CACHE_TEST_LABELS] = cls ? h->test_rows * 4 : 0;
  size[CACHE_TEST_TARGETS] = cls ? 0 : h->test_rows * h->target_width * 4;
  for (int s = 0; s < 3; s++) size[CACHE_ROWS_TRAIN + s] = h->counts[s] * 4;
  size[CACHE_SCALE] = size[CACHE_SHIFT] = h->features * 4;
  size[CACHE_LINES] = h->tabular_bytes ? (h->fit_rows + h->test_rows) * 4 : 0;
  size[CACHE_TABULAR] = h->tabular_bytes;
}

static uint64_t cache_header_hash(const cache_header *h) {
  cache_header copy = *h;
  copy.header_hash = 0;
  return ddpc_hash_bytes(&copy, sizeof copy, 0x64617461u);
}

static bool cache_rows_ok(const uint32_t *rows, uint64_t count, uint64_t limit) {
  for (uint64_t i = 0; i < count; i++)
    if (rows[i] >= limit) return false;
  return true;
}

static bool cache_labels_ok(const int32_t *labels, uint64_t count, uint64_t num_classes) {
  for (uint64_t i = 0; i < count; i++)
    if (labels[i] < 0 || (uint64_t)labels[i] >= num_classes) return false;
  return true;
}

/* Metadata that cannot describe a valid dataset of `length` bytes; checked before any
 * size is multiplied out so a crafted header cannot overflow the arithmetic. */
static bool cache_header_sane(const cache_header *h, uint64_t length) {
  if (h->dtype != DDPC_DTYPE_U8 && h->dtype != DDPC_DTYPE_F32) return false;
  if (h->features == 0 || h->features > INT32_MAX || h->fit_rows == 0 || h->fit_rows > UINT32_MAX) return false;
  if (h->test_rows > UINT32_MAX || h->features > length / h->fit_rows) return false;
  if (h->tabular_bytes > length) return false;
  if (h->test_rows && h->features > length / h->test_rows) return false;
  if (h->num_classes > INT32_MAX || h->target_width > 1024 || (h->num_classes == 0) == (h->target_width == 0))
    return false;
  for (int d = 0; d < 3; d++)
    if (h->shape[d] == 0 || h->shape[d] > h->features) return false;
  if (h->shape[0] * h->shape[1] > h->features || h->shape[0] * h->shape[1] * h->shape[2] != h->features) return false;
  for (int s = 0; s < 3; s++)
    if (h->counts[s] > UINT32_MAX) return false;
  if (h->counts[0] == 0 || h->counts[0] + h->counts[1] + (h->test_separate ? 0 : h->counts[2]) > h->fit_rows)
    return false;
  if (h->test_separate > 1 || (h->test_separate && h->counts[2] != h->test_rows) ||
      (!h->test_separate && h->test_rows != 0))
    return false;
  return true;
}

/* CRC32 of `bytes` at p; zlib's length argument is narrower than a section may be, hence
 * the pieces. Padding between sections is left out: no byte of it is ever read as data. */
static uint64_t cache_crc(const void *p, uint64_t bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const Bytef *at = p;
  while (bytes > 0) {
    uInt n = bytes > (1u << 30) ? (1u << 30) : (uInt)bytes;
    crc = crc32(crc, at, n);
    at += n;
    bytes -= n;
  }
  return crc;
}

/* Why the mapped file cannot be used, or NULL when it can; a section whose CRC32 does not
 * match is named in *damaged. */
static const char *cache_check(const unsigned char *base, uint64_t length, uint64_t key, const char **damaged) {
  if (length < sizeof(cache_header)) return "shorter than its header";
  cache_header h;
  memcpy(&h, base, sizeof h);
  if (memcmp(h.magic, CACHE_MAGIC, 8) != 0) return "bad magic";
  if (h.version != CACHE_VERSION) return "unsupported version";
  if (h.file_size != length) return "length does not match the header (truncated?)";
  if (h.header_hash != cache_header_hash(&h)) return "header checksum mismatch";
  if (h.key != key) return "key mismatch";
  if (!cache_header_sane(&h, length)) return "inconsistent header";
  uint64_t size[CACHE_SECTIONS];
  cache_section_sizes(&h, size);
  for (int s = 0; s < CACHE_SECTIONS; s++) {
    uint64_t off = h.section[s][0], n = h.section[s][1];
    if (n != size[s] || off % CACHE_ALIGN != 0 || off < sizeof h || off > length || n > length - off)
      return "section sizes do not match the file";
  }
  for (int s = 0; s < CACHE_SECTIONS; s++)
    if (cache_crc(base + h.section[s][0], h.section[s][1]) != h.section[s][2]) {
      *damaged = cache_section_names[s];
      return "damaged";
    }
  const uint32_t *rows = (const uint32_t *)(base + h.section[CACHE_ROWS_TRAIN][0]);
  if (!cache_rows_ok(rows, h.counts[0], h.fit_rows) ||
      !cache_rows_ok((const uint32_t *)(base + h.section[CACHE_ROWS_VAL][0]), h.counts[1], h.fit_rows) ||
      !cache_rows_ok((const uint32_t *)(base + h.section[CACHE_ROWS_TEST][0]), h.counts[2],
                     h.test_separate ? h.test_rows : h.fit_rows))
    return "row index out of range";
  if (h.num_classes > 0 &&
      (!cache_labels_ok((const int32_t *)(base + h.section[CACHE_FIT_LABELS][0]), h.fit_rows, h.num_classes) ||
       !cache_labels_ok((const int32_t *)(base + h.section[CACHE_TEST_LABELS][0]), h.test_rows, h.num_classes)))
    return "label out of range";
  return NULL;
}

static const void *cache_at(const unsigned char *base, const cache_header *h, int s) {
  return h->section[s][1] ? base + h->section[s][0] : NULL;
}

static void cache_point_table(ddpc_table *t, const unsigned char *base, const cache_header *h, uint64_t rows,
                              int x, int labels, int targets) {
  t->rows = (uint32_t)rows;
  t->features = rows ? (uint32_t)h->features : 0;
  t->dtype = (ddpc_dtype)h->dtype;
  t->x = cache_at(base, h, x);
  t->labels = cache_at(base, h, labels);
  t->targets = cache_at(base, h, targets);
  t->target_width = h->num_classes ? 0 : (uint32_t)h->target_width;
}

/* A CSV's encoding and notes from their section; a section that does not decode, or does
 * not describe the cached features, makes the file unusable (rebuilt with a warning). */
static int cache_open_tabular(const char *path, const unsigned char *base, const cache_header *h, ddpc_dataset *ds,
                              ddpc_data_store *store) {
  const unsigned char *blob = base + h->section[CACHE_TABULAR][0];
  size_t n = (size_t)h->tabular_bytes, used = 0;
  if (!(store->tabular = ddpc_calloc(1, sizeof *store->tabular, "tabular encoding"))) return -1;
  const char *why = NULL;
  if (ddpc_tabular_read(blob, n, path, store->tabular, &used) != 0) {
    ddpc_error_clear();
    why = "its column encoding does not decode";
  } else if (store->tabular->width != h->features || used >= n || blob[n - 1] != '\0') {
    why = "its column encoding does not match the samples";
  } else if (!(store->notes = ddpc_strdup((const char *)blob + used))) {
    return -1;
  }
  if (why) {
    cache_warn(path, "ignored and rebuilt", why);
    return -1;
  }
  ds->tabular = store->tabular;
  ds->notes = store->notes;
  ds->fit_lines = cache_at(base, h, CACHE_LINES);
  ds->test_lines = h->test_rows ? ds->fit_lines + h->fit_rows : NULL;
  return 0;
}

int ddpc_cache_open(const char *path, uint64_t key, ddpc_dataset *ds, ddpc_data_store *store) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT && errno != ENOTDIR) cache_warn(path, "cannot open, rebuilding it", strerror(errno));
    return 0;
  }
  struct stat st;
  void *map = MAP_FAILED;
  const char *why = NULL;
  if (fstat(fd, &st) != 0)
    why = strerror(errno);
  else if ((uint64_t)st.st_size < sizeof(cache_header))
    why = "shorter than its header";
  else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
    why = strerror(errno);
  close(fd);  // the mapping keeps the file alive
  const char *damaged = NULL;
  if (!why) why = cache_check(map, (uint64_t)st.st_size, key, &damaged);
  if (why) {
    if (map != MAP_FAILED) munmap(map, (size_t)st.st_size);
    char *text = damaged ? ddpc_format("its %s are damaged (CRC32 mismatch)", damaged) : NULL;
    cache_warn(path, "ignored and rebuilt", text ? text : why);
    free(text);
    return 0;
  }
  const unsigned char *base = map;
  cache_header h;
  memcpy(&h, base, sizeof h);
  cache_point_table(&ds->fit, base, &h, h.fit_rows, CACHE_FIT_X, CACHE_FIT_LABELS, CACHE_FIT_TARGETS);
  cache_point_table(&ds->test_table, base, &h, h.test_rows, CACHE_TEST_X, CACHE_TEST_LABELS, CACHE_TEST_TARGETS);
  ddpc_split *splits[3] = {&ds->train, &ds->val, &ds->test};
  for (int s = 0; s < 3; s++) {
    splits[s]->table = s == 2 && h.test_separate ? &ds->test_table : &ds->fit;
    splits[s]->rows = cache_at(base, &h, CACHE_ROWS_TRAIN + s);
    splits[s]->count = (uint32_t)h.counts[s];
  }
  ds->shape.h = (int)h.shape[0];
  ds->shape.w = (int)h.shape[1];
  ds->shape.c = (int)h.shape[2];
  ds->scale = cache_at(base, &h, CACHE_SCALE);
  ds->shift = cache_at(base, &h, CACHE_SHIFT);
  ds->num_classes = (int)h.num_classes;
  ds->target_width = (uint32_t)h.target_width;
  store->map = map;
  store->map_size = (size_t)st.st_size;
  store->owns_tables = false;
  if (h.tabular_bytes && cache_open_tabular(path, base, &h, ds, store) != 0) {
    munmap(map, (size_t)st.st_size);
    ddpc_tabular_free(store->tabular);
    free(store->tabular);
    free(store->notes);
    memset(store, 0, sizeof *store);
    void *internal = ds->internal;  // nothing may point into the mapping any more
    memset(ds, 0, sizeof *ds);
    ds->internal = internal;
    return 0;
  }
  return 1;
}

/* mkdir -p with mode 0755. */
static int cache_mkdirs(const char *dir) {
  char *p = ddpc_strdup(dir);
  if (!p) return -1;
  int rc = 0;
  for (char *s = p + 1; rc == 0; s++) {
    bool end = *s == '\0';
    if (*s != '/' && !end) continue;
    *s = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = -1;
    if (end) break;
    *s = '/';
  }
  struct stat st;
  if (rc == 0 && stat(p, &st) != 0) rc = -1;
  if (rc == 0 && !S_ISDIR(st.st_mode)) rc = -1, errno = ENOTDIR;
  if (rc == 0 && access(p, W_OK) != 0) rc = -1;
  int err = errno;
  free(p);
  errno = err;
  return rc;
}

static int cache_write_all(int fd, const void *data, uint64_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : (size_t)n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (uint64_t)w;
  }
  return 0;
}

static uint64_t cache_align(uint64_t n) { return (n + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN; }

/* Fills the header and the section sources from ds. */
static void cache_describe(const ddpc_dataset *ds, uint64_t key, const unsigned char *tabular, size_t tabular_bytes,
                           cache_header *h, const void *src[CACHE_SECTIONS]) {
  memset(h, 0, sizeof *h);
  memcpy(h->magic, CACHE_MAGIC, 8);
  h->version = CACHE_VERSION;
  h->key = key;
  h->dtype = ds->fit.dtype;
  h->features = ds->fit.features;
  h->fit_rows = ds->fit.rows;
  h->test_separate = ds->test.table == &ds->test_table;
  h->test_rows = h->test_separate ? ds->test_table.rows : 0;
  h->num_classes = ds->num_classes > 0 ? (uint64_t)ds->num_classes : 0;
  h->target_width = h->num_classes ? 0 : ds->target_width;
  h->shape[0] = (uint64_t)ds->shape.h;
  h->shape[1] = (uint64_t)ds->shape.w;
  h->shape[2] = (uint64_t)ds->shape.c;
  h->counts[0] = ds->train.count;
  h->counts[1] = ds->val.count;
  h->counts[2] = ds->test.count;
  h->tabular_bytes = tabular_bytes;
  const void *s[CACHE_SECTIONS] = {ds->fit.x,        ds->fit.labels,   ds->fit.targets,       ds->test_table.x,
                                   ds->test_table.labels, ds->test_table.targets, ds->train.rows, ds->val.rows,
                                   ds->test.rows,    ds->scale,        ds->shift,             ds->fit_lines,
                                   tabular};
  memcpy(src, s, sizeof s);
  uint64_t size[CACHE_SECTIONS];
  cache_section_sizes(h, size);
  uint64_t at = cache_align(sizeof *h);
  for (int i = 0; i < CACHE_SECTIONS; i++) {
    h->section[i][0] = at;
    h->section[i][1] = size[i];
    h->section[i][2] = cache_crc(src[i], size[i]);
    at = cache_align(at + size[i]);
  }
  h->file_size = at;
  h->header_hash = cache_header_hash(h);
}

int ddpc_cache_write(const char *dir, const char *path, uint64_t key, const ddpc_dataset *ds) {
  if (cache_mkdirs(dir) != 0) {
    cache_warn(dir, "cannot write the cache directory, continuing without the cache", strerror(errno));
    return -1;
  }
  // A CSV's encoding, then its notes with their NUL: the section holds both.
  unsigned char *tabular = NULL;
  size_t tabular_bytes = 0;
  if (ds->tabular) {
    size_t notes = strlen(ds->notes ? ds->notes : "") + 1;
    unsigned char *grown = NULL;
    if (ddpc_tabular_write(ds->tabular, &tabular, &tabular_bytes) != 0 ||
        !(grown = realloc(tabular, tabular_bytes + notes))) {
      free(tabular);
      cache_warn(path, "cannot describe the column encoding, continuing without the cache", ddpc_error_message());
      return -1;
    }
    tabular = grown;
    memcpy(tabular + tabular_bytes, ds->notes ? ds->notes : "", notes);
    tabular_bytes += notes;
  }
  cache_header h;
  const void *src[CACHE_SECTIONS];
  cache_describe(ds, key, tabular, tabular_bytes, &h, src);
  char *tmp = ddpc_format("%s.tmp.%ld", path, (long)getpid());
  if (!tmp) {
    free(tabular);
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno == EEXIST) {  // left by a crashed process that had our pid
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  const char *failed = fd < 0 ? "create" : NULL;
  static const unsigned char zeros[CACHE_ALIGN];
  uint64_t at = 0;
  if (!failed && cache_write_all(fd, &h, sizeof h) != 0) failed = "write";
  at = sizeof h;
  for (int s = 0; s < CACHE_SECTIONS && !failed; s++) {
    if (cache_write_all(fd, zeros, h.section[s][0] - at) != 0 || cache_write_all(fd, src[s], h.section[s][1]) != 0)
      failed = "write";
    at = h.section[s][0] + h.section[s][1];
  }
  if (!failed && cache_write_all(fd, zeros, h.file_size - at) != 0) failed = "write";
  if (!failed && fsync(fd) != 0) failed = "fsync";
  int err = errno;
  if (fd >= 0 && close(fd) != 0 && !failed) failed = "close", err = errno;
  if (!failed && rename(tmp, path) != 0) failed = "rename", err = errno;
  if (!failed) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // the rename is durable only once the directory is synced
      fsync(dfd);
      close(dfd);
    }
  }
  if (failed) {
    if (fd >= 0) unlink(tmp);
    char *what = ddpc_format("cannot %s %s, continuing without the cache", failed, tmp);
    cache_warn(path, what ? what : "cannot write", strerror(err));
    free(what);
  }
  free(tmp);
  free(tabular);
  return failed ? -1 : 0;
}

/* Hashes the bytes of one input file into h, then its length (so that file boundaries
 * cannot shift between inputs without changing the key). */
static int cache_hash_file(ddpc_hash *h, const char *path) {
  uint64_t total = 0;
  if (ddpc_hash_file(h, path, &total) != 0) return -1;
  ddpc_hash_update(h, &total, sizeof total);
  return 0;
}

static const char *cache_prep_text(const ddpc_prep_step *s, char *num, size_t num_size) {
  switch (s->kind) {
    case DDPC_PREP_SCALE:
      if (s->divide != 0)
        snprintf(num, num_size, "divide %.9g", (double)s->divide);
      else
        snprintf(num, num_size, "multiply %.9g", (double)s->multiply);
      return num;
    case DDPC_PREP_STANDARDIZE:
      return s->standardize == DDPC_STANDARDIZE_PER_FEATURE ? "standardize per_feature" : "standardize global";
    case DDPC_PREP_FLATTEN:
      return "flatten";
    case DDPC_PREP_RESHAPE:
      snprintf(num, num_size, "reshape %d %d %d", s->shape.h, s->shape.w, s->shape.c);
      return num;
  }
  snprintf(num, num_size, "kind %d", (int)s->kind);
  return num;
}

static bool cache_has(const char *s) { return s && *s; }

int ddpc_cache_key(const ddpc_config *cfg, uint64_t *key) {
  const ddpc_data_config *dc = &cfg->data;
  bool idx = dc->format == DDPC_DATA_FORMAT_IDX;
  bool has_test = idx ? cache_has(dc->test.images) : cache_has(dc->test.path);
  // The canonical text of every setting that changes the prepared data. Paths are left
  // out on purpose: moving the files keeps the cache valid, changing a byte does not.
  char *text = ddpc_format(
      "ddpc-data v%u\nformat=%s\ntask=%s\nlabel_column=%s\nnum_classes=%d\nval_fraction=%.17g\n"
      "test_fraction=%.17g\ntest_source=%d\nstratify=%d\nseed=%llu\nprep=%d\n",
      CACHE_VERSION, idx ? "idx" : "csv", dc->task == DDPC_TASK_REGRESSION ? "regression" : "classification",
      idx ? "" : (dc->label_column ? dc->label_column : ""), dc->num_classes, dc->val_fraction,
      has_test ? 0.0 : dc->test_fraction, has_test, dc->stratify, (unsigned long long)cfg->seed, dc->n_prep);
  if (!text) return -1;
  ddpc_hash h;
  ddpc_hash_init(&h, 0);
  ddpc_hash_update(&h, text, strlen(text));
  free(text);
  for (int i = 0; i < dc->n_prep && i < DDPC_MAX_PREP_STEPS; i++) {
    char num[96];  // numbers only, never user text
    const char *step = cache_prep_text(&dc->prep[i], num, sizeof num);
    ddpc_hash_update(&h, step, strlen(step) + 1);
  }
  // data.missing and data.categorical: each name with its NUL, so names cannot run together.
  uint32_t counts[3] = {(uint32_t)dc->missing, (uint32_t)dc->n_missing_rules, (uint32_t)dc->n_categorical};
  ddpc_hash_update(&h, counts, sizeof counts);
  for (int i = 0; i < dc->n_missing_rules; i++) {
    uint32_t policy = (uint32_t)dc->missing_rules[i].policy;
    ddpc_hash_update(&h, dc->missing_rules[i].column, strlen(dc->missing_rules[i].column) + 1);
    ddpc_hash_update(&h, &policy, sizeof policy);
  }
  for (int i = 0; i < dc->n_categorical; i++) ddpc_hash_update(&h, dc->categorical[i], strlen(dc->categorical[i]) + 1);
  const char *files[4] = {0};
  if (idx) {
    files[0] = dc->train.images, files[1] = dc->train.labels;
    if (has_test) files[2] = dc->test.images, files[3] = dc->test.labels;
  } else {
    files[0] = dc->train.path;
    if (has_test) files[1] = dc->test.path;
  }
  for (int i = 0; i < 4; i++)
    if (files[i] && cache_hash_file(&h, files[i]) != 0) return -1;
  *key = ddpc_hash_final(&h);
  return 0;
}
