/* Fuzzes what ddpc reads back for MLflow (track/): the spool of unsent items
 * (DIR/mlflow_pending.jsonl, read by `ddpc mlflow sync` and by a resumed run), the run's
 * state file (DIR/mlflow.json, read to continue its MLflow run), and the fields taken from
 * a tracking server's replies (run_id, experiment_id, artifact_uri, error_code, message).
 * An accepted spool line must hold what its kind needs, an artifact path must stay inside
 * the directory, and a line written back must read back to the same line. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "fuzz_common.h"
#include "track/track.h"
#include "track/track_item.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The item as a spool line (malloc'd). */
static char *fuzz_line(const ddpc_track_item *it) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) abort();
  ddpc_track_item_write(f, it);
  fclose(f);
  if (len == 0 || text[len - 1] != '\n') abort();
  text[len - 1] = '\0';
  return text;
}

/* Written as a spool line, read back and written again: the same line (bytes that are not
 * UTF-8 become U+FFFD on the first write, and stay so). */
static void fuzz_round_trip(const ddpc_track_item *it) {
  char *first = fuzz_line(it);
  ddpc_track_item back;
  if (ddpc_track_item_parse(first, "spool", 1, &back) != 0) abort();  // what ddpc writes it reads
  char *second = fuzz_line(&back);
  if (strcmp(first, second) != 0) abort();
  ddpc_track_item_free(&back);
  free(first);
  free(second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *spool = fuzz_write(DDPC_TRACK_SPOOL_FILE, data, size);
  ddpc_track_item *items = NULL;
  int n = 0;
  long bytes = 0;
  if (ddpc_track_spool_read(spool, &items, &n, &bytes) == 0) {
    if (bytes < 0 || (size_t)bytes > size) abort();
    for (int i = 0; i < n; i++) {
      const ddpc_track_item *it = &items[i];
      if ((unsigned)it->kind >= DDPC_TRACK_ITEM_COUNT) abort();
      if (it->kind == DDPC_TRACK_ITEM_ARTIFACT && (it->key[0] == '/' || strstr(it->key, "..") == it->key)) abort();
      if (it->kind == DDPC_TRACK_ITEM_ARTIFACT && it->value && (it->value[0] == '/' || strstr(it->value, "..") == it->value))
        abort();  // the file an artifact is read from stays inside the directory too
      if (it->kind != DDPC_TRACK_ITEM_END && (!it->key || !it->key[0])) abort();
      fuzz_round_trip(it);
    }
    for (int i = 0; i < n; i++) ddpc_track_item_free(&items[i]);
    free(items);
  }
  fuzz_remove(spool);

  char *state = fuzz_write(DDPC_TRACK_STATE_FILE, data, size);
  unsetenv("MLFLOW_TRACKING_URI");
  unsetenv("MLFLOW_EXPERIMENT_NAME");
  char *uri = NULL, *experiment = NULL;
  if (ddpc_track_resolve(fuzz_dir(), NULL, NULL, &uri, &experiment) == 0 && uri &&
      strncmp(uri, "http://", 7) != 0 && strncmp(uri, "https://", 8) != 0)
    abort();  // a state file never makes ddpc log anywhere but to an HTTP server
  free(uri);
  free(experiment);
  fuzz_remove(state);

  fuzz_parts in;
  fuzz_split(data, size, &in);
  static const char *const keys[] = {"run_id", "experiment_id", "artifact_uri", "error_code", "message"};
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) free(ddpc_json_find_string(in.part[0], keys[k]));
  fuzz_parts_free(&in);
  ddpc_error_clear();
  return 0;
}
