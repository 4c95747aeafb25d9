/* Using a trained model from C: load it from a run directory (or a checkpoint file), read
 * raw samples, one per line of stdin (the values separated by commas or spaces, in the
 * order the model was trained on: CSV feature columns, or an image's pixels row by row),
 * and print each prediction.
 *   cc predict_from_c.c $(pkg-config --cflags --libs --static ddpc) -o predict_from_c
 *   printf '13.8,1.7,100.3,2.35,4.92,1.21\n' | ./predict_from_c runs/cultivars_csv   # its 6 features */
#include <ddpc/ddpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses up to n numbers of one line into x; returns how many. */
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
  float *x = malloc((size_t)n_in * sizeof *x), *y = malloc((size_t)n_out * sizeof *y);
  char *line = NULL;
  size_t cap = 0;
  int rc = x && y ? 0 : 1;
  for (long row = 1; rc == 0 && getline(&line, &cap, stdin) > 0; row++) {
    int got = parse_line(line, x, n_in);
    if (got != n_in) {
      fprintf(stderr, "stdin:%ld: expected %d numbers, got %s\n", row, n_in, got < 0 ? "a non-number" : "another count");
      rc = 1;
    } else if (ddpc_predictor_predict(model, x, 1, y) != 0) {
      fprintf(stderr, "stdin:%ld: %s\n", row, ddpc_last_error());
      rc = 1;
    } else {
      int best = 0;
      for (int k = 1; k < n_out; k++) best = y[k] > y[best] ? k : best;
      if (classes) printf("%d", best);  // the predicted class, then every class's probability
      for (int k = 0; k < n_out; k++) printf("%s%.6g", classes || k ? "," : "", y[k]);
      printf("\n");
    }
  }
  free(line);
  free(x);
  free(y);
  ddpc_predictor_free(model);
  return rc;
}
