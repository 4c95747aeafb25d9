/* The study store of `ddpc tune` on SQLite (see tune_store.h): schema, the checks that
 * refuse a file that is not ours, and the reads and writes of settings, trials and
 * per-epoch values. Every value reaches SQL through a bound parameter. */
#include "tune/tune_store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* What meta.format holds in every ddpc study store. */
#define STORE_FORMAT "ddpc study store"
/* How long a statement waits for a lock before it gives up. Only the tuner writes, so a
 * wait is a reader's brief hold during a WAL checkpoint or recovery; seconds are plenty. */
#define STORE_BUSY_TIMEOUT_MS 10000

struct ddpc_tune_store {
  sqlite3 *db;  // the connection
  char *path;   // the file, for messages
  int version;  // the schema version of the file (a reader may open an older one)
};

/* The schema of version 2 (version 1 had no trials.failures). `x` is the point as a JSON array of 17-digit numbers: exact, and
 * readable with the sqlite3 shell. intermediates keeps its rowid: it orders a rung's values
 * by arrival, which ASHA compares against. */
static const char store_schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE trials("
    "  number INTEGER PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK (state IN ('RUNNING', 'COMPLETE', 'PRUNED', 'FAIL')),"
    "  x TEXT NOT NULL,"
    "  params_json TEXT,"
    "  value REAL,"
    "  epochs_done INTEGER NOT NULL,"
    "  run_dir TEXT,"
    "  started_at TEXT,"
    "  ended_at TEXT,"
    "  exit_code INTEGER NOT NULL,"
    "  reason TEXT,"
    "  log_tail TEXT,"
    "  attempts INTEGER NOT NULL,"
    "  failures INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE intermediates("
    "  number INTEGER NOT NULL REFERENCES trials(number),"
    "  epoch INTEGER NOT NULL,"
    "  value REAL,"
    "  UNIQUE (number, epoch));"
    "CREATE INDEX intermediates_by_epoch ON intermediates(epoch);";

static const char *const store_state_names[] = {"RUNNING", "COMPLETE", "PRUNED", "FAIL"};

const char *ddpc_tune_trial_state_name(ddpc_tune_trial_state state) {
  return (unsigned)state < sizeof store_state_names / sizeof *store_state_names ? store_state_names[state] : "?";
}

/* ---- errors and statements ---- */

/* Records the failure of `rc` while doing `what`. A foreign or damaged file can surface at
 * any statement, so those get their own words wherever they appear. */
static int store_fail(const ddpc_tune_store *s, int rc, const char *what) {
  const char *detail = sqlite3_errmsg(s->db);
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return ddpc_error_set("%s: not a ddpc study store: not an SQLite database (%s)", s->path, detail);
    case SQLITE_CORRUPT:
      return ddpc_error_set("%s: the study store is damaged (%s); the trials' run directories are intact",
                            s->path, detail);
    default:
      return ddpc_error_set("%s: %s: %s", s->path, what, detail);
  }
}

static int store_prepare(const ddpc_tune_store *s, const char *sql, sqlite3_stmt **st, const char *what) {
  int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  if (rc != SQLITE_OK) {
    *st = NULL;
    return store_fail(s, rc, what);
  }
  return 0;
}

/* Runs a statement that returns no rows to its end and finalizes it. */
static int store_run(const ddpc_tune_store *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  int status = rc == SQLITE_DONE ? 0 : store_fail(s, rc, what);
  sqlite3_finalize(st);
  return status;
}

/* Runs constant SQL (no values in it) such as the schema or BEGIN. */
static int store_exec(const ddpc_tune_store *s, const char *sql, const char *what) {
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : store_fail(s, rc, what);
}

/* Copies a text column (NULL stays NULL); -1 only when out of memory. */
static int store_column_text(sqlite3_stmt *st, int col, char **out) {
  const char *text = (const char *)sqlite3_column_text(st, col);
  *out = text ? ddpc_strdup(text) : NULL;
  return text && !*out ? ddpc_error_set("out of memory (study store text)") : 0;
}

