/* `ddpc predict MODEL --data FILE [--labels FILE] [--out FILE|-] [--batch-size N]`: the
 * command line around predict/predict_file.c. Under mpirun every rank runs it, the ranks
 * share the rows and rank 0 writes the one output file; alone it is one rank without MPI. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/loss.h"
#include "launch/cli/cli.h"
#include "predict/predict_file.h"
#include "predict/predictor.h"

#define CLI_PREDICT_BATCH 256  // samples per forward pass unless --batch-size says otherwise

static void cli_predict_usage(FILE *out) {
  fputs("usage: ddpc predict MODEL --data FILE [--labels FILE] [--out FILE|-] [--batch-size N]\n"
        "\n"
        "Predicts every sample of FILE with MODEL, a run directory (its checkpoints/best.ddpc\n"
        "when that verifies, else its newest valid checkpoint) or a checkpoint file, and writes\n"
        "CSV in FILE's row order: FILE's other columns as they are (an id, ...), then\n"
        "`predicted` (the class) and p_0, p_1, ... (each class's probability), or for a\n"
        "regression model the predicted value under the target column's name. The training\n"
        "preprocessing is applied. Under mpirun the ranks share the rows and rank 0 writes.\n"
        "\n"
        "FILE is what the model was trained on: a CSV whose header names the training feature\n"
        "columns (in any order; the accuracy and loss are printed when it has the label\n"
        "column too), or IDX images of the training size (raw or gzip).\n"
        "\n"
        "options:\n"
        "  --data FILE       the samples to predict (required)\n"
        "  --labels FILE     IDX labels of FILE's images: print the accuracy and loss\n"
        "  --out FILE|-      write the CSV to FILE, whole or not at all (default -: stdout)\n"
        "  --batch-size N    samples per forward pass (default 256)\n"
        "  -h, --help        show this help\n"
        "\n"
        "Which checkpoint was used, and the accuracy and loss, are printed on stderr.\n"
        "\n"
        "exit codes: 0 done, 1 failed (the message names the file and place), 2 bad command\n"
        "line\n",
        out);
}

/* A failure: one rank prints and returns; with several, this rank says which it is and
 * ends the job, as the others may wait in a collective that only the abort releases. */
static int cli_predict_fail(ddpc_comm *comm) {
  if (comm && comm->size > 1) {
    fprintf(stderr, "ddpc predict: error: rank %d: %s\n", comm->rank, ddpc_error_message());
    comm->ops->abort(comm, DDPC_EXIT_FAILED);
  } else {
    fprintf(stderr, "ddpc predict: error: %s\n", ddpc_error_message());
  }
  return DDPC_EXIT_FAILED;
}

static void cli_predict_report(const ddpc_predictor *p, const ddpc_predict_options *o, const ddpc_predict_result *r) {
  fprintf(stderr, "predict: %u samples -> %s", r->samples, strcmp(o->out_path, "-") == 0 ? "stdout" : o->out_path);
  if (r->labelled && r->samples > 0) {
    if (p->input.task == DDPC_TASK_CLASSIFICATION)
      fprintf(stderr, " | accuracy %.4f (%lld of %u)", r->accuracy, (long long)r->correct, r->samples);
    fprintf(stderr, " | loss %.6g (%s)", r->loss, ddpc_loss_name(p->cfg.loss));
  }
  double rate = r->predict_seconds > 0 ? r->samples / r->predict_seconds : 0;
  fprintf(stderr, " | read %.3f s, predict %.3f s (%.0f samples/s), write %.3f s\n", r->read_seconds,
          r->predict_seconds, rate, r->write_seconds);
}

int ddpc_cli_predict(int argc, char **argv) {
  const char *model_path = NULL;
  ddpc_predict_options o = {.out_path = "-"};
  int batch = CLI_PREDICT_BATCH;
  const ddpc_cli_option options[] = {
      DDPC_CLI_OPT_STRING("--data", &o.data_path),
      DDPC_CLI_OPT_STRING("--labels", &o.labels_path),
      DDPC_CLI_OPT_STRING("--out", &o.out_path),
      DDPC_CLI_OPT_COUNT("--batch-size", &batch, 1),
  };
  const ddpc_cli_command c = {"predict", cli_predict_usage, options, 4, "MODEL", &model_path, true};
  int rc = ddpc_cli_parse(&c, argc, argv);
  if (rc >= 0) return rc;
  if (!o.data_path) {
    fputs("ddpc predict: missing --data FILE, the samples to predict (see ddpc predict --help)\n", stderr);
    return DDPC_EXIT_USAGE;
  }
  if (!*o.out_path) {
    fputs("ddpc predict: --out wants a file name, or - for stdout\n", stderr);
    return DDPC_EXIT_USAGE;
  }
  ddpc_comm *comm = NULL;
  ddpc_predictor *p = NULL;
  if (ddpc_comm_create(&comm) != 0) return cli_predict_fail(NULL);
  ddpc_predict_result res;
  if (ddpc_predictor_load_batched(model_path, batch, &p) != 0) {
    rc = cli_predict_fail(comm);
  } else {
    if (comm->rank == 0) {
      fprintf(stderr, "predict: %s", model_path);
      if (p->from_run_dir) fprintf(stderr, " -> %s", p->checkpoint_path);
      fprintf(stderr, " (%sepoch %lld)\n", p->is_best ? "best, " : "", (long long)p->meta.epoch);
    }
    if (ddpc_predict_run_file(p, comm, &o, &res) != 0) {
      rc = cli_predict_fail(comm);
    } else {
      if (comm->rank == 0) cli_predict_report(p, &o, &res);
      rc = DDPC_EXIT_OK;
    }
  }
  ddpc_predictor_free(p);
  ddpc_comm_free(comm);
  return rc;
}
