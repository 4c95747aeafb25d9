/* Learning-rate schedules as a pure function of the step (see optim.h for the formulas):
 * a resumed run gets the same lr from the step counter alone, with no schedule state in
 * the checkpoint. */
#include <math.h>
#include <string.h>

#include "core/names.h"
#include "optim/optim.h"

const char *ddpc_schedule_name(ddpc_schedule_kind kind) {
  return ddpc_names_get(ddpc_schedule_names, DDPC_SCHEDULE_COUNT, (int)kind);
}

int ddpc_schedule_parse(const char *name) { return ddpc_names_find(ddpc_schedule_names, DDPC_SCHEDULE_COUNT, name); }

static int64_t at_least_one(int64_t x) { return x < 1 ? 1 : x; }

float ddpc_schedule_lr(const ddpc_schedule_config *cfg, float base_lr, int64_t step,
                       int64_t steps_per_epoch, int64_t total_steps) {
  const double base = base_lr;
  const int64_t warmup = cfg->warmup_steps > 0 ? cfg->warmup_steps : 0;
  if (step < 0) step = 0;
  if (step < warmup) return (float)(base * (double)(step + 1) / (double)warmup);
  switch (cfg->kind) {
    case DDPC_SCHEDULE_STEP: {
      int64_t epoch = step / at_least_one(steps_per_epoch);
      int64_t decays = epoch / at_least_one(cfg->step_size);
      return (float)(base * pow((double)cfg->gamma, (double)decays));
    }
    case DDPC_SCHEDULE_COSINE: {
      const int64_t span = at_least_one(total_steps - warmup);
      int64_t t = step - warmup;
      if (t > span) t = span;
      const double min_lr = cfg->min_lr;
      const double pi = 3.14159265358979323846;
      return (float)(min_lr + (base - min_lr) * 0.5 * (1.0 + cos(pi * (double)t / (double)span)));
    }
    case DDPC_SCHEDULE_CONSTANT:
    default:
      return base_lr;
  }
}
