/* The files of a grouped run that are not a group's own training files:
 *   RUN_DIR/groups.json            value -> directory, rows, rank (or why skipped)
 *   RUN_DIR/groups/DIR/outcome.json how the group's run ended, on which rank, in how long
 *   RUN_DIR/summary.json           the per-group table and the overall figures
 * Each is written atomically (core/fsutil.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/exit_code.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/sysinfo.h"
#include "launch/groups/groups_internal.h"

typedef struct {
  const char *column;
  const groups_list *l;
} report_index;

static int report_index_json(FILE *out, void *user) {
  const report_index *x = user;
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "group_by", x->column);
  ddpc_json_begin_array(&j, "groups");
  for (int i = 0; i < x->l->count; i++) {
    const groups_entry *e = &x->l->items[i];
    ddpc_json_begin_object(&j, NULL);
    ddpc_json_string(&j, "value", e->value);
    char *dir = ddpc_format("groups/%s", e->dir);
    ddpc_json_string(&j, "dir", dir ? dir : e->dir);
    free(dir);
    ddpc_json_int(&j, "rows", e->rows);
    ddpc_json_int(&j, "test_rows", e->test_rows);
    if (e->skip_reason) ddpc_json_string(&j, "skipped", e->skip_reason);
    else ddpc_json_int(&j, "rank", e->rank);
    ddpc_json_end_object(&j);
    fputc('\n', out);
  }
  ddpc_json_end(&j);
  fputc('\n', out);
  return 0;
}

int groups_write_index(const char *run_dir, const char *column, const groups_list *l) {
  char *path = ddpc_format("%s/groups.json", run_dir);
  if (!path) return -1;
  report_index x = {column, l};
  int rc = ddpc_fs_write_atomic(path, report_index_json, &x);
  free(path);
  return rc;
}

typedef struct {
  const groups_entry *e;
  const char *state, *reason;
  double seconds;
} report_outcome;

static int report_outcome_json(FILE *out, void *user) {
  const report_outcome *o = user;
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "state", o->state);
  ddpc_json_string(&j, "reason", o->reason ? o->reason : "");
  ddpc_json_string(&j, "value", o->e->value);
  ddpc_json_int(&j, "rank", o->e->rank);
  ddpc_json_number(&j, "seconds", o->seconds);
  ddpc_json_end(&j);
  fputc('\n', out);
  return 0;
}

int groups_write_outcome(const char *group_dir, const groups_entry *e, const char *state, const char *reason,
                         double seconds) {
  char *path = ddpc_format("%s/outcome.json", group_dir);
  if (!path) return -1;
  report_outcome o = {e, state, reason, seconds};
  int rc = ddpc_fs_write_atomic(path, report_outcome_json, &o);
  free(path);
  return rc;
}

/* One row of the table, from the group's outcome.json and its run's summary.json. */
typedef struct {
  char *state;        // final state, `failed`, `preempted`, or `skipped`
  char *reason;       // the stop reason, the error, or why skipped
  double seconds;     // this process's time on the group (outcome.json)
  double training_seconds;  // the run's, across resumes (summary.json)
  double epochs, test_loss, test_accuracy, test_mae, test_rmse, test_r2, params_crc32;
} report_row;

/* Reads RUN_DIR/groups/DIR's files into row; a missing outcome is a rank that ended early. */
static void report_read_row(const char *run_dir, const groups_entry *e, report_row *row) {
  memset(row, 0, sizeof *row);
  double *nums[] = {&row->training_seconds, &row->epochs, &row->test_loss, &row->test_accuracy, &row->test_mae,
                    &row->test_rmse, &row->test_r2, &row->params_crc32, &row->seconds};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) *nums[i] = NAN;
  if (e->skip_reason) {
    row->state = ddpc_strdup("skipped");
    row->reason = ddpc_strdup(e->skip_reason);
    return;
  }
  char *dir = ddpc_format("%s/groups/%s", run_dir, e->dir);
  char *buf = malloc(65536);
  if (dir && buf && ddpc_fs_read_head(dir, "outcome.json", buf, 65536)) {
    row->state = ddpc_json_find_string(buf, "state");
    row->reason = ddpc_json_find_string(buf, "reason");
    ddpc_json_find_number(buf, "seconds", &row->seconds);
  }
  if (dir && buf && ddpc_fs_read_head(dir, "summary.json", buf, 65536)) {
    const char *keys[] = {"training_seconds", "epochs_completed", "test_loss", "test_accuracy", "test_mae",
                          "test_rmse", "test_r2", "params_crc32"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) ddpc_json_find_number(buf, keys[i], nums[i]);
  }
  if (!row->state) {
    free(row->reason);
    row->state = ddpc_strdup("failed");
    row->reason = ddpc_strdup("no outcome.json: the rank training it ended before the group did");
  }
  free(buf);
  free(dir);
}

