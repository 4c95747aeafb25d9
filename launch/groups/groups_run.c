/* The driver of a grouped run (data.group_by). Rank 0 splits the CSV into one file per
 * group under RUN_DIR/groups/DIR/, skips the groups that are too small, plans which rank
 * trains which group and writes groups.json; the plan is broadcast. Every rank then trains
 * its groups one after another, each an ordinary training session (ddpc_train_run) in the
 * group's directory on a communicator of its own process: no collective joins two groups,
 * so a group's model is the one `ddpc train` makes on that group's rows alone, whichever
 * rank trains it and however many ranks there are. A group that fails or diverges ends
 * alone. At the end the ranks meet once, and rank 0 writes summary.json. */
#define _XOPEN_SOURCE 700  // realpath
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/exit_code.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/sysinfo.h"
#include "launch/groups/groups.h"
#include "launch/groups/groups_internal.h"
#include "launch/train/signals.h"

typedef struct {
  const char *text;
  size_t len;
} run_text;

static int run_write_text(FILE *out, void *user) {
  const run_text *t = user;
  return fwrite(t->text, 1, t->len, out) == t->len ? 0 : -1;
}

static int run_write_file(const char *dir, const char *name, const char *text, size_t len) {
  char *path = ddpc_format("%s/%s", dir, name);
  run_text t = {text, len};
  int rc = path ? ddpc_fs_write_atomic(path, run_write_text, &t) : -1;
  free(path);
  return rc;
}

static int run_split_write(const ddpc_data_config *dc, const char *run_dir, groups_list *l);

/* Rank 0: reads and splits the data, writes each group's files, groups.json and the run's
 * config.yaml (`ddpc resume RUN_DIR` reads it), and plans the ranks' work. */
static int run_setup(const ddpc_train_options *opt, const ddpc_config *cfg, const char *run_dir, int world,
                     groups_list *l) {
  const ddpc_data_config *dc = &cfg->data;
  if (opt->resume && strcmp(opt->resume, "auto") != 0)
    return ddpc_error_set("--resume %s: a grouped run (data.group_by) resumes with --resume auto, each group from "
                          "its own newest checkpoint", opt->resume);
  char *index = ddpc_format("%s/groups.json", run_dir);
  if (!index) return -1;
  FILE *earlier = opt->resume ? NULL : fopen(index, "r");
  free(index);
  if (earlier) {
    fclose(earlier);
    return ddpc_error_set("%s already holds a grouped run (groups.json): continue it with --resume auto, or start "
                          "this run in another directory (--run-dir DIR, or output.dir)", run_dir);
  }
  if (run_split_write(dc, run_dir, l) != 0) return -1;
  groups_plan_assign(l, world);
  if (groups_write_index(run_dir, dc->group_by, l) != 0 || run_write_file(run_dir, "config.yaml", cfg->resolved_yaml, strlen(cfg->resolved_yaml)))
    return -1;
  if (!opt->quiet) {
    int skipped = 0;
    for (int i = 0; i < l->count; i++) skipped += l->items[i].skip_reason != NULL;
    printf("groups: %d values of '%s' in %s; %d to train on %d rank%s, %d skipped (see %s/groups.json)\n", l->count,
           dc->group_by, dc->train.path, l->count - skipped, world, world == 1 ? "" : "s", skipped, run_dir);
    if (l->test_orphans)
      printf("groups: %u rows of the test file belong to no group of the training file: left out\n", l->test_orphans);
    fflush(stdout);
  }
  return 0;
}

/* Splits the data by data.group_by into RUN_DIR/groups/DIR/train.csv (and test.csv) and marks
 * the groups that are too small to train (skip_reason). */
