/* Layers: what a model is made of. A ddpc_layer_spec is the declarative description that
 * comes from the config; a ddpc_layer is its runtime form with parameter views into the
 * model's flat buffers and whatever it saves for backward. Each kind implements
 * ddpc_layer_ops in its own file (layer_linear.c, layer_conv2d.c, ...). */
#ifndef DDPC_CORE_LAYER_H
#define DDPC_CORE_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buffer.h"
#include "core/shape.h"

typedef enum {
  DDPC_LAYER_LINEAR,
  DDPC_LAYER_CONV2D,
  DDPC_LAYER_MAXPOOL2D,
  DDPC_LAYER_RELU,
  DDPC_LAYER_GELU,
  DDPC_LAYER_TANH,
  DDPC_LAYER_DROPOUT,
  DDPC_LAYER_FLATTEN,
  DDPC_LAYER_LAYERNORM,
  DDPC_LAYER_COUNT
} ddpc_layer_kind;

typedef enum {
  DDPC_INIT_DEFAULT,  // He (Kaiming) normal for linear and conv2d
  DDPC_INIT_HE,       // normal, std = sqrt(2 / fan_in)
  DDPC_INIT_XAVIER,   // uniform, limit = sqrt(6 / (fan_in + fan_out))
} ddpc_init_kind;

typedef struct {
  ddpc_layer_kind kind;
  int units;            // linear: output features
  int filters;          // conv2d: output channels
  int kernel;           // conv2d, maxpool2d: square window size
  int stride;           // conv2d (default 1), maxpool2d (default = kernel)
  int padding;          // conv2d: zeros added on each side
  float p;              // dropout: probability of zeroing an element
  float eps;            // layernorm: added to the variance
  bool bias;            // linear, conv2d: whether a bias is learned (default true)
  ddpc_init_kind init;  // linear, conv2d: weight initialisation
} ddpc_layer_spec;

/* Fills a spec with the defaults of its kind (stride, eps, bias, ...). */
ddpc_layer_spec ddpc_layer_spec_default(ddpc_layer_kind kind);
/* "linear", "conv2d", ... and back; -1 when unknown. The table is in enum order. */
extern const char *const ddpc_layer_kind_names[DDPC_LAYER_COUNT];
const char *ddpc_layer_kind_name(ddpc_layer_kind kind);
int ddpc_layer_kind_parse(const char *name);

typedef struct ddpc_layer ddpc_layer;

/* The host memory a model claims, counted while its layers are set up: every buffer is
 * zeroed when allocated, so a model too big for the machine must be refused before any
 * of it is touched, not by the kernel's OOM killer halfway through. */
typedef struct {
  double used;             // bytes claimed so far (parameters, gradients, activations, scratch)
  double limit;            // bytes the process may use (ddpc_memory_limit); 0: not checked
  const char *limit_what;  // where the limit comes from, for the message
  int max_batch;           // the batch the activations are sized for, for the message
  bool planning;           // setup only claims and returns before allocating (the model's first pass)
} ddpc_memory_budget;

/* Per-step context handed to forward: dropout draws from (seed, step, layer index), and
 * from where this process's rows sit in the global batch. The sampler deals each batch's
 * samples to the ranks in turn, so row j of rank r is row j * world + r of the batch one
 * rank would train on: keyed by that row, N ranks draw the masks one rank draws. */
typedef struct {
  bool training;   // dropout active, saved state kept for backward
  uint64_t seed;   // run seed
  uint64_t step;   // global optimizer step, for counter-based randomness
  uint32_t rank;   // this process's place among the ranks (0 alone)
  uint32_t world;  // the number of ranks; 0 is taken as 1 (alone)
} ddpc_forward_ctx;

typedef struct {
  /* Checks the spec against the input shape, sets layer->out and layer->n_params,
   * claims from layer->budget what it and the model will allocate for it, and then
   * (unless ddpc_layer_planning) allocates per-layer scratch for up to max_batch samples. */
  int (*setup)(ddpc_layer *layer, int max_batch);
  /* Writes initial parameters into layer->params (seeded, counter-based). */
  void (*init_params)(ddpc_layer *layer, uint64_t seed);
  /* x is (B, in), y is (B, out). */
  void (*forward)(ddpc_layer *layer, const float *x, float *y, int batch, const ddpc_forward_ctx *ctx);
  /* Given x, y and dy, writes parameter gradients into layer->grads (overwriting) and,
   * when dx is not NULL, the input gradient (B, in). */
  void (*backward)(ddpc_layer *layer, const float *x, const float *y, const float *dy, float *dx,
                   int batch);
  /* Releases what setup allocated (layer->state); the layer itself belongs to the model. */
  void (*free)(ddpc_layer *layer);
} ddpc_layer_ops;

