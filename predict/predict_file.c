/* Predicting a whole file (see predict_file.h). Every rank reads the whole input (rank 0
 * needs every row's passed-through text anyway, and a file that fails to parse then fails
 * the same way everywhere), predicts its share and the results are gathered to rank 0,
 * which alone writes. Ranks share whole batches, contiguous ones: a row is then predicted
 * in the same batch, at the same position, whatever the number of ranks, so the output is
 * the same file byte for byte at 1 rank or 8. */
#include "predict/predict_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/data_internal.h"  // ddpc_idx_check_labels: the training loader's label check
#include "core/data_tabular.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/loss.h"
#include "core/sysinfo.h"

/* The input rows as stored: IDX pixels or CSV values, with labels when there are some. */
struct ddpc_predict_input {
  uint32_t rows;               // samples
  const uint8_t *pixels;       // IDX: rows x features bytes; NULL for CSV
  const float *values;         // CSV: rows x features; NULL for IDX
  const int32_t *labels;       // classification labels, or NULL
  const float *targets;        // regression targets, or NULL
  const char *extra_header;    // passed-through columns' header ("" when none)
  const char *extra;           // their cells, rows back to back
  const size_t *extra_end;     // rows: where each row's cells end in extra; NULL when none
  ddpc_table images;           // IDX: owns pixels
  int32_t *idx_labels;         // IDX: owns labels
  ddpc_csv_columns csv;        // CSV: owns values, labels or targets and the text
  float *encoded;              // CSV of a model with a column encoding: the model's inputs (owned)
  uint64_t unseen;             // rows' cells holding a category the model was not trained on
  double read_seconds;         // time it took to read
};

void ddpc_predict_input_free(ddpc_predict_input *in) {
  if (!in) return;
  ddpc_table_free(&in->images);
  free(in->idx_labels);
  ddpc_csv_columns_free(&in->csv);
  free(in->encoded);
  free(in);
}

static int predict_read_idx(const ddpc_predictor *p, const ddpc_predict_options *o, ddpc_predict_input *in) {
  const ddpc_model_input *mi = &p->input;
  ddpc_shape shape;
  if (ddpc_idx_read_images(o->data_path, &in->images, &shape) != 0) return -1;
  if (shape.h != mi->raw_shape.h || shape.w != mi->raw_shape.w || in->images.features != mi->features)
    return ddpc_error_set("%s: images of %dx%d pixels, but the model was trained on %dx%d images (%s)", o->data_path,
                          shape.h, shape.w, mi->raw_shape.h, mi->raw_shape.w, p->checkpoint_path);
  in->rows = in->images.rows;
  in->pixels = in->images.x;
  if (!o->labels_path) return 0;
  uint32_t count = 0;
  if (ddpc_idx_read_labels(o->labels_path, &in->idx_labels, &count) != 0) return -1;
  if (count != in->rows)
    return ddpc_error_set("%s: %u labels for the %u images of %s", o->labels_path, count, in->rows, o->data_path);
  if (ddpc_idx_check_labels(o->labels_path, in->idx_labels, count, mi->num_classes) != 0) return -1;
  in->labels = in->idx_labels;
  return 0;
}

/* A CSV model given binary data (IDX, gzip) would be told its header lacks the feature
 * columns, with the bytes as names: say what the file is instead. */
static int predict_check_text(const ddpc_predictor *p, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;  // the reader reports it
  unsigned char head[4096];
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  bool gz = n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
  if (gz || memchr(head, '\0', n))
    return ddpc_error_set("%s: %s, but the model (%s) reads CSV with a header naming its feature columns ('%s', ...)",
                          path, gz ? "gzip-compressed data" : "binary data (a NUL byte in its first 4 KiB)",
                          p->checkpoint_path, p->input.features ? p->input.feature_names[0] : "?");
  return 0;
}

/* A model with a column encoding: its columns read by name as the training file had them
 * (missing cells and categories as texts), then encoded with the checkpoint's constants;
 * text labels are mapped to their classes. */
