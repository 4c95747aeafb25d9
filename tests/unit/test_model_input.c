/* The checkpoint's "input" section (core/model_input.c) and what the predictor makes of it
 * (predict/predictor.c): a description written and read back field for field; every
 * truncation, a wrong magic, a newer version and inconsistent counts refused with the
 * file and byte offset; a real run's checkpoint predicts what the run's model computes, and
 * a checkpoint without the section (an older ddpc's) still loads by fitting the
 * preprocessing again from its data, or is refused, naming why, when the data is gone. */
#define _GNU_SOURCE  // memmem
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/data_tabular.h"
#include "core/error.h"
#include "core/model_input.h"
#include "ddpc/ddpc.h"
#include "predict/predictor.h"
#include "testing.h"

/* A regression model trained on standardized targets: version 2, its target constants back
 * bitwise; every truncation refused; without them the same model writes version 1. */
static void check_roundtrip_targets(void) {
  float consts[4] = {0.5f, -2.0f, 151.25f, 77.5f};
  ddpc_model_input in = {.format = DDPC_DATA_FORMAT_CSV, .task = DDPC_TASK_REGRESSION, .dtype = DDPC_DTYPE_F32,
                         .features = 2, .raw_shape = {1, 1, 2}, .shape = {1, 1, 2}, .scale = consts,
                         .shift = consts, .target_width = 1, .label_column = "y", .target_mean = consts + 2,
                         .target_std = consts + 3};
  unsigned char *bytes = NULL;
  size_t n = 0;
  CHECK(ddpc_model_input_encode(&in, &bytes, &n) == 0 && n > 12 && bytes[8] == 2, "encoded as version 2");
  ddpc_model_input out;
  CHECK(ddpc_model_input_decode(bytes, n, "r.ddpc", &out) == 0, "decode: %s", ddpc_error_message());
  CHECK(out.target_mean && out.target_mean[0] == 151.25f && out.target_std[0] == 77.5f,
        "target constants back bitwise");
  ddpc_model_input_free(&out);
  int refused = 0;
  for (size_t len = 0; len < n; len++) {
    if (ddpc_model_input_decode(bytes, len, "r.ddpc", &out) != 0) refused++;
    else ddpc_model_input_free(&out);
  }
  CHECK(refused == (int)n, "%d of %zu truncations refused", refused, n);
  free(bytes);
  in.target_mean = in.target_std = NULL;
  CHECK(ddpc_model_input_encode(&in, &bytes, &n) == 0 && bytes[8] == 1, "without them: version 1");
  CHECK(ddpc_model_input_decode(bytes, n, "r.ddpc", &out) == 0 && !out.target_mean, "read back without them");
  ddpc_model_input_free(&out);
  free(bytes);
}