static double store_column_double(sqlite3_stmt *st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* The first column of the first row of `sql` (with ?1 = key when key is not NULL) as a
 * malloc'd copy in *value; NULL when there is no row or the value is NULL. */
static int store_query_text(const ddpc_tune_store *s, const char *sql, const char *key, char **value,
                            const char *what) {
  *value = NULL;
  sqlite3_stmt *st;
  if (store_prepare(s, sql, &st, what) != 0) return -1;
  if (key) sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  int status = 0;
  if (rc == SQLITE_ROW) status = store_column_text(st, 0, value);
  else if (rc != SQLITE_DONE) status = store_fail(s, rc, what);
  sqlite3_finalize(st);
  return status;
}

/* Sets `key` to `value` in a key/value table (`sql` upserts ?1, ?2). */
static int store_put_value(const ddpc_tune_store *s, const char *sql, const char *key, const char *value) {
  sqlite3_stmt *st;
  if (store_prepare(s, sql, &st, "writing a setting") != 0) return -1;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
  return store_run(s, st, "writing a setting");
}

static const char store_meta_get_sql[] = "SELECT value FROM meta WHERE key = ?1";
static const char store_meta_put_sql[] =
    "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/* ---- opening ---- */

/* 1: an empty database (a new store), 0: a ddpc study store this ddpc reads (its version
 * in s->version), -1: refused. */
static int store_check_schema(ddpc_tune_store *s) {
  sqlite3_stmt *st;
  // Preparing reads the schema: a file that is not SQLite fails here, with NOTADB.
  if (store_prepare(s, "SELECT count(*), coalesce(sum(type = 'table' AND name = 'meta'), 0) FROM sqlite_master",
                    &st, "cannot read the study store") != 0)
    return -1;
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    store_fail(s, rc, "cannot read the study store");
    sqlite3_finalize(st);
    return -1;
  }
  int n_objects = sqlite3_column_int(st, 0);
  int has_meta = sqlite3_column_int(st, 1);
  sqlite3_finalize(st);
  if (n_objects == 0) return 1;
  if (!has_meta)
    return ddpc_error_set("%s: not a ddpc study store (an SQLite database without ddpc's tables)", s->path);
  char *format = NULL, *version = NULL;
  int status = store_query_text(s, store_meta_get_sql, "format", &format, "cannot read the study store");
  if (status == 0)
    status = store_query_text(s, store_meta_get_sql, "schema_version", &version, "cannot read the study store");
  if (status == 0 && (!format || strcmp(format, STORE_FORMAT) != 0)) {
    status = ddpc_error_set("%s: not a ddpc study store (its meta table says format '%s')", s->path,
                            format ? format : "(none)");
  } else if (status == 0) {
    char *end = NULL;
    long v = version ? strtol(version, &end, 10) : 0;
    if (!version || *end != '\0' || v < 1)
      status = ddpc_error_set("%s: the study store is damaged (schema version '%s')", s->path,
                              version ? version : "(none)");
    else if (v > DDPC_TUNE_STORE_SCHEMA_VERSION)
      status = ddpc_error_set("%s: the study store has schema version %ld, newer than this ddpc reads (%d); "
                              "upgrade ddpc to open it",
                              s->path, v, DDPC_TUNE_STORE_SCHEMA_VERSION);
    else s->version = (int)v;
  }
  free(format);
  free(version);
  return status;
}

/* Makes the schema in an empty database, checks the one there, or brings an older one up to
 * date (version 1: trials.failures added, 0 for every trial). In one write transaction so
 * that two tuners started at once cannot both create it. */
static int store_prepare_writer(ddpc_tune_store *s) {
  if (store_exec(s, "BEGIN IMMEDIATE", "cannot open the study store for writing") != 0) return -1;
  int found = store_check_schema(s);
  int status = found < 0 ? -1 : 0;
  char version[16];
  snprintf(version, sizeof version, "%d", DDPC_TUNE_STORE_SCHEMA_VERSION);
  if (found == 1) {
    status = store_exec(s, store_schema_sql, "creating the study store");
    if (status == 0) status = store_put_value(s, store_meta_put_sql, "format", STORE_FORMAT);
    if (status == 0) status = store_put_value(s, store_meta_put_sql, "schema_version", version);
  } else if (found == 0 && s->version == 1) {
    status = store_exec(s, "ALTER TABLE trials ADD COLUMN failures INTEGER NOT NULL DEFAULT 0",
                        "upgrading the study store to schema version 2");
    if (status == 0) status = store_put_value(s, store_meta_put_sql, "schema_version", version);
  }
  if (status == 0) s->version = DDPC_TUNE_STORE_SCHEMA_VERSION;
  if (status == 0) return store_exec(s, "COMMIT", "creating the study store");
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);  // the error already recorded says why
  return -1;
}

