/* The content of the data files a run reads, hashed once at setup by rank 0. meta.json
 * records it (which data version a run saw, whatever its name), and every checkpoint
 * carries it in its "data" section, one line per file: "KEY XXH64 BYTES". A resume refuses
 * another data path (the saved parameters would mean something else), unless that section
 * shows the same content under the old path: the file moved, or a batch job staged the data
 * to a per-job folder, or a grouped run's directory (which holds its groups' rows) moved. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "launch/train/train_internal.h"

/* Hashes one file; false when it cannot be read (meta.json then records its path alone). */
static bool data_hash_file(const char *path, uint64_t *bytes, uint64_t *xxh64) {
  ddpc_hash h;
  ddpc_hash_init(&h, 0);
  if (ddpc_hash_file(&h, path, bytes) != 0) {
    ddpc_error_clear();  // the data loader, which read it first, speaks for a file it cannot read
    return false;
  }
  *xxh64 = ddpc_hash_final(&h);
  return true;
}

int train_data_hash_files(train_session *s) {
  if (s->comm->rank != 0) return 0;
  const ddpc_data_config *d = &s->cfg.data;
  const train_data_file files[TRAIN_DATA_FILES] = {
      {"data.train.images", "train_images", d->train.images, false, 0, 0},
      {"data.train.labels", "train_labels", d->train.labels, false, 0, 0},
      {"data.train.path", "train", d->train.path, false, 0, 0},
      {"data.test.images", "test_images", d->test.images, false, 0, 0},
      {"data.test.labels", "test_labels", d->test.labels, false, 0, 0},
      {"data.test.path", "test", d->test.path, false, 0, 0},
  };
  char *section = ddpc_strdup("");
  for (int i = 0; section && i < TRAIN_DATA_FILES; i++) {
    train_data_file *f = &s->data_files[i];
    *f = files[i];
    if (!f->path || !(f->read = data_hash_file(f->path, &f->bytes, &f->xxh64))) continue;
    char *more = ddpc_format("%s%s %016" PRIx64 " %" PRIu64 "\n", section, f->key, f->xxh64, f->bytes);
    free(section);
    section = more;
  }
  free(s->data_section);
  s->data_section = section;
  return section ? 0 : -1;
}

/* A line's text after "KEY ": exactly 16 lowercase hex digits, a space and a size in
 * decimal without leading zeros, as train_data_hash_files writes it; anything else is no
 * line for the key. */
static bool data_hash_value(const char *text, size_t len, uint64_t *xxh64, uint64_t *bytes) {
  if (len < 18 || text[16] != ' ' || len - 17 > 20 || (text[17] == '0' && len > 18)) return false;
  uint64_t h = 0, n = 0;
  for (size_t i = 0; i < 16; i++) {
    char c = text[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    h = h << 4 | (uint64_t)v;
  }
  for (size_t i = 17; i < len; i++) {
    if (text[i] < '0' || text[i] > '9' || n > (UINT64_MAX - (uint64_t)(text[i] - '0')) / 10) return false;
    n = n * 10 + (uint64_t)(text[i] - '0');
  }
  *xxh64 = h;
  *bytes = n;
  return true;
}

bool train_data_hash_saved(const char *section, size_t len, const char *key, uint64_t *xxh64, uint64_t *bytes) {
  size_t key_len = strlen(key);
  for (size_t at = 0; at < len;) {
    const char *line = section + at;
    const char *nl = memchr(line, '\n', len - at);
    size_t line_len = nl ? (size_t)(nl - line) : len - at;
    at += line_len + 1;
    if (line_len > key_len && memcmp(line, key, key_len) == 0 && line[key_len] == ' ' &&
        data_hash_value(line + key_len + 1, line_len - key_len - 1, xxh64, bytes))
      return true;
  }
  return false;
}

void train_data_hash_accept_moves(train_session *s, const ddpc_checkpoint *ck, ddpc_resume_diff *diff) {
  size_t len = 0;
  const char *section = ddpc_checkpoint_find_section(ck, DDPC_CHECKPOINT_SECTION_DATA, &len);
  if (!section) return;  // written by an older ddpc: a changed path stays refused
  for (int i = 0; i < diff->count; i++) {
    ddpc_resume_change *c = &diff->changes[i];
    if (c->kind != DDPC_RESUME_CHANGE_REFUSED || !c->saved || !c->current) continue;
    for (int k = 0; k < TRAIN_DATA_FILES; k++) {
      const train_data_file *f = &s->data_files[k];
      uint64_t xxh64, bytes;
      if (strcmp(c->key, f->key) != 0 || !f->read || !train_data_hash_saved(section, len, f->key, &xxh64, &bytes) ||
          xxh64 != f->xxh64 || bytes != f->bytes)
        continue;
      c->kind = DDPC_RESUME_CHANGE_ANNOUNCED;
      ddpc_progress_note(&s->progress, "resume: %s moved: %s holds the content the run trained on (%" PRIu64
                         " bytes, xxh64 %016" PRIx64 ")", f->key, f->path, f->bytes, f->xxh64);
    }
  }
}
