/* MLflow's REST API through libcurl: the few calls a tracker makes, each one request with
 * its JSON body written by core/json.c and its reply read by it. Replies are untrusted: a
 * reply without the expected field is an error naming the call, never a crash. */
#ifndef DDPC_TRACK_MLFLOW_CLIENT_H
#define DDPC_TRACK_MLFLOW_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "track/track_item.h"

/* How a call ended. */
typedef enum {
  DDPC_MLFLOW_OK,       // done
  DDPC_MLFLOW_RETRY,    // the server was not reached, timed out, or answered 5xx/429: try again later
  DDPC_MLFLOW_REFUSED,  // the server answered that the request is wrong (4xx): sending it again would not help
} ddpc_mlflow_result;

typedef struct {
  void *curl;                   // the easy handle, reused so connections are kept alive
  char *base;                   // the tracking URI without a trailing '/'
  const atomic_bool *abort;     // when it becomes true, a transfer in progress ends (may be NULL)
  long timeout_ms;              // bound of a whole request
  char error[512];              // the last failure, for messages
} ddpc_mlflow_client;

int ddpc_mlflow_client_init(ddpc_mlflow_client *c, const char *uri, const atomic_bool *abort);
void ddpc_mlflow_client_free(ddpc_mlflow_client *c);

/* The experiment's id, created when it does not exist (also when another process creates
 * it at the same time). *id malloc'd. */
ddpc_mlflow_result ddpc_mlflow_experiment_id(ddpc_mlflow_client *c, const char *name, char **id);
/* Creates a run; *run_id and *artifact_uri malloc'd. */
ddpc_mlflow_result ddpc_mlflow_create_run(ddpc_mlflow_client *c, const char *experiment_id, const char *run_name,
                                          int64_t start_ms, char **run_id, char **artifact_uri);
/* One runs/log-batch of items[0..n), all params, all tags or all metrics of one run. */
ddpc_mlflow_result ddpc_mlflow_log_batch(ddpc_mlflow_client *c, const char *run_id, const ddpc_track_item *const *items,
                                         int n);
/* runs/update: the run's status and end time. */
ddpc_mlflow_result ddpc_mlflow_end_run(ddpc_mlflow_client *c, const char *run_id, const char *status, int64_t end_ms);
/* Uploads file `path` as artifact `name` of a run whose artifact URI is `artifact_uri`
 * (mlflow-artifacts:/..., served by the tracking server's artifact proxy). */
ddpc_mlflow_result ddpc_mlflow_upload(ddpc_mlflow_client *c, const char *artifact_uri, const char *name,
                                      const char *path);

/* What a log-batch request may hold (MLflow's request limits, mlflow/utils/validation.py:
 * MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH) and its key and value lengths. */
#define DDPC_MLFLOW_MAX_METRICS_PER_BATCH 1000
#define DDPC_MLFLOW_MAX_PARAMS_TAGS_PER_BATCH 100
#define DDPC_MLFLOW_MAX_KEY_LENGTH 250
#define DDPC_MLFLOW_MAX_PARAM_VALUE_LENGTH 6000
#define DDPC_MLFLOW_MAX_TAG_VALUE_LENGTH 8000

#endif
