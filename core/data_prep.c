/* Preprocessing. Every value step is an affine map, so the whole chain folds into one
 * per-feature pair (scale, shift): prepared = stored * scale + shift, applied when a batch
 * is gathered. The stored samples are never rewritten (uint8 images stay uint8), which is
 * what keeps the cache small and the gathered batch identical with or without it.
 * Standardize statistics use the training rows only (validation and test must not leak
 * into the preparation) and are computed in double from per-feature moments of the stored
 * values: an affine map moves a column's mean and scales its spread exactly. */
#include <math.h>
#include <stdlib.h>

#include "core/data_internal.h"
#include "core/error.h"

/* Per-feature mean and (population) variance of the stored values over the split rows,
 * two passes so a large common offset does not cancel the variance away. */
static int prep_moments(const ddpc_table *t, const ddpc_split *rows, double *mean, double *var) {
  uint32_t F = t->features;
  for (uint32_t f = 0; f < F; f++) mean[f] = var[f] = 0;
  for (int pass = 0; pass < 2; pass++) {
    double *acc = pass == 0 ? mean : var;
    for (uint32_t i = 0; i < rows->count; i++) {
      size_t at = (size_t)rows->rows[i] * F;
      if (t->dtype == DDPC_DTYPE_U8) {
        const uint8_t *x = (const uint8_t *)t->x + at;
        if (pass == 0)
          for (uint32_t f = 0; f < F; f++) acc[f] += x[f];
        else
          for (uint32_t f = 0; f < F; f++) acc[f] += (x[f] - mean[f]) * (x[f] - mean[f]);
      } else {
        const float *x = (const float *)t->x + at;
        if (pass == 0)
          for (uint32_t f = 0; f < F; f++) acc[f] += x[f];
        else
          for (uint32_t f = 0; f < F; f++) acc[f] += (x[f] - mean[f]) * (x[f] - mean[f]);
      }
    }
    for (uint32_t f = 0; f < F; f++) acc[f] /= rows->count;
  }
  return 0;
}

/* Folds (v - mean) / std into the affine map of the features [f0, f1). */
static void prep_fold(double *scale, double *shift, uint32_t f0, uint32_t f1, double mean, double std) {
  if (!(std > 0)) std = 1;  // a constant feature stays centred instead of dividing by zero
  for (uint32_t f = f0; f < f1; f++) {
    scale[f] /= std;
    shift[f] = (shift[f] - mean) / std;
  }
}

static void prep_standardize(ddpc_standardize_mode mode, uint32_t F, const double *mean_s, const double *var_s,
                             double *scale, double *shift) {
  if (mode == DDPC_STANDARDIZE_PER_FEATURE) {
    for (uint32_t f = 0; f < F; f++)
      prep_fold(scale, shift, f, f + 1, scale[f] * mean_s[f] + shift[f], fabs(scale[f]) * sqrt(var_s[f]));
    return;
  }
  // Global: every feature has the same number of rows, so the pooled mean is the mean of
  // the column means and the pooled variance adds the spread of those means.
  double mean = 0, var = 0;
  for (uint32_t f = 0; f < F; f++) mean += scale[f] * mean_s[f] + shift[f];
  mean /= F;
  for (uint32_t f = 0; f < F; f++) {
    double d = scale[f] * mean_s[f] + shift[f] - mean;
    var += scale[f] * scale[f] * var_s[f] + d * d;
  }
  prep_fold(scale, shift, 0, F, mean, sqrt(var / F));
}

int ddpc_prep_run(const ddpc_data_config *dc, const ddpc_table *fit, const ddpc_split *train,
                  ddpc_shape *shape, float *scale_out, float *shift_out) {
  uint32_t F = fit->features;
  double *work = ddpc_malloc(4 * (size_t)F * sizeof *work, "preprocessing");
  if (!work) return -1;
  double *scale = work, *shift = work + F, *mean_s = work + 2 * F, *var_s = work + 3 * F;
  bool have_moments = false;
  for (uint32_t f = 0; f < F; f++) scale[f] = 1, shift[f] = 0;
  int rc = 0;
  for (int i = 0; i < dc->n_prep && rc == 0; i++) {
    const ddpc_prep_step *s = &dc->prep[i];
    switch (s->kind) {
      case DDPC_PREP_SCALE:
      {
        // `divide: d` divides in double: 1/d rounded to float first would lose precision
        // before a later standardize.
        double factor = s->divide != 0 ? 1.0 / (double)s->divide : (double)s->multiply;
        if (!isfinite(factor)) {
          rc = ddpc_error_set("data.prep[%d]: scale factor %g is not a finite number", i, factor);
          break;
        }
        for (uint32_t f = 0; f < F; f++) scale[f] *= factor, shift[f] *= factor;
        break;
      }
      case DDPC_PREP_STANDARDIZE:
        if (!have_moments) rc = prep_moments(fit, train, mean_s, var_s);
        have_moments = true;
        if (rc == 0) prep_standardize(s->standardize, F, mean_s, var_s, scale, shift);
        break;
      case DDPC_PREP_FLATTEN:
        *shape = ddpc_shape_vector((int)ddpc_shape_size(*shape));
        break;
      case DDPC_PREP_RESHAPE:
        if (s->shape.h <= 0 || s->shape.w <= 0 || s->shape.c <= 0 || ddpc_shape_size(s->shape) != F)
          rc = ddpc_error_set("data.prep[%d]: reshape to (%d, %d, %d) needs %lld values per sample, but a sample "
                              "has %u (shape (%d, %d, %d))",
                              i, s->shape.h, s->shape.w, s->shape.c,
                              (long long)s->shape.h * s->shape.w * s->shape.c, F, shape->h, shape->w, shape->c);
        else
          *shape = s->shape;
        break;
      default:
        rc = ddpc_error_set("data.prep[%d]: unknown step kind %d", i, (int)s->kind);
    }
  }
  for (uint32_t f = 0; f < F && rc == 0; f++) {
    scale_out[f] = (float)scale[f];
    shift_out[f] = (float)shift[f];
  }
  free(work);
  return rc;
}
