/* The tracker (see track.h): the run's identity in DIR/mlflow.json, a bounded queue with a
 * sender thread, back-off while the server cannot be reached, and the spool of what was not
 * sent. The queue is a ring: producers (training) add at its tail under the lock; the
 * sender reads a batch at its head without the lock (those slots are not touched by
 * producers) and removes it once the server took it. When the ring is full, an item goes
 * straight to the spool file: memory stays bounded and nothing is dropped. */
#include "track/track.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/sysinfo.h"
#include "track/mlflow_client.h"
#include "track/track_item.h"

/* Items the ring holds: a run logs a few per epoch and one per log_every_steps; this is
 * hours of an unreachable server at a step logged every few milliseconds. */
#define TRACK_RING_ITEMS 65536
/* Back-off between attempts while the server fails: doubling from the first to the last. */
#define TRACK_BACKOFF_FIRST 0.5
#define TRACK_BACKOFF_MAX 30.0
/* After a request, the sender gathers what comes within this long before the next one: a
 * request per logged step (every few milliseconds) would cost its thread, and a rank that
 * shares the core, more than it is worth; once a second is a few requests per epoch. */
#define TRACK_BATCH_SECONDS 1.0
/* `ddpc mlflow sync`: attempts before it gives up on an unreachable server. */
#define TRACK_SYNC_ATTEMPTS 4

/* What DIR/mlflow.json keeps: where the run is, and how to create it when it is not yet. */
typedef struct {
  char *uri;            // tracking server
  char *experiment;     // experiment name
  char *run_name;       // the run's name
  int64_t start_ms;     // when the run started (its start_time), Unix milliseconds
  char *experiment_id;  // once known
  char *run_id;         // once the run exists
  char *artifact_uri;   // the run's artifact location (mlflow-artifacts:/...)
} track_state;

struct ddpc_track {
  char *dir;                 // run or study directory
  char *state_path;          // DIR/mlflow.json
  char *spool_path;          // DIR/mlflow_pending.jsonl
  track_state st;            // the run (run_id written by the sender only, under mu)
  ddpc_mlflow_client client; // the sender's HTTP client
  pthread_mutex_t mu;        // guards everything below and st.run_id
  pthread_cond_t cv;         // items added, items sent, closing
  ddpc_track_item *ring;     // TRACK_RING_ITEMS slots
  size_t head;               // first queued item
  size_t count;              // queued items
  long spool_loaded;         // bytes at the start of the spool that were loaded into the ring
  bool thread_started;       // a sender thread runs
  bool closing;              // the end: send what is left, then stop
  atomic_bool stop;          // stop now (also ends a transfer in progress)
  pthread_t thread;          // the sender
  int refused;               // items the server refused (not kept: they would be refused again)
  bool said_unreachable;     // the first failure was reported on stderr
  long pushed;               // items queued (DDPC_MLFLOW_STATS)
  long requests;             // requests made by the sender (DDPC_MLFLOW_STATS)
  double sender_cpu;         // CPU seconds of the sender thread, when it ended (DDPC_MLFLOW_STATS)
};

static int64_t track_now_ms(void) { return (int64_t)llround(ddpc_time_unix() * 1000.0); }

static void state_free(track_state *st) {
  free(st->uri);
  free(st->experiment);
  free(st->run_name);
  free(st->experiment_id);
  free(st->run_id);
  free(st->artifact_uri);
  memset(st, 0, sizeof *st);
}

static int state_write_json(FILE *out, void *user) {
  const track_state *st = user;
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "uri", st->uri);
  ddpc_json_string(&j, "experiment", st->experiment);
  ddpc_json_string(&j, "run_name", st->run_name);
  ddpc_json_int(&j, "start_time", st->start_ms);
  ddpc_json_string(&j, "experiment_id", st->experiment_id);
  ddpc_json_string(&j, "run_id", st->run_id);
  ddpc_json_string(&j, "artifact_uri", st->artifact_uri);
  ddpc_json_end(&j);
  fputc('\n', out);
  return ferror(out) ? -1 : 0;
}

