/* Tests of what a resume may change (launch/train/resume_diff.c) over hand-written
 * resolved configs: each key's class (refused, allowable, announced), the run's length
 * allowable only when a cosine schedule follows stop.max_epochs and it moved, the allow
 * list by key and by section (not by a key's prefix: "train.batch" is not
 * "train.batch_size"), keys added and removed, and output.dir never compared. */
#include <stdlib.h>
#include <string.h>

#include "launch/train/resume_diff.h"
#include "testing.h"

static const char saved_yaml[] =
    "name: run\n"
    "seed: 1\n"
    "data:\n"
    "  format: csv\n"
    "  preprocess:\n"
    "    - {op: standardize, mode: per_feature}\n"
    "  cache: true\n"
    "  cache_dir: /tmp/a\n"
    "model:\n"
    "  - {type: linear, units: 32, bias: true, init: default}\n"
    "  - {type: tanh}\n"
    "optimizer:\n"
    "  name: adam\n"
    "  lr: 0.01\n"
    "  betas: [0.9, 0.999]\n"
    "schedule:\n"
    "  name: cosine\n"
    "train:\n"
    "  epochs: 12\n"
    "  batch_size: 16\n"
    "  eval_batch_size: 16\n"
    "stop:\n"
    "  max_epochs: 12\n"
    "  early_stopping:\n"
    "    monitor: val_loss\n"
    "    patience: 3\n"
    "output:\n"
    "  dir: runs/a\n";

/* saved_yaml with each `from` replaced by its `to` (pairs, NULL-ended). */
static char *edited(const char *const *pairs) {
  char *text = strdup(saved_yaml);
  for (int i = 0; text && pairs[i]; i += 2) {
    char *at = strstr(text, pairs[i]);
    CHECK(at != NULL, "the test's edit '%s' applies", pairs[i]);
    if (!at) return text;
    size_t from = strlen(pairs[i]), to = strlen(pairs[i + 1]);
    char *next = malloc(strlen(text) - from + to + 1);
    if (!next) break;
    memcpy(next, text, (size_t)(at - text));
    memcpy(next + (at - text), pairs[i + 1], to);
    strcpy(next + (at - text) + to, at + from);
    free(text);
    text = next;
  }
  return text;
}

static const ddpc_resume_change *get(const ddpc_resume_diff *d, const char *key) {
  return ddpc_resume_diff_get(d, key);
}

static void test_same(void) {
  ddpc_resume_diff d;
  CHECK(ddpc_resume_diff_find(saved_yaml, saved_yaml, true, NULL, &d) == 0 && d.count == 0, "same config: no change");
  ddpc_resume_diff_free(&d);
  const char *const moved[] = {"dir: runs/a", "dir: runs/a-2", NULL};
  char *current = edited(moved);
  CHECK(ddpc_resume_diff_find(saved_yaml, current, true, NULL, &d) == 0 && d.count == 0, "output.dir: not compared");
  ddpc_resume_diff_free(&d);
  free(current);
}

static void test_kinds(void) {
  const char *const pairs[] = {"units: 32", "units: 16",           "mode: per_feature", "mode: global",
                               "cache_dir: /tmp/a", "cache_dir: /b", "lr: 0.01",          "lr: 0.02",
                               "batch_size: 16\n  eval", "batch_size: 8\n  eval", "patience: 3", "patience: 9",
                               "seed: 1",           "seed: 2",       NULL};
  char *current = edited(pairs);
  ddpc_resume_diff d;
  CHECK(ddpc_resume_diff_find(saved_yaml, current, true, "optimizer", &d) == 0, "diff");
  const ddpc_resume_change *c;
  CHECK((c = get(&d, "model[0]")) && c->kind == DDPC_RESUME_CHANGE_REFUSED, "a layer: refused");
  CHECK((c = get(&d, "data.preprocess[0]")) && c->kind == DDPC_RESUME_CHANGE_REFUSED, "preprocessing: refused");
  CHECK((c = get(&d, "data.cache_dir")) && c->kind == DDPC_RESUME_CHANGE_ANNOUNCED, "the cache's place: announced");
  CHECK((c = get(&d, "optimizer.lr")) && c->kind == DDPC_RESUME_CHANGE_ALLOWABLE && c->allowed &&
            strcmp(c->saved, "0.01") == 0 && strcmp(c->current, "0.02") == 0,
        "lr: allowable, allowed by its section, with both values");
  CHECK((c = get(&d, "train.batch_size")) && c->kind == DDPC_RESUME_CHANGE_ALLOWABLE && !c->allowed,
        "batch size: allowable, not allowed");
  CHECK((c = get(&d, "seed")) && c->kind == DDPC_RESUME_CHANGE_ALLOWABLE, "seed: allowable");
  CHECK((c = get(&d, "stop.early_stopping.patience")) && c->kind == DDPC_RESUME_CHANGE_ANNOUNCED,
        "patience: announced");
  CHECK(!get(&d, "train.eval_batch_size") && !get(&d, "model[1]"), "unchanged keys are not changes");
  char *refused = ddpc_resume_diff_list(&d, DDPC_RESUME_CHANGE_REFUSED, false, false);
  CHECK(refused && strcmp(refused, "data.preprocess[0], model[0]") == 0, "refused keys in order: %s", refused);
  char *hint = ddpc_resume_diff_allow_hint(&d);
  CHECK(hint && strcmp(hint, "seed,train.batch_size") == 0, "the hint names what is still refused: %s", hint);
  char *values = ddpc_resume_diff_list(&d, DDPC_RESUME_CHANGE_ALLOWABLE, true, true);
  CHECK(values && strcmp(values, "seed 1 -> 2, train.batch_size 16 -> 8") == 0, "with values: %s", values);
  free(refused);
  free(hint);
  free(values);
  ddpc_resume_diff_free(&d);
  // An allow list names keys or sections, never a key's prefix.
  CHECK(ddpc_resume_diff_find(saved_yaml, current, true, " train.batch , seed", &d) == 0, "diff");
  CHECK((c = get(&d, "train.batch_size")) && !c->allowed, "'train.batch' does not allow train.batch_size");
  CHECK((c = get(&d, "seed")) && c->allowed, "spaces around a name are fine");
  ddpc_resume_diff_free(&d);
  free(current);
}

