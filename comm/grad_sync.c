/* Gradient synchronisation (see comm/grad_sync.h): the public ddpc_grad_sync_* functions,
 * bucket planning, the bucketed MPI path and its statistics. The shared-memory path lives
 * in comm/grad_sync_shm.c behind comm/grad_sync_internal.h.
 *
 * Buckets are planned once, from the last layer to the first (the order backward reports
 * them), so bucket 0 is the one that completes first. Every rank plans the same buckets
 * from the same model and starts them in the same order, which is what lets several
 * non-blocking collectives be in flight at once without any agreement at run time. */
#include <stdlib.h>

#include "comm/grad_sync.h"
#include "comm/grad_sync_internal.h"
#include "comm/watchdog.h"
#include "core/error.h"
#include "core/sysinfo.h"

typedef enum {
  GRAD_SYNC_NONE,  // one rank: nothing to exchange
  GRAD_SYNC_MPI,   // bucketed MPI all-reduce
  GRAD_SYNC_SHM,   // shared-memory slots
} grad_sync_method;

static const char *const grad_sync_method_names[] = {"none", "mpi", "shm"};

/* One contiguous range of the flat gradient buffer, all-reduced as a unit. */
typedef struct {
  size_t offset;               // first float of the range
  size_t count;                // floats in the range
  int n_layers;                // parameterised layers in the bucket
  int pending;                 // of those, not yet reported this step
  ddpc_comm_request *req;      // the all-reduce in flight, NULL when none
  bool started;                // all-reduce started this step
  bool done;                   // all-reduce completed this step
} bucket;

/* The buckets of one flat buffer and the timing of their collectives in a step. */
typedef struct {
  bucket *buckets;             // in start order: bucket 0 holds the end of the buffer
  int n_buckets;               // number of buckets
  int in_flight;               // started and not yet completed
  double first_start;          // when the first bucket of the step started (0: none yet)
  double last_done;            // when the latest bucket completed
} bucket_set;

struct ddpc_grad_sync {
  ddpc_comm *comm;             // the communicator (not owned)
  ddpc_model *model;           // the model whose gradients are exchanged (not owned)
  ddpc_comm_config cfg;        // bucket cap, overlap, intra_node
  grad_sync_method method;     // chosen at create
  size_t n_params;             // floats in the gradient buffer
  int n_layers;                // layers of the model
  int *layer_bucket;           // per layer: its bucket, -1 for layers without parameters
  bucket_set set;              // the MPI path's buckets
  int error;                   // a layer_ready call failed this step (message recorded)
  ddpc_grad_sync_shm *shm;     // the shared-memory path's state, NULL otherwise
  const float *own_parts[1];   // parts handed out by finish for the none/mpi paths
  ddpc_grad_sync_stats stats;  // accumulated since the last take_stats
};

/* Floats per bucket for a cap in MiB; 0 means "no cap" (one bucket). Caps below one
 * float are fine and give one bucket per layer. */
static size_t bucket_cap_floats(double bucket_mb) {
  if (!(bucket_mb > 0)) return 0;
  double floats = bucket_mb * 1048576.0 / sizeof(float);
  return floats < 1.0 ? 1 : (size_t)floats;
}

/* Starts a bucket's SUM all-reduce. */
static int bucket_start(ddpc_comm *comm, bucket_set *set, bucket *b, float *data) {
  if (set->first_start == 0) set->first_start = ddpc_time_seconds();
  b->started = true;
  if (comm->ops->iallreduce_float(comm, data + b->offset, b->count, DDPC_REDUCE_SUM, &b->req)) return -1;
  set->in_flight++;
  return 0;
}

static void bucket_mark_done(bucket_set *set, bucket *b) {
  b->req = NULL;
  b->done = true;
  set->in_flight--;
  set->last_done = ddpc_time_seconds();
}

/* The progress engine: one MPI_Test on every in-flight bucket. MPI moves a non-blocking
 * collective forward only inside MPI calls, so this is what makes the overlap real. */
