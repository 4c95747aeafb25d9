/* The tuner's study store (tune/tune_store.c) and trials table (tune/tune_table.c):
 * every field of a trial round-trips, updates, idempotent per-epoch values and a rung's
 * arrival order, trials by number, settings, a reopened store keeps everything, WAL mode,
 * a read-only reader beside a live writer, refusal of foreign, damaged, non-ddpc and newer
 * stores with the file named, a version 1 store read and upgraded, the integrity check, a writer killed by SIGKILL mid-loop
 * losing nothing it reported committed; and the table's values, best marker and lines. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "tune/tune_store.h"
#include "tune/tune_table.h"
#include "testing.h"

/* Checks a call's status and, for a failure, that its message has `words`. The message is
 * read here, after the call: a CHECK's arguments are evaluated in no fixed order. */
static void check_status(int rc, bool want_ok, const char *words, const char *file, int line, const char *what) {
  const char *msg = ddpc_error_message();
  bool ok = want_ok ? rc == 0 : rc != 0 && (!words || strstr(msg, words));
  testing_check(ok, file, line, "%s (status %d): %s", what, rc, msg);
}
#define CHECK_OK(call, what) check_status((call), true, NULL, __FILE__, __LINE__, (what))
#define CHECK_FAILS(call, words, what) check_status((call), false, (words), __FILE__, __LINE__, (what))

static char *temp_path(const char *name) { return ddpc_format("%s/%s", testing_temp_dir(), name); }

