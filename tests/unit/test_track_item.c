/* MLflow tracking items and their spool lines (track/track_item.c): strings with quotes,
 * backslashes, line breaks, control characters and UTF-8 (and bytes that are not UTF-8)
 * are written as valid JSON and read back to the same text; a spool file with a bad line
 * is refused naming the file and line; an artifact path may not leave the directory; a
 * line cut by a crash is not taken. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "testing.h"
#include "track/track_item.h"

#define CHECK(cond, ...) testing_check((cond), __FILE__, __LINE__, __VA_ARGS__)

static char *line_of(const ddpc_track_item *it) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ddpc_track_item_write(f, it);
  fclose(f);
  if (len > 0) text[len - 1] = '\0';
  return text;
}

int main(void) {
  // Every kind of character a key or value may hold.
  const char *hostile = "a \"quoted\" back\\slash\nline\ttab\x01 caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
  ddpc_track_item it = {.kind = DDPC_TRACK_ITEM_TAG, .run = "abc", .key = "k \"1\"", .value = (char *)hostile};
  char *text = line_of(&it);
  CHECK(strstr(text, "\"value\":\"a \\\"quoted\\\" back\\\\slash\\nline\\u0009tab\\u0001 caf\xc3\xa9 "
                     "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"") != NULL,
        "escaped as JSON, UTF-8 kept: %s", text);
  ddpc_track_item back;
  CHECK(ddpc_track_item_parse(text, "spool", 1, &back) == 0, "read back: %s", ddpc_error_message());
  CHECK(back.kind == DDPC_TRACK_ITEM_TAG && strcmp(back.value, hostile) == 0 && strcmp(back.key, "k \"1\"") == 0 &&
            strcmp(back.run, "abc") == 0,
        "the same strings back");
  ddpc_track_item_free(&back);
  free(text);

  // Bytes that are not UTF-8 become U+FFFD, so the line stays valid JSON for the server.
  it.value = "bad \xff byte, cut \xe6\x97";
  text = line_of(&it);
  CHECK(strstr(text, "\"bad \xef\xbf\xbd byte, cut \xef\xbf\xbd\xef\xbf\xbd\"") != NULL, "U+FFFD for bad bytes: %s", text);
  free(text);

  // A metric keeps its number (ten digits, as metrics.jsonl), step and time.
  ddpc_track_item m = {.kind = DDPC_TRACK_ITEM_METRIC, .key = "val_loss", .number = 0.3077215352, .step = 7,
                       .time_ms = 1796389061600};
  text = line_of(&m);
  CHECK(ddpc_track_item_parse(text, "spool", 1, &back) == 0 && back.number == 0.3077215352 && back.step == 7 &&
            back.time_ms == 1796389061600 && back.run == NULL,
        "metric read back: %s", text);
  ddpc_track_item_free(&back);
  free(text);

  // An artifact uploaded under another name keeps the file it is read from.
  ddpc_track_item a = {.kind = DDPC_TRACK_ITEM_ARTIFACT, .key = "model/model.onnx", .value = "export/model.onnx"};
  text = line_of(&a);
  CHECK(ddpc_track_item_parse(text, "spool", 1, &back) == 0 && strcmp(back.key, "model/model.onnx") == 0 &&
            back.value && strcmp(back.value, "export/model.onnx") == 0,
        "artifact with its file read back: %s", text);
  ddpc_track_item_free(&back);
  free(text);

  // A param line with a stray non-finite "number" (which no ddpc writes) is taken without
  // it: written back it reads back the same (a fuzz finding: it came back as null, then 0).
  CHECK(ddpc_track_item_parse("{\"kind\":\"param\",\"key\":\"a\",\"value\":\"b\",\"number\":1e999}", "spool", 1,
                              &back) == 0 &&
            back.number == 0,
        "a param's non-finite number dropped: %g", back.number);
  text = line_of(&back);
  ddpc_track_item again;
  CHECK(ddpc_track_item_parse(text, "spool", 1, &again) == 0 && again.number == 0, "and read back the same: %s", text);
  ddpc_track_item_free(&again);
  ddpc_track_item_free(&back);
  free(text);

  // Lines that are refused, with file and line.
  static const char *const bad[][2] = {
      {"{\"kind\":\"metric\",\"key\":\"x\",\"number\":1,\"step\":1}", "a metric line needs"},
      {"{\"kind\":\"metric\",\"key\":\"x\",\"number\":inf,\"step\":1,\"time\":1}", "a metric line needs"},
      {"{\"kind\":\"artifact\",\"key\":\"../../etc/passwd\"}", "relative path inside"},
      {"{\"kind\":\"artifact\",\"key\":\"/etc/passwd\"}", "relative path inside"},
      {"{\"kind\":\"artifact\",\"key\":\"a/../../b\"}", "relative path inside"},
      {"{\"kind\":\"artifact\",\"key\":\"model/m.onnx\",\"value\":\"../m.onnx\"}", "relative path inside"},
      {"{\"kind\":\"artifact\",\"key\":\"model/m.onnx\",\"value\":\"/tmp/m.onnx\"}", "relative path inside"},
      {"{\"kind\":\"end\",\"value\":\"DONE\",\"time\":1}", "FINISHED, FAILED, KILLED or RUNNING"},
      {"{\"kind\":\"note\",\"key\":\"x\"}", "\"kind\" one of"},
      {"not json", "\"kind\" one of"},
      {"{\"kind\":\"param\",\"key\":\"\",\"value\":\"1\"}", "non-empty string \"key\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ddpc_track_item b;
    int rc = ddpc_track_item_parse(bad[i][0], "p.jsonl", 4, &b);
    CHECK(rc != 0 && strstr(ddpc_error_message(), "p.jsonl:4: ") == ddpc_error_message() &&
              strstr(ddpc_error_message(), bad[i][1]) != NULL,
          "refused '%s': %s", bad[i][0], ddpc_error_message());
    ddpc_error_clear();
  }

  // A spool file: good lines, then a line cut by a crash (no newline) that is not taken.
  char path[4096];
  snprintf(path, sizeof path, "%s/mlflow_pending.jsonl", testing_temp_dir());
  FILE *f = fopen(path, "w");
  ddpc_track_item_write(f, &m);
  ddpc_track_item_write(f, &it);
  fputs("{\"kind\":\"metric\",\"key\":\"cut", f);
  fclose(f);
  ddpc_track_item *items = NULL;
  int n = 0;
  long bytes = 0;
  CHECK(ddpc_track_spool_read(path, &items, &n, &bytes) == 0 && n == 2 && items[0].kind == DDPC_TRACK_ITEM_METRIC &&
            items[1].kind == DDPC_TRACK_ITEM_TAG,
        "two whole lines read, the cut one left: %d", n);
  for (int i = 0; i < n; i++) ddpc_track_item_free(&items[i]);
  free(items);
  f = fopen(path, "w");
  ddpc_track_item_write(f, &m);
  fputs("{\"kind\":\"param\"}\n", f);
  fclose(f);
  CHECK(ddpc_track_spool_read(path, &items, &n, &bytes) != 0 && strstr(ddpc_error_message(), ":2: a param line needs"),
        "a bad second line named: %s", ddpc_error_message());
  ddpc_error_clear();
  remove(path);
  CHECK(ddpc_track_spool_read(path, &items, &n, &bytes) == 0 && n == 0, "a missing spool is empty");
  return testing_finish();
}