static int buckets_progress(ddpc_comm *comm, bucket_set *set) {
  for (int i = 0; i < set->n_buckets && set->in_flight > 0; i++) {
    bucket *b = &set->buckets[i];
    if (!b->started || b->done) continue;
    bool done = false;
    if (comm->ops->test(comm, b->req, &done)) {
      b->req = NULL;  // freed by test on failure
      b->done = true;
      set->in_flight--;
      return -1;
    }
    if (done) bucket_mark_done(set, b);
  }
  return 0;
}

/* Starts whatever has not started (in bucket order) and waits for everything. */
static int buckets_complete(ddpc_comm *comm, bucket_set *set, float *data) {
  int rc = 0;
  for (int i = 0; i < set->n_buckets; i++) {
    bucket *b = &set->buckets[i];
    if (!b->started && rc == 0) rc = bucket_start(comm, set, b, data);
  }
  for (int i = 0; i < set->n_buckets; i++) {
    bucket *b = &set->buckets[i];
    if (!b->started || b->done) continue;
    ddpc_watchdog_context(comm->watchdog, DDPC_WATCH_CONTEXT_BUCKET, i + 1, set->n_buckets);
    int wrc = comm->ops->wait(comm, b->req);
    ddpc_watchdog_context(comm->watchdog, DDPC_WATCH_CONTEXT_NONE, 0, 0);
    bucket_mark_done(set, b);
    if (wrc && rc == 0) rc = -1;
  }
  return rc;
}

static void buckets_reset(bucket_set *set) {
  for (int i = 0; i < set->n_buckets; i++) {
    bucket *b = &set->buckets[i];
    b->pending = b->n_layers;
    b->req = NULL;
    b->started = false;
    b->done = false;
  }
  set->in_flight = 0;
  set->first_start = 0;
  set->last_done = 0;
}

/* Adds [offset, offset+count) to the plan walking backwards: joins the current bucket
 * (the last one) unless that would exceed the cap, else opens a new one. `set->buckets`
 * must have room for one more. */
static void plan_add_range(bucket_set *set, size_t offset, size_t count, size_t cap) {
  bucket *cur = set->n_buckets > 0 ? &set->buckets[set->n_buckets - 1] : NULL;
  if (!cur || (cap > 0 && cur->count + count > cap)) {
    cur = &set->buckets[set->n_buckets++];
    *cur = (bucket){.offset = offset + count, .count = 0};
  }
  cur->offset = offset;
  cur->count += count;
  cur->n_layers++;
}

int ddpc_grad_sync_allreduce_buckets(ddpc_comm *comm, float *data, size_t count, double bucket_mb) {
  size_t cap = bucket_cap_floats(bucket_mb);
  size_t n = cap == 0 || count == 0 ? 1 : (count + cap - 1) / cap;
  bucket_set set = {.buckets = ddpc_calloc(n, sizeof(bucket), "gradient buckets")};
  if (!set.buckets) return -1;
  // Same order as backward: the end of the buffer first, a bucket started as soon as it
  // is "ready", then a progress pass.
  int rc = 0;
  for (size_t end = count; end > 0 || set.n_buckets == 0;) {
    size_t len = cap == 0 || end < cap ? end : cap;
    plan_add_range(&set, end - len, len, cap);
    bucket *b = &set.buckets[set.n_buckets - 1];
    rc = bucket_start(comm, &set, b, data);
    if (rc == 0) rc = buckets_progress(comm, &set);
    if (rc || len == 0) break;
    end -= len;
  }
  if (rc == 0) rc = buckets_complete(comm, &set, data);
  free(set.buckets);
  return rc;
}

/* Plans the MPI buckets from the model's layers (never splitting a layer). */
static int plan_model_buckets(ddpc_grad_sync *s) {
  s->layer_bucket = ddpc_malloc((size_t)(s->n_layers > 0 ? s->n_layers : 1) * sizeof(int), "gradient buckets");
  s->set.buckets = ddpc_calloc((size_t)(s->n_layers > 0 ? s->n_layers : 1), sizeof(bucket), "gradient buckets");
  if (!s->layer_bucket || !s->set.buckets) return -1;
  size_t cap = bucket_cap_floats(s->cfg.bucket_mb);
  for (int i = s->n_layers - 1; i >= 0; i--) {
    const ddpc_layer *layer = ddpc_model_layer(s->model, i);
    s->layer_bucket[i] = -1;
    if (layer->n_params == 0) continue;
    bucket *cur = s->set.n_buckets > 0 ? &s->set.buckets[s->set.n_buckets - 1] : NULL;
    // Buckets are views: a layer must end where the bucket collected so far begins.
    if (cur && layer->param_offset + layer->n_params != cur->offset)
      return ddpc_error_set("gradient buckets: layer %d's parameters [%zu, %zu) do not end where layer %d's begin (%zu)",
                            i, layer->param_offset, layer->param_offset + layer->n_params, i + 1, cur->offset);
    plan_add_range(&s->set, layer->param_offset, layer->n_params, cap);
    s->layer_bucket[i] = s->set.n_buckets - 1;
  }
  buckets_reset(&s->set);
  return 0;
}

