/* Winograd F(2x2, 3x3) convolution, forward and backward (see conv_winograd.h for the
 * method). The transforms run per tile over all channels at once: channels are the
 * contiguous axis of both the HWC activations and the (16, tiles, channels) matrices, so
 * the inner loops are plain vector loops. A tile's 16 (or 4) rows are addressed through
 * pointer tables, with padding read from a row of zeros and the parts of cut tiles written
 * to a row that nobody reads, which keeps those loops free of bounds tests.
 *
 * A batch runs in blocks of a few images, each block's transformed tiles and products
 * small enough to stay in the core's L2 cache between the transforms and the GEMMs
 * (the whole batch's would be 19 MB for the example's conv2 and go through memory
 * twice). Backward transforms each block's input again rather than keeping the
 * forward's: that costs less than reading it back from memory. */
#include "core/conv_winograd.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/layer.h"

/* The transforms' loops over channels touch disjoint elements of distinct buffers, which
 * GCC cannot prove: ivdep lets it vectorise them. Other compilers get plain loops (clang,
 * which builds the fuzzers, warns about a hint it cannot follow there, an error under
 * -Werror). */
#if defined(__GNUC__) && !defined(__clang__)
#define WG_IVDEP _Pragma("GCC ivdep")
#else
#define WG_IVDEP
#endif

// Below this many input channels the direct loops (conv_direct.c) win: measured on
// 28x28 -> 32 filters, batch 64, forward 1.7-2.6 ms against Winograd's 3.0-3.4 at 4
// channels; at 6 channels Winograd beats im2col (forward 3.6-4.6 against 4.1-4.4 ms,
// backward 5.2-6.7 against 9.7-10.2), at 8 and more by 1.5-2.5x.
#define WG_MIN_IN_CHANNELS 5
// Bytes of transformed tiles and products per block: about a 1 MiB L2 cache (512 KiB to
// 2 MiB measured alike on conv2 of the CNN example; 4 MiB and the whole batch slower).
#define WG_BLOCK_BYTES (1024.0 * 1024.0)

bool ddpc_conv_winograd_applies(int kernel, int stride, int in_c) {
  return kernel == 3 && stride == 1 && in_c >= WG_MIN_IN_CHANNELS;
}

static int wg_tiles(int n) { return (n + 1) / 2; }

static int wg_max(int a, int b) { return a > b ? a : b; }

/* Images per block: as many as fit WG_BLOCK_BYTES, at least one, at most the batch. */
static int wg_block_images(ddpc_shape in, ddpc_shape out, int max_batch) {
  double per_image = 16.0 * sizeof(float) * wg_tiles(out.h) * wg_tiles(out.w) * ((double)in.c + out.c);
  double n = WG_BLOCK_BYTES / per_image;
  return n < 1.0 ? 1 : n > max_batch ? max_batch : (int)n;
}

double ddpc_conv_winograd_floats(ddpc_shape in, ddpc_shape out, int max_batch) {
  double tiles = (double)wg_block_images(in, out, max_batch) * wg_tiles(out.h) * wg_tiles(out.w);
  return 16.0 * tiles * ((double)in.c + out.c) + 2.0 * 16.0 * in.c * out.c + 2.0 * wg_max(in.c, out.c);
}

int ddpc_conv_winograd_init(ddpc_conv_winograd *wg, ddpc_shape in, ddpc_shape out, int padding, int max_batch) {
  memset(wg, 0, sizeof *wg);
  wg->in = in;
  wg->out = out;
  wg->padding = padding;
  wg->tiles_h = wg_tiles(out.h);
  wg->tiles_w = wg_tiles(out.w);
  wg->block_images = wg_block_images(in, out, max_batch);
  size_t tiles = (size_t)wg->block_images * wg->tiles_h * wg->tiles_w, wide = (size_t)wg_max(in.c, out.c);
  size_t uc = 16 * (size_t)in.c * out.c;
  wg->v = ddpc_alloc_aligned(16 * tiles * in.c * sizeof(float), "conv2d Winograd input tiles");
  wg->m = wg->v ? ddpc_alloc_aligned(16 * tiles * out.c * sizeof(float), "conv2d Winograd products") : NULL;
  wg->u = wg->m ? ddpc_alloc_aligned(2 * uc * sizeof(float), "conv2d Winograd weights") : NULL;
  wg->zeros = wg->u ? ddpc_alloc_aligned(2 * wide * sizeof(float), "conv2d Winograd padding") : NULL;
  if (!wg->zeros) {
    ddpc_conv_winograd_free(wg);
    return -1;
  }
  wg->du = wg->u + uc;
  wg->discard = wg->zeros + wide;
  return 0;
}

