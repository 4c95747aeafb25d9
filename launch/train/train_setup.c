/* Setting up a training session: config, run directory, data, model, optimizer and the
 * initial parameters. Each phase ends with all ranks agreeing that it worked (train_agree),
 * so a bad input on any rank stops every rank with one message instead of a hang. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/device.h"
#include "core/error.h"
#include "core/model_input.h"
#include "core/sysinfo.h"
#include "launch/train/train_internal.h"

bool train_is_classification(const train_session *s) { return s->cfg.loss == DDPC_LOSS_CROSS_ENTROPY; }

/* What `metrics:` (or a monitor) asks for must make sense for the data's class count. */
static int train_check_metrics(const train_session *s) {
  const ddpc_metrics_config *m = &s->cfg.metrics;
  int classes = s->out_width;
  // Where it was asked for: the list, or else a monitor of the config.
  const char *where = m->at ? m->at : s->cfg.source_path;
  if ((m->computed & (1u << DDPC_METRIC_EXTRA_ROC_AUC)) && classes != 2)
    return ddpc_error_set("%s: roc_auc is for two classes (class 1's probability ranks the samples), but the "
                          "data has %d classes; macro_f1 and per_class cover more",
                          where, classes);
  if (m->top_k > 0 && m->top_k >= classes)
    return ddpc_error_set("%s: top%d_accuracy needs more than %d classes, but the data has %d (every sample's "
                          "class would be among its top %d outputs); use a K below %d",
                          where, m->top_k, m->top_k, classes, m->top_k, classes);
  return 0;
}

/* The model must produce one output per class (or per regression target) and the loss must
 * suit the task; checked before any training so a wrong config fails in a second. */
static int train_check_compatible(train_session *s) {
  const ddpc_config *cfg = &s->cfg;
  bool classification = cfg->data.task == DDPC_TASK_CLASSIFICATION;
  if (classification != (cfg->loss == DDPC_LOSS_CROSS_ENTROPY))
    return ddpc_error_set("%s: loss '%s' does not suit data.task '%s' (cross_entropy is for classification, "
                          "mse for regression)",
                          cfg->source_path, ddpc_loss_name(cfg->loss),
                          classification ? "classification" : "regression");
  int want = classification ? s->data.num_classes : (int)s->data.target_width;
  if (s->out_width == want) return train_check_metrics(s);
  // An inferred count is only as good as the largest label: name the sample it came
  // from, which is often the one bad label.
  char *origin = classification && cfg->data.num_classes == 0 ? ddpc_data_describe_max_label(&s->data, cfg) : NULL;
  char *counted = origin ? ddpc_format(", counted from its largest label (%s)", origin) : NULL;
  // One output against many classes is a model built for a number, and the task was left
  // at its default: the likelier mistake than the class count.
  const char *advice = classification && s->out_width == 1
                           ? "; a last layer of 1 unit predicts a number: if the label column is a number to "
                             "predict, set data.task: regression"
                       : counted ? "; set data.num_classes to have every label checked against the count"
                                 : "";
  ddpc_error_set("%s: the model's last layer gives %d output%s per sample but the data has %d %s%s%s",
                 cfg->source_path, s->out_width, s->out_width == 1 ? "" : "s", want,
                 classification ? "classes" : "targets", counted ? counted : "", advice);
  free(counted);
  free(origin);
  return -1;
}

/* Every rank learns whether any rank failed at this point of the setup, so all of them
 * stop together instead of some waiting in a collective. The lowest failing rank keeps its
 * message, prefixed with its rank; the others stay silent (quiet_error). */
int train_agree(train_session *s, int rc) {
  ddpc_comm *c = s->comm;
  if (c->size == 1) return rc;
  int mine = rc == 0 ? c->size : c->rank;
  int *all = malloc((size_t)c->size * sizeof *all);
  if (!all || c->ops->allgather(c, &mine, all, sizeof mine) != 0) {
    free(all);
    return ddpc_error_set("rank %d: cannot agree on the setup with the other ranks", c->rank);
  }
  int first = c->size;
  for (int r = 0; r < c->size; r++)
    if (all[r] < first) first = all[r];
  free(all);
  if (first == c->size) return 0;
  if (first == c->rank) ddpc_error_prefix("rank %d: ", c->rank);
  else s->quiet_error = true;
  return -1;
}

