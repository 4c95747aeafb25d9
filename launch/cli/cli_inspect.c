/* `ddpc inspect CHECKPOINT`: verifies a checkpoint file completely (every size, offset and
 * CRC) and prints what it holds, so a user can see which step a run would resume from and
 * whether a file on disk is usable before pointing `--resume` at it. */
#include <stdio.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/model_input.h"
#include "launch/cli/cli.h"

static void cli_inspect_usage(FILE *out) {
  fputs("usage: ddpc inspect CHECKPOINT\n"
        "\n"
        "Reads CHECKPOINT (e.g. RUN_DIR/checkpoints/ckpt-000000000120.ddpc), verifies every\n"
        "section's size and CRC32, and prints the sections, the training counters (meta),\n"
        "the metric history and the model's input (raw form, classes, preprocessing).\n"
        "\n"
        "options:\n"
        "  -h, --help     show this help\n"
        "\n"
        "exit codes: 0 the file is a valid checkpoint, 1 it is not (the message names the\n"
        "byte offset and the section), 2 bad command line\n",
        out);
}

int ddpc_cli_inspect(int argc, char **argv) {
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      cli_inspect_usage(stdout);
      return DDPC_EXIT_OK;
    }
    if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "ddpc inspect: unknown option '%s'\n", argv[i]);
      return DDPC_EXIT_USAGE;
    }
    if (path) {
      fprintf(stderr, "ddpc inspect: one CHECKPOINT expected, got '%s' and '%s'\n", path, argv[i]);
      return DDPC_EXIT_USAGE;
    }
    path = argv[i];
  }
  if (!path) {
    fputs("ddpc inspect: missing CHECKPOINT (see `ddpc inspect --help`)\n", stderr);
    return DDPC_EXIT_USAGE;
  }
  ddpc_checkpoint *ckpt = NULL;
  if (ddpc_checkpoint_read(path, &ckpt) != 0) {
    fprintf(stderr, "ddpc inspect: %s\n", ddpc_error_message());
    return DDPC_EXIT_FAILED;
  }
  ddpc_checkpoint_describe(ckpt, stdout);
  // The model's input (core/model_input.h), checked like the rest: predict and export trust it.
  size_t bytes = 0;
  const unsigned char *sec = ddpc_checkpoint_find_section(ckpt, DDPC_CHECKPOINT_SECTION_INPUT, &bytes);
  ddpc_model_input input;
  int rc = DDPC_EXIT_OK;
  if (sec && ddpc_model_input_decode(sec, bytes, path, &input) != 0) {
    fprintf(stderr, "ddpc inspect: %s\n", ddpc_error_message());
    rc = DDPC_EXIT_FAILED;
  } else if (sec) {
    ddpc_model_input_print(&input, stdout);
    ddpc_model_input_free(&input);
  }
  ddpc_checkpoint_free(ckpt);
  return rc;
}
