/* IDX reader (the MNIST / Fashion-MNIST file format): a big-endian header with a magic
 * number 0x000008NN (0x08 = unsigned byte data, NN = number of dimensions) and the
 * dimensions, then the bytes. Files may be gzip-compressed or raw; zlib tells them apart
 * by the gzip magic, never by the file name. Byte offsets in errors are offsets into the
 * uncompressed stream. The header's sizes are not trusted for memory: a raw file's length
 * is checked against them before anything is allocated, and a gzip file's buffer grows
 * only as decompressed bytes arrive, so a lying header costs an error, not gigabytes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/data.h"
#include "core/data_internal.h"
#include "core/error.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_DTYPE_U8 0x08

typedef struct {
  gzFile f;          // zlib stream (reads raw files as they are)
  const char *path;  // for messages
  uint64_t size;     // bytes of the file on disk (compressed, for a gzip file)
  uint64_t offset;   // uncompressed bytes consumed
  bool gz;           // the file is gzip-compressed
  bool truncated;    // zlib saw the compressed stream end early
} idx_file;

static int idx_open(const char *path, idx_file *in) {
  memset(in, 0, sizeof *in);
  in->path = path;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ddpc_error_set("%s: byte 0: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ddpc_error_set("%s: byte 0: cannot open: %s", path, strerror(err));
  }
  in->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : UINT64_MAX;  // a pipe's length is unknown
  in->f = gzdopen(fd, "rb");
  if (!in->f) {
    close(fd);
    return ddpc_error_set("%s: byte 0: cannot open: out of memory", path);
  }
  gzbuffer(in->f, 1u << 18);
  return 0;
}

static void idx_close(idx_file *in) {
  if (in->f) gzclose(in->f);
  in->f = NULL;
}

/* Reads up to len bytes; returns how many (short only at end of data), or -1 with an
 * error for a corrupt compressed stream. */
static int64_t idx_read(idx_file *in, void *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    size_t chunk = len - done < (1u << 30) ? len - done : (1u << 30);  // gzread takes an unsigned
    int got = gzread(in->f, (char *)buf + done, (unsigned)chunk);
    if (got == 0) break;
    if (got < 0) {
      int err;
      const char *msg = gzerror(in->f, &err);
      if (err == Z_BUF_ERROR) {  // the compressed stream stops before its end marker
        in->truncated = true;
        break;
      }
      return ddpc_error_set("%s: byte %llu: corrupt gzip data: %s", in->path,
                            (unsigned long long)(in->offset + done), msg);
    }
    done += (size_t)got;
  }
  int err;
  gzerror(in->f, &err);
  if (err == Z_BUF_ERROR) in->truncated = true;
  in->gz = !gzdirect(in->f);
  in->offset += done;
  return (int64_t)done;
}

/* Counts the bytes left after the expected data, to report the real size. */
static int64_t idx_count_rest(idx_file *in) {
  unsigned char scratch[1 << 14];
  uint64_t rest = 0;
  for (;;) {
    int64_t got = idx_read(in, scratch, sizeof scratch);
    if (got < 0) return -1;
    if (got == 0) return (int64_t)rest;
    rest += (uint64_t)got;
  }
}

static const char *idx_kind(uint32_t magic) {
  return magic == IDX_MAGIC_IMAGES ? "images" : "labels";
}

