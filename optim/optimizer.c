/* SGD, Adam and AdamW over flat float buffers, matching torch.optim's single-tensor
 * update rules element by element (see optim.h for the formulas). Each update is one
 * pass over params, grads and state so the loops stay memory bound and vectorisable; a
 * gradient given as parts (one per rank) is summed block by block inside that pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX__) || defined(__SSE__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "core/names.h"
#include "optim/grad_parts.h"
#include "optim/optim.h"
#include "optim/optimizer_internal.h"
#ifdef DDPC_HAVE_CUDA
#include "optim/optim_cuda.h"
#endif

const char *ddpc_optimizer_name(ddpc_optimizer_kind kind) {
  return ddpc_names_get(ddpc_optimizer_names, DDPC_OPTIMIZER_COUNT, (int)kind);
}

int ddpc_optimizer_parse(const char *name) { return ddpc_names_find(ddpc_optimizer_names, DDPC_OPTIMIZER_COUNT, name); }

// `!(x >= lo)` also rejects NaN, which a plain `x < lo` would let through.
static int check_at_least(const char *what, float x, float lo) {
  if (!(x >= lo) || isinf(x))
    return ddpc_error_set("optimizer: %s must be a finite number >= %g, got %g", what, (double)lo,
                          (double)x);
  return 0;
}

static int check_beta(const char *what, float beta) {
  if (!(beta >= 0.0f && beta < 1.0f))
    return ddpc_error_set("optimizer: %s must be in [0, 1), got %g", what, (double)beta);
  return 0;
}

static int check_config(const ddpc_optimizer_config *cfg) {
  if ((unsigned)cfg->kind >= DDPC_OPTIMIZER_COUNT)
    return ddpc_error_set("optimizer: unknown kind %d", (int)cfg->kind);
  if (check_at_least("lr", cfg->lr, 0.0f) || check_at_least("weight_decay", cfg->weight_decay, 0.0f))
    return -1;
  if (cfg->kind == DDPC_OPTIMIZER_SGD) {
    if (check_at_least("momentum", cfg->momentum, 0.0f)) return -1;
    if (cfg->nesterov && !(cfg->momentum > 0.0f))
      return ddpc_error_set("optimizer: nesterov needs momentum > 0, got momentum %g",
                            (double)cfg->momentum);
    return 0;
  }
  if (check_beta("beta1", cfg->beta1) || check_beta("beta2", cfg->beta2)) return -1;
  return check_at_least("eps", cfg->eps, 0.0f);
}

int ddpc_optimizer_state_buffers(const ddpc_optimizer_config *cfg) {
  if (cfg->kind != DDPC_OPTIMIZER_SGD) return 2;  // Adam's moments m and v
  return cfg->momentum != 0.0f ? 1 : 0;          // SGD's momentum buffer, when it has one
}

int ddpc_optimizer_init(ddpc_optimizer *opt, const ddpc_optimizer_config *cfg, size_t n_params,
                        ddpc_device device) {
  memset(opt, 0, sizeof *opt);
  if (check_config(cfg)) return -1;
  // The state lives where the parameters do; a device this build lacks fails in the
  // allocation with the reason.
  opt->cfg = *cfg;
  int buffers = ddpc_optimizer_state_buffers(cfg);
  if (buffers >= 1 && ddpc_buffer_alloc(&opt->m, n_params, device, "optimizer first moment")) goto fail;
  if (buffers >= 2 && ddpc_buffer_alloc(&opt->v, n_params, device, "optimizer second moment")) goto fail;
  return 0;
fail:
  ddpc_optimizer_free(opt);
  return -1;
}

void ddpc_optimizer_free(ddpc_optimizer *opt) {
  ddpc_buffer_free(&opt->m);
  ddpc_buffer_free(&opt->v);
  opt->steps = 0;
}

/* A size mismatch is a bug in the caller (the buffers come from the same model), not bad
 * input; writing past a buffer would corrupt memory silently, so stop loudly instead. */
static void check_count(const char *what, size_t got, size_t want) {
  if (got == want) return;
  fprintf(stderr, "ddpc_optimizer_step: %s holds %zu floats, expected %zu\n", what, got, want);
  abort();
}

