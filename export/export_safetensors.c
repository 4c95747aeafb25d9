/* The safetensors export (export.h): the format of the safetensors library, which
 * safetensors.torch.load_file reads into a state_dict. An 8-byte little-endian header length
 * N, N bytes of JSON header (padded with spaces so the data starts 8-byte aligned), then the
 * tensors' raw little-endian bytes packed in state_dict order. The header maps each name to
 * {"dtype":"F32","shape":[...],"data_offsets":[begin,end]} (offsets from the data's start)
 * and "__metadata__" to string values only: everything needed to rebuild the nn.Sequential
 * and its input without ddpc (structured values are JSON text; docs/export.md lists them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "export/export.h"

/* The header's JSON, padded with spaces to a multiple of 8 bytes; NULL when out of memory. */
static char *st_header(const ddpc_export_meta *meta, int n_meta, const ddpc_export_tensor *t, int n, size_t *len) {
  char *text = NULL;
  FILE *f = open_memstream(&text, len);
  if (!f) return NULL;
  ddpc_json h;
  ddpc_json_begin(&h, f);
  ddpc_json_begin_object(&h, "__metadata__");
  for (int i = 0; i < n_meta; i++) ddpc_json_string(&h, meta[i].key, meta[i].value);
  ddpc_json_end_object(&h);
  bool ok = true;
  uint64_t at = 0;
  for (int i = 0; i < n; i++) {
    ddpc_json_begin_object(&h, t[i].name);
    ddpc_json_string(&h, "dtype", "F32");
    ddpc_json_begin_array(&h, "shape");
    for (int d = 0; d < t[i].ndim; d++) ddpc_json_int(&h, NULL, t[i].dims[d]);
    ddpc_json_end_array(&h);
    ddpc_json_begin_array(&h, "data_offsets");
    ddpc_json_int(&h, NULL, (int64_t)at);
    at += t[i].count * sizeof(float);
    ddpc_json_int(&h, NULL, (int64_t)at);
    ddpc_json_end_array(&h);
    ddpc_json_end_object(&h);
  }
  ddpc_json_end(&h);
  // The format allows trailing spaces in the header: they align the data for readers that map it.
  for (long pad = (long)((8 - (ftell(f) % 8)) % 8); pad > 0; pad--) fputc(' ', f);
  ok = ok && ferror(f) == 0;
  if (fclose(f) != 0 || !ok) {
    free(text);
    return NULL;
  }
  return text;
}

typedef struct {
  const char *header;             // JSON, padded
  size_t header_len;              // its bytes
  const ddpc_export_tensor *t;    // the tensors in header order
  int n;                          // how many
} st_file;

static int st_write(FILE *out, void *user) {
  const st_file *f = user;
  unsigned char len[8], chunk[4096];
  ddpc_put_u64(len, f->header_len);
  fwrite(len, 1, sizeof len, out);
  fwrite(f->header, 1, f->header_len, out);
  for (int i = 0; i < f->n; i++) {  // little-endian whatever the host
    size_t used = 0;
    for (size_t k = 0; k < f->t[i].count; k++) {
      uint32_t bits;
      memcpy(&bits, &f->t[i].data[k], sizeof bits);
      ddpc_put_u32(chunk + used, bits);
      used += 4;
      if (used == sizeof chunk || k + 1 == f->t[i].count) {
        fwrite(chunk, 1, used, out);
        used = 0;
      }
    }
  }
  return 0;  // a failed write leaves ferror(out) set, which ddpc_fs_write_atomic reports with the file's name
}

int ddpc_export_safetensors(const ddpc_predictor *p, const char *path) {
  ddpc_export_tensor *t = NULL;
  ddpc_export_meta *meta = NULL;
  int n = 0, n_meta = 0;
  if (ddpc_export_tensors(p, &t, &n) != 0) return -1;
  int rc = ddpc_export_metadata(p, true, &meta, &n_meta);
  st_file f = {.t = t, .n = n};
  char *header = NULL;
  if (rc == 0) {
    header = st_header(meta, n_meta, t, n, &f.header_len);
    if (!header) rc = ddpc_error_set("%s: out of memory for the safetensors header", path);
  }
  f.header = header;
  if (rc == 0) rc = ddpc_fs_write_atomic(path, st_write, &f);
  free(header);
  ddpc_export_metadata_free(meta, n_meta);
  ddpc_export_tensors_free(t, n);
  return rc;
}