/* WAL: --status reads while the tuner writes, and neither waits for the other.
 * synchronous=FULL: in WAL mode NORMAL already survives a kill -9 of the tuner (a commit's
 * frames are written to the -wal file before it returns; only the fsync is deferred), but
 * not a power cut or a node crash, which can lose the last commits. FULL fsyncs the WAL at
 * every commit, so a trial the tuner recorded is on disk before it starts the trial. The
 * tuner commits a few times per trial epoch; one fsync each is nothing next to an epoch. */
static int store_set_writer_pragmas(const ddpc_tune_store *s) {
  char *mode = NULL;
  int status = store_query_text(s, "PRAGMA journal_mode = WAL", NULL, &mode, "cannot switch the study store to WAL");
  if (status == 0 && (!mode || strcmp(mode, "wal") != 0))
    status = ddpc_error_set("%s: cannot switch the study store to WAL (journal mode stays '%s'); the study "
                            "directory needs a local filesystem with shared memory (not NFS)",
                            s->path, mode ? mode : "?");
  free(mode);
  if (status == 0) status = store_exec(s, "PRAGMA synchronous = FULL", "setting synchronous mode");
  return status;
}

static int store_open(const char *path, bool readonly, ddpc_tune_store **out) {
  *out = NULL;
  ddpc_tune_store *s = ddpc_calloc(1, sizeof *s, "study store");
  if (!s) return -1;
  s->path = ddpc_strdup(path);
  if (!s->path) {
    free(s);
    return ddpc_error_set("out of memory (study store path)");
  }
  int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
  int status = 0;
  if (rc != SQLITE_OK) {
    status = s->db ? store_fail(s, rc, "cannot open the study store")
                   : ddpc_error_set("%s: cannot open the study store: out of memory", path);
  }
  if (status == 0) {
    sqlite3_extended_result_codes(s->db, 1);  // tells a duplicate trial from a missing one
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    // Per connection, off by default: a value for a trial that is not stored is a bug to report.
    status = store_exec(s, "PRAGMA foreign_keys = ON", "cannot open the study store");
  }
  if (status == 0 && readonly) {
    int found = store_check_schema(s);
    if (found == 1) status = ddpc_error_set("%s: not a ddpc study store (an empty database)", path);
    else status = found;
  } else if (status == 0) {
    status = store_prepare_writer(s);
    if (status == 0) status = store_set_writer_pragmas(s);
  }
  if (status != 0) {
    ddpc_tune_store_close(s);
    return -1;
  }
  *out = s;
  return 0;
}

int ddpc_tune_store_open(const char *path, ddpc_tune_store **out) { return store_open(path, false, out); }

int ddpc_tune_store_open_readonly(const char *path, ddpc_tune_store **out) { return store_open(path, true, out); }

void ddpc_tune_store_close(ddpc_tune_store *s) {
  if (!s) return;
  sqlite3_close(s->db);  // every statement is finalized where it was made
  free(s->path);
  free(s);
}

/* ---- settings ---- */