struct ddpc_layer {
  const ddpc_layer_ops *ops;  // the kind's implementation
  ddpc_layer_spec spec;       // as configured
  int index;                  // position in the model (0 = first)
  ddpc_shape in;              // per-sample input shape
  ddpc_shape out;             // per-sample output shape
  size_t n_params;            // floats of parameters (weights then bias)
  size_t param_offset;        // offset of this layer's parameters in the flat buffers
  float *params;              // view into the model's flat parameter buffer
  float *grads;               // view into the model's flat gradient buffer
  void *state;                // kind-specific scratch (im2col, masks, statistics)
  ddpc_memory_budget *budget; // the model's host memory count; NULL where not counted (GPU)
  bool input_relu;            // set by the model before setup (CPU only): x is a ReLU layer's output
  bool dx_relu_applied;       // set by setup (only where input_relu): backward's dx already has
                              // that ReLU's backward applied (0 wherever x is 0), so the model
                              // skips the ReLU's backward, which would change nothing
};

const ddpc_layer_ops *ddpc_layer_ops_for(ddpc_layer_kind kind);

/* Each kind's implementation, in layer_<kind>.c; ddpc_layer_ops_for picks among them. */
extern const ddpc_layer_ops ddpc_layer_linear_ops;
extern const ddpc_layer_ops ddpc_layer_conv2d_ops;
extern const ddpc_layer_ops ddpc_layer_maxpool2d_ops;
extern const ddpc_layer_ops ddpc_layer_relu_ops;
extern const ddpc_layer_ops ddpc_layer_gelu_ops;
extern const ddpc_layer_ops ddpc_layer_tanh_ops;
extern const ddpc_layer_ops ddpc_layer_dropout_ops;
extern const ddpc_layer_ops ddpc_layer_flatten_ops;
extern const ddpc_layer_ops ddpc_layer_layernorm_ops;

/* Helpers shared by the kind implementations (layer.c). */
/* Records "model layer I (KIND): <message>" and returns -1. */
int ddpc_layer_fail(const ddpc_layer *layer, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Refuses, with an error naming `what`, a buffer of `count` floats over the per-layer limit
 * (4 GiB). count is a double so that absurd products of ints cannot overflow first. */
int ddpc_layer_check_floats(const ddpc_layer *layer, const char *what, double count);
/* Checks layer->n_params and layer->out for max_batch samples against that limit and
 * claims them (parameters, gradients, activations) from layer->budget; setup calls it
 * before allocating anything. */
int ddpc_layer_check_sizes(const ddpc_layer *layer, int max_batch);
/* Claims `bytes` more from layer->budget (what: for the message), refusing with the
 * bytes needed and the limit when the model would outgrow it. Setup claims its scratch
 * with it before allocating any. */
int ddpc_layer_claim(const ddpc_layer *layer, const char *what, double bytes);
/* True in the model's planning pass: setup returns once it has claimed, allocating nothing. */
bool ddpc_layer_planning(const ddpc_layer *layer);
/* Weights of linear/conv2d: He normal or Xavier uniform per layer->spec.init, drawn from
 * ddpc_rng_make(seed, DDPC_RNG_INIT, layer->index, 0). */
void ddpc_layer_init_weights(const ddpc_layer *layer, float *w, size_t count, int fan_in, int fan_out,
                             uint64_t seed);
/* y (m x n) = x (m x k) * w^T + b, with w (n x k) row-major and b (n) or NULL. */
void ddpc_layer_dense_forward(const float *x, const float *w, const float *b, float *y, int m, int n, int k);
/* The same product for a linear layer: on ddpc's kernel (core/gemm.c) where the build has
 * one, the same bits as the predictor's packed product; ddpc_layer_dense_forward otherwise,
 * or when the kernel's packing buffer cannot be had. The convolutions' products, with many
 * more rows than columns, stay on ddpc_layer_dense_forward. */
void ddpc_layer_linear_forward(const float *x, const float *w, const float *b, float *y, int m, int n, int k);
/* db = column sums of dy (m rows of n), summed row after row from the first (overwritten). */
void ddpc_layer_bias_gradient(const float *dy, float *db, int m, int n);
/* Gradients of ddpc_layer_dense_forward: dw = dy^T x (overwritten), db = column sums of dy
 * (when db is not NULL), dx = dy w (when dx is not NULL). dx may be the same memory as x:
 * x is read only before dx is written. */
void ddpc_layer_dense_backward(const float *x, const float *w, const float *dy, float *dw, float *db,
                               float *dx, int m, int n, int k);

#endif
