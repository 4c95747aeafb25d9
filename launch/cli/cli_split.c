/* `ddpc split CONFIG --out DIR [--set key=value]...`: writes the train, validation and test
 * rows a training with CONFIG uses as three CSV files, DIR/train.csv, DIR/validation.csv and
 * DIR/test.csv: the data file's header line, then each row's line as the file has it, in
 * file order. The split is the training's own (ddpc_data_load: the same seed, fractions,
 * stratification, data.missing drop_rows), so another tool can be scored on the same rows;
 * a run directory's split.json lists the same rows by line number. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/data.h"
#include "core/data_tabular.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "launch/cli/cli.h"

static void cli_split_usage(FILE *out) {
  fputs("usage: ddpc split CONFIG --out DIR [--set key=value]...\n"
        "\n"
        "Writes the rows a training with CONFIG uses for training, validation and test as\n"
        "DIR/train.csv, DIR/validation.csv and DIR/test.csv (CSV data only): the header line,\n"
        "then each row's line as the data file has it, in file order. The split is the one\n"
        "ddpc train makes (the same seed, fractions, stratification and data.missing:\n"
        "drop_rows); a run directory's split.json lists the same rows by line number.\n"
        "\n"
        "options:\n"
        "  --out DIR           where the three files go (created when missing)\n"
        "  --set key=value     override a config key first (repeatable)\n"
        "  -h, --help          show this help\n"
        "\n"
        "exit codes: 0 written, 1 an error (the config, the data, writing), 2 a bad command line\n",
        out);
}

/* A text file and where each of its lines starts (line k, 1-based, is [at[k-1], at[k])). */
typedef struct {
  char *data;   // the file
  size_t size;  // its bytes
  size_t *at;   // lines + 1 offsets
  size_t lines; // lines in the file
} split_text;

static int split_read(const char *path, split_text *t) {
  memset(t, 0, sizeof *t);
  if (ddpc_csv_read_text(path, &t->data, &t->size) != 0) return -1;
  size_t n = 1;
  for (size_t i = 0; i < t->size; i++) n += t->data[i] == '\n';
  if (!(t->at = ddpc_malloc((n + 1) * sizeof *t->at, "line offsets"))) return -1;
  t->at[0] = 0;
  for (size_t i = 0; i < t->size; i++)
    if (t->data[i] == '\n') t->at[++t->lines] = i + 1;
  if (t->at[t->lines] < t->size) t->at[++t->lines] = t->size;  // a last line without its line end
  return 0;
}

/* Writes line k (1-based) with a line end. */
static int split_put_line(FILE *out, const split_text *t, size_t k) {
  if (k < 1 || k > t->lines) return ddpc_error_set("line %zu is not in the file (it changed?)", k);
  size_t n = t->at[k] - t->at[k - 1];
  fwrite(t->data + t->at[k - 1], 1, n, out);
  if (n == 0 || t->data[t->at[k] - 1] != '\n') fputc('\n', out);
  return 0;
}

typedef struct {
  const split_text *text;  // the file the rows are in
  const ddpc_split *split; // the rows
  const uint32_t *lines;   // each table row's line
} split_job;

static bool split_blank(const split_text *t, size_t k) {
  for (size_t i = t->at[k - 1]; i < t->at[k]; i++)
    if (t->data[i] != ' ' && t->data[i] != '\t' && t->data[i] != '\r' && t->data[i] != '\n') return false;
  return true;
}

static int split_write(FILE *out, void *user) {
  const split_job *j = user;
  const split_text *t = j->text;
  size_t header = 1;  // the header is the first line that is not blank, as the reader takes it
  while (header < t->lines && split_blank(t, header)) header++;
  int rc = split_put_line(out, t, header);
  for (uint32_t i = 0; rc == 0 && i < j->split->count; i++) rc = split_put_line(out, t, j->lines[j->split->rows[i]]);
  return rc;
}

static int cli_split_run(const char *config_path, const char *const *overrides, int n_overrides, const char *out) {
  ddpc_config cfg;
  ddpc_dataset ds;
  memset(&ds, 0, sizeof ds);
  split_text text[2] = {{0}, {0}};
  if (ddpc_config_load(config_path, overrides, n_overrides, &cfg) != 0) return -1;
  int rc = 0;
  if (cfg.data.format != DDPC_DATA_FORMAT_CSV)
    rc = ddpc_error_set("%s: data.format is idx: ddpc split writes CSV rows (a run's split.json lists an IDX "
                        "split's sample indices)", config_path);
  if (rc == 0) rc = ddpc_data_load(&cfg, &ds);
  bool separate = rc == 0 && ds.test.table == &ds.test_table;
  if (rc == 0) rc = split_read(cfg.data.train.path, &text[0]);
  if (rc == 0 && separate) rc = split_read(cfg.data.test.path, &text[1]);
  if (rc == 0) rc = ddpc_fs_mkdirs(out, 0755);
  static const char *const names[3] = {"train.csv", "validation.csv", "test.csv"};
  const ddpc_split *splits[3] = {&ds.train, &ds.val, &ds.test};
  for (int s = 0; rc == 0 && s < 3; s++) {
    split_job job = {&text[s == 2 && separate], splits[s], s == 2 && separate ? ds.test_lines : ds.fit_lines};
    char *path = ddpc_format("%s/%s", out, names[s]);
    rc = path ? ddpc_fs_write_atomic(path, split_write, &job) : -1;
    if (rc != 0 && path) ddpc_error_prefix("%s: ", path);
    if (rc == 0)
      printf("split: %u %s rows -> %s\n", splits[s]->count, s == 0 ? "train" : s == 1 ? "validation" : "test", path);
    free(path);
  }
  for (int i = 0; i < 2; i++) {
    free(text[i].data);
    free(text[i].at);
  }
  ddpc_data_free(&ds);
  ddpc_config_free(&cfg);
  return rc;
}

int ddpc_cli_split(int argc, char **argv) {
  const char **overrides = calloc((size_t)argc, sizeof *overrides);
  if (!overrides) return DDPC_EXIT_FAILED;
  const char *config_path = NULL, *out = NULL;
  int n_overrides = 0;
  const ddpc_cli_option options[] = {DDPC_CLI_OPT_REPEATABLE("--set", overrides, &n_overrides),
                                     DDPC_CLI_OPT_STRING("--out", &out)};
  const ddpc_cli_command c = {"split", cli_split_usage, options, 2, "CONFIG", &config_path, true};
  int rc = ddpc_cli_parse(&c, argc, argv);
  if (rc < 0 && !out) {
    fputs("ddpc split: missing --out DIR (where the three CSV files go; see ddpc split --help)\n", stderr);
    rc = DDPC_EXIT_USAGE;
  }
  if (rc < 0 && cli_split_run(config_path, overrides, n_overrides, out) != 0) {
    fprintf(stderr, "ddpc split: error: %s\n", ddpc_error_message());
    rc = DDPC_EXIT_FAILED;
  }
  free(overrides);
  return rc < 0 ? DDPC_EXIT_OK : rc;
}