static int predict_read_encoded(const ddpc_predictor *p, const ddpc_predict_options *o, ddpc_predict_input *in) {
  const ddpc_model_input *mi = &p->input;
  const ddpc_tabular *t = mi->tabular;
  uint32_t n = t->n_columns, n_cat = 0;
  char **names = ddpc_calloc(n, sizeof *names, "column names");
  char **categorical = ddpc_calloc(n, sizeof *categorical, "column names");
  ddpc_missing_rule *rules = ddpc_calloc(n, sizeof *rules, "column policies");
  int rc = names && categorical && rules ? 0 : -1;
  for (uint32_t c = 0; rc == 0 && c < n; c++) {
    names[c] = t->columns[c].name;
    rules[c] = (ddpc_missing_rule){t->columns[c].name, t->columns[c].missing, NULL};
    if (t->columns[c].categorical) categorical[n_cat++] = t->columns[c].name;
  }
  ddpc_csv_spec spec = {.rules = rules,
                        .n_rules = (int)n,
                        .categorical = categorical,
                        .n_categorical = (int)n_cat,
                        .text_labels = t->n_labels > 0,
                        .labels_stay_text = true,
                        .predicting = true};
  ddpc_csv_found found;
  int num_classes = mi->task == DDPC_TASK_CLASSIFICATION && !t->n_labels ? mi->num_classes : 0;
  if (rc == 0)
    rc = ddpc_csv_read_columns_tabular(o->data_path, names, n, mi->label_column, mi->task, num_classes, &spec, &in->csv,
                                       &found);
  free(names);
  free(categorical);
  free(rules);
  if (rc != 0) return -1;
  uint64_t *unseen = ddpc_calloc(n, sizeof *unseen, "unseen category counts");
  rc = unseen ? ddpc_tabular_encode(t, in->csv.x, in->csv.rows, &found, &in->encoded, unseen) : -1;
  for (uint32_t c = 0; rc == 0 && c < n; c++) in->unseen += unseen[c];
  free(unseen);
  if (rc == 0 && in->csv.labels && t->n_labels)
    rc = ddpc_tabular_map_labels(t, &found, in->csv.labels, in->csv.rows, o->data_path, mi->label_column);
  ddpc_csv_found_free(&found);
  return rc;
}

static int predict_read_input(const ddpc_predictor *p, const ddpc_predict_options *o, ddpc_predict_input *in) {
  const ddpc_model_input *mi = &p->input;
  in->extra_header = in->extra = "";
  if (mi->format == DDPC_DATA_FORMAT_IDX) return predict_read_idx(p, o, in);
  if (o->labels_path)
    return ddpc_error_set("%s: a labels file is for IDX images; this model reads CSV, whose label column ('%s') "
                          "is read from the CSV itself when present", o->labels_path,
                          mi->label_column ? mi->label_column : "?");
  if (!mi->feature_names)
    return ddpc_error_set("%s: the model's input section has no CSV feature names", p->checkpoint_path);
  if (predict_check_text(p, o->data_path) != 0) return -1;
  ddpc_csv_columns *c = &in->csv;
  int num_classes = mi->task == DDPC_TASK_CLASSIFICATION ? mi->num_classes : 0;
  if (mi->tabular) {
    if (predict_read_encoded(p, o, in) != 0) return -1;
  } else if (ddpc_csv_read_columns(o->data_path, mi->feature_names, mi->features, mi->label_column, mi->task,
                                   num_classes, c) != 0) {
    return -1;
  }
  in->rows = c->rows;
  in->values = mi->tabular ? in->encoded : c->x;
  in->labels = c->labels;
  in->targets = c->targets;
  in->extra_header = c->extra_header;
  in->extra = c->extra;
  in->extra_end = c->extra_end;
  return 0;
}

/* A text as one CSV cell: quoted, with its quotes doubled, when it holds a comma, a quote,
 * a line end or spaces at its ends; else as it is. Caller frees. */
