/* Tests of the YAML config (core/config.c, config_tree.c, config_write.c): values and
 * defaults land in the struct, model variants and --set overrides, every error class with
 * its exact text and place, relative paths, and the resolved YAML round trip and hash. */
#define _XOPEN_SOURCE 700

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/metrics.h"
#include "core/error.h"
#include "testing.h"

static char *tmp_root;  // realpath of the test's temporary folder

static char *write_file(const char *name, const char *text) {
  char *path = ddpc_format("%s/%s", tmp_root, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
  return path;
}

static int load(const char *path, int n, const char *o1, const char *o2, ddpc_config *cfg) {
  const char *ov[2] = {o1, o2};
  return ddpc_config_load(path, ov, n, cfg);
}

/* Loading must fail and the message must contain every non-NULL fragment. */
static void expect_error_at(int line, const char *name, const char *text, int n_ov, const char *ov,
                            const char *frag1, const char *frag2) {
  char *path = write_file(name, text);
  ddpc_config cfg;
  ddpc_error_clear();
  int rc = load(path, n_ov, ov, NULL, &cfg);
  const char *msg = ddpc_error_message();
  testing_check(rc != 0, __FILE__, line, "%s: expected an error", name);
  testing_check(frag1 == NULL || strstr(msg, frag1) != NULL, __FILE__, line, "%s: message '%s' lacks '%s'", name,
                msg, frag1);
  testing_check(frag2 == NULL || strstr(msg, frag2) != NULL, __FILE__, line, "%s: message '%s' lacks '%s'", name,
                msg, frag2);
  // A failed load leaves nothing to free.
  static const ddpc_config zero;
  testing_check(memcmp(&cfg, &zero, sizeof cfg) == 0, __FILE__, line, "%s: struct not zeroed after error", name);
  free(path);
}
#define EXPECT_ERROR(name, text, frag1, frag2) expect_error_at(__LINE__, name, text, 0, NULL, frag1, frag2)
#define EXPECT_OVERRIDE_ERROR(name, text, ov, frag1, frag2) expect_error_at(__LINE__, name, text, 1, ov, frag1, frag2)

static bool streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static const char *full_yaml =
    "name: mnist-full\n"
    "seed: 42\n"
    "data:\n"
    "  format: idx\n"
    "  task: classification\n"
    "  train:\n"
    "    images: data/train-images.gz\n"
    "    labels: /abs/train-labels.gz\n"
    "  test:\n"
    "    images: ./data/t10k-images.gz\n"
    "    labels: data/t10k-labels.gz\n"
    "  num_classes: 10\n"
    "  val_fraction: 0.2\n"
    "  stratify: true\n"
    "  preprocess:\n"
    "    - {op: scale, divide: 255}\n"
    "    - op: standardize\n"
    "      mode: per_feature\n"
    "    - {op: reshape, shape: [28, 28]}\n"
    "    - {op: flatten}\n"
    "    - {op: scale, multiply: 2}\n"
    "    - {op: reshape, shape: [784]}\n"
    "  cache: false\n"
    "  cache_dir: cache\n"
    "model:\n"
    "  - {type: conv2d, filters: 8, kernel: 3, padding: 1}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool2d}\n"
    "  - {type: flatten}\n"
    "  - {type: linear, units: 64, bias: false, init: xavier}\n"
    "  - {type: gelu}\n"
    "  - {type: dropout, p: 0.25}\n"
    "  - {type: layernorm, eps: 1e-6}\n"
    "  - {type: tanh}\n"
    "  - {type: conv2d, filters: 4, kernel: 5, stride: 2, init: he}\n"
    "  - {type: maxpool2d, kernel: 3}\n"
    "  - {type: linear, units: 10}\n"
    "loss: cross_entropy\n"
    "optimizer:\n"
    "  name: adamw\n"
    "  lr: 0.001\n"
    "  weight_decay: 0.05\n"
    "  betas: [0.8, 0.99]\n"
    "  eps: 1e-7\n"
    "schedule:\n"
    "  name: cosine\n"
    "  warmup_steps: 100\n"
    "  min_lr: 1e-5\n"
    "train:\n"
    "  epochs: 3\n"
    "  batch_size: 32\n"
    "  eval_batch_size: 256\n"
    "  drop_last: false\n"
    "  grad_clip: 1.5\n"
    "output:\n"
    "  dir: out/full\n";

static void test_full(void) {
  char *path = write_file("full.yaml", full_yaml);
  ddpc_config cfg;
  int rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0, "full config loads: %s", ddpc_error_message());
  if (rc != 0) return;
  char *p;
  CHECK(streq(cfg.source_path, path), "source_path %s", cfg.source_path);
  CHECK(streq(cfg.name, "mnist-full"), "name %s", cfg.name);
  CHECK(cfg.seed == 42, "seed");
  CHECK(cfg.data.format == DDPC_DATA_FORMAT_IDX && cfg.data.task == DDPC_TASK_CLASSIFICATION, "format/task");
  p = ddpc_format("%s/data/train-images.gz", tmp_root);
  CHECK(streq(cfg.data.train.images, p), "train.images %s", cfg.data.train.images);
  free(p);
  CHECK(streq(cfg.data.train.labels, "/abs/train-labels.gz"), "absolute path kept: %s", cfg.data.train.labels);
  p = ddpc_format("%s/data/t10k-images.gz", tmp_root);
  CHECK(streq(cfg.data.test.images, p), "test.images %s (./ dropped)", cfg.data.test.images);
  free(p);
  CHECK(cfg.data.train.path == NULL && cfg.data.test.path == NULL, "no csv path for idx");
  CHECK(streq(cfg.data.label_column, "label"), "label_column default");
  CHECK(cfg.data.num_classes == 10, "num_classes");
  CHECK(cfg.data.val_fraction == 0.2, "val_fraction %g", cfg.data.val_fraction);
  CHECK(cfg.data.test_fraction == 0.0, "test_fraction is 0 when a test source is given");
  CHECK(cfg.data.stratify, "stratify");
  CHECK(cfg.data.n_prep == 6, "n_prep %d", cfg.data.n_prep);
  CHECK(cfg.data.prep[0].kind == DDPC_PREP_SCALE && cfg.data.prep[0].multiply == (float)(1.0 / 255.0) &&
            cfg.data.prep[0].divide == 255.0f,
        "scale divide 255: multiply %.9g", (double)cfg.data.prep[0].multiply);
  CHECK(cfg.data.prep[1].kind == DDPC_PREP_STANDARDIZE && cfg.data.prep[1].standardize == DDPC_STANDARDIZE_PER_FEATURE,
        "standardize per_feature");
  CHECK(cfg.data.prep[2].kind == DDPC_PREP_RESHAPE && cfg.data.prep[2].shape.h == 28 && cfg.data.prep[2].shape.w == 28 &&
            cfg.data.prep[2].shape.c == 1,
        "reshape [28, 28] -> (28, 28, 1)");
  CHECK(cfg.data.prep[3].kind == DDPC_PREP_FLATTEN, "flatten");
  CHECK(cfg.data.prep[4].multiply == 2.0f && cfg.data.prep[4].divide == 0, "scale multiply 2");
  CHECK(cfg.data.prep[5].shape.h == 1 && cfg.data.prep[5].shape.w == 1 && cfg.data.prep[5].shape.c == 784,
        "reshape [784] -> (1, 1, 784)");
  CHECK(!cfg.data.cache, "cache false");
  p = ddpc_format("%s/cache", tmp_root);
  CHECK(streq(cfg.data.cache_dir, p), "cache_dir relative to the file: %s", cfg.data.cache_dir);
  free(p);
  CHECK(cfg.model_variant == NULL && cfg.n_layers == 12, "12 layers, no variant (%d)", cfg.n_layers);
  const ddpc_layer_spec *l = cfg.layers;
  CHECK(l[0].kind == DDPC_LAYER_CONV2D && l[0].filters == 8 && l[0].kernel == 3 && l[0].stride == 1 &&
            l[0].padding == 1 && l[0].bias && l[0].init == DDPC_INIT_DEFAULT,
        "conv2d defaults");
  CHECK(l[1].kind == DDPC_LAYER_RELU, "relu");
  CHECK(l[2].kind == DDPC_LAYER_MAXPOOL2D && l[2].kernel == 2 && l[2].stride == 2, "maxpool2d default 2/2 (%d/%d)",
        l[2].kernel, l[2].stride);
  CHECK(l[3].kind == DDPC_LAYER_FLATTEN, "flatten");
  CHECK(l[4].kind == DDPC_LAYER_LINEAR && l[4].units == 64 && !l[4].bias && l[4].init == DDPC_INIT_XAVIER, "linear");
  CHECK(l[5].kind == DDPC_LAYER_GELU, "gelu");
  CHECK(l[6].kind == DDPC_LAYER_DROPOUT && l[6].p == 0.25f, "dropout p");
  CHECK(l[7].kind == DDPC_LAYER_LAYERNORM && l[7].eps == 1e-6f, "layernorm eps");
  CHECK(l[8].kind == DDPC_LAYER_TANH, "tanh");
  CHECK(l[9].kind == DDPC_LAYER_CONV2D && l[9].filters == 4 && l[9].kernel == 5 && l[9].stride == 2 &&
            l[9].padding == 0 && l[9].init == DDPC_INIT_HE,
        "second conv2d");
  CHECK(l[10].kernel == 3 && l[10].stride == 3, "maxpool stride follows kernel");
  CHECK(l[11].units == 10 && l[11].bias, "last linear");
  CHECK(cfg.loss == DDPC_LOSS_CROSS_ENTROPY, "loss");
  const ddpc_optimizer_config *o = &cfg.optimizer;
  CHECK(o->kind == DDPC_OPTIMIZER_ADAMW && o->lr == 0.001f && o->weight_decay == 0.05f && o->momentum == 0 &&
            !o->nesterov && o->beta1 == 0.8f && o->beta2 == 0.99f && o->eps == 1e-7f,
        "optimizer values");
  const ddpc_schedule_config *s = &cfg.schedule;
  CHECK(s->kind == DDPC_SCHEDULE_COSINE && s->warmup_steps == 100 && s->step_size == 1 && s->gamma == 0.1f &&
            s->min_lr == 1e-5f,
        "schedule values");
  CHECK(cfg.train.epochs == 3 && cfg.train.batch_size == 32 && cfg.train.eval_batch_size == 256 &&
            !cfg.train.drop_last && cfg.train.grad_clip == 1.5,
        "train values");
  CHECK(streq(cfg.output_dir, "out/full"), "output.dir stays relative: %s", cfg.output_dir);
  CHECK(cfg.resolved_yaml && strstr(cfg.resolved_yaml, "  lr: 0.001\n") &&
            strstr(cfg.resolved_yaml, "    - {op: scale, divide: 255}\n") &&
            strstr(cfg.resolved_yaml, "  - {type: maxpool2d, kernel: 2, stride: 2}\n") &&
            strstr(cfg.resolved_yaml, "  betas: [0.8, 0.99]\n"),
        "resolved yaml text:\n%s", cfg.resolved_yaml);
  ddpc_config_free(&cfg);
  static const ddpc_config zero;
  CHECK(memcmp(&cfg, &zero, sizeof cfg) == 0, "free leaves the struct zeroed");
  free(path);
}

