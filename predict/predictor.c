/* Loading a trained model and predicting with it (predictor.h, the ddpc_predictor_* API of
 * ddpc/ddpc.h). Everything comes from the checkpoint: the resolved config (which layers),
 * the parameters and the input section (raw form, fitted preprocessing, classes). A
 * checkpoint from before the input section existed is still usable where its training
 * data is: the preprocessing is fitted again from it exactly as training did. */
#include "predict/predictor.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/data.h"
#include "core/data_tabular.h"
#include "core/error.h"
#include "core/layer.h"

#define PREDICTOR_MAX_BATCH 256  // samples per forward pass at most: big enough for GEMM, small in memory
// A chosen batch keeps its largest layer (input, output and a convolution's im2col rows)
// within this many bytes, so the passes over activations (ReLU, pooling, im2col) run in the
// cache: 256 images through the CNN example's first convolution are 26 MB of output, and
// batches of 8-16 predicted it 1.5-2x faster than 256 on a 1 MiB-L2 EPYC. Small models
// keep 256.
#define PREDICTOR_BATCH_BYTES (4u << 20)
// With packed products (predict_plan.h) a chosen batch also keeps the input rows of each
// linear layer within this many bytes, half of a 1 MiB L2, where they stay while each
// weight panel passes them: the MLP example (784 inputs: 167 rows) predicted 2-4 % faster
// at 128-168 rows than at 256 (thread CPU time, medians of 9, loaded 2-core EPYC).
#define PREDICTOR_PLAN_INPUT_BYTES (512u << 10)

/* Which checkpoint model_path means (see ddpc_predictor_locate); *ck receives it when it was
 * read and verified on the way (a run directory's), NULL when the caller must read it. */
static int predictor_locate(const char *model_path, char **path, bool *from_run_dir, bool *is_best,
                            ddpc_checkpoint **ck) {
  *path = NULL;
  *ck = NULL;
  *from_run_dir = *is_best = false;
  if (!model_path || !*model_path) return ddpc_error_set("no model given: name a run directory or a checkpoint file");
  struct stat st;
  if (stat(model_path, &st) != 0)
    return ddpc_error_set("%s: %s (expected a run directory or a checkpoint file)", model_path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) {
    *path = ddpc_strdup(model_path);
    return *path ? 0 : -1;
  }
  *from_run_dir = true;
  char *best = ddpc_format("%s/checkpoints/best.ddpc", model_path);
  if (!best) return -1;
  if (access(best, F_OK) == 0) {
    if (ddpc_checkpoint_read(best, ck) == 0) {
      *path = best;
      *is_best = true;
      return 0;
    }
    ddpc_checkpoint_free(*ck);
    *ck = NULL;
    fprintf(stderr, "ddpc: skipping %s: %s\n", best, ddpc_error_message());
    ddpc_error_clear();
  }
  free(best);
  int rc = ddpc_checkpoint_find_latest(model_path, path, ck);
  if (rc == 1)
    return ddpc_error_set("%s: no checkpoint in %s/checkpoints (a run writes its first at the end of its first epoch, "
                          "per checkpoint.every_epochs)", model_path, model_path);
  return rc;
}

int ddpc_predictor_locate(const char *model_path, char **path, bool *from_run_dir, bool *is_best) {
  ddpc_checkpoint *ck = NULL;
  int rc = predictor_locate(model_path, path, from_run_dir, is_best, &ck);
  ddpc_checkpoint_free(ck);
  return rc;
}

/* The input description: the checkpoint's section, or fitted again from the training data. */
static int predictor_read_input(ddpc_predictor *p, const ddpc_checkpoint *ck) {
  size_t bytes = 0;
  const void *sec = ddpc_checkpoint_find_section(ck, DDPC_CHECKPOINT_SECTION_INPUT, &bytes);
  if (sec) return ddpc_model_input_decode(sec, bytes, p->checkpoint_path, &p->input);
  ddpc_dataset ds;
  int rc = ddpc_data_load(&p->cfg, &ds);
  if (rc == 0) {
    rc = ddpc_model_input_from_data(&p->cfg, &ds, &p->input);
    ddpc_data_free(&ds);
  }
  if (rc != 0) {
    char *why = ddpc_strdup(ddpc_error_message());
    ddpc_error_set("%s: has no input section (written by an older ddpc), and the training data to fit the "
                   "preprocessing again cannot be loaded: %s", p->checkpoint_path, why ? why : "?");
    free(why);
  }
  return rc;
}