int ddpc_tune_store_set_setting(ddpc_tune_store *s, const char *key, const char *value) {
  if (!value) return ddpc_error_set("%s: setting '%s' has no value", s->path, key);
  return store_put_value(
      s, "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      key, value);
}

int ddpc_tune_store_get_setting(ddpc_tune_store *s, const char *key, char **value) {
  return store_query_text(s, "SELECT value FROM settings WHERE key = ?1", key, value, "reading a setting");
}

/* ---- trials ---- */

/* The point as a JSON array; %.17g reads back to the same double. */
static char *store_format_x(const ddpc_tune_store *s, const ddpc_tune_trial *t) {
  for (int i = 0; i < t->n_x; i++)
    if (!isfinite(t->x[i]))
      return ddpc_error_set("%s: trial %d: parameter %d of its point is not a finite number", s->path, t->number, i),
             NULL;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return ddpc_error_set("out of memory (trial point)"), NULL;
  fputc('[', f);
  for (int i = 0; i < t->n_x; i++) fprintf(f, "%s%.17g", i ? "," : "", t->x[i]);
  fputc(']', f);
  if (fclose(f) != 0) {
    free(text);
    return ddpc_error_set("out of memory (trial point)"), NULL;
  }
  return text;
}

static int store_parse_x(const ddpc_tune_store *s, int number, const char *text, ddpc_tune_trial *t) {
  const char *p = text ? text : "";
  int cap = 1;
  for (const char *c = p; *c; c++) cap += *c == ',';
  t->x = ddpc_calloc((size_t)cap, sizeof *t->x, "trial point");
  if (!t->x) return -1;
  t->n_x = 0;
  if (*p++ != '[') goto bad;
  if (*p == ']') {
    if (p[1] == '\0') return 0;
    goto bad;
  }
  for (;;) {
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p || t->n_x >= cap) goto bad;
    t->x[t->n_x++] = v;
    p = end;
    if (*p == ']' && p[1] == '\0') return 0;
    if (*p++ != ',') goto bad;
  }
bad:
  return ddpc_error_set("%s: the study store is damaged (trial %d: malformed point '%s')", s->path, number,
                        text ? text : "(null)");
}

/* Binds every stored field of t by the parameter numbers that the insert and the update
 * share (?1 number ... ?13 attempts, ?14 failures). */
static void store_bind_trial(sqlite3_stmt *st, const ddpc_tune_trial *t, const char *x_text) {
  sqlite3_bind_int(st, 1, t->number);
  sqlite3_bind_text(st, 2, ddpc_tune_trial_state_name(t->state), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, x_text, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, t->params_json, -1, SQLITE_TRANSIENT);
  if (t->has_value) sqlite3_bind_double(st, 5, t->value);  // NaN binds as NULL
  else sqlite3_bind_null(st, 5);
  sqlite3_bind_int(st, 6, t->epochs_done);
  sqlite3_bind_text(st, 7, t->run_dir, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 8, t->started_at, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 9, t->ended_at, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 10, t->exit_code);
  sqlite3_bind_text(st, 11, t->reason, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 12, t->log_tail, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 13, t->attempts);
  sqlite3_bind_int(st, 14, t->failures);
}

/* One statement, so one transaction: the trial row is either the old one or the new one. */
static int store_write_trial(ddpc_tune_store *s, const ddpc_tune_trial *t, bool insert) {
  if ((unsigned)t->state > DDPC_TUNE_TRIAL_FAIL)
    return ddpc_error_set("%s: trial %d: invalid state %d", s->path, t->number, (int)t->state);
  char *x_text = store_format_x(s, t);
  if (!x_text) return -1;
  const char *sql = insert ? "INSERT INTO trials(number, state, x, params_json, value, epochs_done, run_dir, "
                             "started_at, ended_at, exit_code, reason, log_tail, attempts, failures) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                           : "UPDATE trials SET state = ?2, x = ?3, params_json = ?4, value = ?5, epochs_done = ?6, "
                             "run_dir = ?7, started_at = ?8, ended_at = ?9, exit_code = ?10, reason = ?11, "
                             "log_tail = ?12, attempts = ?13, failures = ?14 WHERE number = ?1";
  const char *what = insert ? "recording a new trial" : "updating a trial";
  sqlite3_stmt *st;
  int status = store_prepare(s, sql, &st, what);
  if (status == 0) {
    store_bind_trial(st, t, x_text);
    int rc = sqlite3_step(st);
    if (insert && rc == SQLITE_CONSTRAINT_PRIMARYKEY)
      status = ddpc_error_set("%s: trial %d is already in the study store", s->path, t->number);
    else if (rc != SQLITE_DONE) status = store_fail(s, rc, what);
    else if (!insert && sqlite3_changes(s->db) != 1)
      status = ddpc_error_set("%s: trial %d is not in the study store", s->path, t->number);
    sqlite3_finalize(st);
  }
  free(x_text);
  return status;
}