static const char *minimal_yaml =
    "data:\n"
    "  train: {images: a.gz, labels: b.gz}\n"
    "model:\n"
    "  - {type: linear, units: 10}\n";

static void test_defaults(void) {
  char *path = write_file("minimal.yaml", minimal_yaml);
  setenv("DDPC_CACHE_DIR", "/x/cache", 1);
  ddpc_config cfg;
  int rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0, "minimal config loads: %s", ddpc_error_message());
  if (rc != 0) return;
  CHECK(streq(cfg.name, "minimal"), "name from the file name: %s", cfg.name);
  CHECK(cfg.seed == 0 && cfg.data.format == DDPC_DATA_FORMAT_IDX && cfg.data.task == DDPC_TASK_CLASSIFICATION,
        "seed/format/task defaults");
  CHECK(cfg.data.test.images == NULL && cfg.data.test.labels == NULL, "no test source");
  CHECK(cfg.data.val_fraction == 0.1 && cfg.data.test_fraction == 0.1, "fractions default to 0.1/0.1");
  CHECK(!cfg.data.stratify && cfg.data.n_prep == 0 && cfg.data.cache && cfg.data.num_classes == 0, "data defaults");
  CHECK(streq(cfg.data.label_column, "label"), "label_column");
  CHECK(streq(cfg.data.cache_dir, "/x/cache"), "cache_dir from DDPC_CACHE_DIR: %s", cfg.data.cache_dir);
  CHECK(cfg.n_layers == 1 && cfg.layers[0].bias && cfg.layers[0].init == DDPC_INIT_DEFAULT, "layer defaults");
  CHECK(cfg.loss == DDPC_LOSS_CROSS_ENTROPY, "loss default for classification");
  CHECK(cfg.device == DDPC_DEVICE_CPU, "device defaults to cpu");
  const ddpc_optimizer_config *o = &cfg.optimizer;
  CHECK(o->kind == DDPC_OPTIMIZER_SGD && o->lr == 0.01f && o->momentum == 0 && !o->nesterov && o->weight_decay == 0 &&
            o->beta1 == 0.9f && o->beta2 == 0.999f && o->eps == 1e-8f,
        "optimizer defaults");
  const ddpc_schedule_config *s = &cfg.schedule;
  CHECK(s->kind == DDPC_SCHEDULE_CONSTANT && s->warmup_steps == 0 && s->step_size == 1 && s->gamma == 0.1f &&
            s->min_lr == 0,
        "schedule defaults");
  CHECK(cfg.train.epochs == 10 && cfg.train.batch_size == 64 && cfg.train.eval_batch_size == 64 &&
            cfg.train.drop_last && cfg.train.grad_clip == 0,
        "train defaults");
  CHECK(streq(cfg.output_dir, "runs/minimal"), "output.dir default: %s", cfg.output_dir);
  ddpc_config_free(&cfg);

  // cache_dir falls back to XDG_CACHE_HOME, then HOME.
  unsetenv("DDPC_CACHE_DIR");
  setenv("XDG_CACHE_HOME", "/y", 1);
  rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0 && streq(cfg.data.cache_dir, "/y/ddpc"), "cache_dir from XDG: %s", cfg.data.cache_dir);
  ddpc_config_free(&cfg);
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/h", 1);
  rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0 && streq(cfg.data.cache_dir, "/h/.cache/ddpc"), "cache_dir from HOME: %s", cfg.data.cache_dir);
  ddpc_config_free(&cfg);

  // Defaults that depend on other keys: loss from the task, weight decay from the optimizer.
  char *reg = write_file("reg.yaml",
                         "data:\n  format: csv\n  task: regression\n  label_column: y\n  train: {path: t.csv}\n"
                         "model: [{type: linear, units: 1}]\noptimizer: {name: adamw}\n");
  rc = load(reg, 0, NULL, NULL, &cfg);
  CHECK(rc == 0, "regression config loads: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(cfg.loss == DDPC_LOSS_MSE, "loss default for regression");
    CHECK(cfg.optimizer.kind == DDPC_OPTIMIZER_ADAMW && cfg.optimizer.weight_decay == 0.01f, "adamw weight decay 0.01");
    CHECK(streq(cfg.data.label_column, "y") && cfg.data.train.images == NULL, "csv source");
    char *p = ddpc_format("%s/t.csv", tmp_root);
    CHECK(streq(cfg.data.train.path, p), "csv path %s", cfg.data.train.path);
    free(p);
  }
  ddpc_config_free(&cfg);
  free(reg);
  free(path);
}

