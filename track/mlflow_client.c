/* MLflow REST calls over libcurl (see mlflow_client.h). Requests:
 *   GET  /api/2.0/mlflow/experiments/get-by-name?experiment_name=N  -> {"experiment":{"experiment_id":..}}
 *   POST /api/2.0/mlflow/experiments/create {"name"}                 -> {"experiment_id":..}
 *   POST /api/2.0/mlflow/runs/create {"experiment_id","run_name","start_time"} -> {"run":{"info":{"run_id",..}}}
 *   POST /api/2.0/mlflow/runs/log-batch {"run_id","metrics"|"params"|"tags":[..]}
 *   POST /api/2.0/mlflow/runs/update {"run_id","status","end_time"}
 *   PUT  /api/2.0/mlflow-artifacts/artifacts/<artifact path>/<name>   (the file's bytes)
 * Errors come back as {"error_code":"RESOURCE_DOES_NOT_EXIST","message":".."}. */
#include "track/mlflow_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/json.h"

/* A reply is read up to this size: MLflow's replies to these calls are a few hundred bytes. */
#define CLIENT_MAX_REPLY (1 << 20)

typedef struct {
  char *data;   // the reply so far, NUL-terminated
  size_t len;   // its length
  bool too_big; // the server sent more than CLIENT_MAX_REPLY
} client_reply;

static size_t client_on_data(char *ptr, size_t size, size_t nmemb, void *user) {
  client_reply *r = user;
  size_t n = size * nmemb;
  if (r->too_big || r->len + n > CLIENT_MAX_REPLY) {
    r->too_big = true;
    return n;  // read on and drop: the call fails on the size, not on a broken connection
  }
  char *grown = realloc(r->data, r->len + n + 1);
  if (!grown) return 0;
  r->data = grown;
  memcpy(r->data + r->len, ptr, n);
  r->len += n;
  r->data[r->len] = '\0';
  return n;
}

static int client_on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  const ddpc_mlflow_client *c = user;
  return c->abort && atomic_load(c->abort) ? 1 : 0;
}

int ddpc_mlflow_client_init(ddpc_mlflow_client *c, const char *uri, const atomic_bool *abort) {
  memset(c, 0, sizeof *c);
  size_t len = strlen(uri);
  while (len > 0 && uri[len - 1] == '/') len--;
  c->base = ddpc_format("%.*s", (int)len, uri);
  c->curl = curl_easy_init();
  c->abort = abort;
  c->timeout_ms = 30000;
  if (!c->base || !c->curl) {
    ddpc_mlflow_client_free(c);
    return ddpc_error_set("cannot start an HTTP client (libcurl) for %s", uri);
  }
  return 0;
}

void ddpc_mlflow_client_free(ddpc_mlflow_client *c) {
  if (c->curl) curl_easy_cleanup(c->curl);
  free(c->base);
  c->curl = NULL;
  c->base = NULL;
}

/* Replies never hold a raw line break inside a string (JSON forbids it), so they can be
 * made one line for core/json.c's reader, which takes blanks but not line breaks. */
static void client_one_line(char *s) {
  for (; s && *s; s++)
    if (*s == '\n' || *s == '\r') *s = ' ';
}

/* One request. body: JSON (POST), or upload: a file (PUT), or neither (GET). *reply gets
 * the body of a 2xx answer (malloc'd). */
static ddpc_mlflow_result client_call(ddpc_mlflow_client *c, const char *what, const char *url, const char *body,
                                      FILE *upload, long upload_size, char **reply) {
  CURL *h = c->curl;
  curl_easy_reset(h);
  client_reply r = {0};
  struct curl_slist *headers = NULL;
  if (body) headers = curl_slist_append(headers, "Content-Type: application/json");
  if (upload) headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // from a thread: no SIGALRM for timeouts
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, client_on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  } else if (upload) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READDATA, upload);
    curl_easy_setopt(h, CURLOPT_INFILESIZE, upload_size);
  }
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  client_one_line(r.data);
  ddpc_mlflow_result res = DDPC_MLFLOW_OK;
  if (rc != CURLE_OK) {
    snprintf(c->error, sizeof c->error, "%s: %s", what, curl_easy_strerror(rc));
    res = DDPC_MLFLOW_RETRY;
  } else if (status < 200 || status >= 300) {
    char *code = r.data ? ddpc_json_find_string(r.data, "error_code") : NULL;
    char *message = r.data ? ddpc_json_find_string(r.data, "message") : NULL;
    snprintf(c->error, sizeof c->error, "%s: HTTP %ld%s%s%s%.300s", what, status, code ? " " : "", code ? code : "",
             message ? ": " : "", message ? message : "");
    // Asked too often, or the server's own trouble: later may work. Anything else 4xx is
    // about the request, which will not change.
    res = status == 429 || status >= 500 || status < 400 ? DDPC_MLFLOW_RETRY : DDPC_MLFLOW_REFUSED;
    free(code);
    free(message);
  } else if (r.too_big) {
    snprintf(c->error, sizeof c->error, "%s: the reply is over %d bytes", what, CLIENT_MAX_REPLY);
    res = DDPC_MLFLOW_RETRY;
  }
  if (res == DDPC_MLFLOW_OK && reply) *reply = r.data ? r.data : ddpc_strdup("");
  else free(r.data);
  return res;
}

