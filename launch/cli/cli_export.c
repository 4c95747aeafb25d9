/* `ddpc export MODEL [--format safetensors|onnx] [--out FILE]`: writes a trained model in a
 * format other tools read (export/export.h), from a run directory (its best checkpoint, else
 * its newest) or a checkpoint file, and says which checkpoint it took. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "export/export.h"
#include "launch/cli/cli.h"

static void cli_export_usage(FILE *out) {
  fputs("usage: ddpc export MODEL [--format safetensors|onnx] [--out FILE]\n"
        "\n"
        "Writes a trained model for use outside ddpc: safetensors for PyTorch (the weights\n"
        "named as nn.Sequential's state_dict names them, the layers and the fitted\n"
        "preprocessing in its metadata), or ONNX for ONNX Runtime (the whole inference path\n"
        "from raw inputs, preprocessing included, to logits and probabilities). docs/export.md\n"
        "shows how to load either.\n"
        "\n"
        "MODEL is a run directory or a checkpoint file. A run directory means its\n"
        "checkpoints/best.ddpc when there is one that verifies, else its newest valid\n"
        "checkpoint; the command prints which file it took. The training data is not needed.\n"
        "\n"
        "options:\n"
        "  --format F   safetensors or onnx; without it, --out's extension (.safetensors,\n"
        "               .onnx) decides, and safetensors is the default\n"
        "  --out FILE   where to write; its folder must exist. Default: for a run directory\n"
        "               RUN_DIR/export/model.safetensors (or model.onnx), for a checkpoint\n"
        "               file the same name beside it with the format's extension\n"
        "               (ckpt-000000000120.ddpc -> ckpt-000000000120.safetensors)\n"
        "  -h, --help   show this help\n"
        "\n"
        "The file is written under a temporary name and renamed when complete: on any error\n"
        "no partial file is left, and an existing FILE is replaced only by a complete one.\n"
        "\n"
        "exit codes: 0 exported, 1 failed (MODEL missing or damaged, FILE not writable),\n"
        "2 bad command line (an unknown format)\n",
        out);
}

/* The format --format names, or --out's extension implies (safetensors when neither does);
 * -1 after a message for an unknown name. */
static int cli_export_format(const char *name, const char *out) {
  if (name) {
    for (int f = 0; f < DDPC_EXPORT_COUNT; f++)
      if (strcmp(name, ddpc_export_format_names[f]) == 0) return f;
    fprintf(stderr, "ddpc export: unknown format '%s' (expected one of: ", name);
    for (int f = 0; f < DDPC_EXPORT_COUNT; f++) fprintf(stderr, "%s%s", f ? ", " : "", ddpc_export_format_names[f]);
    fputs(")\n", stderr);
    return -1;
  }
  size_t len = out ? strlen(out) : 0;
  for (int f = 0; f < DDPC_EXPORT_COUNT; f++) {
    size_t ext = strlen(ddpc_export_format_exts[f]);
    if (len > ext && strcmp(out + len - ext, ddpc_export_format_exts[f]) == 0) return f;
  }
  return DDPC_EXPORT_SAFETENSORS;
}

/* The default output for what MODEL turned out to be (see the usage); NULL with an error set. */
static char *cli_export_default_out(const ddpc_predictor *p, const char *model, const char *ext) {
  if (p->from_run_dir) {
    char *dir = ddpc_format("%s/export", model);
    char *out = dir && ddpc_fs_mkdirs(dir, 0755) == 0 ? ddpc_format("%s/model%s", dir, ext) : NULL;
    free(dir);
    return out;
  }
  const char *path = p->checkpoint_path, *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  int stem = dot && dot > (slash ? slash : path) ? (int)(dot - path) : (int)strlen(path);
  return ddpc_format("%.*s%s", stem, path, ext);
}

/* Refuses an output whose folder is missing, or that is a folder: one message naming it,
 * before anything is written. Other failures (permissions, a full disk) come from the writer. */
static int cli_export_check_out(const char *out, const char *ext) {
  struct stat st;
  if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
    return ddpc_error_set("cannot write %s: it is a directory (give a file name, e.g. %s/model%s)", out, out, ext);
  char *dir = ddpc_strdup(out);
  if (!dir) return -1;
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else strcpy(dir, ".");
  int rc = 0;
  if (stat(dir, &st) != 0)
    rc = ddpc_error_set("cannot write %s: folder %s: %s", out, dir, strerror(errno));
  else if (!S_ISDIR(st.st_mode))
    rc = ddpc_error_set("cannot write %s: %s is not a folder", out, dir);
  free(dir);
  return rc;
}

static int cli_export_run(const char *model, const char *format_name, const char *out) {
  int format = cli_export_format(format_name, out);
  if (format < 0) return DDPC_EXIT_USAGE;
  ddpc_predictor *p = NULL;
  char *path = NULL;
  int rc = ddpc_predictor_load(model, &p);
  if (rc == 0 && !out) rc = (path = cli_export_default_out(p, model, ddpc_export_format_exts[format])) ? 0 : -1;
  if (rc == 0) rc = cli_export_check_out(out ? out : path, ddpc_export_format_exts[format]);
  if (rc == 0) {
    out = out ? out : path;
    rc = ddpc_export_write(p, (ddpc_export_format)format, out);
  }
  if (rc == 0) {
    const char *which = p->is_best ? "best, " : p->from_run_dir ? "newest, " : "";
    printf("export: %s -> checkpoint %s (%sepoch %lld, step %lld) -> %s (%s)\n", model, p->checkpoint_path, which,
           (long long)p->meta.epoch, (long long)p->meta.step, out, ddpc_export_format_names[format]);
    if (p->from_run_dir) ddpc_cli_note_rejected("export", model);
  } else {
    fprintf(stderr, "ddpc export: %s\n", ddpc_error_message());
  }
  ddpc_predictor_free(p);
  free(path);
  return rc == 0 ? DDPC_EXIT_OK : DDPC_EXIT_FAILED;
}

int ddpc_cli_export(int argc, char **argv) {
  const char *model = NULL, *format = NULL, *out = NULL;
  const ddpc_cli_option options[] = {DDPC_CLI_OPT_STRING("--format", &format), DDPC_CLI_OPT_STRING("--out", &out)};
  const ddpc_cli_command c = {"export", cli_export_usage, options, 2, "MODEL", &model, false};
  int rc = ddpc_cli_parse(&c, argc, argv);
  if (rc < 0 && !model) {
    fputs("ddpc export: missing MODEL (a run directory or a checkpoint file; see ddpc export --help)\n", stderr);
    rc = DDPC_EXIT_USAGE;
  }
  if (rc < 0 && out && !*out) {
    fputs("ddpc export: --out wants a file name\n", stderr);
    rc = DDPC_EXIT_USAGE;
  }
  return rc < 0 ? cli_export_run(model, format, out) : rc;
}