/* Reads DIR/mlflow.json: 1 read, 0 absent, -1 with a message when it is not one ddpc wrote. */
static int state_read(const char *path, track_state *st) {
  memset(st, 0, sizeof *st);
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : ddpc_error_set("cannot open '%s': %s", path, strerror(errno));
  char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  for (size_t i = 0; i < n; i++)
    if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\0') buf[i] = ' ';
  st->uri = ddpc_json_find_string(buf, "uri");
  st->experiment = ddpc_json_find_string(buf, "experiment");
  st->run_name = ddpc_json_find_string(buf, "run_name");
  st->experiment_id = ddpc_json_find_string(buf, "experiment_id");
  st->run_id = ddpc_json_find_string(buf, "run_id");
  st->artifact_uri = ddpc_json_find_string(buf, "artifact_uri");
  double start = 0;
  bool has_start = ddpc_json_find_number(buf, "start_time", &start) == 1 && start >= 0 && start < 9e15;
  st->start_ms = has_start ? (int64_t)start : 0;
  if (st->uri && st->experiment && st->run_name && has_start && (!st->run_id || st->run_id[0])) return 1;
  state_free(st);
  return ddpc_error_set("%s: expected the JSON object ddpc writes (\"uri\", \"experiment\", \"run_name\", "
                        "\"start_time\", optionally \"run_id\"); remove the file to start a new MLflow run",
                        path);
}

static bool track_uri_is_http(const char *uri) { return strncmp(uri, "http://", 7) == 0 || strncmp(uri, "https://", 8) == 0; }

int ddpc_track_resolve(const char *dir, const char *cfg_uri, const char *cfg_experiment, char **uri,
                       char **experiment) {
  *uri = *experiment = NULL;
  const char *env_uri = getenv("MLFLOW_TRACKING_URI");
  const char *env_experiment = getenv("MLFLOW_EXPERIMENT_NAME");
  track_state st = {0};
  char *path = dir ? ddpc_format("%s/%s", dir, DDPC_TRACK_STATE_FILE) : NULL;
  int had = path ? state_read(path, &st) : 0;
  free(path);
  if (had < 0) {  // a damaged state file is said, not fatal to training
    fprintf(stderr, "ddpc: warning: %s\n", ddpc_error_message());
    ddpc_error_clear();
  }
  const char *u = cfg_uri ? cfg_uri : env_uri && env_uri[0] ? env_uri : st.uri;
  const char *e = cfg_experiment ? cfg_experiment : env_experiment && env_experiment[0] ? env_experiment : st.experiment;
  int rc = 0;
  if (u && !track_uri_is_http(u)) {
    // MLflow's own default is a local folder (file:), which ddpc cannot write as MLflow does.
    if (cfg_uri) rc = ddpc_error_set("tracking.mlflow.uri: expected an http:// or https:// tracking server, got '%s'", u);
    else fprintf(stderr, "ddpc: note: MLFLOW_TRACKING_URI '%s' is not an http(s) tracking server; not logging to MLflow\n", u);
  } else if (u) {
    *uri = ddpc_strdup(u);
    *experiment = ddpc_strdup(e ? e : "Default");
    if (!*uri || !*experiment) rc = -1;
  }
  state_free(&st);
  if (rc != 0) {
    free(*uri);
    free(*experiment);
    *uri = *experiment = NULL;
  }
  return rc;
}

static int track_save_state(ddpc_track *t) { return ddpc_fs_write_atomic(t->state_path, state_write_json, &t->st); }

/* Makes sure the run exists on the server (creating experiment and run when needed, and
 * recording them in mlflow.json). Sender only. */