static int run_split_write(const ddpc_data_config *dc, const char *run_dir, groups_list *l) {
  if (groups_split_csv(dc->train.path, dc->group_by, GROUPS_SPLIT_TRAIN, l) != 0) return -1;
  if (dc->test.path && *dc->test.path && groups_split_csv(dc->test.path, dc->group_by, GROUPS_SPLIT_TEST, l) != 0) return -1;
  char *groups_dir = ddpc_format("%s/groups", run_dir);
  int rc = groups_dir ? ddpc_fs_mkdirs(groups_dir, 0755) : -1;
  bool has_test = dc->test.path && *dc->test.path;
  for (int i = 0; rc == 0 && i < l->count; i++) {
    groups_entry *e = &l->items[i];
    if (!(e->dir = groups_encode_name(e->value))) rc = ddpc_error_set("out of memory (group names)");
    else if (e->rows < (uint32_t)dc->min_group_rows)
      e->skip_reason = ddpc_format("%u rows, fewer than data.min_group_rows %d", e->rows, dc->min_group_rows);
    else if (has_test && e->test_rows == 0)
      e->skip_reason = ddpc_format("no rows in the test file %s", dc->test.path);
    if (rc != 0 || e->skip_reason) continue;
    char *dir = ddpc_format("%s/%s", groups_dir, e->dir);
    rc = dir ? ddpc_fs_mkdirs(dir, 0755) : -1;
    if (rc == 0) rc = run_write_file(dir, "train.csv", e->train_text, e->train_len);
    if (rc == 0 && has_test) rc = run_write_file(dir, "test.csv", e->test_text, e->test_len);
    free(dir);
  }
  free(groups_dir);
  return rc;
}

int ddpc_groups_split_for_tuning(const ddpc_config *cfg, const char *dir, ddpc_groups_split *out) {
  memset(out, 0, sizeof *out);
  groups_list l;
  memset(&l, 0, sizeof l);
  int rc = run_split_write(&cfg->data, dir, &l);
  if (rc == 0) {
    groups_plan_assign(&l, 1);
    rc = groups_write_index(dir, cfg->data.group_by, &l);
  }
  out->has_test = cfg->data.test.path && *cfg->data.test.path;
  out->values = ddpc_calloc((size_t)l.count + 1, sizeof *out->values, "groups");
  out->dirs = ddpc_calloc((size_t)l.count + 1, sizeof *out->dirs, "groups");
  if (!out->values || !out->dirs) rc = -1;
  for (int i = 0; rc == 0 && i < l.count; i++) {
    if (l.items[i].skip_reason) continue;
    out->values[out->count] = ddpc_strdup(l.items[i].value);
    out->dirs[out->count++] = ddpc_strdup(l.items[i].dir);
    if (!out->values[out->count - 1] || !out->dirs[out->count - 1]) rc = -1;
  }
  out->skipped = l.count - out->count;
  groups_list_free(&l);
  if (rc != 0) ddpc_groups_split_free(out);
  return rc;
}

void ddpc_groups_split_free(ddpc_groups_split *s) {
  for (int i = 0; i < s->count; i++) {
    free(s->values[i]);
    free(s->dirs[i]);
  }
  free(s->values);
  free(s->dirs);
  memset(s, 0, sizeof *s);
}

/* The plan as bytes, for the broadcast: per group its rows, test rows, rank, order, and
 * its value, directory and skip reason as NUL-terminated strings. */
typedef struct {
  char *bytes;
  size_t len, cap;
} run_buf;

static int run_put(run_buf *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n) cap *= 2;
    char *grown = realloc(b->bytes, cap);
    if (!grown) return ddpc_error_set("out of memory (group plan)");
    b->bytes = grown;
    b->cap = cap;
  }
  memcpy(b->bytes + b->len, data, n);
  b->len += n;
  return 0;
}

static int run_put_string(run_buf *b, const char *s) { return run_put(b, s ? s : "", strlen(s ? s : "") + 1); }

static int run_pack(const groups_list *l, run_buf *b) {
  int32_t count = l->count;
  int rc = run_put(b, &count, sizeof count);
  for (int i = 0; rc == 0 && i < l->count; i++) {
    const groups_entry *e = &l->items[i];
    int32_t nums[4] = {(int32_t)e->rows, (int32_t)e->test_rows, e->rank, e->order};
    rc = run_put(b, nums, sizeof nums) || run_put_string(b, e->value) || run_put_string(b, e->dir) ||
         run_put_string(b, e->skip_reason);
  }
  return rc;
}

static char *run_take_string(const run_buf *b, size_t *pos) {
  const char *s = b->bytes + *pos;
  size_t n = strnlen(s, b->len - *pos);
  *pos += n + 1;
  return ddpc_strdup(s);
}

static int run_unpack(const run_buf *b, groups_list *l) {
  int32_t count;
  size_t pos = sizeof count;
  memcpy(&count, b->bytes, sizeof count);
  l->items = ddpc_calloc(count ? (size_t)count : 1, sizeof *l->items, "group plan");
  if (!l->items) return -1;
  for (int i = 0; i < count; i++) {
    groups_entry *e = &l->items[i];
    int32_t nums[4];
    memcpy(nums, b->bytes + pos, sizeof nums);
    pos += sizeof nums;
    e->rows = (uint32_t)nums[0];
    e->test_rows = (uint32_t)nums[1];
    e->rank = nums[2];
    e->order = nums[3];
    e->value = run_take_string(b, &pos);
    e->dir = run_take_string(b, &pos);
    char *reason = run_take_string(b, &pos);
    if (reason && *reason) e->skip_reason = reason;
    else free(reason);
    l->count = i + 1;
    if (!e->value || !e->dir) return -1;
  }
  return 0;
}

