/* The library's contract on one rank: ddpc_train_run returns non-zero on every failure,
 * also one during training (an injected fault, a run file on a full disk, a checkpoint
 * folder gone midway), and the process goes on: each case is followed by more calls in the
 * same process, and a clean run at the end still trains to `done`. A failure while setting
 * up is not a fault during training (result.aborted stays 0). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "ddpc/ddpc.h"
#include "testing.h"

static const char *contract_config(void) { return testing_source_path("examples/cultivars_csv.yaml"); }

static char *contract_path(const char *name) {
  size_t n = strlen(testing_temp_dir()) + strlen(name) + 2;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s", testing_temp_dir(), name);
  return p;
}

/* Runs the CSV example in run_dir with the overrides (NULL-terminated) and hooks. */
static int contract_train(const char *run_dir, const char *const *overrides, const ddpc_hooks *hooks,
                          const char *resume, ddpc_train_result *res) {
  int n = 0;
  while (overrides && overrides[n]) n++;
  ddpc_train_options opt;
  memset(&opt, 0, sizeof opt);
  opt.config_path = contract_config();
  opt.overrides = overrides;
  opt.n_overrides = n;
  opt.run_dir = run_dir;
  opt.quiet = 1;
  opt.resume = resume;
  opt.hooks = hooks;
  opt.n_hooks = hooks ? 1 : 0;
  return ddpc_train_run(&opt, res);
}

static char *contract_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = calloc(1, 1 << 16);
  if (text) fread(text, 1, (1 << 16) - 1, f);
  fclose(f);
  return text;
}

/* Expects a failure during training: non-zero, state failed, aborted, `fragment` in the
 * error; summary.json of run_dir says failed with the same reason. */
static void expect_fault(const char *what, int rc, const ddpc_train_result *res, const char *run_dir,
                         const char *fragment) {
  const char *err = ddpc_last_error();
  CHECK(rc != 0, "%s: ddpc_train_run returns non-zero (got %d)", what, rc);
  CHECK(res->aborted == 1 && strcmp(res->state, "failed") == 0, "%s: a fault during training (aborted %d, state %s)",
        what, res->aborted, res->state);
  CHECK(strstr(err, fragment) != NULL, "%s: the error names '%s': %s", what, fragment, err);
  size_t n = strlen(run_dir) + 16;
  char *path = malloc(n);
  snprintf(path, n, "%s/summary.json", run_dir);
  char *text = contract_slurp(path);
  CHECK(text && strstr(text, "\"state\":\"failed\"") && strstr(text, fragment),
        "%s: summary.json records state failed and why: %s", what, text ? text : "(none)");
  free(text);
  free(path);
}

static void test_injected_fault(void) {
  char *dir = contract_path("fail_at");
  setenv("DDPC_FAIL_AT", "0:10:fail", 1);
  ddpc_train_result res;
  int rc = contract_train(dir, NULL, NULL, NULL, &res);
  unsetenv("DDPC_FAIL_AT");
  expect_fault("DDPC_FAIL_AT=0:10:fail", rc, &res, dir, "failure injected by DDPC_FAIL_AT at step 10");
  // The run stopped at step 10 and can go on from where it was: no checkpoint was due
  // yet, so `auto` starts over, in the same process.
  rc = contract_train(dir, (const char *const[]){"train.epochs=2", NULL}, NULL, "auto", &res);
  CHECK(rc == 0 && strcmp(res.state, "done") == 0, "the failed run's directory trains again: rc %d, %s", rc,
        ddpc_last_error());
  free(dir);
}

/* A run file on a full disk: RUN_DIR/name is a link to /dev/full before the run starts. */
static void test_full_disk(const char *name, const char *const *overrides) {
  char *dir = contract_path(name);
  CHECK(mkdir(dir, 0755) == 0, "mkdir %s", dir);
  size_t n = strlen(dir) + strlen(name) + 2;
  char *link = malloc(n);
  snprintf(link, n, "%s/%s", dir, name);
  CHECK(symlink("/dev/full", link) == 0, "symlink %s: %s", link, strerror(errno));
  ddpc_train_result res;
  int rc = contract_train(dir, overrides, NULL, NULL, &res);
  char *want = malloc(n + 64);
  snprintf(want, n + 64, "cannot write '%s': No space left on device", link);
  char *what = malloc(n + 32);
  snprintf(what, n + 32, "%s on a full disk", name);
  // events.jsonl cannot record the failure in itself; summary.json still says why.
  expect_fault(what, rc, &res, dir, want);
  free(what);
  free(want);
  free(link);
  free(dir);
}

typedef struct {
  const char *run_dir;  // whose checkpoints folder goes away
  int at_epoch;         // after this epoch's evaluation
  bool done;            // it went
} swap_state;