/* POST of a JSON body built by `fill` to /api/2.0/mlflow/<endpoint>. */
static ddpc_mlflow_result client_post(ddpc_mlflow_client *c, const char *endpoint, void (*fill)(ddpc_json *, const void *),
                                      const void *user, char **reply) {
  char *body = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&body, &len);
  if (!f) {
    snprintf(c->error, sizeof c->error, "%s: out of memory", endpoint);
    return DDPC_MLFLOW_RETRY;
  }
  ddpc_json j;
  ddpc_json_begin(&j, f);
  fill(&j, user);
  ddpc_json_end(&j);
  ddpc_mlflow_result res = DDPC_MLFLOW_RETRY;
  char *url = ddpc_format("%s/api/2.0/mlflow/%s", c->base, endpoint);
  if (fclose(f) == 0 && url) res = client_call(c, endpoint, url, body, NULL, 0, reply);
  else snprintf(c->error, sizeof c->error, "%s: out of memory", endpoint);
  free(url);
  free(body);
  return res;
}

/* The string `key` of a reply, or RETRY with a message when the reply lacks it (a proxy's
 * page, another server). */
static ddpc_mlflow_result client_field(ddpc_mlflow_client *c, const char *what, const char *reply, const char *key,
                                       char **out) {
  *out = ddpc_json_find_string(reply, key);
  if (*out && (*out)[0]) return DDPC_MLFLOW_OK;
  free(*out);
  *out = NULL;
  snprintf(c->error, sizeof c->error, "%s: the reply has no string \"%s\": %.200s", what, key, reply);
  return DDPC_MLFLOW_RETRY;
}

static void fill_experiment(ddpc_json *j, const void *name) { ddpc_json_string(j, "name", name); }

ddpc_mlflow_result ddpc_mlflow_experiment_id(ddpc_mlflow_client *c, const char *name, char **id) {
  *id = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    char *escaped = curl_easy_escape(c->curl, name, 0);
    char *url = escaped ? ddpc_format("%s/api/2.0/mlflow/experiments/get-by-name?experiment_name=%s", c->base, escaped)
                        : NULL;
    curl_free(escaped);
    if (!url) return DDPC_MLFLOW_RETRY;
    char *reply = NULL;
    ddpc_mlflow_result res = client_call(c, "experiments/get-by-name", url, NULL, NULL, 0, &reply);
    free(url);
    if (res == DDPC_MLFLOW_OK) {
      res = client_field(c, "experiments/get-by-name", reply, "experiment_id", id);
      free(reply);
      return res;
    }
    if (res == DDPC_MLFLOW_RETRY || !strstr(c->error, "RESOURCE_DOES_NOT_EXIST")) return res;
    res = client_post(c, "experiments/create", fill_experiment, name, &reply);
    if (res == DDPC_MLFLOW_OK) {
      res = client_field(c, "experiments/create", reply, "experiment_id", id);
      free(reply);
      return res;
    }
    // Created meanwhile by another process (trials start together): look it up again.
    if (res == DDPC_MLFLOW_RETRY || !strstr(c->error, "RESOURCE_ALREADY_EXISTS")) return res;
  }
  return DDPC_MLFLOW_RETRY;
}

typedef struct {
  const char *experiment_id;
  const char *run_name;
  int64_t start_ms;
} client_run_create;

static void fill_run_create(ddpc_json *j, const void *user) {
  const client_run_create *r = user;
  ddpc_json_string(j, "experiment_id", r->experiment_id);
  ddpc_json_string(j, "run_name", r->run_name);
  ddpc_json_int(j, "start_time", r->start_ms);
}

ddpc_mlflow_result ddpc_mlflow_create_run(ddpc_mlflow_client *c, const char *experiment_id, const char *run_name,
                                          int64_t start_ms, char **run_id, char **artifact_uri) {
  *run_id = *artifact_uri = NULL;
  client_run_create r = {experiment_id, run_name, start_ms};
  char *reply = NULL;
  ddpc_mlflow_result res = client_post(c, "runs/create", fill_run_create, &r, &reply);
  if (res != DDPC_MLFLOW_OK) return res;
  res = client_field(c, "runs/create", reply, "run_id", run_id);
  if (res == DDPC_MLFLOW_OK) *artifact_uri = ddpc_json_find_string(reply, "artifact_uri");  // may be absent
  free(reply);
  return res;
}

