/* `ddpc predict RUN_DIR` of a grouped run: the input CSV is split by the group column (kept
 * in every group's rows, so that it passes through to the output like any other column),
 * each group's rows are predicted by the ordinary path (predict/predict_file.c) with the
 * group's own model and preprocessing, and the groups' output lines are put back in the
 * input's row order. A row whose group has no trained model is not guessed: it is left out
 * and reported with its value and first line. */
#define _XOPEN_SOURCE 700  // mkdtemp
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/exit_code.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "launch/groups/groups.h"
#include "launch/groups/groups_internal.h"

bool ddpc_groups_is_run(const char *model_path) {
  char *path = ddpc_format("%s/groups.json", model_path);
  struct stat st;
  bool is = path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
  free(path);
  return is;
}

/* One group's predictions: the output's lines (header first), or why there are none. */
typedef struct {
  char *text;       // the output CSV, lines split in place (NUL at each line end)
  char **lines;     // lines[0] the header, then one per row of the group
  size_t n_lines;
  size_t next;      // the next row line to take
  char *no_model;   // why the group's rows are left out (NULL: predicted)
} predict_group;

static int predict_read_all(const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return ddpc_error_set("cannot open '%s': %s", path, strerror(errno));
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *grown = realloc(buf, 2 * cap + 1);
    if (!grown) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = grown;
    cap *= 2;
  }
  bool bad = ferror(f) || !buf;
  fclose(f);
  if (bad) {
    free(buf);
    return ddpc_error_set("cannot read '%s'", path);
  }
  buf[n] = '\0';
  *text = buf;
  *len = n;
  return 0;
}

static int predict_split_lines(predict_group *g, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += g->text[i] == '\n';
  g->lines = ddpc_calloc(n + 1, sizeof *g->lines, "prediction lines");
  if (!g->lines) return -1;
  char *p = g->text;
  for (size_t i = 0; i < n; i++) {
    char *nl = strchr(p, '\n');
    *nl = '\0';
    g->lines[g->n_lines++] = p;
    p = nl + 1;
  }
  return 0;
}

/* Why the group of entry e has no model to predict with (NULL: it has one). */
static char *predict_no_model(const char *run_dir, const char *dir) {
  char *gdir = ddpc_format("%s/groups/%s", run_dir, dir);
  char buf[8192];
  char *state = gdir && ddpc_fs_read_head(gdir, "outcome.json", buf, sizeof buf) ? ddpc_json_find_string(buf, "state")
                                                                                   : NULL;
  char *why = NULL;
  if (!state) why = ddpc_format("no trained group of that value in %s/groups.json", run_dir);
  else if (strcmp(state, "rejected") == 0) why = ddpc_strdup("its model was rejected at review");
  else if (ddpc_exit_code_of_state(state) != DDPC_EXIT_OK) why = ddpc_format("its model's training ended %s", state);
  free(state);
  free(gdir);
  return why;
}