/* After an epoch, the checkpoints folder is replaced by a plain file: the next checkpoint
 * cannot be written, as on a run directory that became unwritable midway. */
static void swap_on_epoch_end(void *user, const ddpc_epoch_metrics *m) {
  swap_state *st = user;
  if (st->done || m->epoch != st->at_epoch) return;
  size_t n = strlen(st->run_dir) + 32;
  char *from = malloc(n), *to = malloc(n);
  snprintf(from, n, "%s/checkpoints", st->run_dir);
  snprintf(to, n, "%s/checkpoints.moved", st->run_dir);
  if (rename(from, to) == 0) {
    FILE *f = fopen(from, "w");
    if (f) st->done = fclose(f) == 0;
  }
  free(from);
  free(to);
}

static void test_checkpoint_folder_gone(void) {
  char *dir = contract_path("folder_gone");
  swap_state st = {dir, 2, false};
  ddpc_hooks hooks = {.user = &st, .on_epoch_end = swap_on_epoch_end};
  ddpc_train_result res;
  int rc = contract_train(dir, (const char *const[]){"train.epochs=4", NULL}, &hooks, NULL, &res);
  CHECK(st.done, "the checkpoints folder was replaced after epoch 2");
  expect_fault("checkpoints folder replaced by a file", rc, &res, dir, "/checkpoints");
  free(dir);
}

/* Failures before training are not faults during it. */
static void test_setup_failures(void) {
  char *dir = contract_path("setup");
  ddpc_train_result res;
  int rc = contract_train(dir, (const char *const[]){"train.batch_size=0", NULL}, NULL, NULL, &res);
  CHECK(rc != 0 && res.aborted == 0 && strcmp(res.state, "failed") == 0,
        "a bad override fails in setup (rc %d, aborted %d, state %s)", rc, res.aborted, res.state);
  CHECK(strstr(ddpc_last_error(), "batch_size") != NULL, "the error names the key: %s", ddpc_last_error());
  free(dir);

  // A damaged checkpoint to resume from: refused with its offset, nothing trained.
  dir = contract_path("damaged");
  rc = contract_train(dir, (const char *const[]){"train.epochs=1", NULL}, NULL, NULL, &res);
  CHECK(rc == 0, "a run to damage: %s", ddpc_last_error());
  char *ckpt = NULL;
  ddpc_checkpoint *ck = NULL;
  CHECK(ddpc_checkpoint_find_latest(dir, &ckpt, &ck) == 0, "its checkpoint");
  ddpc_checkpoint_free(ck);
  FILE *f = ckpt ? fopen(ckpt, "r+b") : NULL;
  if (f) {
    fseek(f, 200, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
  }
  char *other = contract_path("damaged_resume");
  rc = contract_train(other, (const char *const[]){"train.epochs=1", NULL}, NULL, ckpt, &res);
  CHECK(rc != 0 && res.aborted == 0, "resuming from a damaged checkpoint fails in setup (rc %d, aborted %d)", rc,
        res.aborted);
  CHECK(strstr(ddpc_last_error(), ckpt ? ckpt : "?") && strstr(ddpc_last_error(), "at byte "),
        "the error names the file and the offset: %s", ddpc_last_error());
  free(other);
  free(ckpt);
  free(dir);
}

static void test_clean_run_after(void) {
  char *dir = contract_path("clean");
  ddpc_train_result res;
  int rc = contract_train(dir, (const char *const[]){"train.epochs=3", NULL}, NULL, NULL, &res);
  CHECK(rc == 0 && strcmp(res.state, "done") == 0 && res.epochs_completed == 3 && res.aborted == 0,
        "after all the failures, a clean run in the same process: rc %d, state %s, %" PRId32 " epochs: %s", rc, res.state,
        res.epochs_completed, ddpc_last_error());
  CHECK(res.test_accuracy > 0.5, "and it learns (test accuracy %.3f)", res.test_accuracy);
  free(dir);
}

int main(void) {
  if (!contract_config()) {
    testing_skip("DDPC_SOURCE_DIR is not set (run through ctest)");
    return testing_finish();
  }
  char *cache = contract_path("cache");
  setenv("DDPC_CACHE_DIR", cache, 1);
  test_injected_fault();
  test_full_disk("metrics.jsonl", (const char *const[]){"train.epochs=2", NULL});
  test_full_disk("events.jsonl", (const char *const[]){"train.epochs=2", NULL});
  test_full_disk("steps.jsonl", (const char *const[]){"train.epochs=2", "train.log_every_steps=5", NULL});
  test_checkpoint_folder_gone();
  test_setup_failures();
  test_clean_run_after();
  free(cache);
  return testing_finish();
}
