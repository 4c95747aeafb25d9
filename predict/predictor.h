/* A trained model loaded for inference (the public ddpc_predictor of ddpc/ddpc.h): the
 * checkpoint it came from, the run's resolved config, the input description with its
 * fitted preprocessing (core/model_input.h) and the model on the CPU with its trained
 * parameters. ddpc predict, ddpc export and the C API all start from it, so that they
 * agree on which checkpoint a run directory means and on what the model computes. */
#ifndef DDPC_PREDICT_PREDICTOR_H
#define DDPC_PREDICT_PREDICTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/model.h"
#include "core/model_input.h"
#include "ddpc/ddpc.h"
#include "predict/predict_plan.h"

struct ddpc_predictor {
  char *checkpoint_path;      // the file loaded
  bool from_run_dir;          // MODEL was a run directory (checkpoint_path was chosen in it)
  bool is_best;               // the file is the run's best.ddpc
  ddpc_checkpoint_meta meta;  // epoch, step, ... of the checkpoint
  ddpc_config cfg;            // the run's resolved config (model layers, loss, data)
  ddpc_model_input input;     // raw input and fitted preprocessing
  ddpc_model *model;          // CPU model holding the trained parameters
  ddpc_predict_plan *plan;    // how it runs, linear layers as packed products (predict_plan.h);
                              // NULL: as training evaluates it (ddpc_model_forward)
  int max_batch;              // samples per forward pass
  int out_width;              // outputs per sample: classes, or regression targets
  float *prepared;            // (max_batch, features) scratch: the prepared batch
  float *outputs;             // (max_batch, out_width): a model trained on standardized targets
                              // outputs back in the target's units (input.target_mean); else NULL
};

/* Which checkpoint `model_path` means: the file itself, or in a run directory its
 * checkpoints/best.ddpc when there is one that verifies, else the newest valid checkpoint.
 * Sets *path (caller frees), *from_run_dir and *is_best. */
int ddpc_predictor_locate(const char *model_path, char **path, bool *from_run_dir, bool *is_best);

/* ddpc_predictor_load with max_batch samples per forward pass (ddpc predict --batch-size);
 * 0 chooses, as the public loader does: up to 256, fewer where a batch of the model's
 * largest layer would outgrow the cache. */
int ddpc_predictor_load_batched(const char *model_path, int max_batch, ddpc_predictor **out);

/* One forward pass of n <= max_batch raw samples (raw: n x features): the model's outputs
 * (logits for classification, values for regression in the target's own units), owned by
 * the predictor and valid until the next call. */
const float *ddpc_predictor_forward(ddpc_predictor *p, const float *raw, int n);
/* The same for samples stored as bytes (IDX pixels), converted as they are prepared: one
 * pass over the batch instead of a conversion to floats and then the preprocessing. */
const float *ddpc_predictor_forward_u8(ddpc_predictor *p, const uint8_t *raw, int n);

/* Class probabilities of n rows of k logits (probs may not alias logits): the softmax
 * ddpc_predictor_predict applies, for callers that also need the logits (the loss). */
void ddpc_predictor_softmax(const float *logits, int n, int k, float *probs);

#endif
