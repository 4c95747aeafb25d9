/* Tracking in MLflow: one run on a tracking server, fed without ever holding up training.
 * What is logged (params, tags, metrics, the final status, artifacts) goes into a bounded
 * in-memory queue; a sender thread batches it into MLflow's REST calls (runs/log-batch,
 * runs/update, the artifact proxy's PUT) and retries an unreachable or failing server
 * with back-off. What could not be sent by the end (after a short bounded wait) is kept
 * in DIR/mlflow_pending.jsonl, and `ddpc mlflow sync DIR` sends it later. The run's
 * identity is kept in DIR/mlflow.json, so a resumed training (or study) logs to the same
 * run. DIR is a run directory (ddpc train) or a study directory (ddpc tune). */
#ifndef DDPC_TRACK_TRACK_H
#define DDPC_TRACK_TRACK_H

#include <stdbool.h>
#include <stdint.h>

/* The files a tracker keeps in its directory. */
#define DDPC_TRACK_STATE_FILE "mlflow.json"
#define DDPC_TRACK_SPOOL_FILE "mlflow_pending.jsonl"

typedef struct ddpc_track ddpc_track;

typedef struct {
  const char *dir;         // run or study directory (exists)
  const char *uri;         // tracking server, http:// or https:// (NULL: the one DIR/mlflow.json names)
  const char *experiment;  // experiment name (NULL: DIR/mlflow.json's, else "Default")
  const char *run_name;    // name of a run created here
  bool create_now;         // try to create the run before returning (bounded by the timeouts), so
                           // that ddpc_track_run_id can be passed on at once (a study's parent run)
  const char *run_id_env;  // when the run exists by then, this environment variable is set to its
                           // id before the sender thread starts (processes started later inherit
                           // it; setenv with a thread running would race its getenv)
} ddpc_track_options;

/* The tracking server and experiment a run should log to: `uri` and `experiment` from the
 * config when given, else MLflow's own variables MLFLOW_TRACKING_URI and
 * MLFLOW_EXPERIMENT_NAME, else what DIR/mlflow.json recorded (a resumed run). *uri NULL:
 * no tracking. A URI that is not http(s) (file:, databricks) is refused with a message. */
int ddpc_track_resolve(const char *dir, const char *cfg_uri, const char *cfg_experiment, char **uri,
                       char **experiment);

/* Opens the tracker of opt->dir and starts its sender thread. *resumed: DIR/mlflow.json
 * existed (the run was started by an earlier process; its params are logged already).
 * Fails only on bad arguments or memory; an unreachable server is not an error. */
int ddpc_track_open(const ddpc_track_options *opt, ddpc_track **out, bool *resumed);

/* The MLflow run id, or NULL while the run has not been created on the server. */
const char *ddpc_track_run_id(ddpc_track *t);

/* Queued for the sender; never blocks on the network. run: the run the item goes to, NULL
 * for the tracker's own (a study logs its trials' tags into their runs). Values longer than
 * MLflow accepts are cut (params 6000 characters, tags 8000); keys over 250 are skipped. */
void ddpc_track_param(ddpc_track *t, const char *key, const char *value);
void ddpc_track_tag(ddpc_track *t, const char *run, const char *key, const char *value);
void ddpc_track_metric(ddpc_track *t, const char *key, double value, int64_t step);
/* A file of DIR (a relative path) uploaded as an artifact under the same name, or under
 * `as` (a relative artifact path such as "model/model.onnx") when that is not NULL. The
 * file is read when the item is sent (also by `ddpc mlflow sync`): one gone by then is
 * skipped. */
void ddpc_track_artifact(ddpc_track *t, const char *name, const char *as);
/* The run's end: status FINISHED, FAILED or KILLED, with the end time now. */
void ddpc_track_end(ddpc_track *t, const char *status);

/* The MLflow run id DIR/mlflow.json records (malloc'd), NULL when there is none yet. */
char *ddpc_track_dir_run_id(const char *dir);

/* Appends a tag for DIR's own run to DIR/mlflow_pending.jsonl, for `ddpc mlflow sync`: how
 * a study tags a trial whose run never reached the server. Only when DIR is tracked (has
 * mlflow.json) and no training runs there; returns 0, or -1 with a message. */
int ddpc_track_spool_tag(const char *dir, const char *key, const char *value);

/* Waits at most DDPC_MLFLOW_FLUSH_SECONDS (default 5) for the queue to be sent, stops the
 * sender, keeps what is left in DIR/mlflow_pending.jsonl and frees t. Says on stderr how
 * many items were kept and how to send them. NULL is fine. */
void ddpc_track_close(ddpc_track *t);

/* `ddpc mlflow sync DIR`: sends DIR/mlflow_pending.jsonl (creating the run first when it
 * never was), retrying a few times; what still cannot be sent stays there. Returns 0 when
 * nothing is left, -1 with the reason otherwise. *sent: items sent. */
int ddpc_track_sync(const char *dir, int *sent);

/* The tracked runs of DIR (a run directory, or a study directory holding trials'), in
 * sync order: DIR itself first when it has DIR/mlflow.json, then its subdirectories (two
 * levels deep: trials/NNNN). Calls fn for each; returns how many were found, -1 on error. */
int ddpc_track_find_dirs(const char *dir, int (*fn)(void *user, const char *dir), void *user);

#endif
