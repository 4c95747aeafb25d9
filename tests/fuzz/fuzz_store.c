/* Fuzzes the study store of `ddpc tune` (tune/tune_store.c, SQLite, and the table of
 * tune/tune_table.c), two ways, told apart by SQLite's file magic:
 * - an input that starts with "SQLite format 3" is the bytes of study.db, opened read-only
 *   as `ddpc tune --status` does (settings, every trial, their metrics, a rung, the table
 *   printed), then for writing as `ddpc tune --resume` does (which may upgrade an older
 *   schema), then integrity-checked;
 * - any other input is the text of trial rows in a valid store: NUL-separated parts fill
 *   state, x, params_json, run_dir, started_at, ended_at, reason and log_tail of trial 0,
 *   then of trial 1, ..., which is then read the same way. Byte mutations of a database
 *   rarely change a text's length; this way the readers of the stored texts see any text. */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fuzz_common.h"
#include "tune/tune_store.h"
#include "tune/tune_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_read_store(ddpc_tune_store *s) {
  static const char *const settings[] = {"metric", "mode", "study_file", "overrides"};
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
    char *value = NULL;
    if (ddpc_tune_store_get_setting(s, settings[i], &value) == 0) free(value);
  }
  ddpc_tune_trial *trials = NULL;
  int n = 0;
  if (ddpc_tune_store_load_trials(s, &trials, &n) == 0) {
    for (int i = 0; i < n; i++) {
      ddpc_tune_intermediate *values = NULL;
      int n_values = 0;
      if (ddpc_tune_store_load_intermediates(s, trials[i].number, &values, &n_values) == 0) free(values);
    }
    ddpc_tune_table_print(fuzz_sink(), trials, n, "val_accuracy", true);
    ddpc_tune_table_print_summary(fuzz_sink(), trials, n, "val_loss", false);
    ddpc_tune_trials_free(trials, n);
  }
  ddpc_tune_intermediate *rung = NULL;
  int n_rung = 0;
  if (ddpc_tune_store_load_rung(s, 1, &rung, &n_rung) == 0) free(rung);
  ddpc_error_clear();
}

// Columns of a trial row the text parts fill, in order.
#define FUZZ_STORE_TEXT_COLUMNS 8

static void fuzz_store_die(sqlite3 *db, const char *what) {
  fprintf(stderr, "fuzz harness: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
  abort();
}

/* Writes the trial rows the parts give into the store at path, made once and emptied each
 * time (through SQLite directly: ddpc's own writer formats these columns itself). */
static void fuzz_store_rows(const char *path, const fuzz_parts *in) {
  static bool made;
  if (!made) {
    ddpc_tune_store *s = NULL;
    if (ddpc_tune_store_open(path, &s) != 0) fuzz_store_die(NULL, ddpc_error_message());
    ddpc_tune_store_set_setting(s, "metric", "val_loss");
    ddpc_tune_store_close(s);
    made = true;
  }
  sqlite3 *db = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_exec(db, "DELETE FROM intermediates; DELETE FROM trials", NULL, NULL, NULL) != SQLITE_OK)
    fuzz_store_die(db, path);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO trials(number, state, x, params_json, run_dir, started_at, ended_at, reason, "
                         "log_tail, value, epochs_done, exit_code, attempts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                         "?9, 0.5, 1, 0, 1)",
                         -1, &st, NULL) != SQLITE_OK)
    fuzz_store_die(db, "insert");
  for (int first = 0, number = 0; first < in->n; first += FUZZ_STORE_TEXT_COLUMNS, number++) {
    sqlite3_bind_int(st, 1, number);
    for (int c = 0; c < FUZZ_STORE_TEXT_COLUMNS; c++) {
      const char *text = first + c < in->n ? in->part[first + c] : NULL;
      if (text) sqlite3_bind_text(st, 2 + c, text, -1, SQLITE_STATIC);
      else sqlite3_bind_null(st, 2 + c);
    }
    sqlite3_step(st);  // a repeated number or a NULL where one is not allowed: no row
    sqlite3_reset(st);
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO intermediates(number, epoch, value) VALUES (%d, 1, 0.25)", number);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char magic[] = "SQLite format 3";
  if (size < sizeof magic - 1 || memcmp(data, magic, sizeof magic - 1) != 0) {
    fuzz_parts in;
    fuzz_split(data, size, &in);
    char *path = fuzz_path("rows.db");
    fuzz_store_rows(path, &in);
    ddpc_tune_store *s = NULL;
    if (ddpc_tune_store_open_readonly(path, &s) == 0) {
      fuzz_read_store(s);
      ddpc_tune_store_close(s);
    }
    ddpc_error_clear();
    free(path);
    fuzz_parts_free(&in);
    return 0;
  }
  char *path = fuzz_write("study.db", data, size);
  ddpc_tune_store *s = NULL;
  if (ddpc_tune_store_open_readonly(path, &s) == 0) {
    fuzz_read_store(s);
    ddpc_tune_store_close(s);
  }
  s = NULL;
  if (ddpc_tune_store_open(path, &s) == 0) {
    fuzz_read_store(s);
    (void)ddpc_tune_store_integrity_check(s);
    ddpc_tune_store_close(s);
  }
  ddpc_error_clear();
  static const char *const extra[] = {"study.db-wal", "study.db-shm", "study.db-journal"};
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) fuzz_remove(fuzz_path(extra[i]));
  fuzz_remove(path);
  return 0;
}