void ddpc_conv_winograd_free(ddpc_conv_winograd *wg) {
  free(wg->v);
  free(wg->m);
  free(wg->u);
  free(wg->zeros);
  wg->v = wg->m = wg->u = wg->du = wg->zeros = wg->discard = NULL;
}

/* U[e] (filters, cin) = G g G^T for every (filter, channel), g the 3x3 kernel; G's rows
 * are (1,0,0), (1/2,1/2,1/2), (1/2,-1/2,1/2), (0,0,1). */
static void wg_weight_transform(ddpc_conv_winograd *wg, const float *w) {
  int C = wg->in.c, F = wg->out.c;
  size_t fc = (size_t)F * C;
  for (int f = 0; f < F; f++) {
    const float *g = w + (size_t)f * 9 * C;
    float *u = wg->u + (size_t)f * C;
WG_IVDEP
    for (int c = 0; c < C; c++) {
      float t[4][3];  // G g: kh transformed, kw not yet
      for (int j = 0; j < 3; j++) {
        float g0 = g[(0 * 3 + j) * C + c], g1 = g[(1 * 3 + j) * C + c], g2 = g[(2 * 3 + j) * C + c];
        t[0][j] = g0;
        t[1][j] = 0.5f * (g0 + g1 + g2);
        t[2][j] = 0.5f * (g0 - g1 + g2);
        t[3][j] = g2;
      }
      for (int i = 0; i < 4; i++) {
        u[(4 * i + 0) * fc + c] = t[i][0];
        u[(4 * i + 1) * fc + c] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[(4 * i + 2) * fc + c] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[(4 * i + 3) * fc + c] = t[i][2];
      }
    }
  }
}

/* dw (filters, 3, 3, cin) = G^T dU G, the adjoint of wg_weight_transform. */
static void wg_weight_gradient(const ddpc_conv_winograd *wg, float *dw) {
  int C = wg->in.c, F = wg->out.c;
  size_t fc = (size_t)F * C;
  for (int f = 0; f < F; f++) {
    const float *du = wg->du + (size_t)f * C;
    float *g = dw + (size_t)f * 9 * C;
WG_IVDEP
    for (int c = 0; c < C; c++) {
      float s[4][3];  // dU G: the kw side back to 3
      for (int i = 0; i < 4; i++) {
        float u0 = du[(4 * i + 0) * fc + c], u1 = du[(4 * i + 1) * fc + c];
        float u2 = du[(4 * i + 2) * fc + c], u3 = du[(4 * i + 3) * fc + c];
        s[i][0] = u0 + 0.5f * (u1 + u2);
        s[i][1] = 0.5f * (u1 - u2);
        s[i][2] = u3 + 0.5f * (u1 + u2);
      }
      for (int j = 0; j < 3; j++) {
        g[(0 * 3 + j) * C + c] = s[0][j] + 0.5f * (s[1][j] + s[2][j]);
        g[(1 * 3 + j) * C + c] = 0.5f * (s[1][j] - s[2][j]);
        g[(2 * 3 + j) * C + c] = s[3][j] + 0.5f * (s[1][j] + s[2][j]);
      }
    }
  }
}

/* v[e] = (B^T d B)[e] for one tile over n channels; B^T's rows are (1,0,-1,0), (0,1,1,0),
 * (0,-1,1,0), (0,1,0,-1). d[4i+j] is input row i, column j of the tile. */
static void wg_input_tile(const float *const d[16], float *const v[16], int n) {
WG_IVDEP
  for (int c = 0; c < n; c++) {
    float t[4][4];  // B^T d
    for (int j = 0; j < 4; j++) {
      float d0 = d[j][c], d1 = d[4 + j][c], d2 = d[8 + j][c], d3 = d[12 + j][c];
      t[0][j] = d0 - d2;
      t[1][j] = d1 + d2;
      t[2][j] = d2 - d1;
      t[3][j] = d1 - d3;
    }
    for (int i = 0; i < 4; i++) {
      v[4 * i + 0][c] = t[i][0] - t[i][2];
      v[4 * i + 1][c] = t[i][1] + t[i][2];
      v[4 * i + 2][c] = t[i][2] - t[i][1];
      v[4 * i + 3][c] = t[i][1] - t[i][3];
    }
  }
}

/* dx[4i+j] += (B dV B^T)[i][j] for one tile, the adjoint of wg_input_tile. */
static void wg_input_tile_adjoint(const float *const dv[16], float *const dx[16], int n) {
WG_IVDEP
  for (int c = 0; c < n; c++) {
    float s[4][4];  // dV B^T: columns back to input columns
    for (int i = 0; i < 4; i++) {
      float v0 = dv[4 * i][c], v1 = dv[4 * i + 1][c], v2 = dv[4 * i + 2][c], v3 = dv[4 * i + 3][c];
      s[i][0] = v0;
      s[i][1] = v1 - v2 + v3;
      s[i][2] = v1 + v2 - v0;
      s[i][3] = -v3;
    }
    for (int j = 0; j < 4; j++) {
      dx[j][c] += s[0][j];
      dx[4 + j][c] += s[1][j] - s[2][j] + s[3][j];
      dx[8 + j][c] += s[1][j] + s[2][j] - s[0][j];
      dx[12 + j][c] -= s[3][j];
    }
  }
}

