/* What a trained model takes as input, and how raw values become the model's input: the
 * stored form of a sample (IDX pixels as bytes, or a CSV's feature columns by name, in the
 * training header's order), the fitted preprocessing (one affine pair per feature:
 * prepared = raw * scale + shift, standardize statistics folded in) and the prepared shape.
 * Training writes it into every checkpoint (section "input"), so a checkpoint alone is
 * enough to predict and to export: the training data need not exist any more. */
#ifndef DDPC_CORE_MODEL_INPUT_H
#define DDPC_CORE_MODEL_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/data.h"
#include "core/shape.h"

typedef struct {
  ddpc_data_format format;  // idx | csv: how raw samples are stored
  ddpc_task task;           // classification | regression
  ddpc_dtype dtype;         // raw values: u8 (IDX pixels) or f32 (CSV cells)
  uint32_t features;        // raw values per sample
  ddpc_shape raw_shape;     // IDX: (rows, cols, 1) as stored; CSV: (1, 1, features)
  ddpc_shape shape;         // per-sample shape after preprocessing (the model's input)
  float *scale;             // features: prepared = raw * scale + shift
  float *shift;             // features
  int num_classes;          // classification: classes (labels 0 .. num_classes - 1); else 0
  uint32_t target_width;    // regression: outputs per sample; else 0
  char *label_column;       // CSV: the label or target column's name; NULL for IDX
  char **feature_names;     // CSV: features names, the training header's order; NULL for IDX
  float *target_mean;       // regression trained on standardized targets (data.target_standardize):
  float *target_std;        // target_width each; the target = model output * std + mean. Else NULL
  struct ddpc_tabular *tabular;  // CSV with text labels, categorical columns or a missing-cell
                            // policy: the fitted encoding from the file's columns to the `features`
                            // inputs (feature_names then name the inputs: "color=red"); else NULL
} ddpc_model_input;

/* Describes the input of a model trained on `ds` loaded from `cfg`: copies the fitted
 * constants and the CSV's encoding (feature names), or reads the IDX header (raw shape) of
 * the training file. */
int ddpc_model_input_from_data(const ddpc_config *cfg, const ddpc_dataset *ds, ddpc_model_input *out);
/* The checkpoint section's bytes (caller frees *bytes). */
int ddpc_model_input_encode(const ddpc_model_input *in, unsigned char **bytes, size_t *n_bytes);
/* Reads the section back, every length and count checked against the bytes there are;
 * errors name `what` (the checkpoint's path) and the offset in the section. */
int ddpc_model_input_decode(const unsigned char *bytes, size_t n_bytes, const char *what, ddpc_model_input *out);
void ddpc_model_input_free(ddpc_model_input *in);
/* The name of class k: its text for a model of text labels, else k in decimal (caller frees). */
char *ddpc_model_input_class_name(const ddpc_model_input *in, int k);
/* A few lines for people (`ddpc inspect`): format, task, shapes, classes, feature names and
 * the range of the fitted constants. */
void ddpc_model_input_print(const ddpc_model_input *in, FILE *out);

#endif