/* Floats one sample occupies in the layer that holds the most: its input and output and,
 * for a convolution, its im2col rows (kernel x kernel x channels per output position). */
static size_t predictor_sample_floats(const ddpc_model *m) {
  size_t most = 1;
  for (int i = 0; i < ddpc_model_layer_count(m); i++) {
    const ddpc_layer *l = ddpc_model_layer(m, i);
    size_t n = ddpc_shape_size(l->in) + ddpc_shape_size(l->out);
    if (l->spec.kind == DDPC_LAYER_CONV2D)
      n += (size_t)l->out.h * (size_t)l->out.w * (size_t)l->spec.kernel * (size_t)l->spec.kernel * (size_t)l->in.c;
    most = n > most ? n : most;
  }
  return most;
}

/* Floats of input per sample of the model's widest linear layer (0: none). */
static size_t predictor_linear_input_floats(const ddpc_model *m) {
  size_t most = 0;
  for (int i = 0; i < ddpc_model_layer_count(m); i++) {
    const ddpc_layer *l = ddpc_model_layer(m, i);
    size_t n = ddpc_shape_size(l->in);
    if (l->spec.kind == DDPC_LAYER_LINEAR && n > most) most = n;
  }
  return most;
}

static int predictor_build(ddpc_predictor *p, const ddpc_checkpoint *ck) {
  const char *path = p->checkpoint_path;
  int has_meta = ddpc_checkpoint_read_meta(ck, &p->meta);
  if (has_meta < 0) return -1;
  size_t yaml_bytes = 0, param_bytes = 0;
  const char *yaml = ddpc_checkpoint_find_section(ck, DDPC_CHECKPOINT_SECTION_CONFIG, &yaml_bytes);
  const float *params = ddpc_checkpoint_find_section(ck, DDPC_CHECKPOINT_SECTION_PARAMS, &param_bytes);
  if (has_meta != 0 || !yaml || !params)
    return ddpc_error_set("%s: not a ddpc training checkpoint (its meta, config or params section is missing)", path);
  // Inference runs on the CPU whatever device trained the model (the file is the same).
  static const char *const on_cpu[] = {"device=cpu"};
  char *name = ddpc_format("%s: section 'config'", path);
  int rc = name ? ddpc_config_load_text(name, yaml, yaml_bytes, on_cpu, 1, &p->cfg) : -1;
  free(name);
  if (rc != 0) return -1;
  if (predictor_read_input(p, ck) != 0) return -1;
  bool choose = p->max_batch == 0;
  if (choose) p->max_batch = PREDICTOR_MAX_BATCH;
  if (ddpc_model_create(p->cfg.layers, p->cfg.n_layers, p->input.shape, p->max_batch, DDPC_DEVICE_CPU, &p->model) != 0)
    return -1;
  size_t fit = PREDICTOR_BATCH_BYTES / (predictor_sample_floats(p->model) * sizeof(float));
  if (choose && fit < (size_t)p->max_batch) {  // a big model: again, with the batch that fits
    ddpc_model_free(p->model);
    p->model = NULL;
    p->max_batch = fit > 0 ? (int)fit : 1;
    if (ddpc_model_create(p->cfg.layers, p->cfg.n_layers, p->input.shape, p->max_batch, DDPC_DEVICE_CPU,
                          &p->model) != 0)
      return -1;
  }
  ddpc_buffer *b = ddpc_model_params(p->model);
  if (param_bytes != b->count * sizeof(float))
    return ddpc_error_set("%s: section 'params' holds %zu parameters, the model its config describes has %zu", path,
                          param_bytes / sizeof(float), b->count);
  memcpy(b->data, params, param_bytes);
  if (ddpc_predict_plan_make(p->model, p->max_batch, &p->plan) < 0) return -1;
  if (choose && p->plan) {  // fewer rows where they would outgrow L2 (the plan's buffers have room)
    size_t rows = PREDICTOR_PLAN_INPUT_BYTES / (predictor_linear_input_floats(p->model) * sizeof(float));
    if (rows < (size_t)p->max_batch) p->max_batch = rows > 0 ? (int)rows : 1;
  }
  p->out_width = (int)ddpc_shape_size(ddpc_model_output_shape(p->model));
  int want = p->input.task == DDPC_TASK_CLASSIFICATION ? p->input.num_classes : (int)p->input.target_width;
  if (p->out_width != want)
    return ddpc_error_set("%s: the model has %d outputs per sample, its data %d %s", path, p->out_width, want,
                          p->input.task == DDPC_TASK_CLASSIFICATION ? "classes" : "targets");
  p->prepared = ddpc_malloc((size_t)p->max_batch * p->input.features * sizeof(float), "prediction batch");
  if (!p->prepared) return -1;
  if (p->input.target_mean &&
      !(p->outputs = ddpc_malloc((size_t)p->max_batch * (size_t)p->out_width * sizeof(float), "prediction outputs")))
    return -1;
  return 0;
}

