/* Where a training session computes: the steps of train_epoch.c and train_checkpoint.c that
 * differ between `device: cpu` and `device: cuda` go through here, so those files read the
 * same for both. On the GPU:
 *   - the local rank's GPU is opened, and with several ranks the communicator becomes the
 *     NCCL one (comm/comm_nccl.h): gradient buckets are all-reduced by NCCL on its own
 *     stream, ordered by events, while host collectives stay with MPI;
 *   - batches are gathered on the host into page-locked staging memory and copied up
 *     asynchronously on the compute stream;
 *   - the loss, its gradient and its sums stay on the device until a step is over, when
 *     one synchronisation takes the sums (the step's loss, as the CPU path has it);
 *   - clipping computes its factor on the device and the optimizer reads it there;
 *   - checkpoints copy parameters and optimizer state down, and a restore copies them up,
 *     so a checkpoint is the same file whichever device wrote or reads it.
 * The CUDA calls sit behind DDPC_HAVE_CUDA: a build without CUDA refuses `device: cuda`
 * when it reads the config, so those branches never run there. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/error.h"
#include "launch/train/train_internal.h"

#ifdef DDPC_HAVE_CUDA
#include "comm/comm_nccl.h"
#include "comm/watchdog.h"
#include "core/loss_cuda.h"
#include "optim/optim_cuda.h"
#endif

static bool on_gpu(const train_session *s) { return s->cfg.device == DDPC_DEVICE_CUDA; }

int train_device_open(train_session *s) {
  if (!on_gpu(s)) return 0;
  // A missing driver or GPU, or more ranks than GPUs, is one message naming the config.
  int rc = ddpc_device_open(DDPC_DEVICE_CUDA, s->comm->local_rank);
  if (rc == 0) s->device_open = true;
  else ddpc_error_prefix("%s: ", s->cfg.source_path);
  if (train_agree(s, rc) != 0) return -1;
  if (s->comm->size == 1) return 0;
#ifdef DDPC_HAVE_CUDA
  // The watchdog first, so the NCCL communicator shares it (its polls of NCCL's
  // asynchronous errors and its ncclCommAbort ride on the same monitor thread).
  if (train_agree(s, ddpc_comm_watchdog_start(s->comm, s->cfg.comm.timeout_seconds)) != 0) return -1;
  ddpc_comm *nccl = NULL;
  // It takes the MPI communicator over, also on failure; every rank learns the outcome
  // inside, so all of them fail together and none waits in a collective.
  rc = ddpc_comm_create_nccl(s->comm, &nccl);
  s->comm = nccl;
  return rc;
#else
  return ddpc_error_set("device: cuda: %s", DDPC_DEVICE_NO_CUDA_MESSAGE);
#endif
}

int train_device_alloc_batches(train_session *s, size_t features) {
  ddpc_device d = s->cfg.device;
  size_t batch = (size_t)s->max_batch, width = (size_t)s->out_width, targets = s->data.target_width + 1;
  s->batch_x = ddpc_device_alloc_staging(d, batch * features * sizeof(float), "batch inputs");
  s->batch_labels = ddpc_device_alloc_staging(d, batch * sizeof(int32_t), "batch labels");
  s->batch_targets = ddpc_device_alloc_staging(d, batch * targets * sizeof(float), "batch targets");
  if (!s->batch_x || !s->batch_labels || !s->batch_targets) return -1;
  if (!on_gpu(s)) {
    s->dout = ddpc_alloc_aligned(batch * width * sizeof(float), "loss gradient");
    return s->dout ? 0 : -1;
  }
  s->dev_x = ddpc_device_alloc(d, batch * features * sizeof(float), "batch inputs on the GPU");
  s->dev_labels = ddpc_device_alloc(d, batch * sizeof(int32_t), "batch labels on the GPU");
  s->dev_targets = ddpc_device_alloc(d, batch * targets * sizeof(float), "batch targets on the GPU");
  s->dev_dout = ddpc_device_alloc(d, batch * width * sizeof(float), "loss gradient on the GPU");
  if (!s->dev_x || !s->dev_labels || !s->dev_targets || !s->dev_dout) return -1;
#ifdef DDPC_HAVE_CUDA
  if (ddpc_loss_cuda_create(s->max_batch, &s->loss_gpu) != 0) return -1;
  // Also without clipping: the gradient norm serves the non-finite check.
  if (ddpc_clip_cuda_create(&s->clip_gpu) != 0) return -1;
#endif
  return 0;
}

void train_device_free_batches(train_session *s) {
  ddpc_device d = s->cfg.device;
  ddpc_device_free_staging(d, s->batch_x);
  ddpc_device_free_staging(d, s->batch_labels);
  ddpc_device_free_staging(d, s->batch_targets);
  free(s->dout);
  free(s->host_out);
  s->host_out = NULL;
  s->batch_x = NULL;
  s->batch_labels = NULL;
  s->batch_targets = NULL;
  s->dout = NULL;
  if (!s->device_open) return;
  ddpc_device_free(d, s->dev_x);
  ddpc_device_free(d, s->dev_labels);
  ddpc_device_free(d, s->dev_targets);
  ddpc_device_free(d, s->dev_dout);
#ifdef DDPC_HAVE_CUDA
  ddpc_loss_cuda_free(s->loss_gpu);
  ddpc_clip_cuda_free(s->clip_gpu);
#endif
  s->dev_x = s->dev_dout = s->dev_targets = NULL;
  s->dev_labels = NULL;
  s->loss_gpu = NULL;
  s->clip_gpu = NULL;
}

void train_device_close(train_session *s) {
  if (s->device_open) ddpc_device_close(DDPC_DEVICE_CUDA);  // the config may be gone already
  s->device_open = false;
}

const float *train_device_forward(train_session *s, int n, const ddpc_forward_ctx *ctx) {
  if (!on_gpu(s)) return ddpc_model_forward(s->model, s->batch_x, n, ctx);
  size_t features = ddpc_shape_size(s->data.shape);
  bool cls = train_is_classification(s);
  int rc = ddpc_device_upload_async(s->dev_x, s->batch_x, (size_t)n * features * sizeof(float), DDPC_DEVICE_CUDA);
  if (rc == 0 && cls)
    rc = ddpc_device_upload_async(s->dev_labels, s->batch_labels, (size_t)n * sizeof(int32_t), DDPC_DEVICE_CUDA);
  if (rc == 0 && !cls)
    rc = ddpc_device_upload_async(s->dev_targets, s->batch_targets,
                                  (size_t)n * (size_t)s->out_width * sizeof(float), DDPC_DEVICE_CUDA);
  return rc == 0 ? ddpc_model_forward(s->model, s->dev_x, n, ctx) : NULL;
}

int train_device_loss_add(train_session *s, const float *out, int n, bool with_grad, double grad_scale) {
  bool cls = train_is_classification(s);
  if (!on_gpu(s)) {
    ddpc_loss_result r = ddpc_loss_compute(s->cfg.loss, out, cls ? s->batch_labels : NULL,
                                           cls ? NULL : s->batch_targets, n, s->out_width,
                                           with_grad ? s->dout : NULL, grad_scale);
    s->loss_pending.loss_sum += r.loss_sum;
    s->loss_pending.correct += r.correct;
    return 0;
  }
#ifdef DDPC_HAVE_CUDA
  return ddpc_loss_cuda_compute(s->loss_gpu, s->cfg.loss, out, cls ? s->dev_labels : NULL,
                                cls ? NULL : s->dev_targets, n, s->out_width, with_grad ? s->dev_dout : NULL,
                                grad_scale);
#else
  return ddpc_error_set("device: cuda: %s", DDPC_DEVICE_NO_CUDA_MESSAGE);
#endif
}

int train_device_loss_take(train_session *s, ddpc_loss_result *sums) {
  if (!on_gpu(s)) {
    *sums = s->loss_pending;
    s->loss_pending = (ddpc_loss_result){0.0, 0};
    return 0;
  }
#ifdef DDPC_HAVE_CUDA
  // Waits for everything queued (the step's backward and update too), so the staging
  // buffers are free again when the next batch is gathered.
  return ddpc_loss_cuda_take(s->loss_gpu, sums);
#else
  return ddpc_error_set("device: cuda: %s", DDPC_DEVICE_NO_CUDA_MESSAGE);
#endif
}

const float *train_device_host_outputs(train_session *s, const float *out, int n) {
  if (!on_gpu(s)) return out;
  size_t bytes = (size_t)n * (size_t)s->out_width * sizeof(float);
  if (!s->host_out && !(s->host_out = ddpc_malloc((size_t)s->max_batch * (size_t)s->out_width * sizeof(float),
                                                  "outputs for evaluation")))
    return NULL;
  return ddpc_device_copy(s->host_out, DDPC_DEVICE_CPU, out, DDPC_DEVICE_CUDA, bytes) == 0 ? s->host_out : NULL;
}

const float *train_device_dout(const train_session *s) { return on_gpu(s) ? s->dev_dout : s->dout; }

int train_device_update(train_session *s, const ddpc_grad_parts *parts, float lr) {
  const ddpc_config *cfg = &s->cfg;
  ddpc_buffer *params = ddpc_model_params(s->model);
  if (!on_gpu(s)) {
    float scale = 1.0f;
    if (cfg->train.grad_clip > 0)
      ddpc_clip_grad_norm_parts(parts->parts, parts->n_parts, ddpc_model_param_count(s->model), cfg->train.grad_clip,
                                &scale);
    ddpc_optimizer_step_parts(&s->opt_state, params, parts->parts, parts->n_parts, scale, lr);
    return 0;
  }
#ifdef DDPC_HAVE_CUDA
  const float *d_scale = NULL;
  const double *d_norm = NULL;
  if (cfg->train.grad_clip > 0 &&
      ddpc_clip_grad_norm_cuda(s->clip_gpu, parts->parts[0], params->count, cfg->train.grad_clip, &d_norm, &d_scale) != 0)
    return -1;
  ddpc_optimizer_step_device_scaled(&s->opt_state, params, parts->parts[0], d_scale, lr);
#endif
  return 0;
}

int train_device_all_finite(train_session *s, bool *finite) {
  const ddpc_buffer *p = ddpc_model_params(s->model);
  *finite = true;
  if (!on_gpu(s)) {
    *finite = ddpc_floats_all_finite(p->data, p->count);
    return 0;
  }
#ifdef DDPC_HAVE_CUDA
  // Copying the parameters down every few steps would cost more than the steps: the norm of
  // this step's gradient, taken on the device, is eight bytes. A non-finite gradient of an
  // earlier step has made the parameters, and so this step's loss, non-finite already.
  const double *d_norm = NULL;
  const float *d_scale = NULL;
  const float *g = ddpc_model_grads(s->model)->data;
  double norm = 0.0;
  if (ddpc_clip_grad_norm_cuda(s->clip_gpu, g, p->count, 0.0, &d_norm, &d_scale) != 0 ||
      ddpc_device_copy(&norm, DDPC_DEVICE_CPU, d_norm, DDPC_DEVICE_CUDA, sizeof norm) != 0)
    return -1;
  *finite = isfinite(norm);
#endif
  return 0;
}

const float *train_device_host_view(const ddpc_buffer *b, float **copy) {
  *copy = NULL;
  if (b->device == DDPC_DEVICE_CPU) return b->data;
  *copy = ddpc_malloc(b->count ? b->count * sizeof(float) : 1, "host copy for a checkpoint");
  if (!*copy) return NULL;
  if (ddpc_device_copy(*copy, DDPC_DEVICE_CPU, b->data, b->device, b->count * sizeof(float)) != 0) {
    free(*copy);
    *copy = NULL;
    return NULL;
  }
  return *copy;
}

float *train_device_host_target(const ddpc_buffer *b) {
  if (b->device == DDPC_DEVICE_CPU) return b->data;
  return ddpc_malloc(b->count ? b->count * sizeof(float) : 1, "host copy for a restore");
}

int train_device_commit_host_target(ddpc_buffer *b, float *host) {
  if (b->device == DDPC_DEVICE_CPU) return 0;
  int rc = ddpc_device_copy(b->data, b->device, host, DDPC_DEVICE_CPU, b->count * sizeof(float));
  free(host);
  return rc;
}
