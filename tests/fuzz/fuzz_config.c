/* Fuzzes the training config reader (core/config.c, core/config_tree.c): the input is a
 * YAML file, optionally followed by `--set key.path=value` overrides, each after a NUL byte.
 * A config that loads is also written back as its resolved YAML (what a run directory's
 * config.yaml holds and `ddpc resume` reads) and must load again to the same resolved text. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_parts in;
  fuzz_split(data, size, &in);
  char *path = fuzz_write("run.yaml", (const uint8_t *)in.part[0], strlen(in.part[0]));
  ddpc_config cfg;
  if (ddpc_config_load(path, in.part + 1, in.n - 1, &cfg) == 0) {
    (void)ddpc_config_hash(&cfg);
    char *again_path = fuzz_write("resolved.yaml", (const uint8_t *)cfg.resolved_yaml, strlen(cfg.resolved_yaml));
    ddpc_config again;
    if (ddpc_config_load(again_path, NULL, 0, &again) != 0) {
      fprintf(stderr, "the resolved config does not load again: %s\n--- resolved:\n%s\n", ddpc_error_message(),
              cfg.resolved_yaml);
      abort();
    }
    if (strcmp(again.resolved_yaml, cfg.resolved_yaml) != 0) {
      fprintf(stderr, "the resolved config resolves differently:\n--- first:\n%s\n--- again:\n%s\n",
              cfg.resolved_yaml, again.resolved_yaml);
      abort();
    }
    ddpc_config_free(&again);
    fuzz_remove(again_path);
    ddpc_config_free(&cfg);
  }
  ddpc_error_clear();
  fuzz_remove(path);
  fuzz_parts_free(&in);
  return 0;
}