typedef struct {
  const groups_report *r;
  const groups_list *l;
  report_row *rows;
  const char *state;
  const char *metric;        // test_accuracy or test_rmse
  double mean, weighted;     // of the metric over the groups done
  int done, rejected, failed, preempted, review, skipped;
  int slowest;               // index of the slowest group trained (-1: none)
} report_summary;

/* A group's training time across resumes (summary.json), or this process's time on it when
 * its run wrote none (it failed first). */
static double report_group_seconds(const report_row *row) {
  return isfinite(row->training_seconds) ? row->training_seconds : row->seconds;
}

static double report_metric(const report_summary *s, const report_row *row) {
  return s->r->classification ? row->test_accuracy : row->test_rmse;
}

static int report_summary_json(FILE *out, void *user) {
  const report_summary *s = user;
  const groups_report *r = s->r;
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "name", r->name);
  ddpc_json_string(&j, "state", s->state);
  ddpc_json_string(&j, "group_by", r->column);
  ddpc_json_int(&j, "groups_total", s->l->count);
  ddpc_json_int(&j, "groups_done", s->done);
  ddpc_json_int(&j, "groups_rejected", s->rejected);
  ddpc_json_int(&j, "groups_failed", s->failed);
  ddpc_json_int(&j, "groups_preempted", s->preempted);
  ddpc_json_int(&j, "groups_await_review", s->review);
  ddpc_json_int(&j, "groups_skipped", s->skipped);
  ddpc_json_int(&j, "min_group_rows", r->min_group_rows);
  ddpc_json_string(&j, "metric", s->metric);
  char *key = ddpc_format("mean_%s", s->metric);
  if (key) ddpc_json_number(&j, key, s->mean);
  free(key);
  key = ddpc_format("rows_weighted_%s", s->metric);
  if (key) ddpc_json_number(&j, key, s->weighted);
  free(key);
  if (s->slowest >= 0) {
    ddpc_json_string(&j, "slowest_group", s->l->items[s->slowest].value);
    ddpc_json_number(&j, "slowest_group_seconds", report_group_seconds(&s->rows[s->slowest]));
  }
  ddpc_json_number(&j, "wall_seconds", r->wall_seconds);
  ddpc_json_int(&j, "world_size", r->world);
  // Load balance: each rank's busy time against the slowest rank's; idle = waiting for it.
  double max_busy = 0.0, sum_busy = 0.0;
  for (int k = 0; k < r->world; k++) {
    if (r->busy[k] > max_busy) max_busy = r->busy[k];
    sum_busy += r->busy[k];
  }
  ddpc_json_number(&j, "load_balance", max_busy > 0 ? sum_busy / r->world / max_busy : NAN);
  ddpc_json_begin_array(&j, "ranks");
  for (int k = 0; k < r->world; k++) {
    ddpc_json_begin_object(&j, NULL);
    ddpc_json_int(&j, "rank", k);
    ddpc_json_int(&j, "groups", r->trained[k]);
    ddpc_json_number(&j, "busy_seconds", r->busy[k]);
    ddpc_json_number(&j, "idle_fraction", max_busy > 0 ? 1.0 - r->busy[k] / max_busy : 0.0);
    ddpc_json_end_object(&j);
  }
  ddpc_json_end_array(&j);
  ddpc_json_begin_array(&j, "groups");
  for (int i = 0; i < s->l->count; i++) {
    const groups_entry *e = &s->l->items[i];
    const report_row *row = &s->rows[i];
    fputc('\n', out);
    ddpc_json_begin_object(&j, NULL);
    ddpc_json_string(&j, "value", e->value);
    ddpc_json_string(&j, "dir", e->dir);
    ddpc_json_int(&j, "rows", e->rows);
    ddpc_json_int(&j, "rank", e->rank);
    ddpc_json_string(&j, "state", row->state);
    ddpc_json_string(&j, "reason", row->reason ? row->reason : "");
    if (isfinite(row->epochs)) ddpc_json_int(&j, "epochs", (int64_t)row->epochs);
    ddpc_json_number(&j, "test_loss", row->test_loss);
    if (r->classification) ddpc_json_number(&j, "test_accuracy", row->test_accuracy);
    else {
      ddpc_json_number(&j, "test_mae", row->test_mae);
      ddpc_json_number(&j, "test_rmse", row->test_rmse);
      ddpc_json_number(&j, "test_r2", row->test_r2);
    }
    if (isfinite(row->params_crc32)) ddpc_json_int(&j, "params_crc32", (int64_t)row->params_crc32);
    ddpc_json_number(&j, "seconds", row->seconds);
    ddpc_json_number(&j, "training_seconds", row->training_seconds);
    ddpc_json_end_object(&j);
  }
  ddpc_json_end(&j);
  fputc('\n', out);
  return 0;
}

