/* The study store of `ddpc tune`: one SQLite file in the study directory (study.db) that
 * the tuner process alone writes, in WAL mode so `ddpc tune --status` can read it at any
 * time. It keeps the study's settings (key/value text), every trial (its point, state,
 * final value, run directory, times, exit code, why it failed or was pruned, its log tail)
 * and the metric of every trial at every epoch. Each write is one transaction, committed
 * before the call returns: a tuner killed at any moment, even by SIGKILL, leaves a store
 * holding every write that returned, and `--resume` continues from it. */
#ifndef DDPC_LAUNCH_TUNE_STORE_H
#define DDPC_LAUNCH_TUNE_STORE_H

#include <stdbool.h>

/* The schema this ddpc writes; a store with a newer one is refused, not misread, and an
 * older one (1) is brought up to date when opened for writing. */
#define DDPC_TUNE_STORE_SCHEMA_VERSION 2

typedef struct ddpc_tune_store ddpc_tune_store;

typedef enum {
  DDPC_TUNE_TRIAL_RUNNING,   // started, not ended (or interrupted with its tuner)
  DDPC_TUNE_TRIAL_COMPLETE,  // ran to its end
  DDPC_TUNE_TRIAL_PRUNED,    // stopped early by the scheduler
  DDPC_TUNE_TRIAL_FAIL,      // crashed past its restarts, diverged, or bad config
} ddpc_tune_trial_state;

/* One trial as the store keeps it. Strings and x are malloc'd and owned by the struct
 * (ddpc_tune_trial_free); NULL strings are stored as NULL. */
typedef struct {
  int number;                   // 0, 1, ... in the order trials were proposed
  ddpc_tune_trial_state state;  // where it is
  double *x;                    // the sampler's point, one double per parameter
  int n_x;                      // how many parameters
  char *params_json;            // the parameter values as a JSON object, for display
  bool has_value;               // value is meaningful
  double value;                 // final metric (a NaN value reads back as has_value false)
  int epochs_done;              // epochs with a recorded metric
  char *run_dir;                // the trial's run directory
  char *started_at;             // ISO 8601 UTC, first start
  char *ended_at;               // ISO 8601 UTC, or NULL while running
  int exit_code;                // of its last process (0 while none ended)
  char *reason;                 // why FAIL or PRUNED, or NULL
  char *log_tail;               // the end of its log when it failed, or NULL
  int attempts;                 // how many times a process was started for it
  int failures;                 // crashes it was restarted after (max_failures bounds it, across tuners)
  bool has_latest;              // latest is meaningful (not stored: load_trials fills it)
  double latest;                // the metric at its newest recorded epoch, for running trials
} ddpc_tune_trial;

/* One recorded metric value. */
typedef struct {
  int number;    // the trial
  int epoch;     // 1-based epoch it was measured after
  double value;  // the metric (NaN where the epoch gave none)
} ddpc_tune_intermediate;

/* Opens the store at `path` for writing, creating it with the current schema when the file
 * is absent or empty. Refuses, with a message naming the file, one that is not SQLite, is
 * damaged, is SQLite but not a ddpc study store, or has a newer schema. */
int ddpc_tune_store_open(const char *path, ddpc_tune_store **out);
/* Opens an existing store read-only; works while a tuner has it open for writing, and
 * after that tuner was killed. Each load sees the writes committed before it began. */
int ddpc_tune_store_open_readonly(const char *path, ddpc_tune_store **out);
/* Closes (NULL is fine). */
void ddpc_tune_store_close(ddpc_tune_store *s);

/* Study settings: text under a key. set replaces; get gives a malloc'd copy in *value,
 * or NULL when the key was never set. */
int ddpc_tune_store_set_setting(ddpc_tune_store *s, const char *key, const char *value);
int ddpc_tune_store_get_setting(ddpc_tune_store *s, const char *key, char **value);

/* Adds trial t (its number must be new), or replaces every stored field of an existing
 * one (its number must exist). Each is one transaction. */
int ddpc_tune_store_insert_trial(ddpc_tune_store *s, const ddpc_tune_trial *t);
int ddpc_tune_store_update_trial(ddpc_tune_store *s, const ddpc_tune_trial *t);

/* Records trial `number`'s metric after `epoch`. Recording the same (number, epoch) again
 * replaces the value and keeps its place in the arrival order: replaying a trial's
 * metrics on resume changes nothing. The trial must be in the store. */
int ddpc_tune_store_add_intermediate(ddpc_tune_store *s, int number, int epoch, double value);

/* Every trial, ordered by number, into a malloc'd array (free with ddpc_tune_trials_free;
 * NULL and 0 when there are none). */
int ddpc_tune_store_load_trials(ddpc_tune_store *s, ddpc_tune_trial **out, int *n);
/* Trial `number`'s values ordered by epoch (free *out with free()). */
int ddpc_tune_store_load_intermediates(ddpc_tune_store *s, int number, ddpc_tune_intermediate **out, int *n);
/* Every trial's value recorded at `epoch` (an ASHA rung), in the order they were first
 * recorded (free *out with free()). */
int ddpc_tune_store_load_rung(ddpc_tune_store *s, int epoch, ddpc_tune_intermediate **out, int *n);

/* PRAGMA integrity_check: 0 when SQLite says ok, else -1 with its first complaint. */
int ddpc_tune_store_integrity_check(ddpc_tune_store *s);

/* Frees what the trial owns and zeroes it (the struct itself is the caller's). */
void ddpc_tune_trial_free(ddpc_tune_trial *t);
/* Frees n trials and the array from ddpc_tune_store_load_trials. */
void ddpc_tune_trials_free(ddpc_tune_trial *trials, int n);

/* "RUNNING", "COMPLETE", "PRUNED", "FAIL" ("?" for anything else). */
const char *ddpc_tune_trial_state_name(ddpc_tune_trial_state state);

#endif