static ddpc_mlflow_result track_ensure_run(ddpc_track *t) {
  if (t->st.run_id) return DDPC_MLFLOW_OK;
  ddpc_mlflow_result res = DDPC_MLFLOW_OK;
  if (!t->st.experiment_id) res = ddpc_mlflow_experiment_id(&t->client, t->st.experiment, &t->st.experiment_id);
  char *run_id = NULL, *artifact_uri = NULL;
  if (res == DDPC_MLFLOW_OK)
    res = ddpc_mlflow_create_run(&t->client, t->st.experiment_id, t->st.run_name, t->st.start_ms, &run_id, &artifact_uri);
  if (res != DDPC_MLFLOW_OK) return res;
  pthread_mutex_lock(&t->mu);
  t->st.run_id = run_id;
  t->st.artifact_uri = artifact_uri;
  pthread_mutex_unlock(&t->mu);
  if (track_save_state(t) != 0) {
    fprintf(stderr, "ddpc: warning: MLflow run %s: %s (a resumed run will start a new MLflow run)\n", run_id,
            ddpc_error_message());
    ddpc_error_clear();
  }
  return DDPC_MLFLOW_OK;
}

static ddpc_track_item *track_at(ddpc_track *t, size_t i) { return &t->ring[(t->head + i) % TRACK_RING_ITEMS]; }

/* How many items from the head go in one request: one artifact or end, or a run of params,
 * tags or metrics of one run within MLflow's batch limits. */
static int track_batch_size(ddpc_track *t, size_t available) {
  const ddpc_track_item *first = track_at(t, 0);
  if (first->kind == DDPC_TRACK_ITEM_END || first->kind == DDPC_TRACK_ITEM_ARTIFACT) return 1;
  int limit = first->kind == DDPC_TRACK_ITEM_METRIC ? DDPC_MLFLOW_MAX_METRICS_PER_BATCH : DDPC_MLFLOW_MAX_PARAMS_TAGS_PER_BATCH;
  int n = 1;
  while ((size_t)n < available && n < limit) {
    const ddpc_track_item *it = track_at(t, (size_t)n);
    bool same_run = (!it->run && !first->run) || (it->run && first->run && strcmp(it->run, first->run) == 0);
    if (it->kind != first->kind || !same_run) break;
    n++;
  }
  return n;
}

/* Sends items[0..n) (one batch). Sender only. */
static ddpc_mlflow_result track_send(ddpc_track *t, const ddpc_track_item *const *items, int n) {
  ddpc_mlflow_result res = track_ensure_run(t);
  if (res != DDPC_MLFLOW_OK) return res;
  const ddpc_track_item *first = items[0];
  const char *run = first->run ? first->run : t->st.run_id;
  if (first->kind == DDPC_TRACK_ITEM_END) return ddpc_mlflow_end_run(&t->client, run, first->value, first->time_ms);
  if (first->kind == DDPC_TRACK_ITEM_ARTIFACT) {
    char *path = ddpc_format("%s/%s", t->dir, first->value ? first->value : first->key);
    if (!path) return DDPC_MLFLOW_RETRY;
    struct stat sb;
    if (stat(path, &sb) != 0) {  // gone since: nothing to send (not an error of the server)
      free(path);
      return DDPC_MLFLOW_OK;
    }
    res = ddpc_mlflow_upload(&t->client, t->st.artifact_uri, first->key, path);
    free(path);
    return res;
  }
  return ddpc_mlflow_log_batch(&t->client, run, items, n);
}

/* One attempt at the head batch. Called with mu held; returns with it held. */
static ddpc_mlflow_result track_send_head(ddpc_track *t) {
  size_t available = t->count;
  int n = track_batch_size(t, available);
  const ddpc_track_item *batch[DDPC_MLFLOW_MAX_METRICS_PER_BATCH];
  for (int i = 0; i < n; i++) batch[i] = track_at(t, (size_t)i);
  pthread_mutex_unlock(&t->mu);
  ddpc_mlflow_result res = track_send(t, batch, n);
  pthread_mutex_lock(&t->mu);
  t->requests++;
  if (res == DDPC_MLFLOW_RETRY) return res;
  if (res == DDPC_MLFLOW_REFUSED) {
    t->refused += n;
    fprintf(stderr, "ddpc: warning: MLflow at %s refused %d item(s), not kept: %s\n", t->st.uri, n, t->client.error);
  }
  for (int i = 0; i < n; i++) ddpc_track_item_free(track_at(t, (size_t)i));
  t->head = (t->head + (size_t)n) % TRACK_RING_ITEMS;
  t->count -= (size_t)n;
  pthread_cond_broadcast(&t->cv);
  return res;
}

