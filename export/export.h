/* Exporting a trained model (a loaded ddpc_predictor, predict/predictor.h) to the formats
 * other tools read: safetensors for PyTorch (export_safetensors.c) and ONNX for ONNX
 * Runtime and every other ONNX consumer (export_onnx.c). Both take the parameters in
 * PyTorch's layout from export_tensors.c, so that the two files agree with each other and
 * with the nn.Sequential docs/export.md builds. Each writer creates its file atomically
 * (temporary name, fsync, rename): on any error no partial file is left. */
#ifndef DDPC_EXPORT_EXPORT_H
#define DDPC_EXPORT_EXPORT_H

#include <stdbool.h>
#include <stdbool.h>
#include <stddef.h>

#include "predict/predictor.h"

typedef enum { DDPC_EXPORT_SAFETENSORS, DDPC_EXPORT_ONNX, DDPC_EXPORT_COUNT } ddpc_export_format;
extern const char *const ddpc_export_format_names[DDPC_EXPORT_COUNT];  // "safetensors", "onnx"
extern const char *const ddpc_export_format_exts[DDPC_EXPORT_COUNT];   // ".safetensors", ".onnx"

/* One parameter tensor as PyTorch's nn.Sequential state_dict holds it. */
typedef struct {
  char name[32];     // "0.weight", "3.bias", ... (module index = ddpc layer index)
  int ndim;          // 1 to 4
  int dims[4];       // Linear [out, in], Conv2d [out, in, kh, kw], LayerNorm [C], biases [out]
  size_t count;      // product of dims
  float *data;       // count floats, row-major in dims (owned)
} ddpc_export_tensor;

/* The model's parameters in PyTorch's layout: conv weights from (filters, kh, kw, cin) to
 * [out, in, kh, kw]; a linear layer that follows channels-last (H, W, C) activations has
 * its input columns reordered to PyTorch's (C, H, W) flatten order. Caller frees with
 * ddpc_export_tensors_free. */
int ddpc_export_tensors(const ddpc_predictor *p, ddpc_export_tensor **out, int *n_out);
void ddpc_export_tensors_free(ddpc_export_tensor *t, int n);

/* Which layers take an image in PyTorch's terms: image_in[i] (n_layers + 1 entries) is true
 * when layer i takes (N, C, H, W), false when it takes (N, features); image_in[n_layers] says
 * the same of the model's output (docs/export.md's ChannelsLastFlatten then puts it in
 * ddpc's (H, W, C) order). ddpc holds a vector and a
 * 1x1 image alike, as (1, 1, C); PyTorch does not: a tensor stays 4-D from the input image or
 * a conv2d/maxpool2d until a flatten or a linear layer. So a linear layer on an image
 * flattens it (C, H, W) first and a layernorm on an image normalises over C at each (h, w),
 * as ddpc's do (docs/export.md's FlattenLinear and ChannelLayerNorm). Fails, naming the
 * layer, for conv2d or maxpool2d on a vector, which have no nn.Sequential form. */
int ddpc_export_layer_images(const ddpc_predictor *p, bool *image_in);

/* The metadata both files carry (export_metadata.c; docs/export.md lists the keys): string
 * pairs, structured values as JSON text. for_torch adds what rebuilding the nn.Sequential
 * and its input needs (format, model, modules, shapes, preprocess, scale, shift). */
typedef struct {
  const char *key;  // static
  char *value;      // owned
} ddpc_export_meta;
int ddpc_export_metadata(const ddpc_predictor *p, bool for_torch, ddpc_export_meta **out, int *n_out);
void ddpc_export_metadata_free(ddpc_export_meta *m, int n);

/* Writers: 0, or -1 with the reason in ddpc_error_message() and no file at `path`. */
int ddpc_export_safetensors(const ddpc_predictor *p, const char *path);
int ddpc_export_onnx(const ddpc_predictor *p, const char *path);
/* The writer of `format` (export_format.c). */
int ddpc_export_write(const ddpc_predictor *p, ddpc_export_format format, const char *path);
/* MODEL (a run directory: its best checkpoint, else its newest; or a checkpoint file, as
 * ddpc_predictor_load takes it) written in the format named `format` ("safetensors",
 * "onnx") to `path`: what `ddpc export MODEL --format F --out PATH` writes. The ddpc
 * program passes it to training as ddpc_train_options.export_model (MLflow's model
 * artifacts). 0, or -1 with the reason in ddpc_error_message(). */
int ddpc_export_model(const char *model, const char *format, const char *path);

#endif