static const char *variants_yaml =
    "name: v\n"
    "data: {format: csv, train: {path: train.csv}}\n"
    "model:\n"
    "  variant: small\n"
    "  variants:\n"
    "    small: [{type: linear, units: 16}, {type: relu}, {type: linear, units: 2}]\n"
    "    large:\n"
    "      - {type: linear, units: 256}\n"
    "      - {type: relu}\n"
    "      - {type: linear, units: 2}\n";

static void test_variants(void) {
  char *path = write_file("variants.yaml", variants_yaml);
  ddpc_config cfg;
  int rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0, "variants load: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(streq(cfg.model_variant, "small") && cfg.n_layers == 3 && cfg.layers[0].units == 16, "small variant");
    CHECK(strstr(cfg.resolved_yaml, "model:\n  variant: small\n  variants:\n    small:\n      - {type: linear, units: 16") &&
              !strstr(cfg.resolved_yaml, "large"),
          "only the chosen variant is written:\n%s", cfg.resolved_yaml);
  }
  ddpc_config_free(&cfg);
  rc = load(path, 1, "model.variant=large", NULL, &cfg);
  CHECK(rc == 0 && streq(cfg.model_variant, "large") && cfg.n_layers == 3 && cfg.layers[0].units == 256,
        "--set model.variant=large: %s", ddpc_error_message());
  ddpc_config_free(&cfg);
  rc = load(path, 2, "model.variant=large", "model.variants.large.0.units=300", &cfg);
  CHECK(rc == 0 && cfg.layers[0].units == 300, "override inside a variant");
  ddpc_config_free(&cfg);
  EXPECT_OVERRIDE_ERROR("v1.yaml", variants_yaml, "model.variant=huge",
                        "--set model.variant=huge: model.variant: unknown variant 'huge'; expected one of small, large",
                        NULL);
  EXPECT_OVERRIDE_ERROR("v2.yaml", variants_yaml, "model.variant=larg", "unknown variant 'larg'",
                        "did you mean 'large'?");
  EXPECT_ERROR("v3.yaml",
               "data: {format: csv, train: {path: x.csv}}\n"
               "model:\n  variant: a\n  variants:\n    a: [{type: relu}]\n    b: [{type: linear}]\n",
               "v3.yaml:6:9: missing required key 'model.variants.b.0.units'", NULL);
  EXPECT_ERROR("v5.yaml", "data: {format: csv, train: {path: x.csv}}\nmodel: {variant: a, variants: {}}\n",
               "v5.yaml:2:31: model.variants: no variants given", NULL);
  EXPECT_ERROR("v4.yaml", "data: {format: csv, train: {path: x.csv}}\nmodel:\n  variants:\n    a: [{type: relu}]\n",
               "v4.yaml:3:3: missing required key 'model.variant'", NULL);
  free(path);
}

static void test_overrides(void) {
  char *path = write_file("ov.yaml", full_yaml);
  ddpc_config cfg;
  int rc = load(path, 2, "optimizer.betas=[0.7, 0.9]", "model.4.units=512", &cfg);
  CHECK(rc == 0, "overrides load: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(cfg.optimizer.beta1 == 0.7f && cfg.optimizer.beta2 == 0.9f, "betas from a flow list");
    CHECK(cfg.layers[4].units == 512 && !cfg.layers[4].bias, "list index override keeps the other keys");
  }
  ddpc_config_free(&cfg);
  // Later overrides win; missing sections are created; paths from --set are relative to cwd.
  char *min = write_file("ovmin.yaml", minimal_yaml);
  rc = load(min, 2, "schedule.name=step", "schedule.gamma=0.5", &cfg);
  CHECK(rc == 0 && cfg.schedule.kind == DDPC_SCHEDULE_STEP && cfg.schedule.gamma == 0.5f, "created section");
  ddpc_config_free(&cfg);
  rc = load(min, 2, "train.epochs=5", "train.epochs=7", &cfg);
  CHECK(rc == 0 && cfg.train.epochs == 7, "the last override wins");
  ddpc_config_free(&cfg);
  rc = load(min, 2, "data.train.images=rel/x.gz", "name=other", &cfg);
  char *cwd = realpath(".", NULL);
  char *want = ddpc_format("%s/rel/x.gz", cwd);
  CHECK(rc == 0 && streq(cfg.data.train.images, want), "--set path relative to cwd: %s", cfg.data.train.images);
  CHECK(rc == 0 && streq(cfg.name, "other") && streq(cfg.output_dir, "runs/other"), "output.dir follows name");
  ddpc_config_free(&cfg);
  free(want);
  free(cwd);
  rc = load(min, 1, "data.test={images: t.gz, labels: l.gz}", NULL, &cfg);
  CHECK(rc == 0 && cfg.data.test.images && cfg.data.test_fraction == 0, "flow map override");
  ddpc_config_free(&cfg);
  EXPECT_OVERRIDE_ERROR("o1.yaml", minimal_yaml, "noequals", "--set noequals: expected key.path=value", NULL);
  EXPECT_OVERRIDE_ERROR("o2.yaml", minimal_yaml, "optimizer.lr=abc",
                        "--set optimizer.lr=abc: optimizer.lr: expected a number, got 'abc'", NULL);
  EXPECT_OVERRIDE_ERROR("o3.yaml", minimal_yaml, "model.5.units=3", "--set model.5.units=3: item 5 is out of range",
                        NULL);
  EXPECT_OVERRIDE_ERROR("o4.yaml", minimal_yaml, "data.train.images.x=1",
                        "--set data.train.images.x=1: 'images' is a single value, it has no key 'x'", NULL);
  EXPECT_OVERRIDE_ERROR("o5.yaml", minimal_yaml, "optimiser.lr=0.1",
                        "--set optimiser.lr=0.1: unknown key 'optimiser' in the top level; did you mean 'optimizer'?",
                        NULL);
  EXPECT_OVERRIDE_ERROR("o6.yaml", minimal_yaml, "optimizer.betas=[0.8,", "--set optimizer.betas=[0.8,: YAML syntax error",
                        NULL);
  EXPECT_OVERRIDE_ERROR("o7.yaml", minimal_yaml, "a..b=1", "--set a..b=1: expected key.path=value", NULL);
  free(min);
  free(path);
}