static bool same_text(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static bool contains(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

/* Every stored field equal (x bitwise); has_latest/latest are derived and not compared. */
static void check_same_trial(const ddpc_tune_trial *got, const ddpc_tune_trial *want, const char *what) {
  bool x_same = got->n_x == want->n_x;
  for (int i = 0; x_same && i < want->n_x; i++) x_same = memcmp(&got->x[i], &want->x[i], sizeof(double)) == 0;
  CHECK(got->number == want->number && got->state == want->state, "%s: number %d state %d", what, got->number,
        (int)got->state);
  CHECK(x_same, "%s: point (%d values)", what, got->n_x);
  CHECK(got->has_value == want->has_value && (!want->has_value || got->value == want->value), "%s: value %.17g",
        what, got->value);
  CHECK(got->epochs_done == want->epochs_done && got->exit_code == want->exit_code &&
            got->attempts == want->attempts && got->failures == want->failures,
        "%s: epochs %d exit %d attempts %d failures %d", what, got->epochs_done, got->exit_code, got->attempts,
        got->failures);
  CHECK(same_text(got->params_json, want->params_json) && same_text(got->run_dir, want->run_dir) &&
            same_text(got->started_at, want->started_at) && same_text(got->ended_at, want->ended_at) &&
            same_text(got->reason, want->reason) && same_text(got->log_tail, want->log_tail),
        "%s: text fields", what);
}

/* A trial with every field set; strings point at literals (never freed). */
static ddpc_tune_trial full_trial(int number, double *x) {
  ddpc_tune_trial t = {
      .number = number,
      .state = DDPC_TUNE_TRIAL_FAIL,
      .x = x,
      .n_x = 3,
      .params_json = "{\"optim.lr\":0.001,\"model.variant\":\"it's \\\"big\\\"\"}",
      .has_value = true,
      .value = 0.1 + 0.2,
      .epochs_done = 7,
      .run_dir = "/runs/study/trials/0003",
      .started_at = "2026-01-02T03:04:05Z",
      .ended_at = "2026-01-02T04:05:06Z",
      .exit_code = 134,
      .reason = "crashed: signal 6, 1 restart(s) used",
      .log_tail = "line one\nline 'two' \xc3\xa9\n\ttabbed; DROP TABLE trials; --\n",
      .attempts = 2,
      .failures = 1,
  };
  return t;
}

static int load_all(ddpc_tune_store *s, ddpc_tune_trial **trials) {
  int n = -1;
  if (ddpc_tune_store_load_trials(s, trials, &n) != 0) {
    CHECK(false, "load_trials: %s", ddpc_error_message());
    return -1;
  }
  return n;
}

static void test_round_trip(void) {
  char *path = temp_path("round.db");
  ddpc_tune_store *s = NULL;
  CHECK_OK(ddpc_tune_store_open(path, &s), "open new store");
  if (!s) return;
  double x[3] = {0.1, 1e-300, -3.0000000000000004};
  ddpc_tune_trial full = full_trial(3, x);
  ddpc_tune_trial bare = {.number = 1, .state = DDPC_TUNE_TRIAL_RUNNING};  // no point, NULL strings
  CHECK_OK(ddpc_tune_store_insert_trial(s, &full), "insert full");
  CHECK_OK(ddpc_tune_store_insert_trial(s, &bare), "insert bare");
  CHECK_FAILS(ddpc_tune_store_insert_trial(s, &bare), "trial 1 is already in the study store",
              "a duplicate number is refused");
  double nan_x = NAN;
  ddpc_tune_trial bad = {.number = 8, .x = &nan_x, .n_x = 1};
  CHECK_FAILS(ddpc_tune_store_insert_trial(s, &bad), "not a finite number", "a non-finite point is refused");

  ddpc_tune_trial *got = NULL;
  int n = load_all(s, &got);
  CHECK(n == 2 && got[0].number == 1 && got[1].number == 3, "two trials by number (%d)", n);
  if (n == 2) {
    check_same_trial(&got[0], &bare, "bare trial");
    check_same_trial(&got[1], &full, "full trial");
    CHECK(!got[0].has_latest, "no metric yet: no latest");
  }
  ddpc_tune_trials_free(got, n);

  // Update: every field can change; an unknown number is an error.
  double x2[3] = {0.5, 2, 3};
  full.x = x2;
  full.state = DDPC_TUNE_TRIAL_COMPLETE;
  full.value = -1e-12;
  full.epochs_done = 9;
  full.ended_at = "2026-01-02T05:00:00Z";
  full.exit_code = 0;
  full.reason = NULL;
  full.log_tail = NULL;
  full.attempts = 3;
  full.failures = 2;
  full.params_json = "{}";
  CHECK_OK(ddpc_tune_store_update_trial(s, &full), "update");
  bare.has_value = true;
  bare.value = NAN;  // stored as no value
  CHECK_OK(ddpc_tune_store_update_trial(s, &bare), "update with NaN value");
  ddpc_tune_trial ghost = {.number = 42};
  CHECK_FAILS(ddpc_tune_store_update_trial(s, &ghost), "not in the study store", "update of an unknown trial refused");
  n = load_all(s, &got);
  if (n == 2) {
    bare.has_value = false;
    check_same_trial(&got[0], &bare, "bare after update");
    check_same_trial(&got[1], &full, "full after update");
  }
  ddpc_tune_trials_free(got, n);

  // Load order is by number, whatever the insertion order.
  int numbers[] = {9, 0, 5};
  for (int i = 0; i < 3; i++) {
    ddpc_tune_trial t = {.number = numbers[i], .state = DDPC_TUNE_TRIAL_RUNNING};
    CHECK(ddpc_tune_store_insert_trial(s, &t) == 0, "insert %d", numbers[i]);
  }
  n = load_all(s, &got);
  bool ordered = n == 5;
  for (int i = 1; ordered && i < n; i++) ordered = got[i - 1].number < got[i].number;
  CHECK(ordered && got[0].number == 0 && got[4].number == 9, "five trials in number order");
  ddpc_tune_trials_free(got, n);

  // Settings: set, replace, missing.
  char *v = NULL;
  CHECK(ddpc_tune_store_set_setting(s, "metric", "val_loss") == 0, "set metric");
  CHECK(ddpc_tune_store_set_setting(s, "metric", "val_accuracy") == 0, "replace metric");
  CHECK(ddpc_tune_store_set_setting(s, "overrides", "a=1\nb='x'") == 0, "set overrides");
  CHECK(ddpc_tune_store_get_setting(s, "metric", &v) == 0 && same_text(v, "val_accuracy"), "get metric: %s",
        v ? v : "(null)");
  free(v);
  CHECK(ddpc_tune_store_get_setting(s, "nothing", &v) == 0 && v == NULL, "a missing setting is NULL");
  CHECK_OK(ddpc_tune_store_integrity_check(s), "integrity ok");
  ddpc_tune_store_close(s);

  // Reopened: everything is still there.
  CHECK_OK(ddpc_tune_store_open(path, &s), "reopen");
  if (!s) return;
  n = load_all(s, &got);
  CHECK(n == 5, "five trials after reopen (%d)", n);
  if (n == 5) {
    check_same_trial(&got[2], &full, "full after reopen");
    check_same_trial(&got[1], &bare, "bare after reopen");
  }
  ddpc_tune_trials_free(got, n);
  CHECK(ddpc_tune_store_get_setting(s, "overrides", &v) == 0 && same_text(v, "a=1\nb='x'"), "settings after reopen");
  free(v);
  ddpc_tune_store_close(s);
  free(path);
}

static void test_intermediates(void) {
  char *path = temp_path("values.db");
  ddpc_tune_store *s = NULL;
  CHECK_OK(ddpc_tune_store_open(path, &s), "open");
  if (!s) return;
  for (int i = 0; i < 3; i++) {
    ddpc_tune_trial t = {.number = i, .state = DDPC_TUNE_TRIAL_RUNNING};
    CHECK(ddpc_tune_store_insert_trial(s, &t) == 0, "insert %d", i);
  }
  // Arrival at rung 1: trial 2, then 0, then 1; trial 0 also reaches epoch 2 and 3.
  CHECK_OK(ddpc_tune_store_add_intermediate(s, 2, 1, 0.30), "add 2@1");
  CHECK(ddpc_tune_store_add_intermediate(s, 0, 3, 0.70) == 0, "add 0@3");
  CHECK(ddpc_tune_store_add_intermediate(s, 0, 1, 0.50) == 0, "add 0@1");
  CHECK(ddpc_tune_store_add_intermediate(s, 0, 2, NAN) == 0, "add 0@2 NaN");
  CHECK(ddpc_tune_store_add_intermediate(s, 1, 1, 0.40) == 0, "add 1@1");
  // Replayed on resume: same values again, and one changed; nothing is duplicated or moved.
  CHECK(ddpc_tune_store_add_intermediate(s, 2, 1, 0.30) == 0, "re-add 2@1");
  CHECK(ddpc_tune_store_add_intermediate(s, 0, 1, 0.55) == 0, "re-add 0@1 with a new value");
  CHECK_FAILS(ddpc_tune_store_add_intermediate(s, 7, 1, 0.1), "trial 7", "a value for an unknown trial is refused");

  ddpc_tune_intermediate *v = NULL;
  int n = -1;
  CHECK(ddpc_tune_store_load_intermediates(s, 0, &v, &n) == 0 && n == 3, "trial 0 has 3 values (%d)", n);
  if (n == 3)
    CHECK(v[0].epoch == 1 && v[0].value == 0.55 && v[1].epoch == 2 && isnan(v[1].value) && v[2].epoch == 3 &&
              v[2].value == 0.70 && v[2].number == 0,
          "trial 0 by epoch: 1:%g 2:%g 3:%g", v[0].value, v[1].value, v[2].value);
  free(v);
  CHECK(ddpc_tune_store_load_rung(s, 1, &v, &n) == 0 && n == 3, "rung 1 has 3 values (%d)", n);
  if (n == 3)
    CHECK(v[0].number == 2 && v[1].number == 0 && v[2].number == 1 && v[1].value == 0.55 && v[2].value == 0.40,
          "rung 1 in arrival order: %d %d %d", v[0].number, v[1].number, v[2].number);
  free(v);
  CHECK(ddpc_tune_store_load_rung(s, 9, &v, &n) == 0 && n == 0 && v == NULL, "an empty rung");
  free(v);

  ddpc_tune_trial *trials = NULL;
  n = load_all(s, &trials);
  CHECK(n == 3 && trials[0].has_latest && trials[0].latest == 0.70 && trials[1].latest == 0.40 &&
            !trials[0].has_value,
        "load_trials fills the latest value per trial");
  ddpc_tune_trials_free(trials, n);
  ddpc_tune_store_close(s);
  free(path);
}

/* Runs one-row SQL on a file with SQLite itself; the first column's text, malloc'd. */
static char *sqlite_text(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  char *out = NULL;
  if (sqlite3_open(path, &db) == SQLITE_OK) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
      out = ddpc_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

static bool sqlite_exec(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  bool ok = sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
  sqlite3_close(db);
  return ok;
}

static void test_wal_and_reader(void) {
  char *path = temp_path("live.db");
  ddpc_tune_store *w = NULL, *r = NULL;
  CHECK_OK(ddpc_tune_store_open(path, &w), "open writer");
  if (!w) return;
  char *mode = sqlite_text(path, "PRAGMA journal_mode");
  CHECK(same_text(mode, "wal"), "journal_mode is wal (%s)", mode ? mode : "(null)");
  free(mode);
  ddpc_tune_trial t = {.number = 0, .state = DDPC_TUNE_TRIAL_RUNNING, .started_at = "2026-01-01T00:00:00Z"};
  CHECK(ddpc_tune_store_insert_trial(w, &t) == 0, "insert 0");
  CHECK(ddpc_tune_store_set_setting(w, "metric", "val_loss") == 0, "setting");
  CHECK_OK(ddpc_tune_store_open_readonly(path, &r), "open reader beside the writer");
  if (r) {
    ddpc_tune_trial *got = NULL;
    int n = load_all(r, &got);
    CHECK(n == 1, "reader sees the committed trial (%d)", n);
    ddpc_tune_trials_free(got, n);
    t.number = 1;
    CHECK_OK(ddpc_tune_store_insert_trial(w, &t), "writer goes on while the reader is open");
    CHECK(ddpc_tune_store_add_intermediate(w, 1, 1, 0.25) == 0, "writer adds a value");
    n = load_all(r, &got);
    CHECK(n == 2 && got[1].has_latest && got[1].latest == 0.25, "reader sees the new commit (%d)", n);
    ddpc_tune_trials_free(got, n);
    char *metric = NULL;
    CHECK(ddpc_tune_store_get_setting(r, "metric", &metric) == 0 && same_text(metric, "val_loss"),
          "reader reads settings");
    free(metric);
    CHECK_OK(ddpc_tune_store_integrity_check(r), "integrity from the reader");
    t.number = 2;
    CHECK_FAILS(ddpc_tune_store_insert_trial(r, &t), path, "the reader cannot write");
    ddpc_tune_store_close(r);
  }
  ddpc_tune_store_close(w);
  // After the writer closed (its WAL checkpointed away), a reader still opens it.
  CHECK_OK(ddpc_tune_store_open_readonly(path, &r), "reader after the writer closed");
  ddpc_tune_store_close(r);
  free(path);
}

static bool write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(data, 1, n, f) == n;
  if (f) ok = fclose(f) == 0 && ok;
  return ok;
}

/* Opening `path` (writer and reader) fails with a message naming it and containing `words`. */
static void check_refused(const char *path, const char *words, const char *what) {
  ddpc_tune_store *s = NULL;
  int rc = ddpc_tune_store_open(path, &s);
  CHECK(rc != 0 && s == NULL && contains(ddpc_error_message(), path) && contains(ddpc_error_message(), words),
        "%s refused for writing: %s", what, ddpc_error_message());
  ddpc_tune_store_close(s);
  s = NULL;
  rc = ddpc_tune_store_open_readonly(path, &s);
  CHECK(rc != 0 && s == NULL && contains(ddpc_error_message(), path) && contains(ddpc_error_message(), words),
        "%s refused for reading: %s", what, ddpc_error_message());
  ddpc_tune_store_close(s);
}

static void test_refused_files(void) {
  ddpc_tune_store *s = NULL;
  char *missing = temp_path("no/such/dir/study.db");
  CHECK_FAILS(ddpc_tune_store_open(missing, &s), missing, "a store in a missing folder");
  CHECK_FAILS(ddpc_tune_store_open_readonly(missing, &s), missing, "--status of a missing store");
  free(missing);

  char *text = temp_path("text.db");
  const char words[] = "base: run.yaml\ntune:\n  metric: val_accuracy\n  mode: max\n";
  char big[8192];
  for (size_t i = 0; i < sizeof big; i++) big[i] = words[i % (sizeof words - 1)];
  CHECK(write_file(text, big, sizeof big), "write a text file");
  check_refused(text, "not a ddpc study store", "a text file");
  free(text);

  char *garbage = temp_path("garbage.db");
  char noise[4096];
  for (size_t i = 0; i < sizeof noise; i++) noise[i] = (char)((i * 2654435761u) >> 13);
  CHECK(write_file(garbage, noise, sizeof noise), "write garbage");
  check_refused(garbage, "not a ddpc study store", "a garbage file");
  free(garbage);

  // A real store cut short: its header still promises the pages that are gone.
  char *cut = temp_path("cut.db");
  CHECK(ddpc_tune_store_open(cut, &s) == 0, "open a store to cut");
  for (int i = 0; s && i < 200; i++) {
    double x[2] = {i, -i};
    ddpc_tune_trial t = full_trial(i, x);
    t.n_x = 2;
    ddpc_tune_store_insert_trial(s, &t);
  }
  ddpc_tune_store_close(s);
  s = NULL;
  CHECK(truncate(cut, 4096 * 3) == 0, "truncate: %s", strerror(errno));
  check_refused(cut, "damaged", "a truncated store");
  CHECK(truncate(cut, 50) == 0, "truncate to less than a header");
  check_refused(cut, "damaged", "a store cut inside its header");
  free(cut);

  char *foreign = temp_path("foreign.db");
  CHECK(sqlite_exec(foreign, "CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO runs VALUES (1, 'x');"),
        "make a foreign SQLite database");
  check_refused(foreign, "without ddpc's tables", "an SQLite file without ddpc's schema");
  free(foreign);

  char *other = temp_path("other_meta.db");
  CHECK(sqlite_exec(other, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                           "INSERT INTO meta VALUES ('format', 'someone else');"),
        "make a database with another meta");
  check_refused(other, "not a ddpc study store", "a meta table of another program");
  free(other);

  char *newer = temp_path("newer.db");
  CHECK(ddpc_tune_store_open(newer, &s) == 0, "open a store to age");
  ddpc_tune_store_close(s);
  s = NULL;
  CHECK(sqlite_exec(newer, "UPDATE meta SET value = '99' WHERE key = 'schema_version'"), "set schema 99");
  check_refused(newer, "schema version 99", "a store with a newer schema");
  free(newer);

  // An empty file is an empty database: a writer makes it a store, a reader refuses it.
  char *empty = temp_path("empty.db");
  CHECK(write_file(empty, "", 0), "write an empty file");
  CHECK_FAILS(ddpc_tune_store_open_readonly(empty, &s), "empty", "--status of an empty file");
  CHECK_OK(ddpc_tune_store_open(empty, &s), "an empty file becomes a store");
  CHECK(s && ddpc_tune_store_integrity_check(s) == 0, "and it is sound");
  ddpc_tune_store_close(s);
  free(empty);
}

/* The child side of the crash test: insert, record a value, complete, report the number;
 * until killed. Exits 3 when a write fails. */
static void crash_child(const char *path, int report_fd) {
  ddpc_tune_store *s = NULL;
  if (ddpc_tune_store_open(path, &s) != 0) _exit(3);
  for (int i = 0; i < 1000000; i++) {
    double x[3] = {i * 0.5, 1.0 / (i + 1), -i};
    ddpc_tune_trial t = full_trial(i, x);
    t.state = DDPC_TUNE_TRIAL_RUNNING;
    if (ddpc_tune_store_insert_trial(s, &t) != 0 || ddpc_tune_store_add_intermediate(s, i, 1, i * 0.01) != 0) _exit(3);
    t.state = DDPC_TUNE_TRIAL_COMPLETE;
    t.value = i;
    if (ddpc_tune_store_update_trial(s, &t) != 0) _exit(3);
    if (write(report_fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(3);
  }
  _exit(0);
}

static void test_crash_safety(void) {
  char *path = temp_path("crash.db");
  int fds[2];
  CHECK(pipe(fds) == 0, "pipe");
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    crash_child(path, fds[1]);
  }
  close(fds[1]);
  // Kill it once it has committed a few dozen trials, wherever it is then.
  int reported = 0, last = -1, number;
  while (read(fds[0], &number, sizeof number) == (ssize_t)sizeof number) {
    CHECK(number == last + 1, "reports in order (%d after %d)", number, last);
    last = number;
    if (++reported == 40) kill(pid, SIGKILL);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer died of SIGKILL (status %d)", status);
  CHECK(reported >= 40, "it reported %d commits", reported);

  // The reader first: --status right after the tuner was killed.
  ddpc_tune_store *s = NULL;
  for (int pass = 0; pass < 2; pass++) {
    int rc = pass == 0 ? ddpc_tune_store_open_readonly(path, &s) : ddpc_tune_store_open(path, &s);
    CHECK(rc == 0, "open after the kill (%s): %s", pass ? "writer" : "reader", ddpc_error_message());
    if (rc != 0) break;
    CHECK_OK(ddpc_tune_store_integrity_check(s), "integrity after the kill");
    ddpc_tune_trial *trials = NULL;
    int n = load_all(s, &trials);
    bool all_there = n >= last + 1 && n <= last + 2;  // at most the one in flight beyond
    for (int i = 0; all_there && i <= last; i++)
      all_there = trials[i].number == i && trials[i].state == DDPC_TUNE_TRIAL_COMPLETE && trials[i].value == i &&
                  trials[i].has_latest && trials[i].n_x == 3;
    CHECK(all_there, "every reported trial (0..%d) is complete in the store (%d stored)", last, n);
    ddpc_tune_trials_free(trials, n);
    if (pass == 1) {
      ddpc_tune_trial next = {.number = last + 2, .state = DDPC_TUNE_TRIAL_RUNNING};
      CHECK_OK(ddpc_tune_store_insert_trial(s, &next), "the store takes new trials");
    }
    ddpc_tune_store_close(s);
    s = NULL;
  }
  free(path);
}

/* ---- the table ---- */

/* The output line of trial `number` (malloc'd), or NULL. */
static char *table_line(const char *text, int number) {
  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    int got;
    char state[16];
    if (len > 2 && sscanf(line + 2, "%d %15s", &got, state) == 2 && got == number)
      return ddpc_format("%.*s", (int)len, line);
    line = end ? end + 1 : NULL;
  }
  return NULL;
}

static char *print_table(const ddpc_tune_trial *trials, int n, const char *metric, bool maximize, bool summary) {
  FILE *f = tmpfile();
  if (!f) return NULL;
  if (summary) ddpc_tune_table_print_summary(f, trials, n, metric, maximize);
  else ddpc_tune_table_print(f, trials, n, metric, maximize);
  long size = ftell(f);
  rewind(f);
  char *text = calloc((size_t)size + 1, 1);
  if (text && fread(text, 1, (size_t)size, f) != (size_t)size) text[0] = '\0';
  fclose(f);
  return text;
}

static void test_table(void) {
  char long_label[128];
  memset(long_label, 'q', sizeof long_label - 1);
  long_label[sizeof long_label - 1] = '\0';
  char *long_params = ddpc_format("{\"data.path\":\"%s\",\"optim.lr\":0.5}", long_label);
  ddpc_tune_trial t[6] = {
      {.number = 0, .state = DDPC_TUNE_TRIAL_COMPLETE, .has_value = true, .value = 0.81, .epochs_done = 9,
       .params_json = "{\"optim.lr\":0.00123456,\"train.batch_size\":64,\"model.variant\":\"medium\"}",
       .started_at = "2026-01-01T23:58:00Z", .ended_at = "2026-01-02T00:02:12Z"},
      {.number = 1, .state = DDPC_TUNE_TRIAL_COMPLETE, .has_value = true, .value = 0.88, .epochs_done = 9,
       .params_json = "{\"optim.lr\":0.01,\"train.batch_size\":128,\"model.variant\":\"large\"}",
       .started_at = "2026-01-01T00:00:00Z", .ended_at = "2026-01-01T01:02:03Z"},
      {.number = 2, .state = DDPC_TUNE_TRIAL_PRUNED, .has_value = true, .value = 0.70, .epochs_done = 3,
       .params_json = "{\"model.layers.0.units\":64,\"model.layers.1.units\":32}",
       .reason = "asha: val_accuracy 0.7 below the cutoff 0.8 of rung 3"},
      {.number = 3, .state = DDPC_TUNE_TRIAL_FAIL, .epochs_done = 2, .params_json = "{\"optim.lr\":3}",
       .reason = "diverged (non-finite loss)\nsecond line", .log_tail = "nan at step 10\n"},
      {.number = 4, .state = DDPC_TUNE_TRIAL_RUNNING, .epochs_done = 2, .has_latest = true, .latest = 0.5,
       .params_json = "{\"optim.lr\":0.02}"},
      {.number = 10, .state = DDPC_TUNE_TRIAL_RUNNING, .params_json = long_params},
  };
  char *text = print_table(t, 6, "val_accuracy", true, false);
  CHECK(text && contains(text, "val_accuracy (max)"), "header names the metric and mode");
  CHECK(contains(text, "\nbest: trial 1 val_accuracy=0.88\n"), "best line:\n%s", text ? text : "");
  char *l0 = table_line(text, 0), *l1 = table_line(text, 1), *l2 = table_line(text, 2), *l3 = table_line(text, 3);
  char *l4 = table_line(text, 4), *l10 = table_line(text, 10);
  CHECK(l1 && l1[0] == '*' && l0 && l0[0] == ' ', "only the best row is marked: [%s]", l1 ? l1 : "");
  CHECK(contains(l0, "COMPLETE") && contains(l0, "0.81") && contains(l0, " 9 ") && contains(l0, "4m12s") &&
            contains(l0, "lr=0.001235 batch_size=64 variant=medium"),
        "trial 0's row: [%s]", l0 ? l0 : "");
  CHECK(contains(l1, "1h02m"), "an hour: [%s]", l1 ? l1 : "");
  CHECK(contains(l2, "PRUNED") && contains(l2, "0.units=64 1.units=32") && contains(l2, "asha: val_accuracy 0.7"),
        "pruned row, ambiguous keys kept apart, reason: [%s]", l2 ? l2 : "");
  CHECK(contains(l3, "FAIL") && contains(l3, " - ") && contains(l3, "diverged (non-finite loss) second line"),
        "failed row: no value, reason on one line: [%s]", l3 ? l3 : "");
  CHECK(contains(l4, "RUNNING") && contains(l4, "0.5"), "running row shows its latest value: [%s]", l4 ? l4 : "");
  CHECK(contains(l10, "path=qqqqqqqqqqqqq... lr=0.5") && !contains(l10, long_label) && strlen(l10 ? l10 : "") < 160,
        "a long value is cut: [%s]", l10 ? l10 : "");
  free(l0), free(l1), free(l2), free(l3), free(l4), free(l10);
  free(text);

  text = print_table(t, 6, "val_loss", false, false);
  CHECK(contains(text, "best: trial 0 val_loss=0.81\n"), "min mode picks the lowest COMPLETE one (not the pruned 0.7)");
  free(text);
  text = print_table(t + 2, 4, "val_loss", false, false);
  CHECK(contains(text, "\nbest so far: trial 2 val_loss=0.7 (pruned at epoch 3; no trial has completed yet)\n"),
        "no complete trial: the pruned one, marked:\n%s", text ? text : "");
  char *pruned_row = table_line(text, 2);
  CHECK(pruned_row && pruned_row[0] == '*', "... and starred: [%s]", pruned_row ? pruned_row : "");
  free(pruned_row);
  free(text);
  text = print_table(t, 6, "val_accuracy", true, true);
  CHECK(same_text(text, "trials: 6 (2 running, 2 complete, 1 pruned, 1 failed); best: trial 1 val_accuracy=0.88\n"),
        "summary line: %s", text ? text : "");
  free(text);
  text = print_table(t + 3, 3, "val_accuracy", true, false);
  CHECK(contains(text, "best: none yet") && !strchr(text, '*'), "no finished trial: no best");
  free(text);
  text = print_table(NULL, 0, "val_accuracy", true, false);
  CHECK(contains(text, "best: none yet"), "an empty study prints");
  free(text);

  ddpc_tune_trial tie[2] = {{.number = 5, .state = DDPC_TUNE_TRIAL_COMPLETE, .has_value = true, .value = 1},
                            {.number = 3, .state = DDPC_TUNE_TRIAL_COMPLETE, .has_value = true, .value = 1}};
  CHECK(ddpc_tune_table_best(tie, 2, true) == 1, "a tie goes to the lower number");
  ddpc_tune_trial odd = {.number = 0, .state = DDPC_TUNE_TRIAL_COMPLETE, .params_json = "not json {"};
  text = print_table(&odd, 1, "m", true, false);
  CHECK(contains(text, "not json {"), "params that are not a JSON object show as they are");
  free(text);
  free(long_params);
}

/* A store of schema version 1 (no trials.failures), as an older ddpc wrote it: --status
 * reads it (no failures), a writer brings it to version 2, and failures then persist. */
static void test_upgrade_v1(void) {
  char *path = temp_path("v1.db");
  CHECK(sqlite_exec(path,
                    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                    "CREATE TABLE trials(number INTEGER PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('RUNNING', "
                    "'COMPLETE', 'PRUNED', 'FAIL')), x TEXT NOT NULL, params_json TEXT, value REAL, epochs_done "
                    "INTEGER NOT NULL, run_dir TEXT, started_at TEXT, ended_at TEXT, exit_code INTEGER NOT NULL, "
                    "reason TEXT, log_tail TEXT, attempts INTEGER NOT NULL);"
                    "CREATE TABLE intermediates(number INTEGER NOT NULL REFERENCES trials(number), epoch INTEGER "
                    "NOT NULL, value REAL, UNIQUE (number, epoch));"
                    "INSERT INTO meta VALUES ('format', 'ddpc study store'), ('schema_version', '1');"
                    "INSERT INTO trials VALUES (0, 'RUNNING', '[0.5]', '{}', NULL, 2, '/r/0000', "
                    "'2026-01-01T00:00:00Z', NULL, 0, NULL, NULL, 3);"),
        "make a version 1 store");
  ddpc_tune_store *s = NULL;
  ddpc_tune_trial *got = NULL;
  CHECK_OK(ddpc_tune_store_open_readonly(path, &s), "a reader opens a version 1 store");
  int n = s ? load_all(s, &got) : -1;
  CHECK(n == 1 && got[0].attempts == 3 && got[0].failures == 0, "its trial, no failures (%d)", n);
  ddpc_tune_trials_free(got, n > 0 ? n : 0);
  ddpc_tune_store_close(s);
  s = NULL;
  CHECK_OK(ddpc_tune_store_open(path, &s), "a writer upgrades it");
  char *version = sqlite_text(path, "SELECT value FROM meta WHERE key = 'schema_version'");
  CHECK(same_text(version, "2"), "schema version now 2 (%s)", version ? version : "(null)");
  free(version);
  n = s ? load_all(s, &got) : -1;
  if (n == 1) {
    got[0].failures = 1;
    CHECK_OK(ddpc_tune_store_update_trial(s, &got[0]), "record a failure");
  }
  ddpc_tune_trials_free(got, n > 0 ? n : 0);
  ddpc_tune_store_close(s);
  s = NULL;
  CHECK_OK(ddpc_tune_store_open(path, &s), "reopen");
  n = s ? load_all(s, &got) : -1;
  CHECK(n == 1 && got[0].failures == 1 && got[0].attempts == 3, "the failure persisted across a reopen");
  ddpc_tune_trials_free(got, n > 0 ? n : 0);
  CHECK(s && ddpc_tune_store_integrity_check(s) == 0, "upgraded store is sound");
  ddpc_tune_store_close(s);
  free(path);
}

int main(void) {
  test_round_trip();
  test_upgrade_v1();
  test_intermediates();
  test_wal_and_reader();
  test_refused_files();
  test_crash_safety();
  test_table();
  return testing_finish();
}