static void check_roundtrip(void) {
  char *names[3] = {"alcohol", "hue, \"quoted\"", "x"};
  float consts[6] = {0.5f, -2.0f, 1e-3f, 1.0f, 0.25f, -7.5f};
  ddpc_model_input in = {.format = DDPC_DATA_FORMAT_CSV, .task = DDPC_TASK_CLASSIFICATION,
                         .dtype = DDPC_DTYPE_F32, .features = 3, .raw_shape = {1, 1, 3}, .shape = {1, 1, 3},
                         .scale = consts, .shift = consts + 3, .num_classes = 4, .label_column = "cultivar",
                         .feature_names = names};
  unsigned char *bytes = NULL;
  size_t n = 0;
  CHECK(ddpc_model_input_encode(&in, &bytes, &n) == 0 && n > 0, "encode");
  ddpc_model_input out;
  CHECK(ddpc_model_input_decode(bytes, n, "a.ddpc", &out) == 0, "decode: %s", ddpc_error_message());
  CHECK(out.format == in.format && out.task == in.task && out.dtype == in.dtype && out.features == 3 &&
            out.num_classes == 4 && out.target_width == 0 && out.shape.c == 3 && out.raw_shape.c == 3,
        "fields back");
  CHECK(out.label_column && strcmp(out.label_column, "cultivar") == 0, "label column back");
  for (int i = 0; i < 3; i++) {
    CHECK(out.feature_names && strcmp(out.feature_names[i], names[i]) == 0, "name %d back", i);
    CHECK(out.scale[i] == consts[i] && out.shift[i] == consts[3 + i], "constants %d back bitwise", i);
  }
  ddpc_model_input_free(&out);

  // Every shorter length is refused as truncated, naming the file and an offset.
  int refused = 0;
  for (size_t len = 0; len < n; len++) {
    if (ddpc_model_input_decode(bytes, len, "a.ddpc", &out) != 0 &&
        strstr(ddpc_error_message(), "a.ddpc: section 'input' at byte ") != NULL)
      refused++;
    else
      ddpc_model_input_free(&out);
  }
  CHECK(refused == (int)n, "%d of %zu truncations refused with file and offset", refused, n);
  unsigned char *longer = malloc(n + 1);
  memcpy(longer, bytes, n);
  longer[n] = 0;
  CHECK(ddpc_model_input_decode(longer, n + 1, "a.ddpc", &out) != 0 &&
            strstr(ddpc_error_message(), "no bytes after the shift"),
        "a trailing byte refused: %s", ddpc_error_message());
  longer[0] = 'X';
  CHECK(ddpc_model_input_decode(longer, n, "a.ddpc", &out) != 0 && strstr(ddpc_error_message(), "wrong magic"),
        "wrong magic: %s", ddpc_error_message());
  memcpy(longer, bytes, n);
  longer[8] = 4;  // version 4
  CHECK(ddpc_model_input_decode(longer, n, "a.ddpc", &out) != 0 && strstr(ddpc_error_message(), "version 4"),
        "a newer version: %s", ddpc_error_message());
  longer[8] = 2;  // version 2 says target constants follow: a classification model has none
  CHECK(ddpc_model_input_decode(longer, n, "a.ddpc", &out) != 0 && strstr(ddpc_error_message(), "the target count"),
        "version 2 without target constants: %s", ddpc_error_message());
  memcpy(longer, bytes, n);
  longer[24] = 4;  // 4 features against shapes of 3
  CHECK(ddpc_model_input_decode(longer, n, "a.ddpc", &out) != 0 &&
            strstr(ddpc_error_message(), "at byte 24: the feature count"),
        "inconsistent feature count: %s", ddpc_error_message());
  memcpy(longer, bytes, n);
  unsigned char *name = memmem(longer, n, "alcohol", 7);
  if (name) name[2] = 0;  // found by fuzz_model_input: a NUL inside a name was read as a shorter name
  CHECK(name && ddpc_model_input_decode(longer, n, "a.ddpc", &out) != 0 && strstr(ddpc_error_message(), "NUL"),
        "a NUL byte inside a name: %s", ddpc_error_message());
  free(longer);
  free(bytes);
}

/* Rewrites checkpoint `from` as `to` without its input section; with `yaml` its config
 * section replaced. */
static int rewrite_without_input(const char *from, const char *to, const char *yaml) {
  ddpc_checkpoint *ck = NULL;
  if (ddpc_checkpoint_read(from, &ck) != 0) return -1;
  static const struct {
    uint32_t id;
    const char *name;
  } keep[] = {{DDPC_CHECKPOINT_SECTION_META, "meta"},       {DDPC_CHECKPOINT_SECTION_PARAMS, "params"},
              {DDPC_CHECKPOINT_SECTION_OPTIM_M, "optim_m"}, {DDPC_CHECKPOINT_SECTION_OPTIM_V, "optim_v"},
              {DDPC_CHECKPOINT_SECTION_HISTORY, "history"}, {DDPC_CHECKPOINT_SECTION_CONFIG, "config"}};
  ddpc_checkpoint_section s[6];
  int n = 0;
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
    size_t bytes = 0;
    const void *p = ddpc_checkpoint_find_section(ck, keep[i].id, &bytes);
    if (!p) continue;
    if (yaml && keep[i].id == DDPC_CHECKPOINT_SECTION_CONFIG) p = yaml, bytes = strlen(yaml);
    s[n++] = (ddpc_checkpoint_section){keep[i].id, keep[i].name, p, bytes};
  }
  int rc = ddpc_checkpoint_write(to, s, n);
  ddpc_checkpoint_free(ck);
  return rc;
}

