/* Embedding ddpc: train from a YAML config through the C API and print the outcome.
 *   cc train_from_c.c $(pkg-config --cflags --libs --static ddpc) -o train_from_c
 *   ./train_from_c examples/cultivars_csv.yaml optimizer.lr=0.02 */
#include <ddpc/ddpc.h>
#include <inttypes.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CONFIG [key=value]...\n", argv[0]);
    return 2;
  }
  ddpc_train_options options = {0};
  options.config_path = argv[1];
  options.overrides = (const char *const *)(argv + 2);
  options.n_overrides = argc - 2;
  options.quiet = 1;
  ddpc_train_result result;
  if (ddpc_train_run(&options, &result) != 0) {
    fprintf(stderr, "training failed: %s\n", ddpc_last_error());
    return 1;
  }
  printf("ddpc %s: %" PRId32 " epochs, test accuracy %.4f, params crc32 %08" PRIx32 "\n", ddpc_version(),
         result.epochs_completed, result.test_accuracy, result.params_crc32);
  return 0;
}