ddpc_optimizer_scalars ddpc_optimizer_scalars_at(const ddpc_optimizer_config *cfg, float lr, uint64_t t) {
  ddpc_optimizer_scalars k;
  memset(&k, 0, sizeof k);
  k.neg_lr = -lr;
  k.wd = cfg->weight_decay;
  k.momentum = cfg->momentum;
  // torch starts the buffer as a copy of d; b is zero then, so 0*b + d gives exactly d.
  k.keep = t == 1 ? 0.0f : cfg->momentum;
  const bool decoupled = cfg->kind == DDPC_OPTIMIZER_ADAMW;
  const double beta1 = cfg->beta1, beta2 = cfg->beta2;
  k.l2 = decoupled ? 0.0f : cfg->weight_decay;
  k.decay = decoupled ? (float)(1.0 - (double)lr * cfg->weight_decay) : 1.0f;
  k.b1 = cfg->beta1;
  k.one_minus_b1 = (float)(1.0 - beta1);
  k.b2 = cfg->beta2;
  k.one_minus_b2 = (float)(1.0 - beta2);
  const double bias1 = 1.0 - pow(beta1, (double)t);
  k.bias2_sqrt = (float)sqrt(1.0 - pow(beta2, (double)t));
  k.neg_step = (float)-((double)lr / bias1);
  k.eps = cfg->eps;
  return k;
}

/* The scalars (ddpc_optimizer_scalars_at) are torch's, so each element sees the same float
 * operands as there. */
static void sgd_block(const ddpc_optimizer_config *cfg, const ddpc_optimizer_scalars *k, float *restrict p,
                      const float *restrict g, float *restrict b, size_t n) {
  const float wd = k->wd;
  const float neg_lr = k->neg_lr;
  if (!b) {
    for (size_t i = 0; i < n; i++) p[i] = p[i] + neg_lr * (g[i] + wd * p[i]);
    return;
  }
  const float mom = k->momentum;
  const float keep = k->keep;
  if (cfg->nesterov) {
    for (size_t i = 0; i < n; i++) {
      float d = g[i] + wd * p[i];
      float bi = b[i] * keep + d;
      b[i] = bi;
      p[i] = p[i] + neg_lr * (d + mom * bi);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      float bi = b[i] * keep + (g[i] + wd * p[i]);
      b[i] = bi;
      p[i] = p[i] + neg_lr * bi;
    }
  }
}

/* With the gradient in one buffer already the whole vector is one block; otherwise each
 * block of the summed gradient is formed in L1 right before its update reads it. */
static void sgd_step(const ddpc_optimizer_config *cfg, const ddpc_optimizer_scalars *k, float *p,
                     const float *const *parts, int n_parts, float scale, float *b, size_t n) {
  const bool direct = n_parts == 1 && scale == 1.0f;
  const size_t block = direct ? n : DDPC_GRAD_BLOCK;
  float sum[DDPC_GRAD_BLOCK];  // this block's summed gradient (unused when direct)
  for (size_t start = 0; start < n; start += block) {
    const size_t len = n - start < block ? n - start : block;
    const float *g = ddpc_grad_parts_block(parts, n_parts, scale, start, len, sum);
    sgd_block(cfg, k, p + start, g, b ? b + start : NULL, len);
  }
}

/* sqrtf may set errno (for negative input), and without -ffast-math that side effect
 * keeps GCC from vectorising any loop that calls it: Adam ran 15x slower than SGD. So
 * Adam works in L1-sized blocks: a vectorised loop for the moments, the square roots with
 * SIMD intrinsics where the target has them, a vectorised loop for the parameters. IEEE
 * sqrt is correctly rounded, so every path gives the same bits. */
#define ADAM_BLOCK DDPC_GRAD_BLOCK

static void sqrt_in_place(float *x, size_t n) {
  size_t i = 0;
#if defined(__AVX__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
#elif defined(__SSE__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
  for (; i < n; i++) x[i] = sqrtf(x[i]);
}

/* Adam and AdamW differ only in where weight decay enters: `l2` is added to the gradient
 * (Adam), `decay` scales the parameter first (AdamW); the other one is the identity. */