/* mpi or shm for several ranks, from comm.intra_node, where the ranks run and where the
 * gradients live: on a GPU the buckets go to the communicator's float all-reduce (NCCL),
 * and the shared-memory exchange, which hands host slots to the optimizer, cannot apply. */
static int choose_method(const ddpc_comm *comm, const ddpc_comm_config *cfg, ddpc_device device,
                         grad_sync_method *out) {
  if (comm->size == 1) {
    *out = GRAD_SYNC_NONE;
    return 0;
  }
  if (device == DDPC_DEVICE_CUDA) {
    if (cfg->intra_node == DDPC_INTRA_NODE_SHM)
      return ddpc_error_set("comm.intra_node: shm exchanges host memory; with device: cuda the gradients are "
                            "all-reduced by NCCL (use auto or mpi)");
    *out = GRAD_SYNC_MPI;
    return 0;
  }
  switch (cfg->intra_node) {
    case DDPC_INTRA_NODE_MPI:
      *out = GRAD_SYNC_MPI;
      return 0;
    case DDPC_INTRA_NODE_SHM:
      if (comm->node_count > 1)
        return ddpc_error_set("comm.intra_node: shm needs every rank on one node (this job spans %d nodes)",
                              comm->node_count);
      *out = GRAD_SYNC_SHM;
      return 0;
    case DDPC_INTRA_NODE_AUTO:
      *out = comm->node_count == 1 ? GRAD_SYNC_SHM : GRAD_SYNC_MPI;
      return 0;
    default:
      return ddpc_error_set("comm.intra_node: unknown value %d", (int)cfg->intra_node);
  }
}

int ddpc_grad_sync_create(ddpc_comm *comm, ddpc_model *model, const ddpc_comm_config *cfg, ddpc_grad_sync **out) {
  *out = NULL;
  ddpc_grad_sync *s = ddpc_calloc(1, sizeof *s, "gradient synchronisation");
  if (!s) return -1;
  s->comm = comm;
  s->model = model;
  s->cfg = *cfg;
  s->n_params = ddpc_model_param_count(model);
  s->n_layers = ddpc_model_layer_count(model);
  int rc = choose_method(comm, cfg, ddpc_model_params(model)->device, &s->method);
  // The first use of the comm settings, so the watchdog starts here; it covers every
  // collective from now on (train.c creates the communicator before it reads the config).
  // Zero, from callers that fill ddpc_comm_config themselves, leaves the comm unwatched.
  if (rc == 0 && cfg->timeout_seconds > 0) rc = ddpc_comm_watchdog_start(comm, cfg->timeout_seconds);
  if (rc == 0 && s->method == GRAD_SYNC_MPI) rc = plan_model_buckets(s);
  if (rc == 0 && s->method == GRAD_SYNC_SHM) rc = ddpc_grad_sync_shm_create(comm, s->n_params, &s->shm);
  if (rc) {
    ddpc_grad_sync_free(s);
    return -1;
  }
  *out = s;
  return 0;
}

void ddpc_grad_sync_free(ddpc_grad_sync *sync) {
  if (!sync) return;
  // Requests still in flight belong to a step that failed; the job is being aborted.
  if (sync->shm) {
    ddpc_model_bind_grads(sync->model, NULL);
    ddpc_grad_sync_shm_free(sync->shm);
  }
  free(sync->layer_bucket);
  free(sync->set.buckets);
  free(sync);
}