static char *predict_csv_cell(const char *prefix, const char *text) {
  size_t n = strlen(text);
  bool quote = strpbrk(text, ",\"\r\n") || (n && (text[0] == ' ' || text[n - 1] == ' ' || text[0] == '\t' ||
                                                     text[n - 1] == '\t'));
  char *s = ddpc_malloc(strlen(prefix) + 2 * n + 3, "CSV cell");
  if (!s) return NULL;
  char *at = s;
  if (quote) *at++ = '"';
  at = stpcpy(at, prefix);
  for (const char *c = text; *c; c++) {
    if (*c == '"') *at++ = '"';
    *at++ = *c;
  }
  if (quote) *at++ = '"';
  *at = '\0';
  return s;
}

/* The class names as output cells ("setosa"; the index for a model of integer labels). */
static char **predict_class_cells(const ddpc_predictor *p, const char *prefix) {
  int K = p->out_width;
  char **cells = ddpc_calloc((size_t)K, sizeof *cells, "class names");
  for (int k = 0; cells && k < K; k++) {
    char *name = ddpc_model_input_class_name(&p->input, k);
    cells[k] = name ? predict_csv_cell(prefix, name) : NULL;
    free(name);
    if (!cells[k]) {
      for (int i = 0; i < k; i++) free(cells[i]);
      free(cells);
      return NULL;
    }
  }
  return cells;
}

static void predict_free_cells(char **cells, int n) {
  for (int k = 0; cells && k < n; k++) free(cells[k]);
  free(cells);
}

char *ddpc_predict_output_header(const ddpc_predictor *p) {
  int K = p->out_width;
  bool cls = p->input.task == DDPC_TASK_CLASSIFICATION;
  const char *target = p->input.label_column ? p->input.label_column : "value";
  char **names = cls ? predict_class_cells(p, "p_") : NULL;
  if (cls && !names) return NULL;
  size_t cap = strlen(target) * (size_t)K + 24 * (size_t)K + 16;
  for (int k = 0; names && k < K; k++) cap += strlen(names[k]);
  char *s = ddpc_malloc(cap, "output header");
  if (!s) {
    predict_free_cells(names, K);
    return NULL;
  }
  size_t at = (size_t)snprintf(s, cap, "%s", cls ? "predicted" : "");
  for (int k = 0; k < K; k++) {
    if (cls) at += (size_t)snprintf(s + at, cap - at, ",%s", names[k]);
    else if (K == 1) at += (size_t)snprintf(s + at, cap - at, "%s", target);
    else at += (size_t)snprintf(s + at, cap - at, "%s%s_%d", k ? "," : "", target, k);
  }
  predict_free_cells(names, K);
  return s;
}

/* Rows are predicted in whole batches of the predictor's max_batch; rank r of `size` takes
 * the contiguous batches [r nb / size, (r + 1) nb / size) of the nb there are. */
typedef struct {
  uint32_t first;     // this rank's first row
  uint32_t count;     // its rows
  uint32_t most;      // the most rows any rank has (the gather's slot per rank)
} predict_share;

static predict_share predict_share_rows(uint32_t rows, int batch, int rank, int size) {
  uint64_t nb = ((uint64_t)rows + (uint64_t)batch - 1) / (uint64_t)batch;
  uint64_t b0 = nb * (uint64_t)rank / (uint64_t)size, b1 = nb * (uint64_t)(rank + 1) / (uint64_t)size;
  uint64_t r0 = b0 * (uint64_t)batch, r1 = b1 * (uint64_t)batch;
  predict_share s;
  s.first = (uint32_t)(r0 < rows ? r0 : rows);
  s.count = (uint32_t)(r1 < rows ? r1 : rows) - s.first;
  uint64_t most = (nb + (uint64_t)size - 1) / (uint64_t)size * (uint64_t)batch;
  s.most = (uint32_t)(most < rows ? most : rows);
  return s;
}

/* Predicts this rank's rows into rec (count x width floats: for classification the
 * predicted class then the K probabilities, for regression the K values) and adds the
 * loss and correct counts to sums[0..1]. */