static void track_wait(ddpc_track *t, double seconds) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  double whole = floor(seconds);
  until.tv_sec += (time_t)whole;
  until.tv_nsec += (long)((seconds - whole) * 1e9);
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&t->cv, &t->mu, &until);
}

static void *track_sender(void *user) {
  ddpc_track *t = user;
  double backoff = 0;
  pthread_mutex_lock(&t->mu);
  while (!atomic_load(&t->stop)) {
    if (t->count == 0) {
      if (t->st.run_id || t->closing) {
        pthread_cond_wait(&t->cv, &t->mu);
        continue;
      }
      // Nothing queued yet: create the run anyway, so its id is known early.
      pthread_mutex_unlock(&t->mu);
      ddpc_mlflow_result res = track_ensure_run(t);
      pthread_mutex_lock(&t->mu);
      if (res == DDPC_MLFLOW_OK) continue;
    } else if (track_send_head(t) != DDPC_MLFLOW_RETRY) {
      backoff = 0;
      double until = ddpc_time_seconds() + TRACK_BATCH_SECONDS;
      double left;
      while (!t->closing && !atomic_load(&t->stop) && t->count < DDPC_MLFLOW_MAX_METRICS_PER_BATCH &&
             (left = until - ddpc_time_seconds()) > 0)
        track_wait(t, left);
      continue;
    }
    if (!t->said_unreachable) {
      t->said_unreachable = true;
      fprintf(stderr, "ddpc: note: MLflow at %s: %s; training goes on, retrying in the background\n", t->st.uri,
              t->client.error);
    }
    backoff = backoff == 0 ? TRACK_BACKOFF_FIRST : fmin(backoff * 2, TRACK_BACKOFF_MAX);
    if (!atomic_load(&t->stop)) track_wait(t, backoff);
  }
  t->sender_cpu = ddpc_thread_cpu_seconds();
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

/* Adds a copy of *it to the queue, or to the spool file when the ring is full. */
static void track_push(ddpc_track *t, ddpc_track_item *it) {
  pthread_mutex_lock(&t->mu);
  t->pushed++;
  if (t->count < TRACK_RING_ITEMS) {
    *track_at(t, t->count) = *it;
    t->count++;
    pthread_cond_broadcast(&t->cv);
  } else {
    FILE *f = fopen(t->spool_path, "a");
    if (f) {
      ddpc_track_item_write(f, it);
      fclose(f);
    }
    ddpc_track_item_free(it);
  }
  pthread_mutex_unlock(&t->mu);
}

/* A copy of s cut to max bytes (without splitting a UTF-8 sequence). */
static char *track_cut(const char *s, size_t max) {
  size_t len = strlen(s);
  if (len <= max) return ddpc_strdup(s);
  while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80) max--;
  return ddpc_format("%.*s", (int)max, s);
}

static void track_push_text(ddpc_track *t, ddpc_track_item_kind kind, const char *run, const char *key, const char *value,
                            size_t max_value) {
  if (!t || !key || strlen(key) > DDPC_MLFLOW_MAX_KEY_LENGTH) return;
  ddpc_track_item it = {.kind = kind, .key = ddpc_strdup(key), .value = track_cut(value ? value : "", max_value)};
  it.run = run ? ddpc_strdup(run) : NULL;
  if (!it.key || !it.value || (run && !it.run)) {
    ddpc_track_item_free(&it);
    return;
  }
  track_push(t, &it);
}