static void test_errors(void) {
  EXPECT_ERROR("syntax.yaml", "seed: 1\ndata:\n  format: idx\n  train: [a, b\n", "syntax.yaml:", "YAML syntax error: ");
  EXPECT_ERROR("syntax2.yaml", "seed: 1\nname: a: b\n", "syntax2.yaml:2:8: YAML syntax error: mapping values are not allowed",
               NULL);
  EXPECT_ERROR("unknown.yaml", "seed: 1\ndata: {}\nmodel: []\noptimiser: {}\n",
               "unknown.yaml:4:1: unknown key 'optimiser' in the top level; did you mean 'optimizer'?", NULL);
  EXPECT_ERROR("unknown2.yaml", "zzzzzz: 1\n",
               "unknown2.yaml:1:1: unknown key 'zzzzzz' in the top level; valid keys: name, seed, device, data, model, loss, "
               "optimizer, schedule, train, comm, stop, checkpoint, review, pruning, output",
               NULL);
  char *text = ddpc_format("%soptimizer:\n  momentun: 0.9\n", minimal_yaml);
  EXPECT_ERROR("unknown3.yaml", text, "unknown3.yaml:6:3: unknown key 'momentun' in optimizer; did you mean 'momentum'?",
               NULL);
  free(text);
  text = ddpc_format("%soptimizer:\n  lr: fast\n", minimal_yaml);
  EXPECT_ERROR("type.yaml", text, "type.yaml:6:7: optimizer.lr: expected a number, got 'fast'", NULL);
  free(text);
  text = ddpc_format("%strain:\n  batch_size: -5\n", minimal_yaml);
  EXPECT_ERROR("range.yaml", text, "range.yaml:6:15: train.batch_size: must be between 1 and 1048576, got -5", NULL);
  free(text);
  text = ddpc_format("%soptimizer: {lr: 0}\n", minimal_yaml);
  EXPECT_ERROR("range2.yaml", text, "range2.yaml:5:17: optimizer.lr: must be > 0 and <= 10, got 0", NULL);
  free(text);
  text = ddpc_format("%strain: {epochs: 1.5}\n", minimal_yaml);
  EXPECT_ERROR("int.yaml", text, "train.epochs: expected an integer, got '1.5'", NULL);
  free(text);
  text = ddpc_format("%sseed: -1\n", minimal_yaml);
  EXPECT_ERROR("seed.yaml", text, "seed.yaml:5:7: seed: must be >= 0, got -1", NULL);
  free(text);
  text = ddpc_format("%sdevice: gpu\n", minimal_yaml);
  EXPECT_ERROR("device.yaml", text, "device.yaml:5:9: device: unknown value 'gpu'; expected one of cpu, cuda", NULL);
  free(text);
#ifndef DDPC_HAVE_CUDA
  // A CPU-only build says so where the file asks for the GPU (a CUDA build accepts it; see
  // test_device_cuda).
  text = ddpc_format("%sdevice: cuda\n", minimal_yaml);
  EXPECT_ERROR("device2.yaml", text,
               "device2.yaml:5:9: device: cuda: this ddpc was built without CUDA (cmake -DDDPC_CUDA=ON)", NULL);
  free(text);
#endif
  EXPECT_ERROR("enum.yaml", "data:\n  format: cvs\n",
               "enum.yaml:2:11: data.format: unknown value 'cvs'; expected one of idx, csv; did you mean 'csv'?", NULL);
  EXPECT_ERROR("bool.yaml", "data:\n  stratify: yes\n  train: {images: a, labels: b}\nmodel: [{type: relu}]\n",
               "bool.yaml:2:13: data.stratify: expected true or false, got 'yes'", NULL);
  EXPECT_ERROR("miss1.yaml", "data:\n  format: csv\n  train: {path: a.csv}\n  missing: average\nmodel: [{type: relu}]\n",
               "miss1.yaml:4:12: data.missing: unknown value 'average'; expected one of error, drop_rows, mean", NULL);
  EXPECT_ERROR("miss2.yaml",
               "data:\n  format: csv\n  train: {path: a.csv}\n  missing: {age: zero}\nmodel: [{type: relu}]\n",
               "miss2.yaml:4:18: data.missing.age: unknown value 'zero'", NULL);
  EXPECT_ERROR("miss3.yaml", "data:\n  train: {images: a, labels: b}\n  missing: mean\nmodel: [{type: relu}]\n",
               "miss3.yaml:3:12: data.missing: only used with data.format: csv", NULL);
  EXPECT_ERROR("cat1.yaml",
               "data:\n  format: csv\n  train: {path: a.csv}\n  categorical: color\nmodel: [{type: relu}]\n",
               "cat1.yaml:4:16: data.categorical: expected a list of column names", NULL);
  EXPECT_ERROR("cat2.yaml",
               "data:\n  format: csv\n  train: {path: a.csv}\n  categorical: [a, b, a]\nmodel: [{type: relu}]\n",
               "cat2.yaml:4:23: data.categorical: column 'a' is listed twice", NULL);
  EXPECT_ERROR("cat3.yaml", "data:\n  train: {images: a, labels: b}\n  categorical: [a]\nmodel: [{type: relu}]\n",
               "cat3.yaml:3:16: data.categorical: only used with data.format: csv", NULL);
  EXPECT_ERROR("dup.yaml", "seed: 1\nseed: 2\n", "dup.yaml:2:1: duplicate key 'seed' (first given at line 1)", NULL);
  EXPECT_ERROR("empty.yaml", "", "empty.yaml: the config file is empty", NULL);
  EXPECT_ERROR("comments.yaml", "# nothing\n", "comments.yaml: the config file is empty", NULL);
  EXPECT_ERROR("list.yaml", "- a\n- b\n", "list.yaml:1:1: the top level must be a map", NULL);
  EXPECT_ERROR("alias.yaml", "a: &x 1\nseed: *x\n", "alias.yaml:2:7: YAML aliases (*x) are not supported", NULL);
  EXPECT_ERROR("missing.yaml", "data:\n  train: {images: a.gz}\nmodel: [{type: relu}]\n",
               "missing.yaml:2:10: missing required key 'data.train.labels'", NULL);
  EXPECT_ERROR("missing2.yaml", "data:\n  train: {images: a.gz, labels: b.gz}\n",
               "missing2.yaml:1:1: missing required key 'model'", NULL);
  EXPECT_ERROR("missing3.yaml", "seed: 3\n", "missing3.yaml:1:1: missing required key 'data'", NULL);
  EXPECT_ERROR("missing4.yaml", "data: {format: csv}\n", "missing4.yaml:1:7: missing required key 'data.train'", NULL);
  EXPECT_ERROR("nesterov.yaml", "data: {train: {images: a, labels: b}}\nmodel: [{type: relu}]\noptimizer: {nesterov: true}\n",
               "nesterov.yaml:3:23: optimizer.nesterov: needs optimizer.momentum > 0", NULL);
  EXPECT_ERROR("layerkey.yaml", "data: {train: {images: a, labels: b}}\nmodel:\n  - {type: linear, units: 3}\n  - {type: relu, units: 3}\n",
               "layerkey.yaml:4:18: unknown key 'units' in model.1 (a relu layer); valid keys: type", NULL);
  EXPECT_ERROR("layertype.yaml", "data: {train: {images: a, labels: b}}\nmodel:\n  - {type: linaer, units: 3}\n",
               "layertype.yaml:3:12: model.0.type: unknown value 'linaer'", "did you mean 'linear'?");
  EXPECT_ERROR("layerrange.yaml", "data: {train: {images: a, labels: b}}\nmodel:\n  - {type: dropout, p: 1}\n",
               "layerrange.yaml:3:24: model.0.p: must be >= 0 and < 1, got 1", NULL);
  EXPECT_ERROR("big.yaml",
               "data: {train: {images: a, labels: b}}\nmodel:\n  - {type: linear, units: 100000}\n  - {type: relu}\n"
               "  - {type: linear, units: 100000}\n",
               "big.yaml:3:3: model: the linear layers would hold about 1e+10 weights, more than the limit of 1e9", NULL);
  EXPECT_ERROR("emptymodel.yaml", "data: {train: {images: a, labels: b}}\nmodel: []\n",
               "emptymodel.yaml:2:8: model: the model has no layers", NULL);
  EXPECT_ERROR("fractions.yaml", "data: {train: {images: a, labels: b}, val_fraction: 0.5, test_fraction: 0.5}\n",
               "fractions.yaml:1:73: data.val_fraction + data.test_fraction must be < 1, got 0.5 + 0.5", NULL);
  EXPECT_ERROR("testfrac.yaml",
               "data:\n  train: {images: a, labels: b}\n  test: {images: c, labels: d}\n  test_fraction: 0.2\n",
               "testfrac.yaml:4:18: data.test_fraction: must be 0 when data.test is given", NULL);
  EXPECT_ERROR("format.yaml", "data:\n  train: {path: a.csv}\n",
               "format.yaml:2:11: data.train.path: only used with data.format: csv (data.format is idx)", NULL);
  EXPECT_ERROR("divide.yaml", "data:\n  train: {images: a, labels: b}\n  preprocess: [{op: scale, divide: 0}]\n",
               "divide.yaml:3:36: data.preprocess.0.divide: must not be 0", NULL);
  EXPECT_ERROR("scale.yaml", "data:\n  train: {images: a, labels: b}\n  preprocess: [{op: scale, divide: 2, multiply: 3}]\n",
               "data.preprocess.0: give either multiply or divide, not both", NULL);
  EXPECT_ERROR("shape.yaml", "data:\n  train: {images: a, labels: b}\n  preprocess: [{op: reshape, shape: [1, 2, 3, 4]}]\n",
               "shape.yaml:3:37: data.preprocess.0.shape: expected a list of 1 to 3 positive integers", NULL);
  EXPECT_ERROR("shape2.yaml", "data:\n  train: {images: a, labels: b}\n  preprocess: [{op: reshape, shape: [0, 2]}]\n",
               "shape2.yaml:3:38: data.preprocess.0.shape.0: must be between 1 and 16777216, got 0", NULL);
  EXPECT_ERROR("prepop.yaml", "data:\n  train: {images: a, labels: b}\n  preprocess: [{op: standardise}]\n",
               "data.preprocess.0.op: unknown value 'standardise'", "did you mean 'standardize'?");
  EXPECT_ERROR("prepkey.yaml", "data:\n  train: {images: a, labels: b}\n  preprocess: [{op: flatten, mode: global}]\n",
               "prepkey.yaml:3:30: unknown key 'mode' in data.preprocess.0 (op flatten)", NULL);
  EXPECT_ERROR("betas.yaml", "data: {train: {images: a, labels: b}}\nmodel: [{type: relu}]\noptimizer: {betas: [0.9]}\n",
               "betas.yaml:3:20: optimizer.betas: expected a list of two numbers [beta1, beta2], got a list", NULL);
  EXPECT_ERROR("section.yaml", "data: {train: {images: a, labels: b}}\nmodel: [{type: relu}]\ntrain: 5\n",
               "section.yaml:3:8: train: expected a map of keys, got '5'", NULL);
  EXPECT_ERROR("name.yaml", "name: a/b\n", "name.yaml:1:7: name: must be usable as a folder name", NULL);
  // More preprocessing steps than the struct holds.
  char *many = ddpc_format("data:\n  train: {images: a, labels: b}\n  preprocess: [%s{op: flatten}]\n",
                           "{op: flatten}, {op: flatten}, {op: flatten}, {op: flatten}, {op: flatten}, {op: flatten}, "
                           "{op: flatten}, {op: flatten}, {op: flatten}, {op: flatten}, {op: flatten}, {op: flatten}, "
                           "{op: flatten}, {op: flatten}, {op: flatten}, {op: flatten}, ");
  EXPECT_ERROR("many.yaml", many, "many.yaml:3:15: data.preprocess: at most 16 steps, got 17", NULL);
  free(many);
  ddpc_config cfg;
  char *nowhere = ddpc_format("%s/does-not-exist.yaml", tmp_root);
  CHECK(ddpc_config_load(nowhere, NULL, 0, &cfg) != 0 &&
            strstr(ddpc_error_message(), "does-not-exist.yaml: cannot open"),
        "missing file: %s", ddpc_error_message());
  free(nowhere);
}