/* The model's outputs y for n samples, in the target's units: trained on standardized
 * targets (data.target_standardize), y * std + mean, as training reported its errors. */
static const float *predictor_outputs(ddpc_predictor *p, const float *y, int n) {
  if (!y || !p->outputs) return y;
  int W = p->out_width;
  for (size_t i = 0; i < (size_t)n; i++)
    for (int j = 0; j < W; j++)
      p->outputs[i * W + j] = y[i * W + j] * p->input.target_std[j] + p->input.target_mean[j];
  return p->outputs;
}

int ddpc_predictor_load(const char *model_path, ddpc_predictor **out) {
  return ddpc_predictor_load_batched(model_path, 0, out);
}

int ddpc_predictor_load_batched(const char *model_path, int max_batch, ddpc_predictor **out) {
  *out = NULL;
  if (max_batch < 0) return ddpc_error_set("a predictor's batch size must be at least 1, got %d", max_batch);
  ddpc_predictor *p = ddpc_calloc(1, sizeof *p, "predictor");
  if (!p) return -1;
  p->max_batch = max_batch;
  ddpc_checkpoint *ck = NULL;
  int rc = predictor_locate(model_path, &p->checkpoint_path, &p->from_run_dir, &p->is_best, &ck);
  if (rc == 0 && !ck) rc = ddpc_checkpoint_read(p->checkpoint_path, &ck);
  if (rc == 0) rc = predictor_build(p, ck);
  ddpc_checkpoint_free(ck);
  if (rc != 0) {
    ddpc_predictor_free(p);
    return -1;
  }
  *out = p;
  return 0;
}

void ddpc_predictor_free(ddpc_predictor *p) {
  if (!p) return;
  ddpc_predict_plan_free(p->plan);
  ddpc_model_free(p->model);
  ddpc_model_input_free(&p->input);
  ddpc_config_free(&p->cfg);
  free(p->prepared);
  free(p->outputs);
  free(p->checkpoint_path);
  free(p);
}

const char *ddpc_predictor_checkpoint(const ddpc_predictor *p) { return p->checkpoint_path; }
int ddpc_predictor_input_size(const ddpc_predictor *p) { return (int)p->input.features; }
int ddpc_predictor_output_size(const ddpc_predictor *p) { return p->out_width; }
int ddpc_predictor_num_classes(const ddpc_predictor *p) {
  return p->input.task == DDPC_TASK_CLASSIFICATION ? p->input.num_classes : 0;
}
const char *ddpc_predictor_feature_name(const ddpc_predictor *p, int i) {
  if (!p->input.feature_names || i < 0 || (uint32_t)i >= p->input.features) return NULL;
  return p->input.feature_names[i];
}

const char *ddpc_predictor_class_name(const ddpc_predictor *p, int k) {
  const ddpc_tabular *t = p->input.tabular;
  return t && k >= 0 && (uint32_t)k < t->n_labels ? t->labels[k] : NULL;
}
int ddpc_predictor_column_count(const ddpc_predictor *p) {
  if (!p->input.feature_names) return 0;
  return p->input.tabular ? (int)p->input.tabular->n_columns : (int)p->input.features;
}
const char *ddpc_predictor_column_name(const ddpc_predictor *p, int i) {
  if (i < 0 || i >= ddpc_predictor_column_count(p)) return NULL;
  return p->input.tabular ? p->input.tabular->columns[i].name : p->input.feature_names[i];
}