int ddpc_tune_store_insert_trial(ddpc_tune_store *s, const ddpc_tune_trial *t) { return store_write_trial(s, t, true); }

int ddpc_tune_store_update_trial(ddpc_tune_store *s, const ddpc_tune_trial *t) {
  return store_write_trial(s, t, false);
}

int ddpc_tune_store_add_intermediate(ddpc_tune_store *s, int number, int epoch, double value) {
  sqlite3_stmt *st;
  // An upsert keeps the row, and with it the rowid that orders a rung by arrival.
  if (store_prepare(s,
                    "INSERT INTO intermediates(number, epoch, value) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT(number, epoch) DO UPDATE SET value = excluded.value",
                    &st, "recording a metric") != 0)
    return -1;
  sqlite3_bind_int(st, 1, number);
  sqlite3_bind_int(st, 2, epoch);
  sqlite3_bind_double(st, 3, value);  // NaN binds as NULL and reads back as NaN
  int rc = sqlite3_step(st);
  int status = 0;
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    status = ddpc_error_set("%s: metric for trial %d, which is not in the study store", s->path, number);
  else if (rc != SQLITE_DONE) status = store_fail(s, rc, "recording a metric");
  sqlite3_finalize(st);
  return status;
}

/* Fills t from a row of the load_trials query. */
static int store_read_trial(const ddpc_tune_store *s, sqlite3_stmt *st, ddpc_tune_trial *t) {
  memset(t, 0, sizeof *t);
  t->number = sqlite3_column_int(st, 0);
  const char *state = (const char *)sqlite3_column_text(st, 1);
  int k = 0;
  while (k <= DDPC_TUNE_TRIAL_FAIL && (!state || strcmp(state, store_state_names[k]) != 0)) k++;
  if (k > DDPC_TUNE_TRIAL_FAIL)
    return ddpc_error_set("%s: the study store is damaged (trial %d has state '%s')", s->path, t->number,
                          state ? state : "(null)");
  t->state = (ddpc_tune_trial_state)k;
  if (store_parse_x(s, t->number, (const char *)sqlite3_column_text(st, 2), t) != 0) return -1;
  t->value = store_column_double(st, 4);
  t->has_value = !isnan(t->value);
  t->epochs_done = sqlite3_column_int(st, 5);
  t->exit_code = sqlite3_column_int(st, 9);
  t->attempts = sqlite3_column_int(st, 12);
  t->has_latest = sqlite3_column_type(st, 13) != SQLITE_NULL;
  t->latest = store_column_double(st, 14);
  t->failures = sqlite3_column_int(st, 15);
  if (store_column_text(st, 3, &t->params_json) != 0 || store_column_text(st, 6, &t->run_dir) != 0 ||
      store_column_text(st, 7, &t->started_at) != 0 || store_column_text(st, 8, &t->ended_at) != 0 ||
      store_column_text(st, 10, &t->reason) != 0 || store_column_text(st, 11, &t->log_tail) != 0)
    return -1;
  return 0;
}

/* items (n used of *cap) with room for one more, or NULL out of memory (items still valid). */
static void *store_grow(void *items, int n, int *cap, size_t size, const char *what) {
  if (n < *cap) return items;
  int grown_cap = *cap ? 2 * *cap : 16;
  void *grown = realloc(items, (size_t)grown_cap * size);
  if (!grown) return ddpc_error_set("out of memory (%s)", what), NULL;
  *cap = grown_cap;
  return grown;
}

/* The load_trials query; a reader of a version 1 store (--status of a study an older ddpc
 * ran) reads no failures there. */
#define STORE_LOAD_TRIALS_COLUMNS                                                                   \
  "SELECT number, state, x, params_json, value, epochs_done, run_dir, started_at, ended_at, "      \
  "exit_code, reason, log_tail, attempts, "                                                         \
  "(SELECT max(epoch) FROM intermediates i WHERE i.number = t.number), "                           \
  "(SELECT value FROM intermediates i WHERE i.number = t.number ORDER BY epoch DESC LIMIT 1), "
