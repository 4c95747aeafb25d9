/* Checkpoint write and read throughput (MB/s of raw section bytes, best of 3) for the MLP
 * of the examples (235146 parameters + 2 optimizer arrays) and for 100 MB of parameters,
 * plus zlib level 1 vs 6 on the same arrays: the numbers behind the container's choice of
 * level 1 and of storing arrays as is when zlib saves less than 10%.
 * usage: bench_checkpoint [FOLDER]   (default /tmp; the files are removed afterwards) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/checkpoint.h"
#include "core/error.h"

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Trained-weight-like floats: normal(0, sigma) from a fixed LCG (Box-Muller). */
static float *weights_create(size_t n, double sigma, uint64_t seed) {
  float *w = malloc(n * sizeof *w);
  if (!w) return NULL;
  uint64_t s = seed;
  for (size_t i = 0; i < n; i += 2) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((s >> 11) + 1.0) / 9007199254740993.0;
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = (s >> 11) / 9007199254740992.0;
    double r = sqrt(-2.0 * log(u1)) * sigma;
    w[i] = (float)(r * cos(6.283185307179586 * u2));
    if (i + 1 < n) w[i + 1] = (float)(r * sin(6.283185307179586 * u2));
  }
  return w;
}

typedef struct {
  const char *name;  // row label
  size_t n_params;   // floats per array
  int n_optim;       // optimizer arrays of the same size
} bench_case;

static int bench_run(const char *folder, const bench_case *c) {
  float *arrays[3] = {NULL, NULL, NULL};
  int n_arrays = 1 + c->n_optim, rc = -1;
  for (int i = 0; i < n_arrays; i++)
    if (!(arrays[i] = weights_create(c->n_params, i == 0 ? 0.05 : 0.005, (uint64_t)i + 1))) goto done;
  static const char *const names[3] = {"params", "optim_m", "optim_v"};
  ddpc_checkpoint_section sections[4];
  ddpc_checkpoint_meta meta;
  memset(&meta, 0, sizeof meta);
  unsigned char meta_bytes[DDPC_CHECKPOINT_META_BYTES];
  ddpc_checkpoint_encode_meta(&meta, meta_bytes);
  sections[0] = (ddpc_checkpoint_section){DDPC_CHECKPOINT_SECTION_META, "meta", meta_bytes, sizeof meta_bytes};
  size_t raw = sizeof meta_bytes;
  for (int i = 0; i < n_arrays; i++) {
    sections[1 + i] = (ddpc_checkpoint_section){(uint32_t)(DDPC_CHECKPOINT_SECTION_PARAMS + i), names[i], arrays[i],
                                                c->n_params * sizeof(float)};
    raw += c->n_params * sizeof(float);
  }
  char *path = ddpc_format("%s/ddpc-bench-%ld.ddpc", folder, (long)getpid());
  if (!path) goto done;
  double best_write = 1e30, best_read = 1e30;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now_seconds();
    if (ddpc_checkpoint_write(path, sections, 1 + n_arrays) != 0) goto fail;
    double t1 = now_seconds();
    ddpc_checkpoint *ck = NULL;
    if (ddpc_checkpoint_read(path, &ck) != 0) goto fail;
    double t2 = now_seconds();
    ddpc_checkpoint_free(ck);
    if (t1 - t0 < best_write) best_write = t1 - t0;
    if (t2 - t1 < best_read) best_read = t2 - t1;
  }
  FILE *f = fopen(path, "rb");
  long file_bytes = -1;
  if (f && fseek(f, 0, SEEK_END) == 0) file_bytes = ftell(f);
  if (f) fclose(f);
  // zlib alone on the parameters, the levels compared (best of 3 each).
  double level_s[2] = {1e30, 1e30};
  unsigned long level_bytes[2] = {0, 0};
  static const int levels[2] = {1, 6};
  uLong src_bytes = (uLong)(c->n_params * sizeof(float));
  uLongf bound = compressBound(src_bytes);
  unsigned char *packed = malloc(bound);
  for (int l = 0; packed && l < 2; l++)
    for (int rep = 0; rep < 3; rep++) {
      uLongf out = bound;
      double t0 = now_seconds();
      compress2(packed, &out, (const Bytef *)arrays[0], src_bytes, levels[l]);
      double t = now_seconds() - t0;
      if (t < level_s[l]) level_s[l] = t;
      level_bytes[l] = (unsigned long)out;
    }
  free(packed);
  double mb = (double)raw / 1e6, pmb = (double)src_bytes / 1e6;
  printf("%-22s %10.1f %10.1f %9.3f %9.3f %10.0f %10.0f | %8.1f %6.3f %8.1f %6.3f\n", c->name, mb,
         (double)file_bytes / 1e6, best_write, best_read, mb / best_write, mb / best_read, pmb / level_s[0],
         (double)level_bytes[0] / (double)src_bytes, pmb / level_s[1], (double)level_bytes[1] / (double)src_bytes);
  rc = 0;
  goto cleanup;
fail:
  fprintf(stderr, "bench_checkpoint: %s\n", ddpc_error_message());
cleanup:
  unlink(path);
  free(path);
done:
  for (int i = 0; i < n_arrays; i++) free(arrays[i]);
  return rc;
}

int main(int argc, char **argv) {
  const char *folder = argc > 1 ? argv[1] : "/tmp";
  if (argc > 2 || (argc > 1 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: bench_checkpoint [FOLDER]\n");
    return 2;
  }
  const bench_case cases[] = {
      {"mlp 235146 x3 (adam)", 235146, 2},
      {"mlp 235146 x2 (sgd-m)", 235146, 1},
      {"25M params (100 MB)", 25000000, 0},
  };
  printf("checkpoint write/read in %s, best of 3 (write includes fsync and rename; MB = 1e6 bytes)\n", folder);
  printf("%-22s %10s %10s %9s %9s %10s %10s | %8s %6s %8s %6s\n", "case", "raw MB", "file MB", "write s", "read s",
         "write MB/s", "read MB/s", "z1 MB/s", "z1 ratio", "z6 MB/s", "z6 ratio");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    if (bench_run(folder, &cases[i]) != 0) return 1;
  printf("(z1/z6: zlib compress2 level 1/6 of the params array alone: MB/s of input and compressed/raw size)\n");
  return 0;
}