/* Checks that every rank holds the same `bytes` of `value`; a mismatch names the ranks. */
int train_check_same(train_session *s, const void *value, size_t bytes, const char *what) {
  ddpc_comm *c = s->comm;
  if (c->size == 1) return 0;
  unsigned char *all = malloc((size_t)c->size * bytes);
  if (!all || c->ops->allgather(c, value, all, bytes) != 0) {
    free(all);
    return ddpc_error_set("rank %d: cannot compare %s across ranks", c->rank, what);
  }
  char *ranks = NULL;
  for (int r = 1; r < c->size; r++) {
    if (memcmp(all, all + (size_t)r * bytes, bytes) == 0) continue;
    char *more = ranks ? ddpc_format("%s, %d", ranks, r) : ddpc_format("%d", r);
    free(ranks);
    ranks = more;
  }
  free(all);
  if (!ranks) return 0;
  // Every rank fails; rank 0 (the lowest) reports for all.
  if (c->rank == 0) ddpc_error_set("rank(s) %s differ from rank 0 in their %s", ranks, what);
  else s->quiet_error = true;
  free(ranks);
  return -1;
}

/* Loads the data. Ranks that share a node share one mapped copy of the prepared data:
 * the node's first rank builds the cache while the others wait, then they all map it. */
static int train_load_data(train_session *s) {
  const ddpc_config *cfg = &s->cfg;
  bool first = s->comm->local_rank == 0;
  int rc = first ? ddpc_data_load(cfg, &s->data) : 0;
  if (rc == 0 && first && cfg->data.cache && !s->data.cache_hit && s->comm->local_size > 1) {
    // A miss leaves the data in this process's heap; map the fresh cache like the others.
    double built = s->data.load_seconds;
    ddpc_data_free(&s->data);
    rc = ddpc_data_load(cfg, &s->data);
    s->data.cache_hit = false;  // what this run did was parse and write it
    s->data.load_seconds += built;
  }
  if (train_agree(s, rc) != 0) return -1;
  rc = first ? 0 : ddpc_data_load(cfg, &s->data);
  return train_agree(s, rc);
}

/* Rank 0: what a checkpoint needs to be used without the data (ddpc predict, ddpc export).
 * After the model is accepted: describing a wide CSV re-reads its header, which a model
 * refused for its size must not pay for first. */
static int train_describe_input(train_session *s) {
  if (s->comm->rank != 0) return 0;
  ddpc_model_input input;
  int rc = ddpc_model_input_from_data(&s->cfg, &s->data, &input);
  if (rc == 0) rc = ddpc_model_input_encode(&input, &s->input_section, &s->input_section_bytes);
  ddpc_model_input_free(&input);
  return rc;
}

/* The model refused itself if it alone outgrew this rank's memory (ddpc_model_create);
 * with the optimizer's state and the batch buffers it must still fit, checked before those
 * are allocated (and zeroed). */
static int train_check_memory(train_session *s) {
  const ddpc_config *cfg = &s->cfg;
  if (cfg->device != DDPC_DEVICE_CPU) return 0;  // device memory runs out with a message of its own
  const char *limit_what = NULL;
  double limit = ddpc_memory_limit(&limit_what);
  double model = ddpc_model_host_bytes(s->model);
  double state = (double)ddpc_optimizer_state_buffers(&cfg->optimizer) * (double)ddpc_model_param_count(s->model) *
                 sizeof(float);
  double per_sample = (double)ddpc_shape_size(s->data.shape) + s->out_width + s->data.target_width + 2.0;
  double batch = (double)s->max_batch * per_sample * sizeof(float);
  double need = model + state + batch;
  if (limit <= 0.0 || need <= limit) return 0;
  const double gib = 1073741824.0;
  return ddpc_error_set("%s: training needs %.0f bytes (%.1f GiB: the model %.1f GiB, the state of optimizer '%s' "
                        "%.1f GiB, batch buffers for train.batch_size / eval_batch_size %d %.1f GiB), more than the "
                        "%.0f bytes (%.1f GiB) of %s: use a smaller model or batch",
                        cfg->source_path, need, need / gib, model / gib, ddpc_optimizer_name(cfg->optimizer.kind),
                        state / gib, s->max_batch, batch / gib, limit, limit / gib, limit_what);
}

