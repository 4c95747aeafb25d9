/* Checkpoint container: bitwise round trips, the exact error texts, and property tests
 * that every truncation and every single-byte corruption of a small checkpoint is refused
 * with the file named (CRCs cover every byte); then the run-directory helpers: falling back
 * from a corrupted newest checkpoint, pruning, and atomic writes leaving no temporaries. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/metrics.h"
#include "testing.h"

static char *path_in(const char *name) {
  size_t n = strlen(testing_temp_dir()) + strlen(name) + 2;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s", testing_temp_dir(), name);
  return p;
}


static void file_put(const char *path, const void *data, size_t bytes) {
  CHECK(testing_write_file(path, data, bytes) == 0, "writing %s", path);
}

/* Weight-like floats: a deterministic LCG through Box-Muller, normal(0, 0.05). */
static void fill_weights(float *w, size_t n, uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i += 2) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((s >> 11) + 1.0) / 9007199254740993.0;
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = (s >> 11) / 9007199254740992.0;
    double r = sqrt(-2.0 * log(u1)) * 0.05;
    w[i] = (float)(r * cos(6.283185307179586 * u2));
    if (i + 1 < n) w[i + 1] = (float)(r * sin(6.283185307179586 * u2));
  }
}

static ddpc_checkpoint_meta sample_meta(int64_t step) {
  ddpc_checkpoint_meta m;
  memset(&m, 0, sizeof m);
  m.world_size = 2;
  m.state = 4;
  m.config_hash = 0x0123456789abcdefull;
  m.seed = 42;
  m.epoch = 3;
  m.step = step;
  m.batch_in_epoch = 7;
  m.optimizer_steps = 1234;
  m.elapsed_seconds = 12.5;
  m.best_value = NAN;
  m.best_epoch = 2;
  m.bad_epochs = 1;
  m.reviewed_epoch = 0;
  m.epoch_loss_sum = 0.25;
  m.epoch_correct = 17;
  m.epoch_samples = 64;
  m.epoch_seconds = 0.75;
  return m;
}

static const char sample_yaml[] = "seed: 42\nmodel:\n  - linear: {units: 10}\noptimizer:\n  name: sgd\n  lr: 0.1\n";

/* A small checkpoint: params first (so its offset is known: byte 20), stored as is; a
 * compressible config (zlib); the meta; an empty section. */
static int write_small(const char *path, int64_t step) {
  float params[16];
  fill_weights(params, 16, (uint64_t)step + 1);
  unsigned char meta[DDPC_CHECKPOINT_META_BYTES];
  ddpc_checkpoint_meta m = sample_meta(step);
  ddpc_checkpoint_encode_meta(&m, meta);
  char config[400];
  snprintf(config, sizeof config, "%s%s%s", sample_yaml, sample_yaml, sample_yaml);
  ddpc_checkpoint_section s[] = {
      {DDPC_CHECKPOINT_SECTION_PARAMS, "params", params, sizeof params},
      {DDPC_CHECKPOINT_SECTION_CONFIG, "config", config, strlen(config)},
      {DDPC_CHECKPOINT_SECTION_META, "meta", meta, sizeof meta},
      {DDPC_CHECKPOINT_SECTION_OPTIM_M, "optim_m", NULL, 0},
  };
  return ddpc_checkpoint_write(path, s, 4);
}

/* The error of reading `path`, or "accepted" when it reads; the read happens before the
 * message is fetched (CHECK's arguments have no evaluation order). */
static const char *read_error(const char *path) {
  ddpc_checkpoint *ck = NULL;
  int rc = ddpc_checkpoint_read(path, &ck);
  ddpc_checkpoint_free(ck);
  return rc == 0 ? "accepted" : ddpc_error_message();
}

#define EXPECT_READ_ERROR(path, expected) expect_read_error((path), (expected), __LINE__)
static void expect_read_error(const char *path, const char *expected, int line) {
  const char *e = read_error(path);
  testing_check(strstr(e, expected) != NULL, __FILE__, line, "read error should contain '%s', got: %s", expected, e);
}

/* The same for a failing call that returned rc. */
#define EXPECT_ERROR(rc, expected) expect_error((rc), (expected), __LINE__)
static void expect_error(int rc, const char *expected, int line) {
  const char *e = rc == -1 ? ddpc_error_message() : "no error";
  testing_check(strstr(e, expected) != NULL, __FILE__, line, "error should contain '%s', got: %s", expected, e);
}

