/* `ddpc inspect CHECKPOINT|RUN_DIR`: verifies a checkpoint file completely (every size,
 * offset and CRC) and prints what it holds, so a user can see which step a run would resume
 * from and whether a file on disk is usable before pointing `--resume` at it. Given a run
 * directory it inspects the checkpoint `--resume auto` would continue from. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/model_input.h"
#include "launch/cli/cli.h"

static void cli_inspect_usage(FILE *out) {
  fputs("usage: ddpc inspect CHECKPOINT|RUN_DIR\n"
        "\n"
        "Reads CHECKPOINT (e.g. RUN_DIR/checkpoints/ckpt-000000000120.ddpc), verifies every\n"
        "section's size and CRC32, and prints the sections, the training counters (meta),\n"
        "the metric history and the model's input (raw form, classes, preprocessing).\n"
        "Given a run directory, it inspects the newest valid checkpoint, the one\n"
        "`--resume auto` continues from, and names the damaged ones it skipped.\n"
        "\n"
        "options:\n"
        "  -h, --help     show this help\n"
        "\n"
        "exit codes: 0 the file is a valid checkpoint, 1 it is not (the message names the\n"
        "byte offset and the section) or the run directory has none, 2 bad command line\n",
        out);
}

/* Reads the checkpoint `path` names: the file itself, or for a run directory its newest
 * valid checkpoint, whose path *found receives (NULL for a file). */
static int cli_inspect_open(const char *path, char **found, ddpc_checkpoint **ckpt) {
  *found = NULL;
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return ddpc_checkpoint_read(path, ckpt);
  char *groups = ddpc_format("%s/groups.json", path);
  bool grouped = groups && access(groups, F_OK) == 0;
  free(groups);
  if (grouped)
    return ddpc_error_set("%s: a grouped run (groups.json) has a checkpoint per group: inspect one group's run, "
                          "%s/groups/<dir> (the dirs are in groups.json)", path, path);
  int rc = ddpc_checkpoint_find_latest(path, found, ckpt);
  if (rc == 1)
    return ddpc_error_set("%s: no checkpoint in %s/checkpoints (expected a checkpoint file, or a run directory "
                          "that has written one)", path, path);
  return rc;
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
  char *found = NULL;
  if (cli_inspect_open(path, &found, &ckpt) != 0) {
    fprintf(stderr, "ddpc inspect: %s\n", ddpc_error_message());
    return DDPC_EXIT_FAILED;
  }
  if (found) {
    printf("checkpoint: %s (the newest valid one: --resume auto continues from it)\n", found);
    path = found;
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
  free(found);
  return rc;
}