void ddpc_track_param(ddpc_track *t, const char *key, const char *value) {
  track_push_text(t, DDPC_TRACK_ITEM_PARAM, NULL, key, value, DDPC_MLFLOW_MAX_PARAM_VALUE_LENGTH);
}

void ddpc_track_tag(ddpc_track *t, const char *run, const char *key, const char *value) {
  track_push_text(t, DDPC_TRACK_ITEM_TAG, run, key, value, DDPC_MLFLOW_MAX_TAG_VALUE_LENGTH);
}

void ddpc_track_metric(ddpc_track *t, const char *key, double value, int64_t step) {
  // MLflow's JSON has no NaN or infinity; a metric that does not apply is not logged.
  if (!t || !key || !isfinite(value) || strlen(key) > DDPC_MLFLOW_MAX_KEY_LENGTH) return;
  ddpc_track_item it = {.kind = DDPC_TRACK_ITEM_METRIC, .key = ddpc_strdup(key), .number = value, .step = step,
                        .time_ms = track_now_ms()};
  if (it.key) track_push(t, &it);
}

void ddpc_track_artifact(ddpc_track *t, const char *name, const char *as) {
  if (!t || !name) return;
  ddpc_track_item it = {.kind = DDPC_TRACK_ITEM_ARTIFACT, .key = ddpc_strdup(as ? as : name)};
  it.value = as ? ddpc_strdup(name) : NULL;
  if (it.key && (!as || it.value)) track_push(t, &it);
  else ddpc_track_item_free(&it);
}

void ddpc_track_end(ddpc_track *t, const char *status) {
  if (!t) return;
  ddpc_track_item it = {.kind = DDPC_TRACK_ITEM_END, .value = ddpc_strdup(status), .time_ms = track_now_ms()};
  if (it.value) track_push(t, &it);
}

char *ddpc_track_dir_run_id(const char *dir) {
  char buf[16384];
  if (!ddpc_fs_read_head(dir, DDPC_TRACK_STATE_FILE, buf, sizeof buf)) return NULL;
  return ddpc_json_find_string(buf, "run_id");
}

int ddpc_track_spool_tag(const char *dir, const char *key, const char *value) {
  char *state = ddpc_format("%s/%s", dir, DDPC_TRACK_STATE_FILE);
  char *spool = ddpc_format("%s/%s", dir, DDPC_TRACK_SPOOL_FILE);
  int rc = -1;
  FILE *f = NULL;
  if (state && spool && access(state, F_OK) == 0) {
    f = fopen(spool, "a");
    if (!f) ddpc_error_set("cannot append to '%s': %s", spool, strerror(errno));
  }
  if (f) {
    ddpc_track_item it = {.kind = DDPC_TRACK_ITEM_TAG, .key = (char *)key, .value = (char *)value};
    ddpc_track_item_write(f, &it);
    rc = fclose(f) == 0 ? 0 : ddpc_error_set("cannot write '%s': %s", spool, strerror(errno));
  }
  free(state);
  free(spool);
  return rc;
}

const char *ddpc_track_run_id(ddpc_track *t) {
  if (!t) return NULL;
  pthread_mutex_lock(&t->mu);
  const char *id = t->st.run_id;
  pthread_mutex_unlock(&t->mu);
  return id;
}

static void track_free(ddpc_track *t) {
  if (!t) return;
  for (size_t i = 0; t->ring && i < t->count; i++) ddpc_track_item_free(track_at(t, i));
  free(t->ring);
  ddpc_mlflow_client_free(&t->client);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
  state_free(&t->st);
  free(t->dir);
  free(t->state_path);
  free(t->spool_path);
  free(t);
}

/* libcurl's global set-up, once per process, before any thread of ours uses it. */
static void track_curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Opens the tracker of dir without a thread: its state (from opt or DIR/mlflow.json) and
 * the spool loaded into the queue. */