/* Rank 0's set-up outcome and plan reach every rank. */
static int run_share_plan(ddpc_comm *c, int setup_rc, groups_list *l) {
  run_buf b = {NULL, 0, 0};
  int64_t len = -1;
  if (c->rank == 0 && setup_rc == 0 && run_pack(l, &b) == 0) len = (int64_t)b.len;
  if (c->ops->broadcast(c, &len, sizeof len, 0) != 0) len = -2;
  if (len < 0 || c->size == 1) {
    free(b.bytes);
    return len < 0 ? -1 : 0;
  }
  if (c->rank != 0 && !(b.bytes = ddpc_malloc((size_t)len, "group plan"))) return -1;
  b.len = (size_t)len;
  int rc = c->ops->broadcast(c, b.bytes, b.len, 0);
  if (rc == 0 && c->rank != 0) rc = run_unpack(&b, l);
  free(b.bytes);
  return rc;
}

/* The group's run: the config and its overrides, with the group's own files and no
 * group_by, in RUN_DIR/groups/DIR, on this process alone. Returns this process's seconds. */
static double run_group(const ddpc_train_options *opt, const ddpc_config *cfg, const char *run_dir,
                        const groups_entry *e) {
  double t0 = ddpc_time_seconds();
  const ddpc_data_config *dc = &cfg->data;
  bool has_test = dc->test.path && *dc->test.path;
  char *dir = ddpc_format("%s/groups/%s", run_dir, e->dir);
  char *abs = dir ? realpath(dir, NULL) : NULL;
  char *train = abs ? ddpc_format("data.train.path=%s/train.csv", abs) : NULL;
  char *test = abs && has_test ? ddpc_format("data.test.path=%s/test.csv", abs) : NULL;
  const char **overrides = calloc((size_t)opt->n_overrides + 3, sizeof *overrides);
  const char *state = "failed";
  char *reason = NULL;
  if (!dir || !abs || !train || (has_test && !test) || !overrides) {
    reason = ddpc_format("cannot set up the group's run in %s: %s", dir ? dir : run_dir,
                         abs ? "out of memory" : strerror(errno));
  } else {
    int n = 0;
    for (int i = 0; i < opt->n_overrides; i++) overrides[n++] = opt->overrides[i];
    overrides[n++] = train;
    if (test) overrides[n++] = test;
    overrides[n++] = "data.group_by=";
    ddpc_train_options g = *opt;
    g.overrides = overrides;
    g.n_overrides = n;
    g.run_dir = dir;
    g.quiet = 1;
    g.resume = opt->resume ? "auto" : NULL;
    g.single_process = 1;
    // Test hook: DDPC_FAIL_GROUP=VALUE keeps DDPC_FAIL_AT (launch/train/train_setup.c) to
    // that group's run, so that a test can fail, kill or stop a group in mid-queue.
    const char *only = getenv("DDPC_FAIL_GROUP");
    const char *fail_at = getenv("DDPC_FAIL_AT");
    char *kept = only && fail_at && strcmp(only, e->value) != 0 ? ddpc_strdup(fail_at) : NULL;
    if (kept) unsetenv("DDPC_FAIL_AT");
    ddpc_train_result res;
    int run_rc = ddpc_train_run(&g, &res);
    if (kept) setenv("DDPC_FAIL_AT", kept, 1);
    free(kept);
    if (run_rc == 0) {
      state = res.state;
      char buf[8192];
      char *stop = ddpc_fs_read_head(dir, "summary.json", buf, sizeof buf) ? ddpc_json_find_string(buf, "stop_reason")
                                                                          : NULL;
      reason = stop;
    } else {
      reason = ddpc_strdup(ddpc_last_error());
    }
  }
  double seconds = ddpc_time_seconds() - t0;
  if (dir && groups_write_outcome(dir, e, state, reason, seconds) != 0) {
    fprintf(stderr, "ddpc: group %s: %s\n", e->value, ddpc_last_error());
    state = "failed";
  }
  if (!opt->quiet) {
    printf("group %s (rank %d): %s in %.1f s%s%s%s\n", e->value, e->rank, state, seconds, reason ? " (" : "",
           reason ? reason : "", reason ? ")" : "");
    fflush(stdout);
  }
  free(reason);
  free(overrides);
  free(test);
  free(train);
  free(abs);
  free(dir);
  return seconds;
}