static void test_relative_paths(void) {
  char *sub = ddpc_format("%s/sub", tmp_root);
  mkdir(sub, 0755);
  char *path = write_file("sub/conf.yaml",
                          "data:\n  train: {images: ../d/img.gz, labels: ./lab.gz}\n  cache_dir: /abs/cache\n"
                          "model: [{type: relu}]\noutput: {dir: ../out}\n");
  ddpc_config cfg;
  int rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0, "sub config: %s", ddpc_error_message());
  if (rc == 0) {
    char *img = ddpc_format("%s/../d/img.gz", sub), *lab = ddpc_format("%s/lab.gz", sub);
    CHECK(streq(cfg.data.train.images, img), "images relative to the config's folder: %s", cfg.data.train.images);
    CHECK(streq(cfg.data.train.labels, lab), "labels: %s", cfg.data.train.labels);
    CHECK(streq(cfg.data.cache_dir, "/abs/cache"), "absolute cache_dir kept");
    CHECK(streq(cfg.output_dir, "../out"), "output.dir as given: %s", cfg.output_dir);
    CHECK(streq(cfg.name, "conf"), "name from sub/conf.yaml");
    free(img);
    free(lab);
  }
  ddpc_config_free(&cfg);
  free(path);
  free(sub);
}

/* Loading the resolved text again gives the same text (and the same hash). */
static void check_round_trip(const char *name, const char *text, const char *override) {
  char *path = write_file(name, text);
  ddpc_config a, b;
  int rc = load(path, override ? 1 : 0, override, NULL, &a);
  CHECK(rc == 0, "%s loads: %s", name, ddpc_error_message());
  if (rc != 0) return;
  char *rt_name = ddpc_format("rt-%s", name);
  char *rt = write_file(rt_name, a.resolved_yaml);
  rc = load(rt, 0, NULL, NULL, &b);
  CHECK(rc == 0, "%s resolved text loads: %s\n%s", name, ddpc_error_message(), a.resolved_yaml);
  if (rc == 0) {
    CHECK(strcmp(a.resolved_yaml, b.resolved_yaml) == 0, "%s round trip:\n%s\n---\n%s", name, a.resolved_yaml,
          b.resolved_yaml);
    CHECK(ddpc_config_hash(&a) == ddpc_config_hash(&b), "%s hash after round trip", name);
    CHECK(memcmp(a.layers, b.layers, sizeof a.layers) == 0 && a.optimizer.lr == b.optimizer.lr &&
              a.data.prep[0].multiply == b.data.prep[0].multiply,
          "%s values after round trip", name);
  }
  ddpc_config_free(&a);
  ddpc_config_free(&b);
  free(rt);
  free(rt_name);
  free(path);
}

