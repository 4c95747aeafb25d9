/* The value of a grouped trial (see tune_groups.h). */
#include "tune/tune_groups.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "tune/tune_trial.h"

typedef struct {
  bool maximize;  // tune.mode
  double best;    // best value so far (NaN: none)
  int epochs;     // highest epoch seen
} groups_best;

static void groups_on_epoch(void *user, int epoch, double value) {
  groups_best *b = user;
  if (epoch > b->epochs) b->epochs = epoch;
  if (isfinite(value) && (isnan(b->best) || (b->maximize ? value > b->best : value < b->best))) b->best = value;
}

/* The best value of `metric` in one group's metrics.jsonl. */
static int groups_best_of(const char *run_dir, const char *dir, const char *metric, groups_best *b) {
  ddpc_tune_metrics_reader r;
  memset(&r, 0, sizeof r);
  r.path = ddpc_format("%s/%s/metrics.jsonl", run_dir, dir);
  int rc = r.path && ddpc_tune_metrics_read(&r, metric, groups_on_epoch, b) >= 0 ? 0 : -1;
  ddpc_tune_metrics_reader_free(&r);
  return rc;
}

int ddpc_tune_groups_value(const char *run_dir, const char *metric, bool maximize, double *value, int *epochs) {
  *value = NAN;
  *epochs = 0;
  char *path = ddpc_format("%s/groups.json", run_dir);
  FILE *f = path ? fopen(path, "r") : NULL;
  if (!f) {
    int rc = path ? ddpc_error_set("%s: %s (the grouped trial ended before it split its data)", path, strerror(errno))
                  : -1;
    free(path);
    return rc;
  }
  // groups.json (launch/groups/groups_report.c) writes each group's object on a line of its
  // own: {"value", "dir", "rows", "test_rows", "rank" | "skipped"}.
  char *line = NULL;
  size_t cap = 0;
  double sum = 0.0, weights = 0.0;
  bool missing = false;
  int rc = 0, groups = 0;
  while (rc == 0 && getline(&line, &cap, f) > 0) {
    char *dir = ddpc_json_find_string(line, "dir");
    char *skipped = ddpc_json_find_string(line, "skipped");
    double rows = 0;
    if (dir && !skipped && ddpc_json_find_number(line, "rows", &rows) == 1 && rows > 0) {
      groups_best b = {maximize, NAN, 0};
      rc = groups_best_of(run_dir, dir, metric, &b);
      if (b.epochs > *epochs) *epochs = b.epochs;
      if (isfinite(b.best)) {
        sum += b.best * rows;
        weights += rows;
      } else {
        missing = true;
      }
      groups++;
    }
    free(dir);
    free(skipped);
  }
  free(line);
  fclose(f);
  if (rc == 0 && groups == 0) rc = ddpc_error_set("%s: no group was trained", path);
  free(path);
  if (rc == 0 && !missing) *value = sum / weights;
  return rc;
}
