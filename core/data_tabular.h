/* Tabular data as it comes: text class labels, missing cells and categorical feature
 * columns of a CSV. The reader (data_csv.c) interns texts into vocabularies and marks
 * missing cells NaN; this module fits the encoding on the training split (label list,
 * category lists, fill values) and turns the read columns into the model's inputs: a
 * numeric column is one input, a categorical column one input per category (one-hot).
 * The fitted encoding travels in the data cache and in every checkpoint (model_input.c),
 * so prediction applies the same encoding to new files. */
#ifndef DDPC_CORE_DATA_TABULAR_H
#define DDPC_CORE_DATA_TABULAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/data.h"
#include "core/json.h"

/* Texts in order of first appearance, each with where it was first seen (for messages). */
typedef struct {
  char **text;        // count NUL-terminated copies
  int *line;          // count: line of the first occurrence
  int *column;        // count: its 1-based character column
  uint32_t count;     // distinct texts
  uint32_t cap;       // allocated entries
  uint32_t *slots;    // open addressing table of id + 1 (0: empty), n_slots entries
  uint32_t n_slots;   // a power of two, at least twice count
} ddpc_vocab;

/* Adds s[0..len) when new; *id gets its index. 0, or -1 out of memory. */
int ddpc_vocab_intern(ddpc_vocab *v, const char *s, size_t len, int line, int column, uint32_t *id);
/* The index of s, or -1. */
int64_t ddpc_vocab_find(const ddpc_vocab *v, const char *s, size_t len);
void ddpc_vocab_free(ddpc_vocab *v);

/* What the CSV reader is asked for beyond numbers (ddpc_csv_read_tabular). */
typedef struct {
  ddpc_missing_policy missing;           // every feature column not named in rules
  const ddpc_missing_rule *rules;        // per column; `at` names the config place (may be NULL)
  int n_rules;
  char *const *categorical;              // feature columns whose cells are category texts
  char *const *categorical_at;           // where each is given (may be NULL)
  int n_categorical;
  bool text_labels;                      // classification: labels may be texts
  bool labels_stay_text;                 // ... and stay texts even when all are numbers (a file
                                         // read for a model of text labels)
  bool predicting;                       // a row cannot be dropped: drop_rows refuses a missing cell
  const char *config_key;                // "data.missing" or the checkpoint, for messages
} ddpc_csv_spec;

/* What the reader found beyond the numbers in the table. */
typedef struct {
  uint32_t columns;         // feature columns (the table's features), header order
  char **names;             // columns: their header names, pointing into name_text
  char *name_text;          // the names, NUL-separated, in one allocation
  bool *categorical;        // columns: x holds an index into categories[c]
  ddpc_missing_policy *missing;  // columns: the policy applied
  ddpc_vocab *categories;   // columns: a categorical column's texts as read
  ddpc_vocab labels;        // the label column's texts (when spec.text_labels)
  bool labels_are_text;     // labels index `labels` (some label is not a number)
  uint32_t *lines;          // rows: each row's line in the file
  uint64_t dropped;         // rows left out (drop_rows)
  uint64_t *n_missing;      // columns: missing cells filled (mean)
} ddpc_csv_found;

void ddpc_csv_found_free(ddpc_csv_found *f);

/* Reads a CSV as ddpc_csv_read_checked does, with spec's missing cells (NaN in x when
 * kept), categorical columns (x holds the category's index in found->categories) and text
 * labels (labels hold the index in found->labels when labels_are_text). */
int ddpc_csv_read_tabular(const char *path, const char *label_column, ddpc_task task, int num_classes,
                          const ddpc_csv_spec *spec, ddpc_table *out, ddpc_csv_found *found);

/* ddpc_csv_read_columns (data.h) with a spec: prediction's reader of a tabular model's
 * file (spec->predicting; found->columns in the order of `names`). */
int ddpc_csv_read_columns_tabular(const char *path, char *const *names, uint32_t n_names, const char *label_column,
                                  ddpc_task task, int num_classes, const ddpc_csv_spec *spec, ddpc_csv_columns *out,
                                  ddpc_csv_found *found);

/* A cell's text (without its quotes) as the CSV reader takes it: a missing value (empty,
 * NA, N/A, NaN, nan, null, ?), or a finite float read whole. */
bool ddpc_csv_text_missing(const char *text, size_t len);
bool ddpc_csv_text_number(const char *text, size_t len, double *value);

