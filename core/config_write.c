/* Writes the resolved config back as YAML (cfg->resolved_yaml): every key with its final
 * value, in the documented order, so the run directory records exactly what ran and
 * loading that text again resolves to the same text (and the same ddpc_config_hash).
 * Numbers are printed with the fewest digits that read back to the same float/double. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config_tree.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/names.h"

typedef struct {
  char *buf;    // the text so far, NUL-terminated
  size_t len;   // bytes used
  size_t cap;   // bytes allocated
  bool failed;  // an allocation failed; the text is incomplete
} yaml_out;

static void out_printf(yaml_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(yaml_out *o, const char *fmt, ...) {
  if (o->failed) return;
  va_list ap;
  va_start(ap, fmt);
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n < 0) {
    o->failed = true;
  } else {
    if (o->len + (size_t)n + 1 > o->cap) {
      size_t cap = o->cap ? o->cap : 1024;
      while (o->len + (size_t)n + 1 > cap) cap *= 2;
      char *grown = realloc(o->buf, cap);
      if (!grown) {
        o->failed = true;
        va_end(ap);
        return;
      }
      o->buf = grown;
      o->cap = cap;
    }
    vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    o->len += (size_t)n;
  }
  va_end(ap);
}

/* Plain when it cannot be mistaken for anything else by a YAML reader (number, bool,
 * null, indicator characters), double-quoted with escapes otherwise. */
