/* The export formats by name and file extension (export.h), for `ddpc export --format`
 * and for choosing a default output name, and the writer of a format chosen by name. */
#include <string.h>

#include "core/error.h"
#include "export/export.h"

const char *const ddpc_export_format_names[DDPC_EXPORT_COUNT] = {"safetensors", "onnx"};
const char *const ddpc_export_format_exts[DDPC_EXPORT_COUNT] = {".safetensors", ".onnx"};

int ddpc_export_write(const ddpc_predictor *p, ddpc_export_format format, const char *path) {
  return format == DDPC_EXPORT_ONNX ? ddpc_export_onnx(p, path) : ddpc_export_safetensors(p, path);
}

int ddpc_export_model(const char *model, const char *format, const char *path) {
  int f = 0;
  while (f < DDPC_EXPORT_COUNT && strcmp(format, ddpc_export_format_names[f]) != 0) f++;
  if (f == DDPC_EXPORT_COUNT) return ddpc_error_set("unknown export format '%s'", format);
  ddpc_predictor *p = NULL;
  int rc = ddpc_predictor_load(model, &p);
  if (rc == 0) rc = ddpc_export_write(p, (ddpc_export_format)f, path);
  ddpc_predictor_free(p);
  return rc == 0 ? 0 : -1;
}