static void predict_rows(ddpc_predictor *p, const float *raw, int n, float *out) {
  CHECK(ddpc_predictor_predict(p, raw, n, out) == 0, "predict: %s", ddpc_last_error());
}

static void check_real_run(void) {
  const char *config = testing_source_path("examples/cultivars_csv.yaml");
  char *run_dir = ddpc_format("%s/cultivars", testing_temp_dir());
  const char *overrides[] = {"train.epochs=3"};
  ddpc_train_options opt = {.config_path = config, .overrides = overrides, .n_overrides = 1, .run_dir = run_dir,
                            .quiet = 1};
  ddpc_train_result res;
  if (!config || ddpc_train_run(&opt, &res) != 0) {
    CHECK(false, "training the CSV example: %s", ddpc_last_error());
    free(run_dir);
    return;
  }
  ddpc_predictor *p = NULL;
  CHECK(ddpc_predictor_load(run_dir, &p) == 0, "load the run: %s", ddpc_last_error());
  if (!p) {
    free(run_dir);
    return;
  }
  CHECK(strstr(ddpc_predictor_checkpoint(p), "/checkpoints/best.ddpc") != NULL, "a run directory means best.ddpc: %s",
        ddpc_predictor_checkpoint(p));
  CHECK(ddpc_predictor_input_size(p) == 6 && ddpc_predictor_output_size(p) == 3 && ddpc_predictor_num_classes(p) == 3,
        "6 features in, 3 classes out");
  CHECK(ddpc_predictor_feature_name(p, 0) && strcmp(ddpc_predictor_feature_name(p, 0), "alcohol") == 0 &&
            ddpc_predictor_feature_name(p, 5) && strcmp(ddpc_predictor_feature_name(p, 5), "hue") == 0 &&
            ddpc_predictor_feature_name(p, 6) == NULL,
        "feature names from the header, in its order");
  // Rows of the example's CSV (alcohol,acidity,magnesium,phenols,color,hue).
  const float raw[2 * 6] = {13.828f, 1.699f, 100.322f, 2.351f, 4.916f, 1.207f,
                            13.451f, 2.356f, 83.722f, 1.496f, 7.273f, 0.790f};
  float probs[6], again[6];
  predict_rows(p, raw, 2, probs);
  // Text cells through ddpc_predictor_encode: a model of numeric columns reads them as the
  // CSV reader does; its columns are its inputs, its classes integers (no names).
  const char *cells[12] = {"13.828", "1.699", "100.322", "2.351", "4.916", "1.207",
                           "13.451", "2.356", "83.722",  "1.496", "7.273", "0.790"};
  float encoded[12];
  CHECK(ddpc_predictor_column_count(p) == 6 && strcmp(ddpc_predictor_column_name(p, 5), "hue") == 0 &&
            ddpc_predictor_column_name(p, 6) == NULL && ddpc_predictor_class_name(p, 0) == NULL,
        "columns are the features; integer classes have no names");
  CHECK(ddpc_predictor_encode(p, cells, 2, encoded) == 0 && memcmp(encoded, raw, sizeof raw) == 0,
        "text cells encode to the numbers: %s", ddpc_last_error());
  cells[8] = "abc";
  CHECK(ddpc_predictor_encode(p, cells, 2, encoded) != 0 &&
            strstr(ddpc_last_error(), "row 2: column 'magnesium': expected a finite number, got 'abc'"),
        "a cell that is not a number refused with its row and column: %s", ddpc_last_error());
  cells[8] = "";
  CHECK(ddpc_predictor_encode(p, cells, 2, encoded) != 0, "a missing cell in a model without data.missing");
  for (int i = 0; i < 2; i++) {
    double sum = probs[3 * i] + probs[3 * i + 1] + probs[3 * i + 2];
    CHECK_NEAR(sum, 1.0, 1e-6, "probabilities sum to 1");
  }
  // The same as the model's own logits through softmax, computed here in double.
  const float *z = ddpc_predictor_forward(p, raw, 2);
  for (int i = 0; i < 2; i++) {
    double s = 0;
    for (int k = 0; k < 3; k++) s += exp((double)z[3 * i + k]);
    for (int k = 0; k < 3; k++) CHECK_NEAR(probs[3 * i + k], exp((double)z[3 * i + k]) / s, 1e-6, "softmax of logits");
  }
  CHECK(ddpc_predictor_predict(p, raw, -1, probs) != 0, "a negative count refused");
  ddpc_predictor_free(p);

  // An older ddpc's checkpoint (no input section): fitted again from the data, same predictions.
  char *best = ddpc_format("%s/checkpoints/best.ddpc", run_dir);
  char *old = ddpc_format("%s/old.ddpc", testing_temp_dir());
  CHECK(rewrite_without_input(best, old, NULL) == 0, "rewrite without input: %s", ddpc_error_message());
  p = NULL;
  CHECK(ddpc_predictor_load(old, &p) == 0, "an older checkpoint loads while its data exists: %s", ddpc_last_error());
  if (p) {
    predict_rows(p, raw, 2, again);
    CHECK(memcmp(probs, again, sizeof probs) == 0, "and predicts bitwise the same");
    ddpc_predictor_free(p);
  }
  // ... and is refused, saying why, once the data is gone.
  ddpc_checkpoint *ck = NULL;
  size_t bytes = 0;
  char *yaml = NULL;
  if (ddpc_checkpoint_read(best, &ck) == 0) {
    const char *text = ddpc_checkpoint_find_section(ck, DDPC_CHECKPOINT_SECTION_CONFIG, &bytes);
    char *at = text ? strstr(text, "cultivars.csv") : NULL;
    if (at) yaml = ddpc_format("%.*sgone.csv%.*s", (int)(at - text), text, (int)(bytes - (size_t)(at - text) - 13),
                               at + 13);
    ddpc_checkpoint_free(ck);
  }
  CHECK(yaml && rewrite_without_input(best, old, yaml) == 0, "rewrite with its data gone");
  p = NULL;
  CHECK(ddpc_predictor_load(old, &p) != 0 && strstr(ddpc_last_error(), "has no input section") &&
            strstr(ddpc_last_error(), "gone.csv"),
        "refused naming the missing section and the data: %s", ddpc_last_error());
  ddpc_predictor_free(p);

  CHECK(ddpc_predictor_load(testing_temp_dir(), &p) != 0 && strstr(ddpc_last_error(), "no checkpoint in"),
        "a folder without checkpoints: %s", ddpc_last_error());
  CHECK(ddpc_predictor_load("/nonexistent/run", &p) != 0 && strstr(ddpc_last_error(), "/nonexistent/run: "),
        "a missing path: %s", ddpc_last_error());
  free(yaml);
  free(best);
  free(old);
  free(run_dir);
}