static char *describe_text(const ddpc_checkpoint *ck) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ddpc_checkpoint_describe(ck, f);
  fclose(f);
  return text;
}

static void test_meta_encoding(void) {
  ddpc_checkpoint_meta m = sample_meta(0x0102030405060708ll);
  unsigned char out[DDPC_CHECKPOINT_META_BYTES];
  ddpc_checkpoint_encode_meta(&m, out);
  // world_size u32 at 0, state u32 at 4, config_hash at 8, seed at 16, epoch at 24, step at 32.
  CHECK(out[0] == 2 && out[1] == 0 && out[4] == 4, "meta: world_size and state as u32 LE");
  CHECK(out[8] == 0xef && out[15] == 0x01, "meta: config_hash little-endian (%02x..%02x)", out[8], out[15]);
  CHECK(out[32] == 0x08 && out[39] == 0x01, "meta: step little-endian at byte 32");
}

static void test_round_trip(void) {
  char *path = path_in("deep/er/round.ddpc");  // the folders do not exist yet
  size_t n_big = 3u << 18;                     // 3 MB of floats
  float *big = malloc(n_big * sizeof *big);
  fill_weights(big, n_big, 7);
  float *zeros = calloc(n_big, sizeof *zeros);  // compresses: the zlib path at size
  ddpc_epoch_metrics hist[3];
  memset(hist, 0, sizeof hist);
  for (int i = 0; i < 3; i++) {
    hist[i].epoch = i + 1;
    hist[i].train_loss = 1.0 / (i + 1);
    hist[i].val_loss = 1.5 / (i + 1);
    hist[i].val_accuracy = 0.5 + 0.1 * i;
    hist[i].lr = 0.1;
  }
  unsigned char meta[DDPC_CHECKPOINT_META_BYTES];
  ddpc_checkpoint_meta m = sample_meta(120);
  ddpc_checkpoint_encode_meta(&m, meta);
  ddpc_checkpoint_section s[] = {
      {DDPC_CHECKPOINT_SECTION_META, "meta", meta, sizeof meta},
      {DDPC_CHECKPOINT_SECTION_PARAMS, "params", big, n_big * sizeof *big},
      {DDPC_CHECKPOINT_SECTION_OPTIM_M, "optim_m", zeros, n_big * sizeof *zeros},
      {DDPC_CHECKPOINT_SECTION_OPTIM_V, "optim_v", NULL, 0},
      {DDPC_CHECKPOINT_SECTION_HISTORY, "history", hist, sizeof hist},
      {DDPC_CHECKPOINT_SECTION_CONFIG, "config", sample_yaml, strlen(sample_yaml)},
  };
  CHECK(ddpc_checkpoint_write(path, s, 6) == 0, "write: %s", ddpc_error_message());
  ddpc_checkpoint *ck = NULL;
  CHECK(ddpc_checkpoint_read(path, &ck) == 0, "read back: %s", ddpc_error_message());
  if (!ck) return;
  for (int i = 0; i < 6; i++) {
    size_t bytes = 99;
    const void *data = ddpc_checkpoint_find_section(ck, s[i].id, &bytes);
    CHECK(data != NULL && bytes == s[i].bytes, "section %s: %zu bytes, expected %zu", s[i].name, bytes, s[i].bytes);
    CHECK(data && (s[i].bytes == 0 || memcmp(data, s[i].data, s[i].bytes) == 0), "section %s bitwise equal",
          s[i].name);
  }
  size_t bytes = 99;
  CHECK(ddpc_checkpoint_find_section(ck, 77, &bytes) == NULL && bytes == 0, "an absent section is NULL with 0 bytes");
  ddpc_checkpoint_meta back;
  CHECK(ddpc_checkpoint_read_meta(ck, &back) == 0, "meta decodes");
  CHECK(back.step == 120 && back.world_size == 2 && back.config_hash == m.config_hash && isnan(back.best_value) &&
            back.epoch_samples == 64 && back.optimizer_steps == 1234,
        "meta fields round trip (step %lld)", (long long)back.step);
  char *text = describe_text(ck);
  CHECK(strstr(text, "format version 1, 6 sections") != NULL, "describe: header line\n%s", text);
  CHECK(strstr(text, "config_hash      0123456789abcdef") != NULL, "describe: config hash in hex");
  CHECK(strstr(text, "step             120") != NULL, "describe: step");
  CHECK(strstr(text, "history: 3 epochs") != NULL && strstr(text, "     3     0.333333          0.5          0.7") != NULL,
        "describe: history rows\n%s", text);
  // Trained-weight floats gain < 10% from zlib: stored as is; zeros and YAML compress.
  CHECK(strstr(text, "     2  params                 3145728        3145728  none   ") != NULL, "describe: params stored as is\n%s", text);
  const char *row = strstr(text, "     3  optim_m                3145728 ");
  const char *row_end = row ? strchr(row, '\n') : NULL;
  const char *codec = row ? strstr(row, "  zlib  ") : NULL;
  CHECK(codec && codec < row_end, "describe: zeros compressed");
  free(text);
  ddpc_checkpoint_free(ck);
  // Overwriting is atomic: the folder holds the file and no temporary.
  CHECK(ddpc_checkpoint_write(path, s, 2) == 0, "overwrite: %s", ddpc_error_message());
  char *dir = path_in("deep/er");
  DIR *d = opendir(dir);
  int entries = 0;
  for (struct dirent *e; d && (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') {
      entries++;
      CHECK(strcmp(e->d_name, "round.ddpc") == 0, "no temporary left behind: found %s", e->d_name);
    }
  if (d) closedir(d);
  CHECK(entries == 1, "one file after two writes, got %d", entries);
  ddpc_checkpoint *again = NULL;
  CHECK(ddpc_checkpoint_read(path, &again) == 0 &&
            ddpc_checkpoint_find_section(again, DDPC_CHECKPOINT_SECTION_OPTIM_M, NULL) == NULL,
        "the overwrite replaced the file (2 sections)");
  ddpc_checkpoint_free(again);
  free(dir);
  free(big);
  free(zeros);
  free(path);
}

static void test_write_refuses(void) {
  char *path = path_in("refused.ddpc");
  int x = 1;
  ddpc_checkpoint_section dup[] = {{1, "a", &x, sizeof x}, {1, "b", &x, sizeof x}};
  EXPECT_ERROR(ddpc_checkpoint_write(path, dup, 2), "same id 1");
  ddpc_checkpoint_section long_name[] = {{1, "a_name_too_long_x", &x, sizeof x}};
  EXPECT_ERROR(ddpc_checkpoint_write(path, long_name, 1), "1 to 15 characters");
  CHECK(access(path, F_OK) != 0, "nothing written for refused sections");
  free(path);
}

/* Every prefix and every single-byte corruption (xor 0xFF and xor 0x01) must be refused. */
static void test_every_corruption(void) {
  char *good = path_in("small.ddpc");
  char *bad = path_in("bad.ddpc");
  CHECK(write_small(good, 5) == 0, "write small: %s", ddpc_error_message());
  size_t n = 0;
  unsigned char *bytes = testing_read_file(good, &n);
  CHECK(n > 200 && n < 1000, "a small checkpoint of a few hundred bytes (%zu)", n);
  ddpc_checkpoint *ck = NULL;
  CHECK(ddpc_checkpoint_read(good, &ck) == 0, "the intact file reads");
  char *text = ck ? describe_text(ck) : NULL;
  CHECK(text && strstr(text, "none") && strstr(text, "zlib"), "both codecs in the small file\n%s", text);
  free(text);
  ddpc_checkpoint_free(ck);
  int accepted = 0, unnamed = 0;
  for (size_t len = 0; len < n; len++) {
    file_put(bad, bytes, len);
    ck = NULL;
    if (ddpc_checkpoint_read(bad, &ck) == 0) accepted++;
    else if (strncmp(ddpc_error_message(), bad, strlen(bad)) != 0) unnamed++;
    ddpc_checkpoint_free(ck);
  }
  CHECK(accepted == 0, "every truncation refused (%d accepted)", accepted);
  CHECK(unnamed == 0, "every truncation error names the file (%d did not)", unnamed);
  const unsigned char masks[2] = {0xFF, 0x01};
  for (int k = 0; k < 2; k++) {
    accepted = unnamed = 0;
    for (size_t i = 0; i < n; i++) {
      bytes[i] ^= masks[k];
      file_put(bad, bytes, n);
      bytes[i] ^= masks[k];
      ck = NULL;
      if (ddpc_checkpoint_read(bad, &ck) == 0) {
        accepted++;
        fprintf(stderr, "accepted flip of byte %zu with %02x\n", i, masks[k]);
      } else if (strncmp(ddpc_error_message(), bad, strlen(bad)) != 0) {
        unnamed++;
      }
      ddpc_checkpoint_free(ck);
    }
    CHECK(accepted == 0, "every byte xor %02x refused (%d accepted)", masks[k], accepted);
    CHECK(unnamed == 0, "every corruption error names the file (%d did not)", unnamed);
  }

  // The exact messages of the common cases. params is the first section: descriptor at
  // byte 20, data at 72.
  bytes[74] ^= 0x40;
  file_put(bad, bytes, n);
  bytes[74] ^= 0x40;
  EXPECT_READ_ERROR(bad, "bad.ddpc: section 'params' (id 2) at byte 20: CRC32 mismatch in the data at byte 72");
  bytes[30] ^= 0x01;  // inside params' name
  file_put(bad, bytes, n);
  bytes[30] ^= 0x01;
  EXPECT_READ_ERROR(bad, "bad.ddpc: section #1 at byte 20: descriptor CRC32 mismatch");
  // config's descriptor at 136 (params: 52 + 64 bytes), its zlib data from 188 on.
  file_put(bad, bytes, 240);
  EXPECT_READ_ERROR(bad, "bad.ddpc: section 'config' (id 6) at byte 136: truncated: ");
  EXPECT_READ_ERROR(bad, " bytes of data at byte 188, the file ends at byte 240");
  file_put(bad, bytes, 100);  // fewer bytes than 4 descriptors need
  EXPECT_READ_ERROR(bad, "bad.ddpc: header at byte 12: 4 sections cannot fit in the file's 100 bytes: truncated");
  file_put(bad, bytes, 10);
  EXPECT_READ_ERROR(bad, "header at byte 0: truncated");
  unsigned char *longer = malloc(n + 3);
  memcpy(longer, bytes, n);
  memcpy(longer + n, "xyz", 3);
  file_put(bad, longer, n + 3);
  free(longer);
  EXPECT_READ_ERROR(bad, "3 bytes of trailing garbage");
  file_put(bad, "name,value\n1,2\n", 15);
  EXPECT_READ_ERROR(bad, "bad.ddpc: not a ddpc checkpoint");
  file_put(bad, "", 0);
  EXPECT_READ_ERROR(bad, "the file is empty");
  // A newer format (its header CRC valid) is refused by version, not as corruption.
  unsigned char header[20];
  memcpy(header, bytes, 20);
  header[8] = 2;
  uint32_t crc = (uint32_t)crc32(0, header, 16);
  for (int i = 0; i < 4; i++) header[16 + i] = (unsigned char)(crc >> (8 * i));
  file_put(bad, header, 20);
  EXPECT_READ_ERROR(bad, "format version 2 is newer than this ddpc reads (1)");
  char *missing = path_in("missing.ddpc");
  EXPECT_READ_ERROR(missing, "missing.ddpc: cannot open");
  ck = (ddpc_checkpoint *)bytes;  // any non-NULL value: a failed read must reset it
  CHECK(ddpc_checkpoint_read(missing, &ck) == -1 && ck == NULL, "*out is NULL after a failed read");
  free(missing);
  free(bytes);
  free(good);
  free(bad);
}

/* Runs find_latest with stderr going to a file; returns what it printed. */
static char *find_latest_capture(const char *run_dir, int *rc, char **path, ddpc_checkpoint **ck) {
  char *log = path_in("stderr.txt");
  fflush(stderr);
  int saved = dup(2);
  int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  *rc = ddpc_checkpoint_find_latest(run_dir, path, ck);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  size_t n = 0;
  unsigned char *text = testing_read_file(log, &n);
  text[n] = '\0';
  free(log);
  return (char *)text;
}

static void test_find_latest_and_prune(void) {
  char *run = path_in("run");
  char *path = NULL;
  ddpc_checkpoint *ck = NULL;
  int rc;
  char *err = find_latest_capture(run, &rc, &path, &ck);
  CHECK(rc == 1 && path == NULL && ck == NULL && err[0] == '\0', "no checkpoints folder: 1, silent (rc %d)", rc);
  free(err);
  for (int64_t step = 10; step <= 50; step += 10) {
    char *p = ddpc_checkpoint_path(run, step);
    CHECK(write_small(p, step) == 0, "write step %lld: %s", (long long)step, ddpc_error_message());
    free(p);
  }
  char *p30 = ddpc_checkpoint_path(run, 30);
  char *expect = path_in("run/checkpoints/ckpt-000000000030.ddpc");
  CHECK(strcmp(p30, expect) == 0, "checkpoint path format: %s", p30);
  free(expect);
  // Not checkpoints of the rotation: best.ddpc (newest by time) and a leftover temporary.
  char *best = path_in("run/checkpoints/best.ddpc");
  char *tmp = path_in("run/checkpoints/ckpt-000000000060.ddpc.tmp.99");
  CHECK(write_small(best, 99) == 0, "write best");
  file_put(tmp, "partial", 7);
  // Corrupt the newest (50) by a flipped byte and the one before (40) by truncation.
  char *p50 = ddpc_checkpoint_path(run, 50), *p40 = ddpc_checkpoint_path(run, 40);
  size_t n = 0;
  unsigned char *bytes = testing_read_file(p50, &n);
  bytes[n - 1] ^= 1;
  file_put(p50, bytes, n);
  file_put(p40, bytes, n / 2);
  free(bytes);
  err = find_latest_capture(run, &rc, &path, &ck);
  CHECK(rc == 0 && path && strstr(path, "ckpt-000000000030.ddpc"), "falls back to step 30 (rc %d, %s)", rc,
        path ? path : "none");
  ddpc_checkpoint_meta m;
  CHECK(ck && ddpc_checkpoint_read_meta(ck, &m) == 0 && m.step == 30, "the returned checkpoint is step 30's");
  char *skip50 = ddpc_format("ddpc: skipping %s: section #4 at byte ", p50);
  char *skip40 = ddpc_format("ddpc: skipping %s: header at byte 12: 4 sections cannot fit", p40);
  CHECK(strstr(err, skip50) && strstr(err, skip40), "skip lines printed:\n%s", err);
  int lines = 0;
  for (const char *c = err; *c; c++) lines += *c == '\n';
  CHECK(lines == 2, "one line per skipped file, got %d:\n%s", lines, err);
  free(err);
  free(skip50);
  free(skip40);
  free(path);
  ddpc_checkpoint_free(ck);

  // Prune keeps the newest 2 by step (50 and 40, whatever their state), best and temporaries.
  CHECK(ddpc_checkpoint_prune(run, 2) == 0, "prune: %s", ddpc_error_message());
  CHECK(access(p50, F_OK) == 0 && access(p40, F_OK) == 0 && access(p30, F_OK) != 0, "prune keeps 50 and 40 only");
  char *p10 = ddpc_checkpoint_path(run, 10);
  CHECK(access(p10, F_OK) != 0, "prune removed step 10");
  CHECK(access(best, F_OK) == 0 && access(tmp, F_OK) == 0, "prune leaves best.ddpc and other files");
  EXPECT_ERROR(ddpc_checkpoint_prune(run, 0), "keep_last must be at least 1");
  // Nothing valid left in the rotation: an error, not a fresh start, with both skipped
  // (best.ddpc is not a fallback, but the message offers it as a PATH to resume from).
  err = find_latest_capture(run, &rc, &path, &ck);
  CHECK(rc == -1 && path == NULL && ck == NULL, "no valid checkpoint: -1 (rc %d)", rc);
  CHECK(strstr(ddpc_error_message(), "none of its 2 checkpoint(s) is valid"), "says none is valid: %s",
        ddpc_error_message());
  char *offer = ddpc_format("but %s is intact: resume from it with --resume %s", best, best);
  CHECK(strstr(ddpc_error_message(), offer), "offers best.ddpc: %s", ddpc_error_message());
  free(offer);
  CHECK(strstr(err, "ckpt-000000000050.ddpc") && strstr(err, "ckpt-000000000040.ddpc"), "both skipped:\n%s", err);
  free(err);
  // A damaged best.ddpc is not offered.
  CHECK(truncate(best, 20) == 0, "truncate best.ddpc");
  err = find_latest_capture(run, &rc, &path, &ck);
  CHECK(rc == -1 && strstr(ddpc_error_message(), "none of its 2 checkpoint(s) is valid") &&
            strstr(ddpc_error_message(), "resume from a checkpoint PATH") && !strstr(ddpc_error_message(), "best.ddpc"),
        "damaged best.ddpc is not offered: %s", ddpc_error_message());
  free(err);
  free(p10);
  free(p30);
  free(p40);
  free(p50);
  free(best);
  free(tmp);
  free(run);
}

/* The metric history of an older checkpoint (section HISTORY_V1: records up to
 * params_crc32, 88 bytes; HISTORY_V2: up to val_r2, 112 bytes) reads as today's records
 * with NaN for what it lacks; today's
 * section wins when both are there; a section of partial records is refused. */
static void test_history_versions(void) {
  enum { OLD = 88 };
  ddpc_epoch_metrics now[2];
  memset(now, 0, sizeof now);
  unsigned char old[2 * OLD];
  for (int i = 0; i < 2; i++) {
    now[i].epoch = i + 1;
    now[i].val_loss = 0.5 / (i + 1);
    now[i].params_crc32 = 0xabcd0000u + (uint32_t)i;
    now[i].val_r2 = 0.25 * i;
    memcpy(old + i * OLD, &now[i], OLD);
  }
  char *path = path_in("history_v1.ddpc");
  ddpc_checkpoint_section v1[] = {{DDPC_CHECKPOINT_SECTION_HISTORY_V1, "history", old, sizeof old}};
  ddpc_checkpoint *ck = NULL;
  ddpc_epoch_metrics *h = NULL;
  int64_t n = -1;
  CHECK(ddpc_checkpoint_write(path, v1, 1) == 0 && ddpc_checkpoint_read(path, &ck) == 0, "write and read v1");
  CHECK(ck && ddpc_checkpoint_read_history(ck, &h, &n) == 0 && n == 2, "v1: 2 records (%lld)", (long long)n);
  CHECK(h && h[1].epoch == 2 && h[1].val_loss == 0.25 && h[1].params_crc32 == 0xabcd0001u,
        "v1: the old fields back");
  CHECK(h && isnan(h[0].val_mae) && isnan(h[1].val_rmse) && isnan(h[1].val_r2), "v1: regression metrics NaN");
  free(h);
  ddpc_checkpoint_free(ck);
  // HISTORY_V2 (before the classification metrics): records up to val_r2, 112 bytes.
  enum { V2 = 112 };
  unsigned char v2_bytes[2 * V2];
  for (int i = 0; i < 2; i++) {
    now[i].val_macro_f1 = 0.5;
    now[i].top_k = 3;
    memcpy(v2_bytes + i * V2, &now[i], V2);
  }
  ddpc_checkpoint_section v2[] = {{DDPC_CHECKPOINT_SECTION_HISTORY_V2, "history", v2_bytes, sizeof v2_bytes}};
  ck = NULL;
  CHECK(ddpc_checkpoint_write(path, v2, 1) == 0 && ddpc_checkpoint_read(path, &ck) == 0, "write and read v2");
  CHECK(ck && ddpc_checkpoint_read_history(ck, &h, &n) == 0 && n == 2, "v2: 2 records (%lld)", (long long)n);
  CHECK(h && h[1].epoch == 2 && h[1].val_r2 == 0.25 && h[1].params_crc32 == 0xabcd0001u, "v2: the old fields back");
  CHECK(h && isnan(h[1].val_macro_f1) && isnan(h[0].val_roc_auc) && isnan(h[1].val_top_k_accuracy) && h[1].top_k == 0,
        "v2: classification metrics NaN, no top-k");
  free(h);
  ddpc_checkpoint_free(ck);
  ddpc_checkpoint_section both[] = {{DDPC_CHECKPOINT_SECTION_HISTORY_V1, "history", old, OLD},
                                    {DDPC_CHECKPOINT_SECTION_HISTORY, "history", now, sizeof now}};
  ck = NULL;
  CHECK(ddpc_checkpoint_write(path, both, 2) == 0 && ddpc_checkpoint_read(path, &ck) == 0, "write and read both");
  CHECK(ck && ddpc_checkpoint_read_history(ck, &h, &n) == 0 && n == 2 && h[1].val_r2 == 0.25 &&
            h[1].val_macro_f1 == 0.5 && h[1].top_k == 3,
        "today's section is read when both are there");
  free(h);
  ddpc_checkpoint_free(ck);
  ddpc_checkpoint_section partial[] = {{DDPC_CHECKPOINT_SECTION_HISTORY, "history", now, sizeof now - 8}};
  ck = NULL;
  CHECK(ddpc_checkpoint_write(path, partial, 1) == 0 && ddpc_checkpoint_read(path, &ck) == 0, "write partial");
  CHECK(ck && ddpc_checkpoint_read_history(ck, &h, &n) != 0 && !h &&
            strstr(ddpc_error_message(), "is not a whole number of"),
        "partial records refused: %s", ddpc_error_message());
  ddpc_checkpoint_free(ck);
  free(path);
}

int main(void) {
  test_meta_encoding();
  test_round_trip();
  test_history_versions();
  test_write_refuses();
  test_every_corruption();
  test_find_latest_and_prune();
  return testing_finish();
}
