/* `ddpc predict MODEL --data FILE [--labels FILE] [--out FILE|-] [--batch-size N]`: the
 * command line around predict/predict_file.c. Under mpirun every rank runs it, the ranks
 * share the rows and rank 0 writes the one output file; alone it is one rank without MPI. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/loss.h"
#include "launch/cli/cli.h"
#include "launch/groups/groups.h"
#include "launch/jobs/run_summary.h"
#include "predict/predict_file.h"
#include "predict/predictor.h"

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
        "  --batch-size N    samples per forward pass (default 256, fewer for a model whose\n"
        "                    layers are large, so that a batch stays within the cache)\n"
        "  -h, --help        show this help\n"
        "\n"
        "Which checkpoint was used, and the accuracy and loss, are printed on stderr.\n"
        "\n"
        "exit codes: 0 done, 1 failed (the message names the file and place), 2 bad command\n"
        "line\n",
        out);
}

/* A failure between collectives: the other ranks may wait in one that only ending the job
 * releases, so with several ranks this one says why, with its rank, and aborts. */
static int cli_predict_abort(ddpc_comm *comm) {
  if (comm && comm->size > 1) {
    fprintf(stderr, "ddpc predict: error: rank %d: %s\n", comm->rank, ddpc_error_message());
    comm->ops->abort(comm, DDPC_EXIT_FAILED);
  } else {
    fprintf(stderr, "ddpc predict: error: %s\n", ddpc_error_message());
  }
  return DDPC_EXIT_FAILED;
}

/* Loading the model and reading the input fail the same way on every rank (each reads the
 * same files), so the ranks first agree on how many failed: when all did, rank 0 alone
 * says why and every rank returns, no abort and no repeated message; when some did, those
 * say why with their rank. Returns -1 when every rank succeeded, else the exit code. */
static int cli_predict_agree(ddpc_comm *comm, int rc) {
  double failed = rc != 0;
  char *why = rc != 0 ? ddpc_strdup(ddpc_error_message()) : NULL;
  if (comm->ops->allreduce_double(comm, &failed, 1) != 0) {
    free(why);
    return cli_predict_abort(comm);
  }
  if (failed == 0) return -1;
  if (failed == comm->size && comm->rank == 0)
    fprintf(stderr, "ddpc predict: error: %s\n", why ? why : "out of memory");
  else if (failed < comm->size && rc != 0)
    fprintf(stderr, "ddpc predict: error: rank %d: %s\n", comm->rank, why ? why : "out of memory");
  free(why);
  return DDPC_EXIT_FAILED;
}

void ddpc_cli_note_rejected(const char *cmd, const char *run_dir) {
  char *state = ddpc_run_summary_state(run_dir);
  if (state && strcmp(state, "rejected") == 0)
    fprintf(stderr, "%s: note: %s was rejected at review (summary.json); its model is used as asked\n", cmd, run_dir);
  free(state);
}

/* Said after the work, not before: a failure is then the one line on stderr. */
static void cli_predict_report(const char *model_path, const ddpc_predictor *p, const ddpc_predict_options *o,
                               const ddpc_predict_result *r) {
  fprintf(stderr, "predict: %s", model_path);
  if (p->from_run_dir) fprintf(stderr, " -> %s", p->checkpoint_path);
  fprintf(stderr, " (%sepoch %lld)\n", p->is_best ? "best, " : "", (long long)p->meta.epoch);
  if (p->from_run_dir) ddpc_cli_note_rejected("predict", model_path);
  fprintf(stderr, "predict: %u samples -> %s", r->samples, strcmp(o->out_path, "-") == 0 ? "stdout" : o->out_path);
  if (r->labelled && r->samples > 0) {
    if (p->input.task == DDPC_TASK_CLASSIFICATION)
      fprintf(stderr, " | accuracy %.4f (%lld of %u)", r->accuracy, (long long)r->correct, r->samples);
    fprintf(stderr, " | loss %.6g (%s)", r->loss, ddpc_loss_name(p->cfg.loss));
  }
  double rate = r->predict_seconds > 0 ? r->samples / r->predict_seconds : 0;
  fprintf(stderr, " | read %.3f s, predict %.3f s (%.0f samples/s, batch %d; cpu %.4f s), write %.3f s\n",
          r->read_seconds, r->predict_seconds, rate, p->max_batch, r->predict_cpu_seconds, r->write_seconds);
  if (r->unseen)
    fprintf(stderr, "predict: warning: %llu cells hold a category the model was not trained on; their one-hot "
            "inputs are all zeros\n", (unsigned long long)r->unseen);
}

int ddpc_cli_predict(int argc, char **argv) {
  const char *model_path = NULL;
  ddpc_predict_options o = {.out_path = "-"};
  int batch = 0;  // the predictor chooses unless --batch-size says
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
  // A grouped run (data.group_by): each row goes to its group's model (launch/groups).
  if (ddpc_groups_is_run(model_path)) return ddpc_groups_predict(model_path, &o, batch);
  ddpc_comm *comm = NULL;
  ddpc_predictor *p = NULL;
  ddpc_predict_input *in = NULL;
  if (ddpc_comm_create(&comm) != 0) return cli_predict_abort(NULL);
  ddpc_predict_result res;
  rc = cli_predict_agree(comm, ddpc_predictor_load_batched(model_path, batch, &p));
  if (rc < 0) rc = cli_predict_agree(comm, ddpc_predict_read_input(p, &o, &in));
  if (rc < 0 && ddpc_predict_run(p, comm, in, &o, &res) != 0) {
    // Past the gather only rank 0's write can fail, and the others are done: no abort then.
    if (res.gathered) fprintf(stderr, "ddpc predict: error: %s\n", ddpc_error_message());
    rc = res.gathered ? DDPC_EXIT_FAILED : cli_predict_abort(comm);
  } else if (rc < 0) {
    if (comm->rank == 0) cli_predict_report(model_path, p, &o, &res);
    rc = DDPC_EXIT_OK;
  }
  ddpc_predict_input_free(in);
  ddpc_predictor_free(p);
  ddpc_comm_free(comm);
  return rc;
}
