/* Using a trained model from C: load it from a run directory (or a checkpoint file), read
 * raw samples, one per line of stdin (the values separated by commas, or by spaces when a
 * line has no comma, in the order the model was trained on: CSV columns, or an image's
 * pixels row by row), and print each prediction. CSV rows go through
 * ddpc_predictor_encode, so categories as text and missing cells (an empty cell, NA) are
 * encoded as in training; a model of text labels prints its class's text.
 *   cc predict_from_c.c $(pkg-config --cflags --libs --static ddpc) -o predict_from_c
 *   printf '13.8,1.7,100.3,2.35,4.92,1.21\n' | ./predict_from_c runs/cultivars_csv   # its 6 features */
#include <ddpc/ddpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits one line into up to n cells (commas; spaces when it has none), in place; returns
 * how many there are. An empty cell between two commas stays (a missing value). */
static int split_line(char *line, char **cells, int n) {
  line[strcspn(line, "\r\n")] = '\0';
  const char *sep = strchr(line, ',') ? "," : " \t";
  int got = 0;
  for (char *at = line;;) {
    at += strchr(sep, ',') ? 0 : strspn(at, sep);
    if (!*at && strchr(sep, ' ')) break;
    size_t len = strcspn(at, sep);
    if (got < n) cells[got] = at;
    got++;
    if (!at[len]) break;
    at[len] = '\0';
    at += len + 1;
  }
  return got;
}

/* Parses up to n numbers of one line into x (image models); returns how many. */
static int parse_line(char *line, float *x, int n) {
  int got = 0;
  for (char *tok = strtok(line, ", \t\r\n"); tok && got <= n; tok = strtok(NULL, ", \t\r\n")) {
    char *end;
    float v = strtof(tok, &end);
    if (*end) return -1;
    if (got < n) x[got] = v;
    got++;
  }
  return got;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL < samples\n", argv[0]);
    return 2;
  }
  ddpc_predictor *model;
  if (ddpc_predictor_load(argv[1], &model) != 0) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], ddpc_last_error());
    return 1;
  }
  int n_in = ddpc_predictor_input_size(model), n_out = ddpc_predictor_output_size(model);
  int classes = ddpc_predictor_num_classes(model);
  fprintf(stderr, "loaded %s: %d inputs, %d %s\n", ddpc_predictor_checkpoint(model), n_in, n_out,
          classes ? "classes" : "outputs");
  int n_cols = ddpc_predictor_column_count(model);  // 0: an image model, its pixels are numbers
  float *x = malloc((size_t)n_in * sizeof *x), *y = malloc((size_t)n_out * sizeof *y);
  char **cells = malloc((size_t)(n_cols ? n_cols : 1) * sizeof *cells);
  char *line = NULL;
  size_t cap = 0;
  int rc = x && y && cells ? 0 : 1;
  for (long row = 1; rc == 0 && getline(&line, &cap, stdin) > 0; row++) {
    int want = n_cols ? n_cols : n_in;
    int got = n_cols ? split_line(line, cells, n_cols) : parse_line(line, x, n_in);
    if (got != want) {
      fprintf(stderr, "stdin:%ld: expected %d %s, got %s\n", row, want, n_cols ? "cells" : "numbers",
              got < 0 ? "a non-number" : "another count");
      rc = 1;
    } else if (n_cols && ddpc_predictor_encode(model, (const char *const *)cells, 1, x) != 0) {
      fprintf(stderr, "stdin:%ld: %s\n", row, ddpc_last_error());
      rc = 1;
    } else if (ddpc_predictor_predict(model, x, 1, y) != 0) {
      fprintf(stderr, "stdin:%ld: %s\n", row, ddpc_last_error());
      rc = 1;
    } else {
      int best = 0;
      for (int k = 1; k < n_out; k++) best = y[k] > y[best] ? k : best;
      const char *name = ddpc_predictor_class_name(model, best);  // NULL: the labels were integers
      if (classes && name) printf("%s", name);  // the predicted class, then every class's probability
      else if (classes) printf("%d", best);
      for (int k = 0; k < n_out; k++) printf("%s%.6g", classes || k ? "," : "", y[k]);
      printf("\n");
    }
  }
  free(line);
  free(cells);
  free(x);
  free(y);
  ddpc_predictor_free(model);
  return rc;
}