static void predict_rows(ddpc_predictor *p, const ddpc_predict_input *in, predict_share sh, int width, float *rec,
                         double sums[2]) {
  uint32_t F = p->input.features;
  int K = p->out_width, B = p->max_batch;
  bool cls = p->input.task == DDPC_TASK_CLASSIFICATION;
  for (uint32_t at = 0; at < sh.count; at += (uint32_t)B) {
    int n = sh.count - at < (uint32_t)B ? (int)(sh.count - at) : B;
    size_t row = (size_t)sh.first + at;
    const float *y = in->pixels ? ddpc_predictor_forward_u8(p, in->pixels + row * F, n)
                                : ddpc_predictor_forward(p, in->values + row * F, n);
    if (in->labels || in->targets) {
      ddpc_loss_result r = ddpc_loss_compute(p->cfg.loss, y, in->labels ? in->labels + row : NULL,
                                             in->targets ? in->targets + row * (size_t)K : NULL, n, K, NULL, 1.0);
      sums[0] += r.loss_sum;
      sums[1] += (double)r.correct;
    }
    for (int i = 0; i < n; i++) {
      const float *z = y + (size_t)i * K;
      float *dst = rec + ((size_t)at + (size_t)i) * (size_t)width;
      if (!cls) {
        memcpy(dst, z, (size_t)K * sizeof *z);
        continue;
      }
      int best = 0;  // the first largest logit, as the loss counts a correct prediction
      for (int k = 1; k < K; k++) best = z[k] > z[best] ? k : best;
      dst[0] = (float)best;
      ddpc_predictor_softmax(z, 1, K, dst + 1);
    }
  }
}

/* What the CSV writer needs: the rows in input order, on rank 0. */
typedef struct {
  const ddpc_predictor *p;   // output layout
  const ddpc_predict_input *in;   // passed-through text
  const float *rec;          // gathered records, rank slots of most rows each
  int width;                 // floats per record
  int size;                  // ranks
} predict_writer;

/* Nine significant digits, as printf's %.9g, at a quarter of its cost (printf goes through
 * multi-precision arithmetic and was most of the time spent writing a prediction file).
 * The float is scaled by a power of ten in double; the scaling errs by a few parts in 1e16,
 * which moves the rounded ninth digit only when the scaled value lies within that of a
 * half, so such a value (rarer than one in a million) is left to snprintf itself. */
size_t ddpc_predict_format_float(char *dst, float v) {
  static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  if (!isfinite(v) || v == 0) return (size_t)snprintf(dst, DDPC_PREDICT_FLOAT_CHARS, "%.9g", (double)v);
  char *s = dst;
  double d = fabs((double)v);
  if (v < 0) *s++ = '-';
  int e = (int)floor(log10(d));  // the decimal exponent, or one off near a power of ten: corrected below
  uint64_t m;
  for (;;) {
    double x = d;
    int p = 8 - e;  // x = d * 10^p in [1e8, 1e9): nine digits before the point
    for (; p > 22; p -= 22) x *= 1e22;
    for (; p < -22; p += 22) x /= 1e22;
    x = p >= 0 ? x * p10[p] : x / p10[-p];
    double frac = x - floor(x);
    if (fabs(frac - 0.5) < 1e-6) return (size_t)snprintf(dst, DDPC_PREDICT_FLOAT_CHARS, "%.9g", (double)v);
    if (x < 99999999.5) {
      e--;
      continue;
    }
    m = (uint64_t)nearbyint(x);
    if (m >= 1000000000u) {
      e++;
      continue;
    }
    break;
  }
  char dig[9];
  for (int i = 8; i >= 0; i--, m /= 10) dig[i] = (char)('0' + m % 10);
  int n = 9;  // significant digits, without trailing zeros
  while (n > 1 && dig[n - 1] == '0') n--;
  if (e < -4 || e >= 9) {  // %g's exponent form: d.ddde-05
    *s++ = dig[0];
    if (n > 1) *s++ = '.';
    memcpy(s, dig + 1, (size_t)n - 1);
    s += n - 1;
    *s++ = 'e';
    *s++ = e < 0 ? '-' : '+';
    int a = e < 0 ? -e : e;
    if (a >= 100) *s++ = (char)('0' + a / 100);
    *s++ = (char)('0' + a / 10 % 10);
    *s++ = (char)('0' + a % 10);
  } else if (e >= 0) {  // ddd.ddd
    for (int i = 0; i <= e; i++) *s++ = i < n ? dig[i] : '0';
    if (n > e + 1) {
      *s++ = '.';
      memcpy(s, dig + e + 1, (size_t)(n - e - 1));
      s += n - e - 1;
    }
  } else {  // 0.000ddd
    *s++ = '0';
    *s++ = '.';
    for (int i = 0; i < -e - 1; i++) *s++ = '0';
    memcpy(s, dig, (size_t)n);
    s += n;
  }
  *s = '\0';
  return (size_t)(s - dst);
}

