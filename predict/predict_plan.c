/* The steps a predictor runs for a model with linear layers (predict_plan.h). Identities
 * in inference (dropout, flatten) are skipped: the layer after a flatten reads the same
 * floats in the same HWC order. */
#include "predict/predict_plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"

/* Whether packed products are wanted: their kernel is vectorized and DDPC_PREDICT_GEMM is
 * not "blas" (the layer-by-layer path on OpenBLAS, for comparing the two). */
static bool plan_wanted(void) {
  const char *mode = getenv("DDPC_PREDICT_GEMM");
  if (mode && strcmp(mode, "blas") == 0) return false;
  return ddpc_gemm_available();
}

static bool plan_has_linear(const ddpc_model *m) {
  for (int i = 0; i < ddpc_model_layer_count(m); i++)
    if (ddpc_model_layer(m, i)->spec.kind == DDPC_LAYER_LINEAR) return true;
  return false;
}

int ddpc_predict_plan_make(ddpc_model *m, int max_batch, ddpc_predict_plan **out) {
  *out = NULL;
  if (!plan_wanted() || !plan_has_linear(m)) return 1;
  ddpc_predict_plan *plan = ddpc_calloc(1, sizeof *plan, "prediction plan");
  int layers = ddpc_model_layer_count(m);
  if (!plan || !(plan->steps = ddpc_calloc((size_t)layers, sizeof *plan->steps, "prediction plan"))) {
    free(plan);
    return -1;
  }
  size_t widest = 1;
  for (int i = 0; i < layers; i++) {
    // The predictor owns m; ddpc_model_layer's const is for readers, the plan runs the layer.
    ddpc_layer *l = (ddpc_layer *)ddpc_model_layer(m, i);
    ddpc_layer_kind kind = l->spec.kind;
    ddpc_predict_step *last = plan->n_steps > 0 ? &plan->steps[plan->n_steps - 1] : NULL;
    if (kind == DDPC_LAYER_DROPOUT || kind == DDPC_LAYER_FLATTEN) continue;
    if (kind == DDPC_LAYER_RELU && last && !last->layer) {
      last->relu = true;  // after a linear layer (or a ReLU fused into one: max(0, .) again is the same)
      continue;
    }
    ddpc_predict_step *step = &plan->steps[plan->n_steps++];
    size_t width = ddpc_shape_size(l->out);
    widest = width > widest ? width : widest;
    if (kind != DDPC_LAYER_LINEAR) {
      step->layer = l;
      continue;
    }
    int n = l->spec.units, k = (int)ddpc_shape_size(l->in);
    const float *bias = l->spec.bias ? l->params + (size_t)n * (size_t)k : NULL;
    if (ddpc_gemm_pack(l->params, bias, n, k, &step->gemm) != 0) {
      ddpc_predict_plan_free(plan);
      return -1;
    }
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
  for (int i = 0; i < plan->n_steps; i++) ddpc_gemm_packed_free(&plan->steps[i].gemm);
  free(plan->steps);
  free(plan->acts[0]);
  free(plan->acts[1]);
  free(plan);
}

const float *ddpc_predict_plan_forward(ddpc_predict_plan *plan, const float *x, int n) {
  ddpc_forward_ctx ctx = {.training = false};
  const float *cur = x;
  for (int i = 0; i < plan->n_steps; i++) {
    const ddpc_predict_step *s = &plan->steps[i];
    float *y = plan->acts[i % 2];
    if (s->layer)
      s->layer->ops->forward(s->layer, cur, y, n, &ctx);
    else
      ddpc_gemm_packed_run(&s->gemm, cur, n, y, s->relu);
    cur = y;
  }
  return cur;
}