typedef struct {
  const char *run_id;
  const ddpc_track_item *const *items;
  int n;
} client_batch;

static void fill_batch(ddpc_json *j, const void *user) {
  const client_batch *b = user;
  ddpc_json_string(j, "run_id", b->run_id);
  ddpc_track_item_kind kind = b->items[0]->kind;
  ddpc_json_begin_array(j, kind == DDPC_TRACK_ITEM_METRIC ? "metrics" : kind == DDPC_TRACK_ITEM_PARAM ? "params" : "tags");
  for (int i = 0; i < b->n; i++) {
    const ddpc_track_item *it = b->items[i];
    ddpc_json_begin_object(j, NULL);
    ddpc_json_string(j, "key", it->key);
    if (kind == DDPC_TRACK_ITEM_METRIC) {
      ddpc_json_number(j, "value", it->number);
      ddpc_json_int(j, "timestamp", it->time_ms);
      ddpc_json_int(j, "step", it->step);
    } else {
      ddpc_json_string(j, "value", it->value);
    }
    ddpc_json_end_object(j);
  }
  ddpc_json_end_array(j);
}

ddpc_mlflow_result ddpc_mlflow_log_batch(ddpc_mlflow_client *c, const char *run_id, const ddpc_track_item *const *items,
                                         int n) {
  client_batch b = {run_id, items, n};
  return client_post(c, "runs/log-batch", fill_batch, &b, NULL);
}

typedef struct {
  const char *run_id;
  const char *status;
  int64_t end_ms;
} client_end;

static void fill_end(ddpc_json *j, const void *user) {
  const client_end *e = user;
  ddpc_json_string(j, "run_id", e->run_id);
  ddpc_json_string(j, "status", e->status);
  ddpc_json_int(j, "end_time", e->end_ms);
}

ddpc_mlflow_result ddpc_mlflow_end_run(ddpc_mlflow_client *c, const char *run_id, const char *status, int64_t end_ms) {
  client_end e = {run_id, status, end_ms};
  return client_post(c, "runs/update", fill_end, &e, NULL);
}

/* "mlflow-artifacts:/1/abc/artifacts" or "mlflow-artifacts://host:port/1/abc/artifacts":
 * the path after the scheme and authority, without leading slashes; NULL when the run's
 * artifacts are not served by the tracking server. */
static const char *client_proxy_path(const char *artifact_uri) {
  static const char scheme[] = "mlflow-artifacts:";
  if (!artifact_uri || strncmp(artifact_uri, scheme, sizeof scheme - 1) != 0) return NULL;
  const char *p = artifact_uri + sizeof scheme - 1;
  if (strncmp(p, "//", 2) == 0) {
    p = strchr(p + 2, '/');
    if (!p) return NULL;
  }
  while (*p == '/') p++;
  return p;
}

ddpc_mlflow_result ddpc_mlflow_upload(ddpc_mlflow_client *c, const char *artifact_uri, const char *name,
                                      const char *path) {
  const char *proxy = client_proxy_path(artifact_uri);
  if (!proxy) {
    snprintf(c->error, sizeof c->error,
             "artifact %s: the run's artifact location '%.200s' is not the tracking server's artifact proxy "
             "(mlflow-artifacts:; start the server with --serve-artifacts)",
             name, artifact_uri ? artifact_uri : "(none)");
    return DDPC_MLFLOW_REFUSED;
  }
  // Each component escaped: the path is a URL path, the name a file name.
  char *escaped = ddpc_strdup("");
  for (const char *p = name; escaped && *p;) {
    size_t len = strcspn(p, "/");
    char *part = curl_easy_escape(c->curl, p, (int)len);
    char *next = part ? ddpc_format("%s%s%s", escaped, escaped[0] ? "/" : "", part) : NULL;
    curl_free(part);
    free(escaped);
    escaped = next;
    p += len;
    if (*p == '/') p++;
  }
  char *url = escaped ? ddpc_format("%s/api/2.0/mlflow-artifacts/artifacts/%s/%s", c->base, proxy, escaped) : NULL;
  free(escaped);
  FILE *f = url ? fopen(path, "rb") : NULL;
  struct stat sb;
  ddpc_mlflow_result res = DDPC_MLFLOW_REFUSED;
  if (!url) snprintf(c->error, sizeof c->error, "artifact %s: out of memory", name);
  else if (!f || fstat(fileno(f), &sb) != 0)
    snprintf(c->error, sizeof c->error, "artifact %s: cannot open '%s': %s", name, path, strerror(errno));
  else res = client_call(c, "artifact upload", url, NULL, f, (long)sb.st_size, NULL);
  if (f) fclose(f);
  free(url);
  return res;
}