static void out_string(yaml_out *o, const char *s) {
  static const char *const reserved[] = {"~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"};
  bool plain = s[0] != '\0' && s[0] != '-' && s[0] != '.';
  for (const char *p = s; plain && *p; p++)
    plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
            *p == '.' || *p == '/' || *p == '-' || *p == '+';
  for (size_t i = 0; plain && i < sizeof reserved / sizeof reserved[0]; i++) plain = strcasecmp(s, reserved[i]) != 0;
  if (plain) {
    char *end = NULL;
    strtod(s, &end);
    plain = *end != '\0';  // "123" or "1e5" would read back as a number
  }
  if (plain) {
    out_printf(o, "%s", s);
    return;
  }
  out_printf(o, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      out_printf(o, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      out_printf(o, "\\x%02x", *p);
    else
      out_printf(o, "%c", *p);
  }
  out_printf(o, "\"");
}

/* The shortest %.Ng that reads back to exactly v; as_float compares after rounding to float. */
static void out_number(yaml_out *o, double v, bool as_float) {
  char text[40];
  if (v == floor(v) && fabs(v) < 1e15) {  // whole numbers as written: 100, not 1e+02
    out_printf(o, "%.0f", v);
    return;
  }
  for (int digits = 1; digits <= 17; digits++) {
    snprintf(text, sizeof text, "%.*g", digits, v);
    double back = strtod(text, NULL);
    if (as_float ? (float)back == (float)v : back == v) break;
  }
  out_printf(o, "%s", text);
}

static const char *bool_text(bool b) { return b ? "true" : "false"; }

static void write_source(yaml_out *o, const char *key, const ddpc_data_source *src, ddpc_data_format format) {
  out_printf(o, "  %s:\n", key);
  if (format == DDPC_DATA_FORMAT_CSV) {
    out_printf(o, "    path: ");
    out_string(o, src->path);
    out_printf(o, "\n");
    return;
  }
  out_printf(o, "    images: ");
  out_string(o, src->images);
  out_printf(o, "\n    labels: ");
  out_string(o, src->labels);
  out_printf(o, "\n");
}

static void write_prep_step(yaml_out *o, const ddpc_prep_step *step) {
  switch (step->kind) {
    case DDPC_PREP_SCALE:
      if (step->divide != 0) {
        out_printf(o, "{op: scale, divide: ");
        out_number(o, step->divide, true);
      } else {
        out_printf(o, "{op: scale, multiply: ");
        out_number(o, step->multiply, true);
      }
      out_printf(o, "}");
      break;
    case DDPC_PREP_STANDARDIZE:
      out_printf(o, "{op: standardize, mode: %s}", ddpc_config_standardize_names[step->standardize]);
      break;
    case DDPC_PREP_FLATTEN:
      out_printf(o, "{op: flatten}");
      break;
    case DDPC_PREP_RESHAPE:
      out_printf(o, "{op: reshape, shape: [%d, %d, %d]}", step->shape.h, step->shape.w, step->shape.c);
      break;
  }
}

static void write_data(yaml_out *o, const ddpc_data_config *dc) {
  out_printf(o, "data:\n  format: %s\n  task: %s\n", ddpc_config_format_names[dc->format],
             ddpc_config_task_names[dc->task]);
  write_source(o, "train", &dc->train, dc->format);
  if (dc->test.images || dc->test.path) write_source(o, "test", &dc->test, dc->format);
  out_printf(o, "  label_column: ");
  out_string(o, dc->label_column);
  out_printf(o, "\n  num_classes: %d\n  val_fraction: ", dc->num_classes);
  out_number(o, dc->val_fraction, false);
  out_printf(o, "\n  test_fraction: ");
  out_number(o, dc->test_fraction, false);
  out_printf(o, "\n  stratify: %s\n  preprocess:%s\n", bool_text(dc->stratify), dc->n_prep ? "" : " []");
  for (int i = 0; i < dc->n_prep; i++) {
    out_printf(o, "    - ");
    write_prep_step(o, &dc->prep[i]);
    out_printf(o, "\n");
  }
  out_printf(o, "  cache: %s\n  cache_dir: ", bool_text(dc->cache));
  out_string(o, dc->cache_dir);
  out_printf(o, "\n");
  // Written only when on: the configs (and hashes) of every run without it stay as they were.
  if (dc->target_standardize) out_printf(o, "  target_standardize: true\n");
  // Likewise: a group's own run (group_by null) resolves as a run on its rows alone would.
  if (dc->group_by && *dc->group_by) {
    out_printf(o, "  group_by: ");
    out_string(o, dc->group_by);
    out_printf(o, "\n  min_group_rows: %d\n", dc->min_group_rows);
  }
  // Likewise data.missing and data.categorical: written only when given.
  if (dc->missing_rules) {
    out_printf(o, "  missing:%s\n", dc->n_missing_rules ? "" : " {}");
    for (int i = 0; i < dc->n_missing_rules; i++) {
      out_printf(o, "    ");
      out_string(o, dc->missing_rules[i].column);
      out_printf(o, ": %s\n", ddpc_config_missing_names[dc->missing_rules[i].policy]);
    }
  } else if (dc->missing != DDPC_MISSING_ERROR) {
    out_printf(o, "  missing: %s\n", ddpc_config_missing_names[dc->missing]);
  }
  if (dc->n_categorical) {
    out_printf(o, "  categorical:\n");
    for (int i = 0; i < dc->n_categorical; i++) {
      out_printf(o, "    - ");
      out_string(o, dc->categorical[i]);
      out_printf(o, "\n");
    }
  }
}

static void write_layer(yaml_out *o, const ddpc_layer_spec *l) {
  out_printf(o, "{type: %s", ddpc_layer_kind_name(l->kind));
  switch (l->kind) {
    case DDPC_LAYER_LINEAR:
      out_printf(o, ", units: %d", l->units);
      break;
    case DDPC_LAYER_CONV2D:
      out_printf(o, ", filters: %d, kernel: %d, stride: %d, padding: %d", l->filters, l->kernel, l->stride,
                 l->padding);
      break;
    case DDPC_LAYER_MAXPOOL2D:
      out_printf(o, ", kernel: %d, stride: %d", l->kernel, l->stride);
      break;
    case DDPC_LAYER_DROPOUT:
      out_printf(o, ", p: ");
      out_number(o, l->p, true);
      break;
    case DDPC_LAYER_LAYERNORM:
      out_printf(o, ", eps: ");
      out_number(o, l->eps, true);
      break;
    default:
      break;
  }
  if (l->kind == DDPC_LAYER_LINEAR || l->kind == DDPC_LAYER_CONV2D)
    out_printf(o, ", bias: %s, init: %s", bool_text(l->bias), ddpc_config_init_names[l->init]);
  out_printf(o, "}");
}

static void write_model(yaml_out *o, const ddpc_config *cfg) {
  const char *indent = "  ";
  out_printf(o, "model:\n");
  if (cfg->model_variant) {
    out_printf(o, "  variant: ");
    out_string(o, cfg->model_variant);
    out_printf(o, "\n  variants:\n    ");
    out_string(o, cfg->model_variant);
    out_printf(o, ":\n");
    indent = "      ";
  }
  for (int i = 0; i < cfg->n_layers; i++) {
    out_printf(o, "%s- ", indent);
    write_layer(o, &cfg->layers[i]);
    out_printf(o, "\n");
  }
}

static void write_optimizer(yaml_out *o, const ddpc_optimizer_config *opt) {
  out_printf(o, "optimizer:\n  name: %s\n  lr: ", ddpc_names_get(ddpc_optimizer_names, DDPC_OPTIMIZER_COUNT, (int)opt->kind));
  out_number(o, opt->lr, true);
  out_printf(o, "\n  momentum: ");
  out_number(o, opt->momentum, true);
  out_printf(o, "\n  nesterov: %s\n  weight_decay: ", bool_text(opt->nesterov));
  out_number(o, opt->weight_decay, true);
  out_printf(o, "\n  betas: [");
  out_number(o, opt->beta1, true);
  out_printf(o, ", ");
  out_number(o, opt->beta2, true);
  out_printf(o, "]\n  eps: ");
  out_number(o, opt->eps, true);
  out_printf(o, "\n");
}

static const char *mode_text(ddpc_monitor_mode m) { return m == DDPC_MONITOR_MAX ? "max" : "min"; }

/* `  key: value` for a number under a section, on its own line. */
static void write_number_key(yaml_out *o, const char *indent, const char *key, double v) {
  out_printf(o, "%s%s: ", indent, key);
  out_number(o, v, false);
  out_printf(o, "\n");
}

/* Sections that are absent are off; only the enabled ones are written, so that reading
 * the text back enables exactly the same ones. */
static void write_stop(yaml_out *o, const ddpc_stop_config *st) {
  out_printf(o, "stop:\n  max_epochs: %d\n", st->max_epochs);
  write_number_key(o, "  ", "max_seconds", st->max_seconds);
  const ddpc_early_stopping_config *es = &st->early_stopping;
  if (es->enabled) {
    out_printf(o, "  early_stopping:\n    monitor: ");
    out_string(o, es->monitor);
    out_printf(o, "\n    mode: %s\n    patience: %d\n", mode_text(es->mode), es->patience);
    write_number_key(o, "    ", "min_delta", es->min_delta);
  }
  if (st->target.enabled) {
    out_printf(o, "  target:\n    monitor: ");
    out_string(o, st->target.monitor);
    out_printf(o, "\n    mode: %s\n", mode_text(st->target.mode));
    write_number_key(o, "    ", "value", st->target.value);
  }
  if (st->divergence.enabled) {
    out_printf(o, "  divergence:\n    monitor: ");
    out_string(o, st->divergence.monitor);
    out_printf(o, "\n");
    write_number_key(o, "    ", "above", st->divergence.above);
  }
}

static void write_checkpoint_review(yaml_out *o, const ddpc_checkpoint_config *c, const ddpc_review_config *r) {
  out_printf(o, "checkpoint:\n  every_epochs: %d\n  every_steps: %lld\n  keep_last: %d\n  keep_best: %s\n  monitor: ",
             c->every_epochs, (long long)c->every_steps, c->keep_last, bool_text(c->keep_best));
  out_string(o, c->monitor);
  out_printf(o, "\n  mode: %s\nreview:\n  after_epochs: %d\n", mode_text(c->mode), r->after_epochs);
  if (!r->when_enabled) return;
  out_printf(o, "  when:\n    monitor: ");
  out_string(o, r->when_monitor);
  out_printf(o, "\n");
  if (r->when_has_above) write_number_key(o, "    ", "above", r->when_above);
  if (r->when_has_below) write_number_key(o, "    ", "below", r->when_below);
}

/* Only when given: configs without it keep the resolved text (and hash) they had. */
static void write_pruning(yaml_out *o, const ddpc_pruning_config *p) {
  if (p->n_rungs == 0) return;
  out_printf(o, "pruning:\n  rungs: [");
  for (int i = 0; i < p->n_rungs; i++) out_printf(o, "%s%d", i ? ", " : "", p->rungs[i]);
  out_printf(o, "]\n  wait_seconds: ");
  out_number(o, p->wait_seconds, false);
  out_printf(o, "\n");
}

/* Only when given: a config without it resolves (and hashes) as it did before. */
static void write_metrics(yaml_out *o, const ddpc_metrics_config *m) {
  if (!m->listed) return;
  out_printf(o, "metrics: [");
  const char *sep = "";
  for (int e = 0; e < DDPC_METRIC_EXTRA_COUNT; e++) {
    if (!(m->listed & (1u << e))) continue;
    if (e == DDPC_METRIC_EXTRA_TOP_K_ACCURACY)
      out_printf(o, "%stop%d_accuracy", sep, m->top_k);
    else
      out_printf(o, "%s%s", sep, ddpc_metric_extra_names[e]);
    sep = ", ";
  }
  out_printf(o, "]\n");
}

int ddpc_config_write_resolved(ddpc_config *cfg) {
  yaml_out o = {0};
  out_printf(&o, "name: ");
  out_string(&o, cfg->name);
  out_printf(&o, "\nseed: %llu\n", (unsigned long long)cfg->seed);
  out_printf(&o, "device: %s\n", ddpc_device_name(cfg->device));
  write_data(&o, &cfg->data);
  write_model(&o, cfg);
  out_printf(&o, "loss: %s\n", ddpc_loss_name(cfg->loss));
  write_optimizer(&o, &cfg->optimizer);
  const ddpc_schedule_config *sc = &cfg->schedule;
  out_printf(&o, "schedule:\n  name: %s\n  warmup_steps: %lld\n  step_size: %d\n  gamma: ",
             ddpc_names_get(ddpc_schedule_names, DDPC_SCHEDULE_COUNT, (int)sc->kind), (long long)sc->warmup_steps, sc->step_size);
  out_number(&o, sc->gamma, true);
  out_printf(&o, "\n  min_lr: ");
  out_number(&o, sc->min_lr, true);
  const ddpc_train_config *t = &cfg->train;
  out_printf(&o, "\ntrain:\n  epochs: %d\n  batch_size: %d\n  eval_batch_size: %d\n  drop_last: %s\n  grad_clip: ",
             t->epochs, t->batch_size, t->eval_batch_size, bool_text(t->drop_last));
  out_number(&o, t->grad_clip, false);
  out_printf(&o, "\n  log_every_steps: %d", t->log_every_steps);
  out_printf(&o, "\ncomm:\n  bucket_mb: ");
  out_number(&o, cfg->comm.bucket_mb, false);
  out_printf(&o, "\n  overlap: %s\n  intra_node: %s", bool_text(cfg->comm.overlap),
             ddpc_names_get(ddpc_intra_node_names, DDPC_INTRA_NODE_COUNT, (int)cfg->comm.intra_node));
  out_printf(&o, "\n  timeout_seconds: ");
  out_number(&o, cfg->comm.timeout_seconds, false);
  out_printf(&o, "\n");
  write_stop(&o, &cfg->stop);
  write_checkpoint_review(&o, &cfg->checkpoint, &cfg->review);
  write_pruning(&o, &cfg->pruning);
  write_metrics(&o, &cfg->metrics);
  out_printf(&o, "output:\n  dir: ");
  out_string(&o, cfg->output_dir);
  out_printf(&o, "\n");
  // Only when given: a config without it resolves (and hashes) as it did before.
  if (cfg->tracking_uri || cfg->tracking_experiment) out_printf(&o, "tracking:\n  mlflow:");
  if (cfg->tracking_uri) {
    out_printf(&o, "\n    uri: ");
    out_string(&o, cfg->tracking_uri);
  }
  if (cfg->tracking_experiment) {
    out_printf(&o, "\n    experiment: ");
    out_string(&o, cfg->tracking_experiment);
  }
  if (cfg->tracking_uri || cfg->tracking_experiment) out_printf(&o, "\n");
  if (o.failed) {
    free(o.buf);
    return ddpc_error_set("out of memory (resolved config text)");
  }
  free(cfg->resolved_yaml);
  cfg->resolved_yaml = o.buf;
  return 0;
}