/* y[2i+j] = (A^T m A)[i][j] + bias over n filters; A^T's rows are (1,1,1,0), (0,1,-1,-1). */
static void wg_output_tile(const float *const m[16], const float *bias, float *const y[4], int n) {
WG_IVDEP
  for (int c = 0; c < n; c++) {
    float s[2][4];  // A^T m
    for (int j = 0; j < 4; j++) {
      float m0 = m[j][c], m1 = m[4 + j][c], m2 = m[8 + j][c], m3 = m[12 + j][c];
      s[0][j] = m0 + m1 + m2;
      s[1][j] = m1 - m2 - m3;
    }
    for (int i = 0; i < 2; i++) {
      y[2 * i + 0][c] = s[i][0] + s[i][1] + s[i][2] + bias[c];
      y[2 * i + 1][c] = s[i][1] - s[i][2] - s[i][3] + bias[c];
    }
  }
}

/* m[e] = (A dY A^T)[e] for one tile, the adjoint of wg_output_tile, and db += the tile's
 * share of the bias gradient (positions past the output read zeros). */
static void wg_output_tile_adjoint(const float *const dy[4], float *const m[16], float *db, int n) {
WG_IVDEP
  for (int c = 0; c < n; c++) {
    db[c] += (dy[0][c] + dy[1][c]) + (dy[2][c] + dy[3][c]);
    float r[2][4];  // dY A^T: rows widened to 4
    for (int i = 0; i < 2; i++) {
      float y0 = dy[2 * i][c], y1 = dy[2 * i + 1][c];
      r[i][0] = y0;
      r[i][1] = y0 + y1;
      r[i][2] = y0 - y1;
      r[i][3] = -y1;
    }
    for (int j = 0; j < 4; j++) {
      m[j][c] = r[0][j];
      m[4 + j][c] = r[0][j] + r[1][j];
      m[8 + j][c] = r[0][j] - r[1][j];
      m[12 + j][c] = -r[1][j];
    }
  }
}

/* The addresses of a tile's rows: `rows` x `rows` positions starting at (r0, c0) of an
 * (h, w, ch) image, with `outside` for the positions beyond its edges. */
static void wg_tile_rows(float *img, int h, int w, int ch, int r0, int c0, int rows, float *outside, float **p) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < rows; j++) {
      int r = r0 + i, c = c0 + j;
      p[i * rows + j] = r >= 0 && r < h && c >= 0 && c < w ? img + ((size_t)r * w + c) * ch : outside;
    }
}

/* The addresses of tile t's row in each of the 16 matrices of `base` (16, tiles, ch). */
static void wg_matrix_rows(float *base, size_t tiles, int ch, size_t t, float **p) {
  for (int e = 0; e < 16; e++) p[e] = base + ((size_t)e * tiles + t) * ch;
}

/* v = the transformed tiles of `images` images of x. */
static void wg_input_transform(ddpc_conv_winograd *wg, const float *x, int images) {
  ddpc_shape in = wg->in;
  size_t tiles = (size_t)images * wg->tiles_h * wg->tiles_w, t = 0;
  float *d[16], *v[16];
  for (int b = 0; b < images; b++) {
    // Only read through d; the tables are shared with the adjoint, which writes.
    float *xb = (float *)x + (size_t)b * ddpc_shape_size(in);
    for (int ty = 0; ty < wg->tiles_h; ty++)
      for (int tx = 0; tx < wg->tiles_w; tx++, t++) {
        wg_tile_rows(xb, in.h, in.w, in.c, 2 * ty - wg->padding, 2 * tx - wg->padding, 4, wg->zeros, d);
        wg_matrix_rows(wg->v, tiles, in.c, t, v);
        wg_input_tile((const float *const *)d, v, in.c);
      }
  }
}

