/* Tracking items and their spool lines (see track_item.h). */
#include "track/track_item.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"

const char *const ddpc_track_item_kind_names[DDPC_TRACK_ITEM_COUNT] = {"param", "tag", "metric", "end", "artifact"};

void ddpc_track_item_free(ddpc_track_item *it) {
  free(it->run);
  free(it->key);
  free(it->value);
  it->run = it->key = it->value = NULL;
}

void ddpc_track_item_write(FILE *out, const ddpc_track_item *it) {
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "kind", ddpc_track_item_kind_names[it->kind]);
  ddpc_json_string(&j, "run", it->run);
  ddpc_json_string(&j, "key", it->key);
  ddpc_json_string(&j, "value", it->value);
  ddpc_json_number(&j, "number", it->number);
  ddpc_json_int(&j, "step", it->step);
  ddpc_json_int(&j, "time", it->time_ms);
  ddpc_json_end(&j);
  fputc('\n', out);
}

/* An artifact's name must stay inside the directory: relative, no '..' component. */
static bool item_path_inside(const char *path) {
  if (!path[0] || path[0] == '/') return false;
  for (const char *p = path; *p;) {
    size_t len = strcspn(p, "/");
    if ((len == 2 && p[0] == '.' && p[1] == '.') || len == 0) return false;
    p += len;
    if (*p == '/') p++;
  }
  return true;
}

/* Whole numbers a step or a time can be (|x| < 2^53, exact in a double). */
static bool item_whole(double v) { return v == v && v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v; }

int ddpc_track_item_parse(const char *line, const char *file, int line_no, ddpc_track_item *it) {
  memset(it, 0, sizeof *it);
  char *kind = ddpc_json_find_string(line, "kind");
  int k = 0;
  while (kind && k < DDPC_TRACK_ITEM_COUNT && strcmp(kind, ddpc_track_item_kind_names[k]) != 0) k++;
  free(kind);
  if (!kind || k == DDPC_TRACK_ITEM_COUNT)
    return ddpc_error_set("%s:%d: expected a JSON object with \"kind\" one of param, tag, metric, end, artifact", file,
                          line_no);
  it->kind = (ddpc_track_item_kind)k;
  it->run = ddpc_json_find_string(line, "run");
  it->key = ddpc_json_find_string(line, "key");
  it->value = ddpc_json_find_string(line, "value");
  double step = 0, time_ms = 0;
  // strtod also reads "inf" and "nan", which no JSON writer makes and MLflow cannot take.
  bool has_number = ddpc_json_find_number(line, "number", &it->number) == 1 && isfinite(it->number);
  bool has_step = ddpc_json_find_number(line, "step", &step) == 1 && item_whole(step);
  bool has_time = ddpc_json_find_number(line, "time", &time_ms) == 1 && item_whole(time_ms);
  if (!has_number) it->number = 0;  // a non-finite one must not be kept: it would be written back as null
  it->step = has_step ? (int64_t)step : 0;
  it->time_ms = has_time ? (int64_t)time_ms : 0;
  const char *missing = NULL;
  if (it->kind != DDPC_TRACK_ITEM_END && (!it->key || !it->key[0])) missing = "a non-empty string \"key\"";
  else if ((it->kind == DDPC_TRACK_ITEM_PARAM || it->kind == DDPC_TRACK_ITEM_TAG) && !it->value)
    missing = "a string \"value\"";
  else if (it->kind == DDPC_TRACK_ITEM_METRIC && (!has_number || !has_step || !has_time))
    missing = "a \"number\" and whole \"step\" and \"time\"";
  else if (it->kind == DDPC_TRACK_ITEM_END &&
           (!it->value || (strcmp(it->value, "FINISHED") != 0 && strcmp(it->value, "FAILED") != 0 &&
                           strcmp(it->value, "KILLED") != 0 && strcmp(it->value, "RUNNING") != 0) || !has_time))
    missing = "\"value\" FINISHED, FAILED, KILLED or RUNNING and a whole \"time\"";
  else if (it->kind == DDPC_TRACK_ITEM_ARTIFACT && (!item_path_inside(it->key) || (it->value && !item_path_inside(it->value))))
    missing = "\"key\" (and \"value\" when given) a relative path inside the directory (no '..', not absolute)";
  if (!missing) return 0;
  ddpc_track_item_free(it);
  return ddpc_error_set("%s:%d: a %s line needs %s", file, line_no, ddpc_track_item_kind_names[k], missing);
}

int ddpc_track_spool_read(const char *path, ddpc_track_item **items, int *count, long *bytes) {
  *items = NULL;
  *count = 0;
  *bytes = 0;
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : ddpc_error_set("cannot open '%s': %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0, line_no = 0, room = 0;
  while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
    line_no++;
    *bytes += (long)len;
    if (line[len - 1] != '\n') break;  // a line cut by a crash mid-write: not taken, and dropped when the spool is rewritten
    line[len - 1] = '\0';
    if (strlen(line) != (size_t)len - 1) {
      rc = ddpc_error_set("%s:%d: expected a line of JSON text, found a NUL byte", path, line_no);
      break;
    }
    if (*count == room) {
      room = room ? room * 2 : 64;
      ddpc_track_item *grown = realloc(*items, (size_t)room * sizeof *grown);
      if (!grown) {
        rc = ddpc_error_set("out of memory (reading %s)", path);
        break;
      }
      *items = grown;
    }
    if (ddpc_track_item_parse(line, path, line_no, &(*items)[*count]) != 0) rc = -1;
    else (*count)++;
  }
  if (rc == 0 && ferror(f)) rc = ddpc_error_set("cannot read '%s': %s", path, strerror(errno));
  free(line);
  fclose(f);
  if (rc != 0) {
    for (int i = 0; i < *count; i++) ddpc_track_item_free(&(*items)[i]);
    free(*items);
    *items = NULL;
    *count = 0;
  }
  return rc;
}
