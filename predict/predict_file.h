/* Predicting a whole file (ddpc predict's work, apart from its command line): the input is
 * read as the model's training data was stored (a CSV whose feature columns are found by
 * the training header's names, or IDX images with optional IDX labels), every row is
 * predicted with the rows shared among the ranks, and rank 0 writes one CSV in input order,
 * atomically: the passed-through columns, the predicted class and one probability per
 * class (or the regression values). With labels, the loss and accuracy as ddpc train
 * computes them. */
#ifndef DDPC_PREDICT_PREDICT_FILE_H
#define DDPC_PREDICT_PREDICT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"
#include "predict/predictor.h"

typedef struct {
  const char *data_path;    // CSV (columns by the training header's names) or IDX images
  const char *labels_path;  // IDX labels for the metrics, or NULL (a CSV's label column is in the file)
  const char *out_path;     // the CSV rank 0 writes; "-" is stdout
} ddpc_predict_options;

typedef struct {
  uint32_t samples;        // rows predicted
  bool labelled;           // labels were there: loss (and for classification accuracy) are set
  double loss;             // mean loss over the rows (the run's loss, as ddpc train computes it)
  double accuracy;         // classification: the fraction whose predicted class is the label; else NaN
  int64_t correct;         // classification: rows whose predicted class is the label
  uint64_t unseen;         // cells holding a category the model was not trained on (all-zero inputs)
  double read_seconds;     // reading and parsing the input (this rank)
  double predict_seconds;  // preprocessing, forward passes, probabilities, gathering on rank 0
  double predict_cpu_seconds;  // the same in this thread's CPU time, which other processes on a
                               // loaded machine do not inflate as they do the wall time (benchmarks)
  double write_seconds;    // formatting and writing the CSV (rank 0)
  bool gathered;           // the collectives completed: a failure after them (rank 0's write)
                           // leaves no rank waiting
} ddpc_predict_result;

/* The input file read and checked against the model (every rank reads all of it). */
typedef struct ddpc_predict_input ddpc_predict_input;
int ddpc_predict_read_input(const ddpc_predictor *p, const ddpc_predict_options *o, ddpc_predict_input **out);
void ddpc_predict_input_free(ddpc_predict_input *in);

/* Predicts `in` with p on every rank of comm (collectives: every rank calls it) and writes
 * o->out_path on rank 0. Returns 0, or -1 with the error set on the rank that failed: a
 * failure before res->gathered leaves the other ranks in a collective, so a caller with
 * several ranks ends the job. Nothing is written on an error: the file appears complete or
 * not at all. */
int ddpc_predict_run(ddpc_predictor *p, ddpc_comm *comm, const ddpc_predict_input *in,
                     const ddpc_predict_options *o, ddpc_predict_result *res);

/* The output's column names after the passed-through ones, comma-joined (caller frees):
 * "predicted,p_0,...,p_{K-1}" for classification ("p_setosa", ... for text labels), the target column's name (or name_0,
 * name_1, ...) for regression. */
char *ddpc_predict_output_header(const ddpc_predictor *p);

/* Writes v as printf's "%.9g" does (nine significant digits: a float reads back exactly)
 * into dst, which holds DDPC_PREDICT_FLOAT_CHARS bytes; returns the length. */
#define DDPC_PREDICT_FLOAT_CHARS 32
size_t ddpc_predict_format_float(char *dst, float v);

#endif