/* A class index in decimal (no printf: see ddpc_predict_format_float). */
static size_t predict_put_class(char *dst, unsigned v) {
  char tmp[16];
  size_t n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  for (size_t i = 0; i < n; i++) dst[i] = tmp[n - 1 - i];
  return n;
}

static int predict_write_csv(FILE *out, void *user) {
  const predict_writer *w = user;
  const ddpc_predict_input *in = w->in;
  bool cls = w->p->input.task == DDPC_TASK_CLASSIFICATION;
  int K = w->p->out_width, B = w->p->max_batch;
  char *header = ddpc_predict_output_header(w->p);
  if (!header) return -1;
  fprintf(out, "%s%s%s\n", in->extra_header, *in->extra_header ? "," : "", header);
  free(header);
  // A model of text labels writes its predicted class as the text.
  bool text = cls && w->p->input.tabular && w->p->input.tabular->n_labels;
  char **classes = text ? predict_class_cells(w->p, "") : NULL;
  size_t longest = 0;
  for (int k = 0; classes && k < K; k++) longest = strlen(classes[k]) > longest ? strlen(classes[k]) : longest;
  size_t cap = 1 << 16;
  char *buf = text && !classes ? NULL : ddpc_malloc(cap, "CSV output buffer");
  if (!buf) {
    predict_free_cells(classes, K);
    return -1;
  }
  size_t used = 0;
  int rc = 0;
  for (int r = 0; r < w->size && rc == 0; r++) {
    predict_share sh = predict_share_rows(in->rows, B, r, w->size);
    const float *rec = w->rec + (size_t)r * sh.most * (size_t)w->width;  // every rank's slot holds `most`
    for (uint32_t i = 0; i < sh.count; i++, rec += w->width) {
      size_t row = (size_t)sh.first + i;
      size_t t0 = in->extra_end && row ? in->extra_end[row - 1] : 0, t1 = in->extra_end ? in->extra_end[row] : 0;
      size_t need = (t1 - t0) + 2 + longest + (DDPC_PREDICT_FLOAT_CHARS + 1) * (size_t)(K + 1);
      if (cap - used < need) {
        if (fwrite(buf, 1, used, out) != used) {
          rc = ddpc_error_set("cannot write the predictions: %s", strerror(errno));
          break;
        }
        used = 0;
        if (need > cap) {
          char *grown = realloc(buf, need);
          if (!grown) {
            rc = ddpc_error_set("out of memory (CSV output row)");
            break;
          }
          buf = grown;
          cap = need;
        }
      }
      if (in->extra_end) {
        memcpy(buf + used, in->extra + t0, t1 - t0);
        used += t1 - t0;
        buf[used++] = ',';
      }
      if (classes) {
        size_t n = strlen(classes[(int)rec[0]]);
        memcpy(buf + used, classes[(int)rec[0]], n);
        used += n;
      } else if (cls) {
        used += predict_put_class(buf + used, (unsigned)rec[0]);
      }
      for (int k = 0; k < K; k++) {
        if (cls || k) buf[used++] = ',';
        used += ddpc_predict_format_float(buf + used, rec[k + (cls ? 1 : 0)]);
      }
      buf[used++] = '\n';
    }
  }
  if (rc == 0 && fwrite(buf, 1, used, out) != used)
    rc = ddpc_error_set("cannot write the predictions: %s", strerror(errno));
  free(buf);
  predict_free_cells(classes, K);
  return rc;
}

