/* Watching a run through the C API: a hook that counts steps, prints each epoch's
 * validation loss, logs every transition and every checkpoint written, and a stop condition of our own (stop once the training loss falls below a threshold),
 * next to whatever the config declares.
 *   cc hooks_and_stop.c $(pkg-config --cflags --libs --static ddpc) -o hooks_and_stop
 *   ./hooks_and_stop examples/cultivars_csv.yaml 0.2 [key=value]... */
#include <ddpc/ddpc.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  int64_t steps;       // optimizer steps seen by on_step_end
  int epochs;          // epochs seen by on_epoch_end
  int checkpoints;     // checkpoint files seen by on_checkpoint
  int transitions;     // state-machine transitions seen
  double threshold;    // training loss that ends the run
} watch;

static void on_step_end(void *user, int64_t step, int32_t epoch, double loss) {
  ((watch *)user)->steps++;
}

static void on_epoch_end(void *user, const ddpc_epoch_metrics *m) {
  ((watch *)user)->epochs++;
  printf("epoch %" PRId32 " val_loss %.6f\n", m->epoch, m->val_loss);
}

static void on_checkpoint(void *user, const char *path) {
  ((watch *)user)->checkpoints++;
  printf("checkpoint %s\n", path);
}

static void on_transition(void *user, const char *from, const char *to, const char *reason) {
  ((watch *)user)->transitions++;
  printf("transition %s -> %s (%s)\n", from, to, reason);
}

static int loss_below(void *user, const ddpc_epoch_metrics *history, int count, const char **reason) {
  const watch *w = user;
  if (count == 0 || !(history[count - 1].train_loss < w->threshold)) return 0;
  *reason = "custom: training loss below the threshold";
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s CONFIG THRESHOLD [key=value]...\n", argv[0]);
    return 2;
  }
  watch w = {0, 0, 0, 0, atof(argv[2])};
  ddpc_hooks hooks = {.user = &w,
                      .on_step_end = on_step_end,
                      .on_epoch_end = on_epoch_end,
                      .on_transition = on_transition,
                      .on_checkpoint = on_checkpoint};
  ddpc_stop_condition stop = {.name = "train_loss below threshold", .user = &w, .should_stop = loss_below};
  ddpc_train_options options = {0};
  options.config_path = argv[1];
  options.overrides = (const char *const *)(argv + 3);
  options.n_overrides = argc - 3;
  options.quiet = 1;
  options.hooks = &hooks;
  options.n_hooks = 1;
  options.stops = &stop;
  options.n_stops = 1;
  ddpc_train_result result;
  if (ddpc_train_run(&options, &result) != 0) {
    fprintf(stderr, "training failed: %s\n", ddpc_last_error());
    return 1;
  }
  printf("state %s after %" PRId32 " epochs, %" PRId64 " steps seen by the hook, %d epochs, %d checkpoints, "
         "%d transitions\n",
         result.state, result.epochs_completed, w.steps, w.epochs, w.checkpoints, w.transitions);
  return 0;
}