static void adam_step(const ddpc_optimizer_scalars *k, float *restrict p, const float *const *parts, int n_parts,
                      float scale, float *restrict m, float *restrict v, size_t n) {
  const float l2 = k->l2, decay = k->decay;
  const float b1 = k->b1, one_minus_b1 = k->one_minus_b1;
  const float b2 = k->b2, one_minus_b2 = k->one_minus_b2;
  const float bias2_sqrt = k->bias2_sqrt, neg_step = k->neg_step, eps = k->eps;
  float root[ADAM_BLOCK];  // sqrt(v) of the current block
  float sum[ADAM_BLOCK];   // the current block's summed gradient (unused for one unscaled part)
  for (size_t start = 0; start < n; start += ADAM_BLOCK) {
    const size_t len = n - start < ADAM_BLOCK ? n - start : ADAM_BLOCK;
    float *restrict pb = p + start, *restrict mb = m + start, *restrict vb = v + start;
    const float *restrict gb = ddpc_grad_parts_block(parts, n_parts, scale, start, len, sum);
    for (size_t i = 0; i < len; i++) {
      float gi = gb[i] + l2 * (pb[i] * decay);
      float vi = vb[i] * b2 + one_minus_b2 * gi * gi;
      mb[i] = mb[i] * b1 + one_minus_b1 * gi;
      vb[i] = vi;
      root[i] = vi;
    }
    sqrt_in_place(root, len);
    for (size_t i = 0; i < len; i++)
      pb[i] = pb[i] * decay + neg_step * mb[i] / (root[i] / bias2_sqrt + eps);
  }
}

/* Counts the step and returns its scalars, after checking the state fits params. */
static ddpc_optimizer_scalars optimizer_begin_step(ddpc_optimizer *opt, const ddpc_buffer *params, float lr) {
  if (opt->m.data) check_count("first moment", opt->m.count, params->count);
  if (opt->v.data) check_count("second moment", opt->v.count, params->count);
  opt->steps++;
  return ddpc_optimizer_scalars_at(&opt->cfg, lr, opt->steps);
}

/* The GPU update (optim/optimizer_cuda.cu); a GPU buffer cannot exist without CUDA. */
static void optimizer_cuda_update(const ddpc_optimizer *opt, const ddpc_optimizer_scalars *k, ddpc_buffer *params,
                                  const float *g, float scale, const float *d_scale) {
#ifdef DDPC_HAVE_CUDA
  ddpc_optimizer_cuda_step(opt, k, params->data, g, scale, d_scale, params->count);
#else
  (void)opt, (void)k, (void)params, (void)g, (void)scale, (void)d_scale;
  fprintf(stderr, "ddpc_optimizer_step: GPU buffers in a build without CUDA\n");
  abort();
#endif
}

void ddpc_optimizer_step_device_scaled(ddpc_optimizer *opt, ddpc_buffer *params, const float *grads,
                                       const float *d_scale, float lr) {
  const ddpc_optimizer_scalars k = optimizer_begin_step(opt, params, lr);
  optimizer_cuda_update(opt, &k, params, grads, 1.0f, d_scale);
}

void ddpc_optimizer_step_parts(ddpc_optimizer *opt, ddpc_buffer *params, const float *const *parts, int n_parts,
                               float scale, float lr) {
  const size_t n = params->count;
  if (n_parts < 1) {
    fprintf(stderr, "ddpc_optimizer_step_parts: %d gradient parts, expected at least 1\n", n_parts);
    abort();
  }
  const ddpc_optimizer_scalars k = optimizer_begin_step(opt, params, lr);
  if (params->device == DDPC_DEVICE_CUDA) {
    // One part only: on the GPU the all-reduce (NCCL) has summed the ranks already.
    if (n_parts != 1) {
      fprintf(stderr, "ddpc_optimizer_step_parts: %d gradient parts on the GPU, expected 1\n", n_parts);
      abort();
    }
    optimizer_cuda_update(opt, &k, params, parts[0], scale, NULL);
    return;
  }
  if (opt->cfg.kind == DDPC_OPTIMIZER_SGD)
    sgd_step(&opt->cfg, &k, params->data, parts, n_parts, scale, opt->m.data, n);
  else
    adam_step(&k, params->data, parts, n_parts, scale, opt->m.data, opt->v.data, n);
}

void ddpc_optimizer_step(ddpc_optimizer *opt, ddpc_buffer *params, const ddpc_buffer *grads, float lr) {
  check_count("grads", grads->count, params->count);
  const float *const parts[1] = {grads->data};
  ddpc_optimizer_step_parts(opt, params, parts, 1, 1.0f, lr);
}
