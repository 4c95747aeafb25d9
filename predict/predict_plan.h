/* How a predictor runs its model: a model made of linear layers, ReLUs and layers that
 * are the identity in inference (dropout, flatten) runs as a chain of packed products
 * (predict_gemm.h) with each ReLU applied inside the product before it; any other model
 * runs layer by layer as training evaluates it (ddpc_model_forward). The chain is the
 * same function of the inputs (PyTorch and ONNX Runtime agree with either within 1e-5);
 * only the order of a few float additions differs. */
#ifndef DDPC_PREDICT_PREDICT_PLAN_H
#define DDPC_PREDICT_PREDICT_PLAN_H

#include <stdbool.h>

#include "core/model.h"
#include "predict/predict_gemm.h"

typedef struct {
  ddpc_predict_gemm_weights gemm;  // a linear layer's weights and bias, packed
  bool relu;                       // a ReLU follows it (past identities): max(0, .) in the product
} ddpc_predict_step;

typedef struct ddpc_predict_plan {
  ddpc_predict_step *steps;  // the linear layers in model order
  int n_steps;
  float *acts[2];  // (max_batch, widest step output) each: step i writes acts[i % 2]
} ddpc_predict_plan;

/* Makes *out for model m (batches up to max_batch) and returns 0; returns 1, *out NULL, for
 * a model the chain cannot run (another layer kind, a ReLU before the first linear layer),
 * for a build whose kernel is not vectorized (predict_gemm's portable C is slower than
 * OpenBLAS), and when DDPC_PREDICT_GEMM=blas asks for the layer-by-layer path; -1 with the
 * error set when memory runs out. */
int ddpc_predict_plan_make(const ddpc_model *m, int max_batch, ddpc_predict_plan **out);
void ddpc_predict_plan_free(ddpc_predict_plan *plan);

/* The model's outputs (n x output size) for n <= max_batch prepared samples x, owned by
 * the plan and valid until the next call. */
const float *ddpc_predict_plan_forward(ddpc_predict_plan *plan, const float *x, int n);

#endif
