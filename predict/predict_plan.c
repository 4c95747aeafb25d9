/* The packed-product chain a predictor runs for a model of linear layers and ReLUs
 * (predict_plan.h). Identities in inference (dropout, flatten) are skipped: the linear
 * layer after a flatten reads the same floats in the same HWC order. */
#include "predict/predict_plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"

/* Whether the packed chain is wanted: its kernel is vectorized and DDPC_PREDICT_GEMM is
 * not "blas" (the layer-by-layer path on OpenBLAS, for comparing the two). */
static bool plan_wanted(void) {
  const char *mode = getenv("DDPC_PREDICT_GEMM");
  if (mode && strcmp(mode, "blas") == 0) return false;
  return strcmp(ddpc_predict_gemm_kernel(), "c") != 0;
}

/* Whether the chain can run the model: only linear layers, ReLUs after one, identities. */
static bool plan_fits(const ddpc_model *m) {
  bool seen_linear = false;
  for (int i = 0; i < ddpc_model_layer_count(m); i++) {
    ddpc_layer_kind kind = ddpc_model_layer(m, i)->spec.kind;
    if (kind == DDPC_LAYER_LINEAR)
      seen_linear = true;
    else if (kind == DDPC_LAYER_RELU && !seen_linear)
      return false;
    else if (kind != DDPC_LAYER_RELU && kind != DDPC_LAYER_DROPOUT && kind != DDPC_LAYER_FLATTEN)
      return false;
  }
  return seen_linear;
}

int ddpc_predict_plan_make(const ddpc_model *m, int max_batch, ddpc_predict_plan **out) {
  *out = NULL;
  if (!plan_wanted() || !plan_fits(m)) return 1;
  ddpc_predict_plan *plan = ddpc_calloc(1, sizeof *plan, "prediction plan");
  int layers = ddpc_model_layer_count(m);
  if (!plan || !(plan->steps = ddpc_calloc((size_t)layers, sizeof *plan->steps, "prediction plan"))) {
    free(plan);
    return -1;
  }
  size_t widest = 1;
  for (int i = 0; i < layers; i++) {
    const ddpc_layer *l = ddpc_model_layer(m, i);
    if (l->spec.kind == DDPC_LAYER_RELU) {
      plan->steps[plan->n_steps - 1].relu = true;  // plan_fits: a linear layer came before
      continue;
    }
    if (l->spec.kind != DDPC_LAYER_LINEAR) continue;  // an identity in inference
    int n = l->spec.units, k = (int)ddpc_shape_size(l->in);
    const float *bias = l->spec.bias ? l->params + (size_t)n * (size_t)k : NULL;
    if (ddpc_predict_gemm_pack(l->params, bias, n, k, &plan->steps[plan->n_steps].gemm) != 0) {
      ddpc_predict_plan_free(plan);
      return -1;
    }
    plan->n_steps++;
    widest = (size_t)n > widest ? (size_t)n : widest;
  }
  for (int i = 0; i < 2; i++)
    if (!(plan->acts[i] = ddpc_malloc((size_t)max_batch * widest * sizeof(float), "prediction activations"))) {
      ddpc_predict_plan_free(plan);
      return -1;
    }
  *out = plan;
  return 0;
}

void ddpc_predict_plan_free(ddpc_predict_plan *plan) {
  if (!plan) return;
  for (int i = 0; i < plan->n_steps; i++) ddpc_predict_gemm_free(&plan->steps[i].gemm);
  free(plan->steps);
  free(plan->acts[0]);
  free(plan->acts[1]);
  free(plan);
}

const float *ddpc_predict_plan_forward(ddpc_predict_plan *plan, const float *x, int n) {
  const float *cur = x;
  for (int i = 0; i < plan->n_steps; i++) {
    float *y = plan->acts[i % 2];
    ddpc_predict_gemm_run(&plan->steps[i].gemm, cur, n, y, plan->steps[i].relu);
    cur = y;
  }
  return cur;
}