/* A whole text file into *data (NUL-terminated, caller frees), as the CSV reader reads it. */
int ddpc_csv_read_text(const char *path, char **data, size_t *size);
/* The next line of data[*pos, size) as the CSV reader walks lines: its start (NULL at the
 * end) and in *len its length without the \r\n; *pos moves past the line end. */
const char *ddpc_csv_next_line(const char *data, size_t size, size_t *pos, size_t *len);
/* True for a line of spaces and tabs only (the CSV reader skips it). */
bool ddpc_csv_line_blank(const char *line, size_t len);

/* One feature column of the fitted encoding. */
typedef struct {
  char *name;                   // the CSV column's name
  bool categorical;             // one-hot: one input per category
  ddpc_missing_policy missing;  // what a missing cell becomes
  float fill;                   // missing == mean: the training split's mean, or for a categorical
                                // column the index of its most frequent category there
  uint32_t n_categories;        // categorical: categories (inputs); the training split's, sorted
  char **categories;            // (bytewise strcmp order)
} ddpc_tabular_column;

/* The fitted encoding of a CSV's columns. */
typedef struct ddpc_tabular {
  uint32_t n_columns;            // feature columns of the file, header order
  ddpc_tabular_column *columns;
  uint32_t width;                // the model's inputs: 1 per numeric column + categories
  uint32_t n_labels;             // text class labels, sorted (class k is labels[k]); 0: the labels
  char **labels;                 // are integers (class id = the integer)
  char *name_text;               // when set, the columns' names point into it (one allocation,
                                 // taken over from the reader); else each name is its own
} ddpc_tabular;

void ddpc_tabular_free(ddpc_tabular *t);
/* True when the encoding changes nothing: numeric columns, integer labels, no policy but
 * `error` (a model then keeps the checkpoint layout of older ddpc versions). */
bool ddpc_tabular_is_plain(const ddpc_tabular *t);
/* The name of input i ("color=red" for a category, the column name otherwise); caller frees. */
char *ddpc_tabular_input_name(const ddpc_tabular *t, uint32_t i);

/* Training: the label list (sorted texts; from the whole training file, as stratifying
 * needs the classes before the split) is applied to fit_found's labels in place by
 * ddpc_tabular_fit_labels; ddpc_tabular_fit then takes the category lists and fill values
 * from the rows `train` of `fit` only, and takes over found's column names. */
int ddpc_tabular_fit_labels(ddpc_tabular *t, ddpc_csv_found *found, int32_t *labels, uint32_t rows);
int ddpc_tabular_fit(ddpc_tabular *t, const ddpc_table *fit, ddpc_csv_found *found, const uint32_t *train,
                     uint32_t n_train);
/* Maps labels read with their own vocabulary (a test or prediction file) onto t's label
 * list in place; an unknown label is refused at its line:column of `path`. */
int ddpc_tabular_map_labels(const ddpc_tabular *t, const ddpc_csv_found *found, int32_t *labels, uint32_t rows,
                            const char *path, const char *label_column);
/* Encodes rows x found->columns read values into rows x t->width inputs (*x, caller
 * frees). A category not in t's list is all zeros (counted in *unseen, per column when
 * unseen_per_column is given). */
int ddpc_tabular_encode(const ddpc_tabular *t, const float *raw, uint32_t rows, const ddpc_csv_found *found,
                        float **x, uint64_t *unseen);

/* The encoding's columns as JSON array elements, inside an array the caller opened
 * (encoding.json, export metadata): per column its name, kind (numeric | categorical), missing policy, fill (a number, or a
 * category) where the policy is mean, and a categorical column's categories. */
void ddpc_tabular_json_columns(ddpc_json *j, const ddpc_tabular *t);

/* One row of text cells (t->n_columns of them, in column order; NULL is missing) into
 * t->width inputs, as ddpc_tabular_encode does for a file. A category not in a column's
 * list is all zeros (*unseen counts it when given). Refused: a cell that is not a number in
 * a numeric column, a missing cell where the policy is not mean ("column 'x1': ..."). */
int ddpc_tabular_encode_text(const ddpc_tabular *t, const char *const *cells, float *out, uint64_t *unseen);

/* The encoding's bytes (part of the checkpoint's input section and of the data cache). */
int ddpc_tabular_write(const ddpc_tabular *t, unsigned char **bytes, size_t *n_bytes);
/* Reads them back, every count checked; errors name `what` and the byte offset. *used gets
 * the bytes read (the encoding may be followed by more). */
int ddpc_tabular_read(const unsigned char *bytes, size_t n_bytes, const char *what, ddpc_tabular *out, size_t *used);

#endif