/* One block of `images` images: y = output transform of (v x u) + bias. */
static void wg_forward_block(ddpc_conv_winograd *wg, const float *bias, const float *x, float *y, int images) {
  int C = wg->in.c, F = wg->out.c;
  size_t tiles = (size_t)images * wg->tiles_h * wg->tiles_w, t = 0;
  wg_input_transform(wg, x, images);
  for (int e = 0; e < 16; e++)
    ddpc_layer_dense_forward(wg->v + (size_t)e * tiles * C, wg->u + (size_t)e * F * C, NULL,
                             wg->m + (size_t)e * tiles * F, (int)tiles, F, C);
  float *m[16], *o[4];
  for (int b = 0; b < images; b++) {
    float *yb = y + (size_t)b * ddpc_shape_size(wg->out);
    for (int ty = 0; ty < wg->tiles_h; ty++)
      for (int tx = 0; tx < wg->tiles_w; tx++, t++) {
        wg_matrix_rows(wg->m, tiles, F, t, m);
        wg_tile_rows(yb, wg->out.h, wg->out.w, F, 2 * ty, 2 * tx, 2, wg->discard, o);
        wg_output_tile((const float *const *)m, bias ? bias : wg->zeros, o, F);
      }
  }
}

void ddpc_conv_winograd_forward(ddpc_conv_winograd *wg, const float *w, const float *bias, const float *x,
                                float *y, int batch) {
  wg_weight_transform(wg, w);
  size_t in_size = ddpc_shape_size(wg->in), out_size = ddpc_shape_size(wg->out);
  for (int b0 = 0; b0 < batch; b0 += wg->block_images) {
    int images = batch - b0 < wg->block_images ? batch - b0 : wg->block_images;
    wg_forward_block(wg, bias, x + (size_t)b0 * in_size, y + (size_t)b0 * out_size, images);
  }
}

/* One block of backward: du += its share of the weight gradient (du = it when first),
 * and when dx is not NULL, dx = the block's input gradient. */
static void wg_backward_block(ddpc_conv_winograd *wg, const float *x, const float *dy, float *dx, float *db,
                              int images, bool first) {
  int C = wg->in.c, F = wg->out.c;
  size_t tiles = (size_t)images * wg->tiles_h * wg->tiles_w, t = 0;
  wg_input_transform(wg, x, images);
  float *m[16], *p[16];
  for (int b = 0; b < images; b++) {
    // Only read through p here.
    float *dyb = (float *)dy + (size_t)b * ddpc_shape_size(wg->out);
    for (int ty = 0; ty < wg->tiles_h; ty++)
      for (int tx = 0; tx < wg->tiles_w; tx++, t++) {
        wg_tile_rows(dyb, wg->out.h, wg->out.w, F, 2 * ty, 2 * tx, 2, wg->zeros, p);
        wg_matrix_rows(wg->m, tiles, F, t, m);
        wg_output_tile_adjoint((const float *const *)p, m, db, F);
      }
  }
  // dU[e] (+)= dM[e]^T V[e], then dV[e] = dM[e] U[e] over V[e] itself (no longer needed).
  for (int e = 0; e < 16; e++) {
    float *v = wg->v + (size_t)e * tiles * C, *dm = wg->m + (size_t)e * tiles * F;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, C, (int)tiles, 1.0f, dm, F, v, C, first ? 0.0f : 1.0f,
                wg->du + (size_t)e * F * C, C);
    if (dx)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)tiles, C, F, 1.0f, dm, F,
                  wg->u + (size_t)e * F * C, C, 0.0f, v, C);
  }
  if (!dx) return;
  memset(dx, 0, (size_t)images * ddpc_shape_size(wg->in) * sizeof(float));
  t = 0;
  for (int b = 0; b < images; b++) {
    float *dxb = dx + (size_t)b * ddpc_shape_size(wg->in);
    for (int ty = 0; ty < wg->tiles_h; ty++)
      for (int tx = 0; tx < wg->tiles_w; tx++, t++) {
        wg_matrix_rows(wg->v, tiles, C, t, m);
        wg_tile_rows(dxb, wg->in.h, wg->in.w, C, 2 * ty - wg->padding, 2 * tx - wg->padding, 4, wg->discard, p);
        wg_input_tile_adjoint((const float *const *)m, p, C);
      }
  }
}

void ddpc_conv_winograd_backward(ddpc_conv_winograd *wg, const float *w, const float *x, const float *dy, float *dw,
                                 float *db, float *dx, int batch) {
  wg_weight_transform(wg, w);
  // Without a bias its gradient is summed into the discard row.
  float *dbias = db ? db : wg->discard;
  memset(dbias, 0, (size_t)wg->out.c * sizeof(float));
  size_t in_size = ddpc_shape_size(wg->in), out_size = ddpc_shape_size(wg->out);
  for (int b0 = 0; b0 < batch; b0 += wg->block_images) {
    int images = batch - b0 < wg->block_images ? batch - b0 : wg->block_images;
    wg_backward_block(wg, x + (size_t)b0 * in_size, dy + (size_t)b0 * out_size, dx ? dx + (size_t)b0 * in_size : NULL,
                      dbias, images, b0 == 0);
  }
  wg_weight_gradient(wg, dw);
}