static const char store_load_trials_sql[] = STORE_LOAD_TRIALS_COLUMNS "failures FROM trials t ORDER BY number";
static const char store_load_trials_v1_sql[] = STORE_LOAD_TRIALS_COLUMNS "0 FROM trials t ORDER BY number";

int ddpc_tune_store_load_trials(ddpc_tune_store *s, ddpc_tune_trial **out, int *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  // One statement reads one snapshot: a tuner writing meanwhile never shows half an update.
  if (store_prepare(s, s->version < 2 ? store_load_trials_v1_sql : store_load_trials_sql, &st, "reading the trials") !=
      0)
    return -1;
  ddpc_tune_trial *trials = NULL;
  int count = 0, cap = 0, rc, status = 0;
  while (status == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    ddpc_tune_trial *grown = store_grow(trials, count, &cap, sizeof *trials, "trials");
    status = grown ? 0 : -1;
    if (grown) {
      trials = grown;
      // Counted even when half read, so the free below releases what it holds.
      status = store_read_trial(s, st, &trials[count]);
      count++;
    }
  }
  if (status == 0 && rc != SQLITE_DONE) status = store_fail(s, rc, "reading the trials");
  sqlite3_finalize(st);
  if (status != 0) {
    ddpc_tune_trials_free(trials, count);
    return -1;
  }
  *out = trials;
  *n = count;
  return 0;
}

/* The intermediates that `sql` selects by ?1 = key, as (number, epoch, value) rows. */
static int store_load_values(ddpc_tune_store *s, const char *sql, int key, ddpc_tune_intermediate **out, int *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  if (store_prepare(s, sql, &st, "reading metrics") != 0) return -1;
  sqlite3_bind_int(st, 1, key);
  ddpc_tune_intermediate *values = NULL;
  int count = 0, cap = 0, rc, status = 0;
  while (status == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    ddpc_tune_intermediate *grown = store_grow(values, count, &cap, sizeof *values, "metrics");
    status = grown ? 0 : -1;
    if (grown) {
      values = grown;
      values[count].number = sqlite3_column_int(st, 0);
      values[count].epoch = sqlite3_column_int(st, 1);
      values[count].value = store_column_double(st, 2);
      count++;
    }
  }
  if (status == 0 && rc != SQLITE_DONE) status = store_fail(s, rc, "reading metrics");
  sqlite3_finalize(st);
  if (status != 0) {
    free(values);
    return -1;
  }
  *out = values;
  *n = count;
  return 0;
}

int ddpc_tune_store_load_intermediates(ddpc_tune_store *s, int number, ddpc_tune_intermediate **out, int *n) {
  return store_load_values(s, "SELECT number, epoch, value FROM intermediates WHERE number = ?1 ORDER BY epoch",
                           number, out, n);
}

int ddpc_tune_store_load_rung(ddpc_tune_store *s, int epoch, ddpc_tune_intermediate **out, int *n) {
  return store_load_values(s, "SELECT number, epoch, value FROM intermediates WHERE epoch = ?1 ORDER BY rowid",
                           epoch, out, n);
}

int ddpc_tune_store_integrity_check(ddpc_tune_store *s) {
  char *first = NULL;  // "ok", or the first of its complaints
  int status = store_query_text(s, "PRAGMA integrity_check", NULL, &first, "checking the study store");
  if (status == 0 && (!first || strcmp(first, "ok") != 0))
    status = ddpc_error_set("%s: the study store is damaged (integrity check: %s)", s->path, first ? first : "?");
  free(first);
  return status;
}

void ddpc_tune_trial_free(ddpc_tune_trial *t) {
  if (!t) return;
  free(t->x);
  free(t->params_json);
  free(t->run_dir);
  free(t->started_at);
  free(t->ended_at);
  free(t->reason);
  free(t->log_tail);
  memset(t, 0, sizeof *t);
}

void ddpc_tune_trials_free(ddpc_tune_trial *trials, int n) {
  for (int i = 0; i < n; i++) ddpc_tune_trial_free(&trials[i]);
  free(trials);
}
