/* How a predictor runs a model that has linear layers: each linear layer as a packed
 * product (core/gemm.h), with a ReLU that follows it applied inside the product;
 * layers that are the identity in inference (dropout, flatten) skipped; every other layer
 * (convolution, pooling, a ReLU after one, normalization) by its own forward, as
 * ddpc_model_forward runs it. It is the same function of the inputs (PyTorch and ONNX
 * Runtime agree with either within 1e-5); only the order of a few float additions in the
 * linear layers differs. A model without linear layers runs as training evaluates it. */
#ifndef DDPC_PREDICT_PREDICT_PLAN_H
#define DDPC_PREDICT_PREDICT_PLAN_H

#include <stdbool.h>

#include "core/model.h"
#include "core/gemm.h"

typedef struct {
  ddpc_layer *layer;               // a layer run by its own forward; NULL: the packed product
  ddpc_gemm_packed gemm;           // a linear layer's weights and bias, packed
  bool relu;                       // a ReLU follows the linear layer (past identities): in the product
} ddpc_predict_step;

typedef struct ddpc_predict_plan {
  ddpc_predict_step *steps;  // in model order
  int n_steps;
  float *acts[2];  // (max_batch, widest step output) each: step i writes acts[i % 2]
} ddpc_predict_plan;

/* Makes *out for model m, whose parameters are loaded (batches up to max_batch), and
 * returns 0; returns 1, *out NULL, for a model without a linear layer, for a build whose
 * kernel is not vectorized (core/gemm.c's portable C is slower than OpenBLAS), and when
 * DDPC_PREDICT_GEMM=blas asks for the layer-by-layer path on OpenBLAS; -1 with the error
 * set when memory runs out. The plan runs m's layers: m must outlive it. */
int ddpc_predict_plan_make(ddpc_model *m, int max_batch, ddpc_predict_plan **out);
void ddpc_predict_plan_free(ddpc_predict_plan *plan);

/* The model's outputs (n x output size) for n <= max_batch prepared samples x, owned by
 * the plan and valid until the next call. */
const float *ddpc_predict_plan_forward(ddpc_predict_plan *plan, const float *x, int n);

#endif