static void test_round_trip_and_hash(void) {
  check_round_trip("rt_full.yaml", full_yaml, NULL);
  check_round_trip("rt_min.yaml", minimal_yaml, "optimizer.lr=0.123456789");
  check_round_trip("rt_var.yaml", variants_yaml, "model.variant=large");
  check_round_trip("rt_str.yaml",
                   "name: \"odd name: #1\"\ndata: {format: csv, label_column: \"true\", train: {path: \"a b.csv\"}}\n"
                   "model: [{type: dropout, p: 0.1}, {type: layernorm, eps: 0.3}]\n",
                   NULL);
  // data.missing in both forms and data.categorical (names that need quotes too).
  check_round_trip("rt_tab.yaml",
                   "data: {format: csv, train: {path: a.csv}, missing: {age: mean, \"odd: col\": drop_rows},\n"
                   "       categorical: [color, \"a b\"]}\nmodel: [{type: relu}]\n",
                   NULL);
  check_round_trip("rt_tab2.yaml", "data: {format: csv, train: {path: a.csv}, missing: mean}\nmodel: [{type: relu}]\n",
                   NULL);

  char *path = write_file("hash.yaml", minimal_yaml);
  // Same meaning, different text: explicit defaults give the same resolved config.
  char *explicit_text = ddpc_format("%sseed: 0\noptimizer: {name: sgd, lr: 0.01}\ntrain: {epochs: 10}\n", minimal_yaml);
  char *path2 = write_file("hash2.yaml", explicit_text);
  ddpc_config a, b, c;
  int rc = load(path, 1, "name=h", NULL, &a) | load(path2, 1, "name=h", NULL, &b) |
           load(path, 2, "name=h", "seed=1", &c);
  CHECK(rc == 0, "hash configs load: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(ddpc_config_hash(&a) == ddpc_config_hash(&b), "equal configs hash equal");
    CHECK(ddpc_config_hash(&a) != ddpc_config_hash(&c), "an override changes the hash");
    // FNV-1a 64 reference: hash of "a" is 0xaf63dc4c8601ec8c.
    ddpc_config one = {0};
    one.resolved_yaml = "a";
    CHECK(ddpc_config_hash(&one) == 0xaf63dc4c8601ec8cull, "FNV-1a reference value");
  }
  ddpc_config_free(&a);
  ddpc_config_free(&b);
  ddpc_config_free(&c);
  free(explicit_text);
  free(path2);
  free(path);
}

static const char *stop_yaml =
    "stop:\n"
    "  max_epochs: 50\n"
    "  max_seconds: 3600.5\n"
    "  early_stopping: {monitor: val_accuracy, patience: 4, min_delta: 0.001}\n"
    "  target: {monitor: val_loss, value: 0.25}\n"
    "  divergence: {above: 100}\n"
    "checkpoint: {every_epochs: 2, every_steps: 500, keep_last: 3, keep_best: false}\n"
    "review:\n"
    "  after_epochs: 5\n"
    "  when: {monitor: train_accuracy, below: 0.3}\n";

/* An error in a config that is the minimal one plus `extra` (placed after its 4 lines). */
static void stop_error_at(int line, const char *name, const char *extra, const char *frag) {
  char *text = ddpc_format("%s%s", minimal_yaml, extra);
  expect_error_at(line, name, text, 0, NULL, frag, NULL);
  free(text);
}
#define STOP_ERROR(name, extra, frag, unused) stop_error_at(__LINE__, name, extra, frag)