static int track_open_common(const char *dir, const char *uri, const char *experiment, const char *run_name,
                             ddpc_track **out, bool *resumed) {
  *out = NULL;
  static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
  pthread_once(&curl_once, track_curl_init);
  ddpc_track *t = ddpc_calloc(1, sizeof *t, "tracker");
  if (!t) return -1;
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
  atomic_init(&t->stop, false);
  t->dir = ddpc_strdup(dir);
  t->state_path = ddpc_format("%s/%s", dir, DDPC_TRACK_STATE_FILE);
  t->spool_path = ddpc_format("%s/%s", dir, DDPC_TRACK_SPOOL_FILE);
  t->ring = ddpc_calloc(TRACK_RING_ITEMS, sizeof *t->ring, "tracking queue");
  if (!t->dir || !t->state_path || !t->spool_path || !t->ring) {
    track_free(t);
    return -1;
  }
  int had = state_read(t->state_path, &t->st);
  if (had < 0 && !uri) {  // sync: nothing to go on
    track_free(t);
    return -1;
  }
  if (had < 0) {  // training: a damaged state file is replaced by a new run
    fprintf(stderr, "ddpc: warning: %s\n", ddpc_error_message());
    ddpc_error_clear();
    had = 0;
  }
  if (had && uri && strcmp(uri, t->st.uri) != 0) {  // another server now: a run of its own there
    fprintf(stderr, "ddpc: note: %s logged to MLflow at %s; this process logs to %s, as a new run\n", dir, t->st.uri, uri);
    state_free(&t->st);
    had = 0;
  }
  if (!had && !uri) {
    track_free(t);
    return ddpc_error_set("%s: no %s (nothing was tracked in MLflow here)", dir, DDPC_TRACK_STATE_FILE);
  }
  if (!had) {
    t->st.uri = ddpc_strdup(uri);
    t->st.experiment = ddpc_strdup(experiment ? experiment : "Default");
    t->st.run_name = ddpc_strdup(run_name ? run_name : "ddpc");
    t->st.start_ms = track_now_ms();
    if (!t->st.uri || !t->st.experiment || !t->st.run_name || track_save_state(t) != 0) {
      track_free(t);
      return -1;
    }
  }
  if (resumed) *resumed = had;
  ddpc_track_item *items = NULL;
  int n = 0;
  if (ddpc_track_spool_read(t->spool_path, &items, &n, &t->spool_loaded) != 0) {
    if (uri) {  // training goes on; the spool stays for `ddpc mlflow sync` to report
      fprintf(stderr, "ddpc: warning: %s; left for `ddpc mlflow sync`\n", ddpc_error_message());
      ddpc_error_clear();
      t->spool_loaded = 0;
    } else {
      track_free(t);
      return -1;
    }
  }
  for (int i = 0; i < n; i++) {
    if (t->count < TRACK_RING_ITEMS) *track_at(t, t->count++) = items[i];
    else ddpc_track_item_free(&items[i]);  // still in the file, past what counts as loaded
    if (t->count == TRACK_RING_ITEMS && i + 1 < n) t->spool_loaded = 0;  // too many: the file stays whole
  }
  free(items);
  if (ddpc_mlflow_client_init(&t->client, t->st.uri, &t->stop) != 0) {
    track_free(t);
    return -1;
  }
  *out = t;
  return 0;
}

int ddpc_track_open(const ddpc_track_options *opt, ddpc_track **out, bool *resumed) {
  ddpc_track *t = NULL;
  if (track_open_common(opt->dir, opt->uri, opt->experiment, opt->run_name, &t, resumed) != 0) return -1;
  if (opt->create_now) {
    // A short bound: a study must not wait long for a server that is down.
    t->client.timeout_ms = 5000;
    if (track_ensure_run(t) != DDPC_MLFLOW_OK) {
      t->said_unreachable = true;
      fprintf(stderr, "ddpc: note: MLflow at %s: %s; retrying in the background\n", t->st.uri, t->client.error);
    }
    t->client.timeout_ms = 30000;
  }
  if (opt->run_id_env && t->st.run_id) setenv(opt->run_id_env, t->st.run_id, 1);
  if (pthread_create(&t->thread, NULL, track_sender, t) != 0) {
    fprintf(stderr, "ddpc: warning: cannot start the MLflow sender thread; what is logged is kept in %s\n",
            t->spool_path);
  } else {
    t->thread_started = true;
  }
  *out = t;
  return 0;
}