static int train_setup_model(train_session *s) {
  ddpc_config *cfg = &s->cfg;
  s->max_batch = cfg->train.batch_size > cfg->train.eval_batch_size ? cfg->train.batch_size : cfg->train.eval_batch_size;
  if (ddpc_model_create(cfg->layers, cfg->n_layers, s->data.shape, s->max_batch, cfg->device, &s->model) != 0)
    return ddpc_error_prefix("%s: ", cfg->source_path);
  ddpc_shape out = ddpc_model_output_shape(s->model);
  s->out_width = (int)ddpc_shape_size(out);
  if (train_check_compatible(s) != 0 || train_check_memory(s) != 0) return -1;
  // The loss of standardized targets is in (target / std)² units: scaled back for every
  // loss reported. One target has one std (CSV data has one target column).
  s->loss_scale = 1.0;
  if (s->data.target_standardized && s->data.target_width != 1)
    return ddpc_error_set("%s: data.target_standardize standardizes one target column, the data has %u",
                          cfg->source_path, s->data.target_width);
  if (s->data.target_standardized) s->loss_scale = (double)s->data.target_std[0] * s->data.target_std[0];
  if (ddpc_optimizer_init(&s->opt_state, &cfg->optimizer, ddpc_model_param_count(s->model), cfg->device) != 0) return -1;

  uint32_t n = s->data.train.count;
  uint32_t world = (uint32_t)s->comm->size;
  s->per_rank = cfg->train.drop_last ? n / world : (n + world - 1) / world;
  int64_t b = cfg->train.batch_size;
  s->steps_per_epoch = cfg->train.drop_last ? s->per_rank / b : (s->per_rank + b - 1) / b;
  if (s->steps_per_epoch == 0 && cfg->stop.max_epochs > 0)
    return ddpc_error_set("%s: the training split has %u samples, %u per rank at %u ranks: fewer than one batch "
                          "(train.batch_size %d); use fewer ranks or a smaller batch",
                          cfg->source_path, n, s->per_rank, world, cfg->train.batch_size);
  s->progress.steps_per_epoch = s->steps_per_epoch;

  if (train_device_alloc_batches(s, ddpc_shape_size(s->data.shape)) != 0) return -1;
  uint32_t largest = n > s->data.val.count ? n : s->data.val.count;
  if (s->data.test.count > largest) largest = s->data.test.count;
  s->positions = ddpc_calloc(largest, sizeof(uint32_t), "sample order");
  if (!s->positions) return -1;
  return ddpc_grad_sync_create(s->comm, s->model, &cfg->comm, &s->sync);
}

/* Rank 0 initialises the parameters and broadcasts them; every rank then proves it holds
 * the same replica by comparing checksums. On the GPU every rank initialises its own: the
 * weights are drawn on the host from the seed (core/layer_cuda.cu), so they are the same
 * bits everywhere, and the checksum proves it without a copy through the host. */
static int train_init_params(train_session *s) {
  ddpc_buffer *params = ddpc_model_params(s->model);
  if (s->comm->rank == 0 || params->device != DDPC_DEVICE_CPU) ddpc_model_init_params(s->model, s->cfg.seed);
  if (params->device == DDPC_DEVICE_CPU &&
      s->comm->ops->broadcast(s->comm, params->data, params->count * sizeof(float), 0) != 0)
    return -1;
  if (ddpc_device_sync(params->device) != 0) return -1;
  uint32_t crc = ddpc_model_params_crc32(s->model);
  return train_check_same(s, &crc, sizeof crc, "initial parameters (checksum)");
}