const char *ddpc_grad_sync_method(const ddpc_grad_sync *sync) {
  // GPU buckets go through the same path, but the all-reduce underneath is NCCL's.
  if (sync->method == GRAD_SYNC_MPI && ddpc_model_params(sync->model)->device == DDPC_DEVICE_CUDA) return "nccl";
  return grad_sync_method_names[sync->method];
}

int ddpc_grad_sync_begin(ddpc_grad_sync *sync) {
  sync->error = 0;
  if (sync->method == GRAD_SYNC_SHM) {
    float *slot = ddpc_grad_sync_shm_slot(sync->shm);
    if (!slot) return -1;
    ddpc_model_bind_grads(sync->model, slot);
  }
  if (sync->method == GRAD_SYNC_MPI) {
    if (sync->set.in_flight > 0)
      return ddpc_error_set("gradient sync: begin() while %d bucket all-reduces of the last step are in flight",
                            sync->set.in_flight);
    buckets_reset(&sync->set);
  }
  return 0;
}

static float *model_grads(ddpc_grad_sync *sync) { return ddpc_model_grads(sync->model)->data; }

void ddpc_grad_sync_layer_ready(void *user, int layer_index, size_t offset, size_t count) {
  ddpc_grad_sync *sync = user;
  if (sync->method != GRAD_SYNC_MPI || !sync->cfg.overlap || sync->error) return;
  bucket_set *set = &sync->set;
  int bi = layer_index >= 0 && layer_index < sync->n_layers ? sync->layer_bucket[layer_index] : -1;
  if (bi >= 0) {
    bucket *b = &set->buckets[bi];
    if (--b->pending == 0 && bucket_start(sync->comm, set, b, model_grads(sync))) {
      sync->error = -1;
      return;
    }
  }
  if (buckets_progress(sync->comm, set)) sync->error = -1;
}

int ddpc_grad_sync_finish(ddpc_grad_sync *sync, ddpc_grad_parts *parts) {
  double t0 = ddpc_time_seconds();
  int rc = sync->error;
  sync->own_parts[0] = model_grads(sync);
  parts->parts = sync->own_parts;
  parts->n_parts = 1;
  switch (sync->method) {
    case GRAD_SYNC_NONE:
      break;
    case GRAD_SYNC_SHM: {
      rc = ddpc_grad_sync_shm_publish_and_wait(sync->shm, &parts->parts, &parts->n_parts);
      double spent = ddpc_time_seconds() - t0;
      sync->stats.comm_seconds += spent;
      sync->stats.exposed_seconds += spent;
      break;
    }
    case GRAD_SYNC_MPI: {
      bucket_set *set = &sync->set;
      if (!sync->cfg.overlap) {
        if (rc == 0) {
          ddpc_watchdog_context(sync->comm->watchdog, DDPC_WATCH_CONTEXT_GRADIENTS, 0, 0);
          rc = sync->comm->ops->allreduce_float(sync->comm, model_grads(sync), sync->n_params, DDPC_REDUCE_SUM);
          ddpc_watchdog_context(sync->comm->watchdog, DDPC_WATCH_CONTEXT_NONE, 0, 0);
        }
        set->first_start = t0;
        set->last_done = ddpc_time_seconds();
      } else if (rc == 0) {
        rc = buckets_complete(sync->comm, set, model_grads(sync));
      }
      if (set->first_start > 0) sync->stats.comm_seconds += set->last_done - set->first_start;
      sync->stats.exposed_seconds += ddpc_time_seconds() - t0;
      break;
    }
  }
  sync->stats.steps++;
  return rc ? -1 : 0;
}

int ddpc_grad_sync_bucket_count(const ddpc_grad_sync *sync) { return sync->set.n_buckets; }

void ddpc_grad_sync_bucket_range(const ddpc_grad_sync *sync, int i, size_t *offset, size_t *count) {
  *offset = sync->set.buckets[i].offset;
  *count = sync->set.buckets[i].count;
}

ddpc_grad_sync_stats ddpc_grad_sync_take_stats(ddpc_grad_sync *sync) {
  ddpc_grad_sync_stats s = sync->stats;
  sync->stats = (ddpc_grad_sync_stats){0};
  return s;
}