typedef struct {
  ddpc_track *t;
  FILE *tail;  // the spool file opened at the bytes past what was loaded (NULL: none)
} track_spill_source;

static int track_spill_write(FILE *out, void *user) {
  track_spill_source *s = user;
  for (size_t i = 0; i < s->t->count; i++) ddpc_track_item_write(out, track_at(s->t, i));
  char buf[65536];
  size_t n;
  while (s->tail && (n = fread(buf, 1, sizeof buf, s->tail)) > 0) fwrite(buf, 1, n, out);
  return ferror(out) || (s->tail && ferror(s->tail)) ? -1 : 0;
}

/* Rewrites the spool as what is still queued, then what was added to the file past the
 * loaded part (items that met a full ring); removes it when both are empty. Returns the
 * items queued that were kept. */
static long track_spill(ddpc_track *t) {
  FILE *tail = fopen(t->spool_path, "r");
  long tail_bytes = 0;
  if (tail && fseek(tail, 0, SEEK_END) == 0) tail_bytes = ftell(tail) - t->spool_loaded;
  if (tail && (tail_bytes <= 0 || fseek(tail, t->spool_loaded, SEEK_SET) != 0)) {
    fclose(tail);
    tail = NULL;
    tail_bytes = 0;
  }
  if (t->count == 0 && tail_bytes == 0) {
    if (unlink(t->spool_path) != 0 && errno != ENOENT)
      fprintf(stderr, "ddpc: warning: cannot remove '%s': %s\n", t->spool_path, strerror(errno));
    return 0;
  }
  track_spill_source s = {t, tail};
  if (ddpc_fs_write_atomic(t->spool_path, track_spill_write, &s) != 0) {
    fprintf(stderr, "ddpc: warning: %zu MLflow item(s) lost: %s\n", t->count, ddpc_error_message());
    ddpc_error_clear();
  }
  if (tail) fclose(tail);
  return (long)t->count + (tail_bytes > 0 ? 1 : 0);
}

static double track_flush_seconds(void) {
  const char *s = getenv("DDPC_MLFLOW_FLUSH_SECONDS");
  char *end = NULL;
  double v = s ? strtod(s, &end) : NAN;
  return s && end != s && *end == '\0' && v >= 0 && v <= 3600 ? v : 5.0;
}

void ddpc_track_close(ddpc_track *t) {
  if (!t) return;
  double deadline = ddpc_time_seconds() + track_flush_seconds();
  pthread_mutex_lock(&t->mu);
  t->closing = true;
  pthread_cond_broadcast(&t->cv);
  while (t->thread_started && t->count > 0) {
    double left = deadline - ddpc_time_seconds();
    if (left <= 0) break;
    track_wait(t, fmin(left, 0.2));
  }
  atomic_store(&t->stop, true);
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (t->thread_started) pthread_join(t->thread, NULL);
  size_t queued = t->count;
  // What tracking cost this process (bench/mlflow_overhead.sh reads it).
  if (getenv("DDPC_MLFLOW_STATS"))
    fprintf(stderr, "ddpc: mlflow stats: %ld items, %ld requests, sender thread %.4f s CPU\n", t->pushed, t->requests,
            t->sender_cpu);
  track_spill(t);
  if (queued > 0 || access(t->spool_path, F_OK) == 0)
    fprintf(stderr,
            "ddpc: note: MLflow at %s could not take everything (%s); what is left is kept in %s: send it with "
            "`ddpc mlflow sync %s`\n",
            t->st.uri, t->client.error[0] ? t->client.error : "not sent in time", t->spool_path, t->dir);
  track_free(t);
}

