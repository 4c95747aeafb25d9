/* The export formats by name and file extension (export.h), for `ddpc export --format`
 * and for choosing a default output name. */
#include "export/export.h"

const char *const ddpc_export_format_names[DDPC_EXPORT_COUNT] = {"safetensors", "onnx"};
const char *const ddpc_export_format_exts[DDPC_EXPORT_COUNT] = {".safetensors", ".onnx"};