/* Waits for every rank without spinning: a rank done with its groups must not take a core
 * from the ranks still training (Open MPI's blocking barrier polls at full speed). */
static int run_wait_all(ddpc_comm *c) {
  float token = 0.0f;
  ddpc_comm_request *req = NULL;
  if (c->ops->iallreduce_float(c, &token, 1, DDPC_REDUCE_SUM, &req) != 0) return -1;
  for (;;) {
    bool done = false;
    if (c->ops->test(c, req, &done) != 0) return -1;
    if (done) return 0;
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
}

int ddpc_groups_run(const ddpc_train_options *opt, const ddpc_config *cfg) {
  double t0 = ddpc_time_seconds();
  ddpc_comm *c = NULL;
  if (ddpc_comm_create(&c) != 0) {
    fprintf(stderr, "ddpc train: error: %s\n", ddpc_last_error());
    return DDPC_EXIT_FAILED;
  }
  // From the start: a stop signal while the data is split is honoured before any group.
  ddpc_signals_install();
  const char *run_dir = opt->run_dir ? opt->run_dir : cfg->output_dir;
  groups_list l;
  memset(&l, 0, sizeof l);
  int setup_rc = c->rank == 0 ? run_setup(opt, cfg, run_dir, c->size, &l) : 0;
  if (setup_rc != 0) fprintf(stderr, "ddpc train: error: %s\n", ddpc_last_error());
  int code = DDPC_EXIT_FAILED;
  double busy = 0.0;
  int trained = 0;
  if (run_share_plan(c, setup_rc, &l) == 0) {
    // This rank's groups, in plan order (largest first).
    int *queue = ddpc_calloc(l.count ? (size_t)l.count : 1, sizeof *queue, "group queue");
    for (int i = 0; queue && i < l.count; i++)
      if (l.items[i].rank == c->rank && l.items[i].order >= 0 && l.items[i].order < l.count)
        queue[l.items[i].order] = i + 1;
    for (int k = 0; queue && k < l.count; k++) {
      if (!queue[k]) continue;
      groups_entry *e = &l.items[queue[k] - 1];
      if (ddpc_signals_pending()) {  // preempted between groups: the rest wait for --resume auto
        char *dir = ddpc_format("%s/groups/%s", run_dir, e->dir);
        if (dir) groups_write_outcome(dir, e, "preempted", "not started: a stop signal came first", 0.0);
        free(dir);
        continue;
      }
      busy += run_group(opt, cfg, run_dir, e);
      trained++;
    }
    if (!queue) fprintf(stderr, "ddpc train: error: rank %d: %s\n", c->rank, ddpc_last_error());
    free(queue);
    double *all_busy = calloc((size_t)c->size, sizeof *all_busy);
    int *all_trained = calloc((size_t)c->size, sizeof *all_trained);
    int rc = all_busy && all_trained ? run_wait_all(c) : -1;
    if (rc == 0) rc = c->ops->allgather(c, &busy, all_busy, sizeof busy);
    if (rc == 0) rc = c->ops->allgather(c, &trained, all_trained, sizeof trained);
    int32_t shared = DDPC_EXIT_FAILED;
    if (rc == 0 && c->rank == 0) {
      groups_report r = {run_dir,  cfg->name,  cfg->data.group_by, cfg->data.min_group_rows,
                         cfg->data.task == DDPC_TASK_CLASSIFICATION, c->size, all_busy, all_trained,
                         ddpc_time_seconds() - t0, opt->quiet != 0};
      const char *state = "failed";
      if (groups_write_summary(&r, &l, &state) == 0) shared = (int32_t)ddpc_exit_code_of_state(state);
      else fprintf(stderr, "ddpc train: error: %s\n", ddpc_last_error());
      if (shared != DDPC_EXIT_FAILED && ddpc_comm_launched()) ddpc_exit_code_explain(state);
    }
    if (rc == 0 && c->ops->broadcast(c, &shared, sizeof shared, 0) == 0) code = shared;
    free(all_busy);
    free(all_trained);
  }
  groups_list_free(&l);
  ddpc_signals_restore();
  ddpc_comm_free(c);
  return code;
}