int ddpc_track_sync(const char *dir, int *sent) {
  *sent = 0;
  ddpc_track *t = NULL;
  if (track_open_common(dir, NULL, NULL, NULL, &t, NULL) != 0) return -1;
  int attempts = 0;
  double backoff = 1.0;
  pthread_mutex_lock(&t->mu);
  while (attempts < TRACK_SYNC_ATTEMPTS) {
    ddpc_mlflow_result res;
    if (t->count == 0) {
      pthread_mutex_unlock(&t->mu);
      res = track_ensure_run(t);  // a run that never reached the server, with nothing pending
      pthread_mutex_lock(&t->mu);
      if (res == DDPC_MLFLOW_OK) break;
    } else {
      size_t before = t->count;
      res = track_send_head(t);
      if (res == DDPC_MLFLOW_OK) *sent += (int)(before - t->count);
      if (res != DDPC_MLFLOW_RETRY) {
        attempts = 0;
        backoff = 1.0;
        continue;
      }
    }
    if (++attempts < TRACK_SYNC_ATTEMPTS) {
      pthread_mutex_unlock(&t->mu);
      struct timespec ts = {(time_t)backoff, 0};
      nanosleep(&ts, NULL);
      pthread_mutex_lock(&t->mu);
      backoff *= 2;
    }
  }
  pthread_mutex_unlock(&t->mu);
  size_t left = t->count;
  int refused = t->refused;
  char error[sizeof t->client.error];
  snprintf(error, sizeof error, "%s", t->client.error);
  track_spill(t);
  bool pending = access(t->spool_path, F_OK) == 0;
  char *uri = ddpc_strdup(t->st.uri);
  track_free(t);
  int rc = 0;
  if (pending || left > 0)
    rc = ddpc_error_set("%s: %zu item(s) could not be sent to MLflow at %s (%s); they stay in %s/%s", dir, left,
                        uri ? uri : "?", error, dir, DDPC_TRACK_SPOOL_FILE);
  else if (refused > 0)
    rc = ddpc_error_set("%s: MLflow at %s refused %d item(s): %s", dir, uri ? uri : "?", refused, error);
  free(uri);
  return rc;
}

static int track_is_tracked(const char *dir) {
  char *path = ddpc_format("%s/%s", dir, DDPC_TRACK_STATE_FILE);
  if (!path) return -1;
  int found = access(path, F_OK) == 0;
  free(path);
  return found;
}

/* Calls fn for each tracked directory among dir's subdirectories, `depth` levels down, in
 * name order. Returns how many, -1 on error. */
static int track_find_below(const char *dir, int depth, int (*fn)(void *, const char *), void *user) {
  struct dirent **names = NULL;
  int n = scandir(dir, &names, NULL, alphasort);
  if (n < 0) return errno == ENOTDIR || errno == ENOENT ? 0 : ddpc_error_set("cannot list '%s': %s", dir, strerror(errno));
  int found = 0;
  for (int i = 0; i < n; i++) {
    const char *name = names[i]->d_name;
    char *sub = name[0] == '.' ? NULL : ddpc_format("%s/%s", dir, name);
    struct stat sb;
    if (sub && stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode) && found >= 0) {
      int here = track_is_tracked(sub);
      if (here > 0) found = fn(user, sub) != 0 ? -1 : found + 1;
      if (found >= 0 && depth > 1) {
        int below = track_find_below(sub, depth - 1, fn, user);
        found = below < 0 ? -1 : found + below;
      }
    }
    free(sub);
    free(names[i]);
  }
  free(names);
  return found;
}

int ddpc_track_find_dirs(const char *dir, int (*fn)(void *user, const char *dir), void *user) {
  int here = track_is_tracked(dir);
  if (here < 0) return -1;
  if (here > 0 && fn(user, dir) != 0) return -1;
  int below = track_find_below(dir, 2, fn, user);
  return below < 0 ? -1 : here + below;
}
