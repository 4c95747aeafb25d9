/* The run directory's record of the data, written by rank 0 next to config.yaml:
 *   split.json     which rows went to train, validation and test: for a CSV the line
 *                  numbers in its file (1 is the header's line when it is the first), for
 *                  IDX the 0-based sample indices, so another tool can use the same rows
 *   encoding.json  a CSV's fitted encoding: class labels, per column its kind, missing-cell
 *                  policy and fill, the categories of a categorical column, and the names of
 *                  the model's inputs (the same constants the checkpoints' input section holds)
 * Both are written atomically; a resume writes them again from the same data and config. */
#include <stdlib.h>

#include "core/data_tabular.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "launch/train/train_internal.h"

static void data_files_split(ddpc_json *j, const char *key, const ddpc_split *sp, const char *file,
                             const uint32_t *lines) {
  ddpc_json_begin_object(j, key);
  ddpc_json_string(j, "file", file ? file : "");
  ddpc_json_int(j, "rows", sp->count);
  ddpc_json_begin_array(j, lines ? "lines" : "samples");
  for (uint32_t i = 0; i < sp->count; i++) ddpc_json_int(j, NULL, lines ? lines[sp->rows[i]] : sp->rows[i]);
  ddpc_json_end_array(j);
  ddpc_json_end_object(j);
}

static int data_files_split_json(FILE *out, void *user) {
  const train_session *s = user;
  const ddpc_dataset *ds = &s->data;
  const ddpc_data_config *dc = &s->cfg.data;
  bool csv = dc->format == DDPC_DATA_FORMAT_CSV;
  const char *train = csv ? dc->train.path : dc->train.images;
  bool separate = ds->test.table == &ds->test_table;
  const char *test = separate ? (csv ? dc->test.path : dc->test.images) : train;
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "unit", csv ? "line numbers of the CSV file" : "0-based sample indices");
  data_files_split(&j, "train", &ds->train, train, ds->fit_lines);
  data_files_split(&j, "validation", &ds->val, train, ds->fit_lines);
  data_files_split(&j, "test", &ds->test, test, separate ? ds->test_lines : ds->fit_lines);
  ddpc_json_end(&j);
  fputc('\n', out);
  return 0;
}

static int data_files_encoding_json(FILE *out, void *user) {
  const train_session *s = user;
  const ddpc_tabular *t = s->data.tabular;
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "label_column", s->cfg.data.label_column);
  if (s->cfg.data.task == DDPC_TASK_CLASSIFICATION) {
    ddpc_json_bool(&j, "text_labels", t->n_labels > 0);
    ddpc_json_begin_array(&j, "classes");  // class k is the k-th
    for (int k = 0; k < s->data.num_classes; k++) {
      char *name = t->n_labels ? NULL : ddpc_format("%d", k);
      ddpc_json_string(&j, NULL, t->n_labels ? t->labels[k] : name ? name : "?");
      free(name);
    }
    ddpc_json_end_array(&j);
  }
  ddpc_json_begin_array(&j, "columns");
  ddpc_tabular_json_columns(&j, t);
  ddpc_json_end_array(&j);
  ddpc_json_begin_array(&j, "inputs");
  int rc = 0;
  for (uint32_t i = 0; i < t->width && rc == 0; i++) {
    char *name = ddpc_tabular_input_name(t, i);
    if (!name) rc = -1;
    else ddpc_json_string(&j, NULL, name);
    free(name);
  }
  ddpc_json_end_array(&j);
  ddpc_json_end(&j);
  fputc('\n', out);
  return rc;
}

static int data_files_write(train_session *s, const char *name, ddpc_fs_writer write) {
  char *path = ddpc_format("%s/%s", s->run_dir, name);
  int rc = path ? ddpc_fs_write_atomic(path, write, s) : -1;
  free(path);
  return rc;
}

int train_data_files_write(train_session *s) {
  if (s->comm->rank != 0) return 0;
  // What the encoding did to the rows (dropped, filled, unseen categories), said once.
  if (s->data.notes && *s->data.notes) ddpc_progress_note(&s->progress, "data: %s", s->data.notes);
  if (data_files_write(s, "split.json", data_files_split_json) != 0) return -1;
  return s->data.tabular ? data_files_write(s, "encoding.json", data_files_encoding_json) : 0;
}