/* DDPC_FAIL_AT=RANK:STEP[:ACTION] makes that rank misbehave at that step, for the tests:
 * ACTION fail (default: an error, so one failing rank must end the job), kill (SIGKILL,
 * as a crash or the OOM killer would), term (SIGTERM, as a scheduler would), usr1
 * (SIGUSR1, Slurm's warning before the time limit) or hang (stops taking part in
 * collectives forever, for the collective watchdog, comm.timeout_seconds). */
static void train_read_fail_hook(train_session *s) {
  s->fail_rank = -1;
  s->fail_step = -1;
  s->fail_action = 'f';
  const char *v = getenv("DDPC_FAIL_AT");
  long long step;
  char action[8] = "fail";
  if (v && sscanf(v, "%d:%lld:%7s", &s->fail_rank, &step, action) >= 2) {
    s->fail_step = step;
    s->fail_action = action[0];
  }
}

/* The machine row for the C API's stop conditions: rank 0 calls them after each epoch and
 * leaves the first reason in the facts (train.c). */
static bool train_custom_stop_fired(const ddpc_config *cfg, const ddpc_machine_facts *facts, char **reason) {
  if (!facts->custom_stop_reason) return false;
  *reason = ddpc_strdup(facts->custom_stop_reason);
  return true;
}

/* Everything before the first step, each phase agreed on by all ranks (train_agree). */
int train_prepare(train_session *s) {
  const ddpc_train_options *opt = s->opt;
  train_read_fail_hook(s);
  int rc = ddpc_config_load(opt->config_path, opt->overrides, opt->n_overrides, &s->cfg);
  // One model per group is a job of the ddpc command (launch/groups), which runs this
  // session once per group with the group's rows.
  if (rc == 0 && s->cfg.data.group_by && *s->cfg.data.group_by)
    rc = ddpc_error_set("%s: data.group_by: one model per group is trained by `ddpc train`, not by ddpc_train_run "
                        "(it trains one model)", s->cfg.source_path);
  if (train_agree(s, rc) != 0) return -1;
  uint64_t hash = ddpc_config_hash(&s->cfg);
  if (train_check_same(s, &hash, sizeof hash,
                       "resolved config (every rank must load the same file with the same --set overrides)") != 0)
    return -1;
  // Agrees on the GPU itself; a failure of the NCCL communicator may leave none to agree
  // through, and then every rank fails by itself.
  if (train_device_open(s) != 0) return -1;
  s->run_dir = opt->run_dir ? opt->run_dir : s->cfg.output_dir;
  ddpc_memory_set_sharers(s->comm->local_size);  // memory sizes are checked against this rank's share
  ddpc_progress_init(&s->progress, stdout, opt->quiet || s->comm->rank != 0, s->cfg.stop.max_epochs, 0);
  if (!opt->run_dir && !opt->resume && train_files_choose_dir(s) != 0) return -1;
  if (train_agree(s, train_files_open(s)) != 0 || train_load_data(s) != 0 ||
      train_agree(s, train_data_hash_files(s)) != 0)
    return -1;
  ddpc_progress_note(&s->progress, "data: %u train, %u validation, %u test samples; cache %s (%.2f s)",
                     s->data.train.count, s->data.val.count, s->data.test.count,
                     !s->cfg.data.cache ? "off" : s->data.cache_hit ? "hit" : "miss, written", s->data.load_seconds);
  if (train_agree(s, train_setup_model(s)) != 0 || train_agree(s, train_describe_input(s)) != 0 ||
      train_init_params(s) != 0)
    return -1;
  rc = ddpc_machine_create(&s->cfg, &s->machine);
  for (int i = 0; rc == 0 && i < opt->n_stops; i++)
    rc = ddpc_machine_add_stop(s->machine, opt->stops[i].name, train_custom_stop_fired);
  if (train_agree(s, rc) != 0) return -1;
  if (s->comm->size > 1)
    ddpc_progress_note(&s->progress, "ranks: %d on %d node(s); gradients: %s", s->comm->size, s->comm->node_count,
                       ddpc_grad_sync_method(s->sync));
  return 0;
}