/* stop, checkpoint, review: defaults, values, inferred modes, errors, round trip. */
static void test_stop_sections(void) {
  char *path = write_file("stopdef.yaml", minimal_yaml);
  ddpc_config cfg;
  int rc = load(path, 1, "train.epochs=7", NULL, &cfg);
  CHECK(rc == 0, "minimal config loads: %s", ddpc_error_message());
  if (rc == 0) {
    const ddpc_stop_config *st = &cfg.stop;
    CHECK(st->max_epochs == 7 && st->max_seconds == 0, "max_epochs defaults to train.epochs: %d", st->max_epochs);
    CHECK(!st->early_stopping.enabled && !st->target.enabled && !st->divergence.enabled, "stop sections off by default");
    const ddpc_checkpoint_config *c = &cfg.checkpoint;
    CHECK(c->every_epochs == 1 && c->every_steps == 0 && c->keep_last == 2 && c->keep_best &&
              streq(c->monitor, "val_loss") && c->mode == DDPC_MONITOR_MIN,
          "checkpoint defaults");
    CHECK(cfg.review.after_epochs == 0 && !cfg.review.when_enabled, "review defaults");
    CHECK(strstr(cfg.resolved_yaml, "comm:\n") < strstr(cfg.resolved_yaml, "\nstop:\n  max_epochs: 7\n  max_seconds: 0\n"
                                                                          "checkpoint:\n  every_epochs: 1\n  every_steps: 0\n"
                                                                          "  keep_last: 2\n  keep_best: true\n  monitor: val_loss\n"
                                                                          "  mode: min\nreview:\n  after_epochs: 0\noutput:\n"),
          "resolved stop/checkpoint/review defaults:\n%s", cfg.resolved_yaml);
  }
  ddpc_config_free(&cfg);

  // `early_stopping: {}` enables it with every default; the checkpoint follows its monitor.
  rc = load(path, 2, "stop.early_stopping={}", "stop.early_stopping.monitor=val_accuracy", &cfg);
  CHECK(rc == 0, "early_stopping via --set loads: %s", ddpc_error_message());
  if (rc == 0) {
    const ddpc_early_stopping_config *es = &cfg.stop.early_stopping;
    CHECK(es->enabled && streq(es->monitor, "val_accuracy") && es->mode == DDPC_MONITOR_MAX && es->patience == 3 &&
              es->min_delta == 0,
          "early stopping defaults with an accuracy monitor (mode max)");
    CHECK(streq(cfg.checkpoint.monitor, "val_accuracy") && cfg.checkpoint.mode == DDPC_MONITOR_MAX,
          "checkpoint.monitor follows early stopping: %s", cfg.checkpoint.monitor);
  }
  ddpc_config_free(&cfg);
  free(path);

  char *text = ddpc_format("%s%s", minimal_yaml, stop_yaml);
  path = write_file("stopfull.yaml", text);
  rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0, "full stop config loads: %s", ddpc_error_message());
  if (rc == 0) {
    const ddpc_stop_config *st = &cfg.stop;
    CHECK(st->max_epochs == 50 && st->max_seconds == 3600.5, "max_epochs/max_seconds");
    CHECK(st->early_stopping.enabled && st->early_stopping.patience == 4 && st->early_stopping.min_delta == 0.001 &&
              st->early_stopping.mode == DDPC_MONITOR_MAX,
          "early stopping values");
    CHECK(st->target.enabled && streq(st->target.monitor, "val_loss") && st->target.mode == DDPC_MONITOR_MIN &&
              st->target.value == 0.25,
          "target values");
    CHECK(st->divergence.enabled && streq(st->divergence.monitor, "train_loss") && st->divergence.above == 100,
          "divergence default monitor");
    const ddpc_checkpoint_config *c = &cfg.checkpoint;
    CHECK(c->every_epochs == 2 && c->every_steps == 500 && c->keep_last == 3 && !c->keep_best &&
              streq(c->monitor, "val_accuracy"),
          "checkpoint values");
    const ddpc_review_config *r = &cfg.review;
    CHECK(r->after_epochs == 5 && r->when_enabled && streq(r->when_monitor, "train_accuracy") && !r->when_has_above &&
              r->when_has_below && r->when_below == 0.3,
          "review values");
    CHECK(strstr(cfg.resolved_yaml, "  early_stopping:\n    monitor: val_accuracy\n    mode: max\n    patience: 4\n"
                                    "    min_delta: 0.001\n  target:\n    monitor: val_loss\n    mode: min\n    value: 0.25\n"
                                    "  divergence:\n    monitor: train_loss\n    above: 100\n") != NULL,
          "resolved stop sections:\n%s", cfg.resolved_yaml);
    CHECK(strstr(cfg.resolved_yaml, "review:\n  after_epochs: 5\n  when:\n    monitor: train_accuracy\n    below: 0.3\n"
                                    "output:") != NULL,
          "resolved review:\n%s", cfg.resolved_yaml);
  }
  ddpc_config_free(&cfg);
  free(path);
  check_round_trip("rt_stop.yaml", text, "stop.target.mode=max");
  free(text);

  STOP_ERROR("stopkey.yaml", "stop: {max_epoch: 3}\n",
               "stopkey.yaml:5:8: unknown key 'max_epoch' in stop; did you mean 'max_epochs'?", NULL);
  STOP_ERROR("esmon.yaml", "stop:\n  early_stopping: {monitor: val_los}\n",
               "esmon.yaml:6:29: stop.early_stopping.monitor: unknown metric 'val_los'; expected one of train_loss, "
               "train_accuracy, val_loss, val_accuracy, lr, samples_per_s, seconds, comm_seconds, "
               "comm_hidden_fraction, val_mae, val_rmse, val_r2, val_macro_precision, val_macro_recall, "
               "val_macro_f1, val_topK_accuracy, val_roc_auc; did you mean 'val_loss'?",
               NULL);
  STOP_ERROR("esmode.yaml", "stop:\n  early_stopping: {mode: maximum}\n",
               "stop.early_stopping.mode: unknown value 'maximum'; expected one of min, max", NULL);
  STOP_ERROR("espat.yaml", "stop:\n  early_stopping: {patience: -1}\n",
               "espat.yaml:6:30: stop.early_stopping.patience: must be between 0 and 2147483647, got -1", NULL);
  STOP_ERROR("esdelta.yaml", "stop:\n  early_stopping: {min_delta: -0.1}\n",
               "stop.early_stopping.min_delta: must be >= 0, got -0.1", NULL);
  STOP_ERROR("maxep.yaml", "stop: {max_epochs: 1000001}\n",
               "stop.max_epochs: must be between 0 and 1000000, got 1000001", NULL);
  STOP_ERROR("maxsec.yaml", "stop: {max_seconds: -1}\n", "stop.max_seconds: must be >= 0, got -1", NULL);
  STOP_ERROR("tgt.yaml", "stop:\n  target: {value: 0.9}\n",
               "tgt.yaml:6:11: missing required key 'stop.target.monitor'", NULL);
  STOP_ERROR("tgt2.yaml", "stop:\n  target: {monitor: val_accuracy}\n",
               "missing required key 'stop.target.value'", NULL);
  STOP_ERROR("div.yaml", "stop:\n  divergence: {monitor: train_loss}\n",
               "missing required key 'stop.divergence.above'", NULL);
  STOP_ERROR("ckkeep.yaml", "checkpoint: {keep_last: 0}\n", "checkpoint.keep_last: must be between 1 and 2147483647, got 0", NULL);
  STOP_ERROR("ckmon.yaml", "checkpoint: {monitor: accuracy}\n",
               "checkpoint.monitor: unknown metric 'accuracy'", NULL);
  STOP_ERROR("ckkey.yaml", "checkpoint: {every_epoch: 1}\n",
               "unknown key 'every_epoch' in checkpoint; did you mean 'every_epochs'?", NULL);
  STOP_ERROR("rvw.yaml", "review:\n  when: {monitor: val_loss}\n",
               "rvw.yaml:6:9: review.when: needs 'above' or 'below' (or both)", NULL);
  STOP_ERROR("rvw2.yaml", "review:\n  when: {above: 1}\n", "missing required key 'review.when.monitor'", NULL);
  STOP_ERROR("rvw3.yaml", "review: {after_epochs: -2}\n", "review.after_epochs: must be between 0 and 2147483647, got -2", NULL);
}

/* comm.timeout_seconds: 300 by default, any number > 0, written to the resolved YAML. */
static void test_comm_timeout(void) {
  char *path = write_file("timeout.yaml", minimal_yaml);
  ddpc_config cfg;
  int rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0, "minimal config loads: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(cfg.comm.timeout_seconds == 300.0, "comm.timeout_seconds defaults to 300, got %g", cfg.comm.timeout_seconds);
    CHECK(strstr(cfg.resolved_yaml, "  intra_node: auto\n  timeout_seconds: 300\nstop:\n") != NULL,
          "resolved YAML writes the default timeout:\n%s", cfg.resolved_yaml);
    ddpc_config_free(&cfg);
  }
  rc = load(path, 1, "comm.timeout_seconds=2.5", NULL, &cfg);
  CHECK(rc == 0, "comm.timeout_seconds=2.5 loads: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(cfg.comm.timeout_seconds == 2.5, "comm.timeout_seconds 2.5, got %g", cfg.comm.timeout_seconds);
    CHECK(strstr(cfg.resolved_yaml, "  timeout_seconds: 2.5\n") != NULL, "resolved YAML writes 2.5:\n%s",
          cfg.resolved_yaml);
    ddpc_config_free(&cfg);
  }
  EXPECT_OVERRIDE_ERROR("timeout0.yaml", minimal_yaml, "comm.timeout_seconds=0",
                        "comm.timeout_seconds: must be > 0, got 0", NULL);
  EXPECT_OVERRIDE_ERROR("timeoutneg.yaml", minimal_yaml, "comm.timeout_seconds=-3",
                        "comm.timeout_seconds: must be > 0, got -3", NULL);
  EXPECT_ERROR("timeouttext.yaml", "data:\n  train: {images: a.gz, labels: b.gz}\nmodel:\n  - {type: linear, units: 10}\n"
               "comm: {timeout_seconds: soon}\n",
               "timeouttext.yaml:5:", "comm.timeout_seconds: expected a number");
  free(path);
}