int groups_write_summary(const groups_report *r, const groups_list *l, const char **state) {
  report_summary s = {r, l, ddpc_calloc(l->count ? (size_t)l->count : 1, sizeof(report_row), "group table"), "done",
                      r->classification ? "test_accuracy" : "test_rmse", NAN, NAN, 0, 0, 0, 0, 0, 0, -1};
  if (!s.rows) return -1;
  double sum = 0.0, wsum = 0.0, weights = 0.0;
  int counted = 0;
  for (int i = 0; i < l->count; i++) {
    report_row *row = &s.rows[i];
    report_read_row(r->run_dir, &l->items[i], row);
    const char *st = row->state ? row->state : "failed";
    ddpc_exit_code code = ddpc_exit_code_of_state(st);
    // A rejected group ends as cleanly as a done one (exit code 0), but its model is not one
    // to use: counted apart, and outside the means (it has no test metrics).
    bool rejected = strcmp(st, "rejected") == 0;
    if (strcmp(st, "skipped") == 0) s.skipped++;
    else if (code == DDPC_EXIT_PREEMPTED) s.preempted++;
    else if (code == DDPC_EXIT_AWAIT_REVIEW) s.review++;
    else if (rejected) s.rejected++;
    else if (code == DDPC_EXIT_OK) s.done++;
    else s.failed++;
    if (!l->items[i].skip_reason && isfinite(report_group_seconds(row)) &&
        (s.slowest < 0 || report_group_seconds(row) > report_group_seconds(&s.rows[s.slowest])))
      s.slowest = i;
    double m = report_metric(&s, row);
    if (code == DDPC_EXIT_OK && !rejected && isfinite(m)) {
      sum += m;
      wsum += m * l->items[i].rows;
      weights += l->items[i].rows;
      counted++;
    }
  }
  if (counted) {
    s.mean = sum / counted;
    s.weighted = wsum / weights;
  }
  // The state whose exit code says what to do next: resume (5), answer a review (4), or
  // look at the failed groups (7).
  s.state = s.preempted ? "preempted" : s.review ? "await_review" : s.failed ? "groups_failed" : "done";
  *state = s.state;
  char *path = ddpc_format("%s/summary.json", r->run_dir);
  int rc = path ? ddpc_fs_write_atomic(path, report_summary_json, &s) : -1;
  free(path);
  if (!r->quiet) {
    for (int i = 0; i < l->count; i++) {
      const report_row *row = &s.rows[i];
      printf("group %-16s %6u rows  %-10s", l->items[i].value, l->items[i].rows, row->state ? row->state : "?");
      if (isfinite(row->epochs)) printf("  %3.0f epochs", row->epochs);
      if (isfinite(report_metric(&s, row))) printf("  %s %.4f", s.metric, report_metric(&s, row));
      if (row->reason && *row->reason) printf("  (%s)", row->reason);
      putchar('\n');
    }
    printf("groups: %d done, %d rejected, %d failed, %d preempted, %d awaiting review, %d skipped | %s mean %.4f, "
           "rows-weighted %.4f | wall %.1f s",
           s.done, s.rejected, s.failed, s.preempted, s.review, s.skipped, s.metric, s.mean, s.weighted, r->wall_seconds);
    if (s.slowest >= 0)
      printf(" | slowest %s %.1f s", l->items[s.slowest].value, report_group_seconds(&s.rows[s.slowest]));
    printf(" | %s/summary.json\n", r->run_dir);
    fflush(stdout);
  }
  for (int i = 0; i < l->count; i++) {
    free(s.rows[i].state);
    free(s.rows[i].reason);
  }
  free(s.rows);
  return rc;
}