static int predict_write(const ddpc_predict_options *o, predict_writer *w) {
  if (strcmp(o->out_path, "-") != 0)
    return ddpc_fs_write_atomic(o->out_path, predict_write_csv, w) == 0 ? 0
                                                                       : ddpc_error_prefix("writing %s: ", o->out_path);
  if (predict_write_csv(stdout, w) != 0) return -1;
  if (fflush(stdout) != 0 || ferror(stdout))
    return ddpc_error_set("cannot write the predictions to stdout: %s", strerror(errno));
  return 0;
}

int ddpc_predict_read_input(const ddpc_predictor *p, const ddpc_predict_options *o, ddpc_predict_input **out) {
  double t0 = ddpc_time_seconds();
  *out = NULL;
  ddpc_predict_input *in = ddpc_calloc(1, sizeof *in, "prediction input");
  if (!in) return -1;
  if (predict_read_input(p, o, in) != 0) {
    ddpc_predict_input_free(in);
    return -1;
  }
  in->read_seconds = ddpc_time_seconds() - t0;
  *out = in;
  return 0;
}

int ddpc_predict_run(ddpc_predictor *p, ddpc_comm *comm, const ddpc_predict_input *in,
                     const ddpc_predict_options *o, ddpc_predict_result *res) {
  memset(res, 0, sizeof *res);
  res->loss = res->accuracy = NAN;
  res->read_seconds = in->read_seconds;
  double t1 = ddpc_time_seconds(), c1 = ddpc_thread_cpu_seconds();
  bool cls = p->input.task == DDPC_TASK_CLASSIFICATION;
  int width = p->out_width + (cls ? 1 : 0);
  predict_share sh = predict_share_rows(in->rows, p->max_batch, comm->rank, comm->size);
  size_t slot = (size_t)sh.most * (size_t)width;  // floats per rank in the gather
  float *mine = ddpc_calloc(slot ? slot : 1, sizeof *mine, "predictions");
  // One rank has gathered everything already: its own rows are all the rows.
  float *all = comm->size == 1 ? mine : ddpc_calloc(slot * (size_t)comm->size + 1, sizeof *all, "gathered rows");
  double sums[3] = {0, 0, 0};  // loss, correct, rows: summed over ranks
  int rc = mine && all ? 0 : -1;
  if (rc == 0) predict_rows(p, in, sh, width, mine, sums);
  sums[2] = sh.count;
  if (rc == 0 && all != mine) rc = comm->ops->allgather(comm, mine, all, slot * sizeof *mine);
  if (rc == 0) rc = comm->ops->allreduce_double(comm, sums, 3);
  res->gathered = rc == 0;
  double t2 = ddpc_time_seconds();
  res->predict_cpu_seconds = ddpc_thread_cpu_seconds() - c1;
  res->samples = in->rows;
  res->unseen = in->unseen;
  res->labelled = in->labels || in->targets;
  if (rc == 0 && res->labelled && in->rows > 0) {
    res->loss = sums[0] / sums[2];
    if (cls) {
      res->correct = (int64_t)sums[1];
      res->accuracy = sums[1] / sums[2];
    }
  }
  if (rc == 0 && comm->rank == 0) {
    predict_writer w = {p, in, all, width, comm->size};
    rc = predict_write(o, &w);
  }
  res->predict_seconds = t2 - t1;
  res->write_seconds = ddpc_time_seconds() - t2;
  if (all != mine) free(all);
  free(mine);
  return rc;
}
