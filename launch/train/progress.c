/* Progress display for `ddpc train` (see progress.h). */
#include "launch/train/progress.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm.h"
#include "core/sysinfo.h"

void ddpc_progress_init(ddpc_progress *p, FILE *out, bool quiet, int epochs, int64_t steps_per_epoch) {
  p->out = out;
  // Open MPI hands every rank a pseudo-terminal even when mpirun's own output is a file,
  // so under a launcher the plain per-epoch lines are the default; DDPC_PROGRESS decides.
  const char *mode = getenv("DDPC_PROGRESS");
  if (mode && strcmp(mode, "live") == 0) p->live = !quiet;
  else if (mode && strcmp(mode, "plain") == 0) p->live = false;
  else p->live = !quiet && isatty(fileno(out)) && !ddpc_comm_launched();
  p->quiet = quiet;
  p->epochs = epochs;
  p->steps_per_epoch = steps_per_epoch;
  p->epoch_start = p->last_draw = ddpc_time_seconds();
}

void ddpc_progress_epoch_begin(ddpc_progress *p) { p->epoch_start = p->last_draw = ddpc_time_seconds(); }

/* "epoch 3/10"; an epoch past the last one is the interrupted epoch of a mid-epoch
 * checkpoint that a resume with a lower stop.max_epochs finishes ("epoch 150/0" read as
 * nonsense). */
static void progress_epoch(const ddpc_progress *p, int64_t epoch) {
  if (epoch <= p->epochs) fprintf(p->out, "epoch %" PRId64 "/%d", epoch, p->epochs);
  else fprintf(p->out, "epoch %" PRId64 " (the interrupted one, past stop.max_epochs %d)", epoch, p->epochs);
}

void ddpc_progress_step(ddpc_progress *p, int epoch, int64_t step_in_epoch, int64_t samples_done,
                        double running_loss) {
  if (!p->live) return;
  double now = ddpc_time_seconds();
  if (now - p->last_draw < 0.2 && step_in_epoch < p->steps_per_epoch) return;
  p->last_draw = now;
  double elapsed = now - p->epoch_start;
  double frac = p->steps_per_epoch ? (double)step_in_epoch / (double)p->steps_per_epoch : 1.0;
  double rate = elapsed > 0 ? (double)samples_done / elapsed : 0.0;
  // ETA for the whole run, assuming later epochs take as long as this one.
  double epoch_time = frac > 0 ? elapsed / frac : 0.0;
  double eta = epoch_time * (1.0 - frac) + epoch_time * (epoch < p->epochs ? p->epochs - epoch : 0);
  fputs("\r\033[K", p->out);
  progress_epoch(p, epoch);
  fprintf(p->out, " %3.0f%% | %.0f samples/s | loss %.4f | ETA %dm%02ds", 100.0 * frac, rate, running_loss,
          (int)(eta / 60), (int)fmod(eta, 60.0));
  fflush(p->out);
}

/* Metrics that do not apply (NaN: no validation split, regression accuracy) are left out. */
static void progress_value(FILE *out, const char *name, double v) {
  if (!isnan(v)) fprintf(out, " %s %.4f", name, v);
}

void ddpc_progress_epoch_end(ddpc_progress *p, const ddpc_epoch_metrics *m) {
  if (p->quiet) return;
  if (p->live) fputs("\r\033[K", p->out);
  progress_epoch(p, m->epoch);
  progress_value(p->out, "train_loss", m->train_loss);
  progress_value(p->out, "train_acc", m->train_accuracy);
  progress_value(p->out, "val_loss", m->val_loss);
  progress_value(p->out, "val_acc", m->val_accuracy);
  progress_value(p->out, "val_mae", m->val_mae);
  progress_value(p->out, "val_rmse", m->val_rmse);
  progress_value(p->out, "val_r2", m->val_r2);
  progress_value(p->out, "val_macro_f1", m->val_macro_f1);
  if (m->top_k > 0) {
    char key[32];
    snprintf(key, sizeof key, "val_top%d_acc", (int)m->top_k);
    progress_value(p->out, key, m->val_top_k_accuracy);
  }
  progress_value(p->out, "val_roc_auc", m->val_roc_auc);
  fprintf(p->out, " lr %.4g | %.0f samples/s | %.2f s\n", m->lr, m->samples_per_s, m->seconds);
  fflush(p->out);
}

void ddpc_progress_note(ddpc_progress *p, const char *fmt, ...) {
  if (p->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(p->out, fmt, ap);
  va_end(ap);
  fputc('\n', p->out);
  fflush(p->out);
}