/* A CSV model with a column encoding (text labels, a categorical column, fills): version 3,
 * every constant back; every truncation refused; categories out of order refused. */
static void check_roundtrip_tabular(void) {
  char *cats[2] = {"blue", "red"}, *labels[3] = {"a", "b", "c"};
  ddpc_tabular_column cols[2] = {{.name = "x", .missing = DDPC_MISSING_MEAN, .fill = 2.5f},
                                 {.name = "color", .categorical = true, .missing = DDPC_MISSING_MEAN, .fill = 1,
                                  .n_categories = 2, .categories = cats}};
  ddpc_tabular t = {.n_columns = 2, .columns = cols, .width = 3, .n_labels = 3, .labels = labels};
  float consts[3] = {1, 2, 3};
  char *names[3] = {"x", "color=blue", "color=red"};
  ddpc_model_input in = {.format = DDPC_DATA_FORMAT_CSV, .task = DDPC_TASK_CLASSIFICATION, .dtype = DDPC_DTYPE_F32,
                         .features = 3, .raw_shape = {1, 1, 3}, .shape = {1, 1, 3}, .scale = consts,
                         .shift = consts, .num_classes = 3, .label_column = "species", .feature_names = names,
                         .tabular = &t};
  unsigned char *bytes = NULL;
  size_t n = 0;
  CHECK(ddpc_model_input_encode(&in, &bytes, &n) == 0 && n > 12 && bytes[8] == 3, "encoded as version 3");
  ddpc_model_input out;
  int rc = ddpc_model_input_decode(bytes, n, "t.ddpc", &out);
  CHECK(rc == 0, "decode: %s", ddpc_error_message());
  if (rc == 0) {
    const ddpc_tabular *u = out.tabular;
    CHECK(u && u->n_columns == 2 && u->width == 3 && u->n_labels == 3 && strcmp(u->labels[2], "c") == 0,
          "the encoding back");
    CHECK(u && u->columns[0].fill == 2.5f && u->columns[0].missing == DDPC_MISSING_MEAN && !u->columns[0].categorical,
          "numeric column back");
    CHECK(u && u->columns[1].categorical && u->columns[1].n_categories == 2 &&
              strcmp(u->columns[1].categories[1], "red") == 0 && u->columns[1].fill == 1.0f,
          "categorical column back");
    char *name = ddpc_model_input_class_name(&out, 1);
    CHECK(name && strcmp(name, "b") == 0, "class 1 is named b");
    free(name);
    ddpc_model_input_free(&out);
  }
  int refused = 0;
  for (size_t len = 0; len < n; len++) {
    if (ddpc_model_input_decode(bytes, len, "t.ddpc", &out) != 0 && strstr(ddpc_error_message(), "t.ddpc"))
      refused++;
    else if (!ddpc_error_message()[0]) ddpc_model_input_free(&out);
  }
  CHECK(refused == (int)n, "%d of %zu truncations refused", refused, n);
  unsigned char *bad = malloc(n);
  memcpy(bad, bytes, n);
  unsigned char *blue = memmem(bad, n, "blue", 4);  // first in the feature name color=blue
  if (blue) memcpy(blue, "zzzz", 4);
  CHECK(blue && ddpc_model_input_decode(bad, n, "t.ddpc", &out) != 0 && strstr(ddpc_error_message(), "feature name"),
        "a feature name that is not its input's refused: %s", ddpc_error_message());
  memcpy(bad, bytes, n);
  blue = blue ? memmem(blue + 4, n - (size_t)(blue + 4 - bad), "blue", 4) : NULL;  // then the category
  if (blue) memcpy(blue, "zzzz", 4);  // "zzzz" before "red": not sorted, a lookup would miss
  CHECK(blue && ddpc_model_input_decode(bad, n, "t.ddpc", &out) != 0 &&
            strstr(ddpc_error_message(), "strictly ascending"),
        "unsorted categories refused: %s", ddpc_error_message());
  free(bad);
  free(bytes);
  cols[1].fill = -2.6e33f;  // found by fuzz_model_input: the message converted it to an integer (UB)
  CHECK(ddpc_model_input_encode(&in, &bytes, &n) == 0, "encode");
  CHECK(ddpc_model_input_decode(bytes, n, "t.ddpc", &out) != 0 && strstr(ddpc_error_message(), "categorical column's fill"),
        "a fill that is no category's index refused: %s", ddpc_error_message());
  free(bytes);
  cols[1].fill = 1;
  in.num_classes = 2;  // the label list must be the classes
  CHECK(ddpc_model_input_encode(&in, &bytes, &n) == 0, "encode");
  CHECK(ddpc_model_input_decode(bytes, n, "t.ddpc", &out) != 0 && strstr(ddpc_error_message(), "the label count"),
        "3 labels for 2 classes refused: %s", ddpc_error_message());
  free(bytes);
}

int main(void) {
  check_roundtrip();
  check_roundtrip_tabular();
  check_roundtrip_targets();
  check_real_run();
  return testing_finish();
}