int ddpc_predictor_encode(const ddpc_predictor *p, const char *const *cells, int64_t n, float *raw) {
  if (!p || n < 0 || (n > 0 && (!cells || !raw)))
    return ddpc_error_set("ddpc_predictor_encode: needs a predictor, n >= 0 and non-NULL cells and raw");
  int columns = ddpc_predictor_column_count(p);
  if (!columns) return ddpc_error_set("ddpc_predictor_encode: %s reads images, not CSV columns", p->checkpoint_path);
  uint32_t F = p->input.features;
  for (int64_t r = 0; r < n; r++) {
    const char *const *row = cells + r * columns;
    float *dst = raw + r * F;
    int rc = 0;
    if (p->input.tabular) {
      rc = ddpc_tabular_encode_text(p->input.tabular, row, dst, NULL);
    } else {
      for (int c = 0; c < columns && rc == 0; c++) {
        const char *text = row[c] ? row[c] : "";
        double v;
        if (!ddpc_csv_text_number(text, strlen(text), &v))
          rc = ddpc_error_set("column '%s': expected a finite number, got '%s'", p->input.feature_names[c], text);
        dst[c] = (float)v;
      }
    }
    if (rc != 0) return ddpc_error_prefix("row %lld: ", (long long)r + 1);
  }
  return 0;
}

/* The model on the n prepared samples in p->prepared: the packed chain where it has one. */
static const float *predictor_run(ddpc_predictor *p, int n) {
  if (p->plan) return ddpc_predict_plan_forward(p->plan, p->prepared, n);
  ddpc_forward_ctx ctx = {.training = false};
  return ddpc_model_forward(p->model, p->prepared, n, &ctx);
}

/* The training preprocessing into p->prepared (as ddpc_data_gather does), then the model. */
const float *ddpc_predictor_forward(ddpc_predictor *p, const float *raw, int n) {
  size_t F = p->input.features;
  const float *scale = p->input.scale, *shift = p->input.shift;
  for (size_t i = 0; i < (size_t)n; i++)
    for (size_t f = 0; f < F; f++) p->prepared[i * F + f] = raw[i * F + f] * scale[f] + shift[f];
  return predictor_outputs(p, predictor_run(p, n), n);
}

const float *ddpc_predictor_forward_u8(ddpc_predictor *p, const uint8_t *raw, int n) {
  size_t F = p->input.features;
  const float *scale = p->input.scale, *shift = p->input.shift;
  for (size_t i = 0; i < (size_t)n; i++)
    for (size_t f = 0; f < F; f++) p->prepared[i * F + f] = (float)raw[i * F + f] * scale[f] + shift[f];
  return predictor_outputs(p, predictor_run(p, n), n);
}

int ddpc_predictor_predict(ddpc_predictor *p, const float *raw, int64_t n, float *out) {
  if (!p || n < 0 || (n > 0 && (!raw || !out)))
    return ddpc_error_set("ddpc_predictor_predict: needs a predictor, n >= 0 and non-NULL raw and out");
  uint32_t F = p->input.features;
  int K = p->out_width;
  bool cls = p->input.task == DDPC_TASK_CLASSIFICATION;
  for (int64_t at = 0; at < n; at += p->max_batch) {
    int b = n - at < p->max_batch ? (int)(n - at) : p->max_batch;
    const float *y = ddpc_predictor_forward(p, raw + (size_t)at * F, b);
    float *dst = out + (size_t)at * K;
    if (!cls) {
      memcpy(dst, y, (size_t)b * K * sizeof(float));
      continue;
    }
    ddpc_predictor_softmax(y, b, K, dst);
  }
  return 0;
}

void ddpc_predictor_softmax(const float *logits, int n, int k, float *probs) {
  enum { KEPT = 64 };  // exponentials kept for the division: all of them up to 64 classes
  double kept[KEPT];
  for (int i = 0; i < n; i++) {  // from the largest logit, so exp cannot overflow
    const float *z = logits + (size_t)i * k;
    float *dst = probs + (size_t)i * k;
    float top = z[0];
    for (int j = 1; j < k; j++) top = z[j] > top ? z[j] : top;
    double sum = 0;
    for (int j = 0; j < k; j++) {
      double e = exp((double)z[j] - top);
      if (j < KEPT) kept[j] = e;
      sum += e;
    }
    for (int j = 0; j < k; j++) dst[j] = (float)((j < KEPT ? kept[j] : exp((double)z[j] - top)) / sum);
  }
}