/* Reads and checks the header: magic `want` and its dims (big-endian u32 each). */
static int idx_read_header(idx_file *in, uint32_t want, uint32_t *dims) {
  int ndims = (int)(want & 0xff);
  unsigned char hdr[16];
  size_t hlen = 4 + 4 * (size_t)ndims;
  int64_t got = idx_read(in, hdr, hlen);
  if (got < 0) return -1;
  if (got >= 4) {
    uint32_t magic = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (hdr[0] != 0 || hdr[1] != 0)
      return ddpc_error_set("%s: byte 0: wrong magic 0x%08x: not an IDX file (expected 0x%08x, IDX %s)",
                            in->path, magic, want, idx_kind(want));
    if (hdr[2] != IDX_DTYPE_U8)
      return ddpc_error_set("%s: byte 2: wrong dtype code 0x%02x: only 0x08 (unsigned byte) is supported",
                            in->path, hdr[2]);
    if (hdr[3] != ndims)
      return ddpc_error_set("%s: byte 0: wrong magic 0x%08x (%d dimension%s): expected 0x%08x (IDX %s, %d "
                            "dimension%s)",
                            in->path, magic, hdr[3], hdr[3] == 1 ? "" : "s", want, idx_kind(want), ndims,
                            ndims == 1 ? "" : "s");
  }
  if ((size_t)got < hlen)
    return ddpc_error_set("%s: byte %lld: header truncated: an IDX %s header is %zu bytes, file has %lld%s",
                          in->path, (long long)got, idx_kind(want), hlen, (long long)got,
                          in->gz ? " uncompressed" : "");
  for (int d = 0; d < ndims; d++) {
    const unsigned char *p = hdr + 4 + 4 * d;
    dims[d] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (dims[d] == 0)
      return ddpc_error_set("%s: byte %d: dimension %d is 0: the file holds no data", in->path, 4 + 4 * d, d);
  }
  return 0;
}

/* The size error: where the data ends, what the header declares and what the file has.
 * `what` describes the declared data, e.g. "10000 images of 28x28 bytes". */
static int idx_size_error(const idx_file *in, uint64_t header, uint64_t actual, uint64_t expected,
                          const char *what) {
  return ddpc_error_set("%s: byte %llu: the file has %llu bytes%s, the header declares %s (%llu bytes with the "
                        "%llu-byte header)%s",
                        in->path, (unsigned long long)(actual < expected ? actual : expected),
                        (unsigned long long)actual, in->gz ? " uncompressed" : "", what,
                        (unsigned long long)expected, (unsigned long long)header,
                        in->truncated ? " (the gzip stream is truncated)" : "");
}

/* Reads exactly `bytes` of data after the header into a new buffer (*out, freed by the
 * caller); errors when the file is shorter or longer than the header says. A raw file's
 * length is checked first; a gzip stream's buffer grows as data arrives, capped at
 * `bytes`, so memory follows what the file really holds. */
static int idx_read_data(idx_file *in, uint64_t bytes, const char *what, unsigned char **out) {
  *out = NULL;
  uint64_t start = in->offset, expected = start + bytes;
  in->gz = !gzdirect(in->f);
  if (!in->gz && in->size != UINT64_MAX && in->size != expected)
    return idx_size_error(in, start, in->size, expected, what);
  // A raw file was measured above; a compressed one starts small and doubles.
  size_t cap = !in->gz ? (size_t)bytes : (size_t)(bytes < (1u << 20) ? bytes : (1u << 20));
  unsigned char *buf = ddpc_malloc(cap ? cap : 1, "IDX data");
  if (!buf) return ddpc_error_prefix("%s: ", in->path);
  uint64_t got = 0;
  for (;;) {
    int64_t n = idx_read(in, buf + got, cap - got);
    if (n < 0) {
      free(buf);
      return -1;
    }
    got += (uint64_t)n;
    if (got < cap || got == bytes) break;  // the data ended, or all of it is here
    size_t grown = cap * 2 < bytes ? cap * 2 : (size_t)bytes;
    unsigned char *more = realloc(buf, grown);
    if (!more) {
      free(buf);
      return ddpc_error_set("%s: out of memory (%zu bytes for IDX data)", in->path, grown);
    }
    buf = more;
    cap = grown;
  }
  uint64_t actual = start + got;
  if (got == bytes) {
    int64_t rest = idx_count_rest(in);
    if (rest < 0) {
      free(buf);
      return -1;
    }
    actual += (uint64_t)rest;
  }
  if (actual != expected) {
    free(buf);
    return idx_size_error(in, start, actual, expected, what);
  }
  *out = buf;
  return 0;
}