static void test_length(void) {
  const char *const longer[] = {"epochs: 12", "epochs: 20", "max_epochs: 12", "max_epochs: 20", NULL};
  char *current = edited(longer);
  ddpc_resume_diff d;
  const ddpc_resume_change *c;
  CHECK(ddpc_resume_diff_find(saved_yaml, current, true, NULL, &d) == 0, "diff");
  CHECK((c = get(&d, "train.epochs")) && c->kind == DDPC_RESUME_CHANGE_ALLOWABLE, "cosine: epochs allowable");
  CHECK((c = get(&d, "stop.max_epochs")) && c->kind == DDPC_RESUME_CHANGE_ALLOWABLE, "cosine: max_epochs allowable");
  ddpc_resume_diff_free(&d);
  CHECK(ddpc_resume_diff_find(saved_yaml, current, false, NULL, &d) == 0, "diff");
  CHECK((c = get(&d, "stop.max_epochs")) && c->kind == DDPC_RESUME_CHANGE_ANNOUNCED,
        "a schedule that does not follow the length: announced");
  ddpc_resume_diff_free(&d);
  free(current);
  // train.epochs alone (an explicit stop.max_epochs unchanged) moves no horizon.
  const char *const epochs_only[] = {"epochs: 12", "epochs: 20", NULL};
  current = edited(epochs_only);
  CHECK(ddpc_resume_diff_find(saved_yaml, current, true, NULL, &d) == 0, "diff");
  CHECK((c = get(&d, "train.epochs")) && c->kind == DDPC_RESUME_CHANGE_ANNOUNCED && !get(&d, "stop.max_epochs"),
        "train.epochs alone under cosine: announced");
  ddpc_resume_diff_free(&d);
  free(current);
}

static void test_added_removed(void) {
  const char *const pairs[] = {"  early_stopping:\n    monitor: val_loss\n    patience: 3\n", "", "  max_epochs: 12\n",
                               "  max_epochs: 12\n  max_seconds: 60\n", NULL};
  char *current = edited(pairs);
  ddpc_resume_diff d;
  const ddpc_resume_change *c;
  CHECK(ddpc_resume_diff_find(saved_yaml, current, true, NULL, &d) == 0, "diff");
  CHECK((c = get(&d, "stop.max_seconds")) && !c->saved && strcmp(c->current, "60") == 0, "an added key: (none) -> 60");
  CHECK((c = get(&d, "stop.early_stopping.patience")) && strcmp(c->saved, "3") == 0 && !c->current &&
            c->kind == DDPC_RESUME_CHANGE_ANNOUNCED,
        "a removed key: 3 -> (none), announced");
  char *list = ddpc_resume_diff_list(&d, DDPC_RESUME_CHANGE_ANNOUNCED, false, true);
  CHECK(list && strstr(list, "stop.max_seconds (none) -> 60") && strstr(list, "stop.early_stopping.monitor val_loss -> (none)"),
        "listed with (none): %s", list);
  free(list);
  ddpc_resume_diff_free(&d);
  free(current);
}

int main(void) {
  test_same();
  test_kinds();
  test_length();
  test_added_removed();
  return testing_finish();
}