/* Predicts one group's rows (text) with its model into g. Accumulates the metrics. */
static int predict_one(const char *run_dir, const groups_entry *e, const char *tmp, int index, int batch,
                       ddpc_comm *self, predict_group *g, ddpc_predict_result *sum, double *loss_sum) {
  char *model = ddpc_format("%s/groups/%s", run_dir, e->dir);
  char *in_path = ddpc_format("%s/in-%d.csv", tmp, index);
  char *out_path = ddpc_format("%s/out-%d.csv", tmp, index);
  int rc = model && in_path && out_path ? 0 : -1;
  FILE *f = rc == 0 ? fopen(in_path, "wb") : NULL;
  if (rc == 0 && (!f || fwrite(e->train_text, 1, e->train_len, f) != e->train_len))
    rc = ddpc_error_set("cannot write '%s': %s", in_path, strerror(errno));
  if (f && fclose(f) != 0 && rc == 0) rc = ddpc_error_set("cannot write '%s': %s", in_path, strerror(errno));
  ddpc_predictor *p = NULL;
  ddpc_predict_input *in = NULL;
  ddpc_predict_options go = {.data_path = in_path, .labels_path = NULL, .out_path = out_path};
  ddpc_predict_result res;
  memset(&res, 0, sizeof res);
  if (rc == 0) rc = ddpc_predictor_load_batched(model, batch, &p);
  if (rc == 0) rc = ddpc_predict_read_input(p, &go, &in);
  if (rc == 0) rc = ddpc_predict_run(p, self, in, &go, &res);
  size_t len = 0;
  if (rc == 0) rc = predict_read_all(out_path, &g->text, &len);
  if (rc == 0) rc = predict_split_lines(g, len);
  if (rc == 0 && g->n_lines != (size_t)e->rows + 1)
    rc = ddpc_error_set("group '%s': %zu predictions for %u rows", e->value, g->n_lines ? g->n_lines - 1 : 0,
                        e->rows);
  if (rc == 0) {
    sum->samples += res.samples;
    sum->labelled = res.labelled;
    sum->correct += res.correct;
    *loss_sum += res.loss * res.samples;
  } else {
    ddpc_error_prefix("group '%s' (%s/groups/%s): ", e->value, run_dir, e->dir);
  }
  if (in_path) unlink(in_path);
  if (out_path) unlink(out_path);
  ddpc_predict_input_free(in);
  ddpc_predictor_free(p);
  free(out_path);
  free(in_path);
  free(model);
  return rc;
}

typedef struct {
  const groups_list *l;
  predict_group *g;
} predict_merge;

/* The groups' lines in the input's row order; rows without a model are left out. */
static int predict_write_merged(FILE *out, void *user) {
  const predict_merge *m = user;
  const char *header = NULL;
  for (int i = 0; i < m->l->count && !header; i++)
    if (!m->g[i].no_model) header = m->g[i].lines[0];
  fprintf(out, "%s\n", header);
  for (uint32_t r = 0; r < m->l->n_rows; r++) {
    predict_group *g = &m->g[m->l->row_group[r]];
    if (!g->no_model) fprintf(out, "%s\n", g->lines[1 + g->next++]);
  }
  return ferror(out) ? -1 : 0;
}