/* A CUDA build accepts `device: cuda` whether or not this machine has a GPU: each rank
 * asks for its own when training sets up. It is resolved into config.yaml. */
static void test_device_cuda(void) {
#ifdef DDPC_HAVE_CUDA
  char *text = ddpc_format("%sdevice: cuda\n", minimal_yaml);
  char *path = write_file("cuda.yaml", text);
  free(text);
  ddpc_config cfg;
  int rc = load(path, 0, NULL, NULL, &cfg);
  free(path);
  CHECK(rc == 0, "device: cuda loads in a CUDA build: %s", ddpc_error_message());
  if (rc != 0) return;
  CHECK(cfg.device == DDPC_DEVICE_CUDA, "device cuda");
  CHECK(strstr(cfg.resolved_yaml, "\ndevice: cuda\n") != NULL, "resolved config has device: cuda");
  ddpc_config_free(&cfg);
#endif
}

/* metrics: the list, what monitors add to it, the resolved text, and the refusals. */
static void test_metrics_section(void) {
  char *text = ddpc_format("%smetrics: [per_class, macro_f1, top3_accuracy, confusion_matrix]\n", minimal_yaml);
  char *path = write_file("metrics.yaml", text);
  ddpc_config cfg;
  int rc = load(path, 0, NULL, NULL, &cfg);
  CHECK(rc == 0, "metrics list loads: %s", ddpc_error_message());
  if (rc == 0) {
    unsigned want = 1u << DDPC_METRIC_EXTRA_PER_CLASS | 1u << DDPC_METRIC_EXTRA_MACRO_F1 |
                    1u << DDPC_METRIC_EXTRA_TOP_K_ACCURACY | 1u << DDPC_METRIC_EXTRA_CONFUSION_MATRIX;
    CHECK(cfg.metrics.listed == want && cfg.metrics.computed == want && cfg.metrics.top_k == 3,
          "listed %#x computed %#x top_k %d", cfg.metrics.listed, cfg.metrics.computed, cfg.metrics.top_k);
    CHECK(strstr(cfg.resolved_yaml, "\nmetrics: [macro_f1, top3_accuracy, per_class, confusion_matrix]\n") != NULL,
          "resolved metrics:\n%s", cfg.resolved_yaml);
    CHECK(ddpc_config_metric_computed(&cfg, "val_macro_f1") && ddpc_config_metric_computed(&cfg, "val_top3_accuracy") &&
              !ddpc_config_metric_computed(&cfg, "val_top2_accuracy") &&
              !ddpc_config_metric_computed(&cfg, "val_roc_auc") && ddpc_config_metric_computed(&cfg, "val_loss"),
          "what the run computes");
    ddpc_config_free(&cfg);
  }
  check_round_trip("rt_metrics.yaml", text, NULL);
  free(text);
  free(path);
  // Without the key the resolved text has none (configs hash as before).
  path = write_file("nometrics.yaml", minimal_yaml);
  rc = load(path, 1, "stop.early_stopping={monitor: val_macro_recall}", NULL, &cfg);
  CHECK(rc == 0, "a monitor of an extra metric loads: %s", ddpc_error_message());
  if (rc == 0) {
    CHECK(!strstr(cfg.resolved_yaml, "metrics:"), "no metrics: line when not given");
    CHECK(cfg.metrics.listed == 0 && cfg.metrics.computed == 1u << DDPC_METRIC_EXTRA_MACRO_RECALL,
          "the monitor is computed: %#x", cfg.metrics.computed);
    CHECK(cfg.stop.early_stopping.mode == DDPC_MONITOR_MAX && cfg.checkpoint.mode == DDPC_MONITOR_MAX,
          "a macro recall improves upward");
    ddpc_config_free(&cfg);
  }
  free(path);
  STOP_ERROR("metr_unknown.yaml", "metrics: [macro_f1, macro_f2]\n",
             "metr_unknown.yaml:5:21: metrics: unknown metric 'macro_f2'; expected one of macro_precision, "
             "macro_recall, macro_f1, topK_accuracy, roc_auc, per_class, confusion_matrix; did you mean 'macro_f1'?",
             NULL);
  STOP_ERROR("metr_topk.yaml", "metrics: [top0_accuracy]\n", "metr_topk.yaml:5:11: metrics: unknown metric 'top0_accuracy'",
             NULL);
  STOP_ERROR("metr_twice.yaml", "metrics: [top2_accuracy, top3_accuracy]\n",
             "metr_twice.yaml:5:26: metrics: 'top3_accuracy' is listed twice (one topK_accuracy a run)", NULL);
  STOP_ERROR("metr_scalar.yaml", "metrics: macro_f1\n", "metr_scalar.yaml:5:10: metrics:", NULL);
  STOP_ERROR("metr_mon.yaml", "metrics: [top2_accuracy]\nstop: {early_stopping: {monitor: val_top5_accuracy}}\n",
             "metr_mon.yaml:6:34: stop.early_stopping.monitor: val_top5_accuracy, but the run computes top-2 accuracy (one K "
             "a run: list top5_accuracy or monitor val_top2_accuracy)",
             NULL);
  STOP_ERROR("metr_monname.yaml", "stop: {early_stopping: {monitor: val_macro_f}}\n",
             "stop.early_stopping.monitor: unknown metric 'val_macro_f'", NULL);
  // A regression run: the list and a classification monitor are refused where given.
  const char *regression = "data:\n  task: regression\n  train: {images: a.gz, labels: b.gz}\nmodel:\n"
                           "  - {type: linear, units: 1}\n";
  char *t2 = ddpc_format("%smetrics: [macro_f1]\n", regression);
  expect_error_at(__LINE__, "metr_regr2.yaml", t2, 0, NULL,
                  "metr_regr2.yaml:6:10: metrics: lists classification metrics; a regression run", NULL);
  free(t2);
  t2 = ddpc_format("%scheckpoint: {monitor: val_roc_auc}\n", regression);
  expect_error_at(__LINE__, "metr_regr3.yaml", t2, 0, NULL,
                  "metr_regr3.yaml:6:23: checkpoint.monitor: val_roc_auc is a classification metric", NULL);
  free(t2);
}

int main(void) {
  tmp_root = realpath(testing_temp_dir(), NULL);
  unsetenv("DDPC_CACHE_DIR");
  unsetenv("XDG_CACHE_HOME");
  test_full();
  test_defaults();
  test_variants();
  test_overrides();
  test_errors();
  test_device_cuda();
  test_relative_paths();
  test_round_trip_and_hash();
  test_stop_sections();
  test_comm_timeout();
  test_metrics_section();
  free(tmp_root);
  return testing_finish();
}