int ddpc_idx_read_images(const char *path, ddpc_table *out, ddpc_shape *shape) {
  memset(out, 0, sizeof *out);
  idx_file in;
  if (idx_open(path, &in) != 0) return -1;
  uint32_t dims[3];
  int rc = idx_read_header(&in, IDX_MAGIC_IMAGES, dims);
  uint64_t features = (uint64_t)dims[1] * dims[2];
  if (rc == 0 && features > INT32_MAX)
    rc = ddpc_error_set("%s: byte 8: images of %ux%u are too large", path, dims[1], dims[2]);
  unsigned char *x = NULL;
  if (rc == 0) {
    char *what = ddpc_format("%u image%s of %ux%u bytes", dims[0], dims[0] == 1 ? "" : "s", dims[1], dims[2]);
    rc = what ? idx_read_data(&in, dims[0] * features, what, &x) : -1;
    free(what);
  }
  idx_close(&in);
  if (rc != 0) return -1;
  out->rows = dims[0];
  out->features = (uint32_t)features;
  out->dtype = DDPC_DTYPE_U8;
  out->x = x;
  if (shape) {
    shape->h = (int)dims[1];
    shape->w = (int)dims[2];
    shape->c = 1;
  }
  return 0;
}

int ddpc_idx_read_image_shape(const char *path, ddpc_shape *shape, uint32_t *count) {
  idx_file in;
  if (idx_open(path, &in) != 0) return -1;
  uint32_t dims[3];
  int rc = idx_read_header(&in, IDX_MAGIC_IMAGES, dims);
  idx_close(&in);
  if (rc != 0) return -1;
  if ((uint64_t)dims[1] * dims[2] > INT32_MAX)
    return ddpc_error_set("%s: byte 8: images of %ux%u are too large", path, dims[1], dims[2]);
  *shape = (ddpc_shape){(int)dims[1], (int)dims[2], 1};
  if (count) *count = dims[0];
  return 0;
}

int ddpc_idx_read_labels(const char *path, int32_t **labels, uint32_t *count) {
  *labels = NULL;
  *count = 0;
  idx_file in;
  if (idx_open(path, &in) != 0) return -1;
  uint32_t n;
  int rc = idx_read_header(&in, IDX_MAGIC_LABELS, &n);
  unsigned char *raw = NULL;
  if (rc == 0) {
    char *what = ddpc_format("%u label%s of 1 byte", n, n == 1 ? "" : "s");
    rc = what ? idx_read_data(&in, n, what, &raw) : -1;
    free(what);
  }
  idx_close(&in);
  // Widened only now that the file has proved to hold n labels.
  int32_t *out = rc == 0 ? ddpc_malloc((size_t)n * sizeof *out, "IDX labels") : NULL;
  if (rc == 0 && !out) ddpc_error_prefix("%s: ", path);
  if (out)
    for (uint32_t i = 0; i < n; i++) out[i] = raw[i];
  free(raw);
  if (!out) return -1;
  *labels = out;
  *count = n;
  return 0;
}

int ddpc_idx_check_labels(const char *path, const int32_t *labels, uint32_t count, int num_classes) {
  if (num_classes <= 0) return 0;
  for (uint32_t i = 0; i < count; i++)
    if (labels[i] < 0 || labels[i] >= num_classes)
      return ddpc_error_set("%s: byte %llu: sample %u: label %d outside [0, %d) (data.num_classes = %d)", path,
                            8ull + i, i, labels[i], num_classes, num_classes);
  return 0;
}

void ddpc_table_free(ddpc_table *t) {
  if (!t) return;
  free((void *)t->x);
  free((void *)t->labels);
  free((void *)t->targets);
  memset(t, 0, sizeof *t);
}