static int predict_rank0(const char *run_dir, const ddpc_predict_options *o, int batch) {
  if (o->labels_path)
    return ddpc_error_set("--labels: IDX labels; a grouped run predicts CSV rows, whose label column is in --data");
  char *config = ddpc_format("%s/config.yaml", run_dir);
  ddpc_config cfg;
  memset(&cfg, 0, sizeof cfg);
  int rc = config ? ddpc_config_load(config, NULL, 0, &cfg) : -1;
  free(config);
  if (rc == 0 && !(cfg.data.group_by && *cfg.data.group_by))
    rc = ddpc_error_set("%s/config.yaml: no data.group_by, but the directory holds groups.json", run_dir);
  groups_list l;
  memset(&l, 0, sizeof l);
  if (rc == 0) rc = groups_split_csv(o->data_path, cfg.data.group_by, GROUPS_SPLIT_PREDICT, &l);
  const char *tmpdir = getenv("TMPDIR");
  char *tmp = ddpc_format("%s/ddpc-predict-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
  if (rc == 0 && (!tmp || !mkdtemp(tmp))) rc = ddpc_error_set("cannot make a temporary folder: %s", strerror(errno));
  predict_group *g = rc == 0 ? ddpc_calloc(l.count ? (size_t)l.count : 1, sizeof *g, "group predictions") : NULL;
  ddpc_comm *self = NULL;
  if (rc == 0 && (!g || ddpc_comm_create_self(&self) != 0)) rc = -1;
  ddpc_predict_result sum;
  memset(&sum, 0, sizeof sum);
  double loss_sum = 0.0;
  int predicted = 0;
  uint32_t left_out = 0;
  for (int i = 0; rc == 0 && i < l.count; i++) {
    groups_entry *e = &l.items[i];
    if (!(e->dir = groups_encode_name(e->value))) rc = -1;
    else if ((g[i].no_model = predict_no_model(run_dir, e->dir))) left_out += e->rows;
    else if ((rc = predict_one(run_dir, e, tmp, i, batch, self, &g[i], &sum, &loss_sum)) == 0) predicted++;
    if (rc == 0 && predicted > 0 && !g[i].no_model) {
      const char *first = NULL;
      for (int k = 0; k <= i && !first; k++)
        if (!g[k].no_model) first = g[k].lines[0];
      if (strcmp(first, g[i].lines[0]) != 0)
        rc = ddpc_error_set("group '%s' predicts other columns (%s) than the first group (%s): give the run a fixed "
                            "data.num_classes", e->value, g[i].lines[0], first);
    }
  }
  if (rc == 0 && predicted == 0) {
    // Every group of the input is left out: the first one's reason says which case it is.
    int first = 0;
    while (first < l.count && !g[first].no_model) first++;
    rc = ddpc_error_set("%s: no row of %s belongs to a group with a model to predict with in %s (the first, '%s': %s)",
                        o->data_path, o->data_path, run_dir, first < l.count ? l.items[first].value : "",
                        first < l.count ? g[first].no_model : "no group");
  }
  predict_merge m = {&l, g};
  if (rc == 0 && strcmp(o->out_path, "-") == 0) {
    rc = predict_write_merged(stdout, &m);
    if (fflush(stdout) != 0) rc = ddpc_error_set("cannot write the predictions to stdout");
  } else if (rc == 0) {
    rc = ddpc_fs_write_atomic(o->out_path, predict_write_merged, &m);
  }
  if (rc == 0) {
    fprintf(stderr, "predict: %s: %u rows of %d groups -> %s", run_dir, sum.samples, predicted,
            strcmp(o->out_path, "-") == 0 ? "stdout" : o->out_path);
    if (sum.labelled && sum.samples > 0) {
      if (cfg.data.task == DDPC_TASK_CLASSIFICATION)
        fprintf(stderr, " | accuracy %.4f (%lld of %u)", (double)sum.correct / sum.samples, (long long)sum.correct,
                sum.samples);
      fprintf(stderr, " | loss %.6g", loss_sum / sum.samples);
    }
    fputc('\n', stderr);
    if (left_out) {
      fprintf(stderr, "predict: %u rows left out, their groups have no model:", left_out);
      for (int i = 0; i < l.count; i++) {
        if (!g[i].no_model) continue;
        uint32_t r = 0;
        while (r < l.n_rows && l.row_group[r] != i) r++;
        fprintf(stderr, " '%s' (%u row%s, first at %s:%d: %s);", l.items[i].value, l.items[i].rows,
                l.items[i].rows == 1 ? "" : "s", o->data_path, r < l.n_rows ? l.row_line[r] : 0, g[i].no_model);
      }
      fputc('\n', stderr);
    }
  }
  for (int i = 0; g && i < l.count; i++) {
    free(g[i].text);
    free(g[i].lines);
    free(g[i].no_model);
  }
  free(g);
  if (tmp) rmdir(tmp);  // empty: each group's files are removed as it ends
  free(tmp);
  ddpc_comm_free(self);
  groups_list_free(&l);
  ddpc_config_free(&cfg);
  return rc;
}

int ddpc_groups_predict(const char *run_dir, const ddpc_predict_options *o, int batch) {
  ddpc_comm *c = NULL;
  if (ddpc_comm_create(&c) != 0) {
    fprintf(stderr, "ddpc predict: error: %s\n", ddpc_error_message());
    return DDPC_EXIT_FAILED;
  }
  int32_t code = DDPC_EXIT_OK;
  if (c->rank == 0 && predict_rank0(run_dir, o, batch) != 0) {
    fprintf(stderr, "ddpc predict: error: %s\n", ddpc_error_message());
    code = DDPC_EXIT_FAILED;
  }
  // The other ranks wait for rank 0's verdict, so that all leave with its exit code.
  if (c->ops->broadcast(c, &code, sizeof code, 0) != 0) code = DDPC_EXIT_FAILED;
  ddpc_comm_free(c);
  return code;
}
