/* The `ddpc` command: dispatches to its subcommands. Exit codes are defined once, in
 * core/exit_code.h (0 done, 1 failed, 2 usage, 3 diverged, 4 awaiting review, 5 preempted,
 * 6 a fault during training); each subcommand's --help lists those it returns. */
#include <stdio.h>
#include <string.h>

#include "ddpc/ddpc.h"
#include "launch/train/blas.h"
#include "launch/cli/cli.h"

static void main_usage(FILE *out) {
  fputs("usage: ddpc <command> [options]\n"
        "\n"
        "Distributed data-parallel training from a declarative YAML config.\n"
        "\n"
        "commands:\n"
        "  train CONFIG [--set key=value]... [--run-dir DIR] [--resume auto|PATH]\n"
        "                 train a model as CONFIG says (one rank; under mpirun, one per rank)\n"
        "  resume RUN_DIR [--approve | --reject]\n"
        "                 continue a run from its newest checkpoint, answering a review gate\n"
        "  inspect CHECKPOINT|RUN_DIR\n"
        "                 print what a checkpoint holds (a run's newest), after verifying it\n"
        "  graph CONFIG   print the run's state machine as Graphviz DOT\n"
        "  split CONFIG --out DIR   write the train, validation and test rows as three CSV files\n"
        "  submit [--nodes N] [--ntasks-per-node T] [--time T] ... CONFIG   submit as a Slurm job\n"
        "  launch -n N CONFIG  mpirun N ranks of `train`, restarting after faults\n"
        "  tune STUDY.yaml [--parallelism P] ...   tune hyperparameters: many trials, P at a time\n"
        "  predict MODEL --data FILE [--out FILE|-] ...   predict a CSV's rows or IDX images with a\n"
        "                 trained model (a run directory or checkpoint) and write CSV\n"
        "  export MODEL [--format safetensors|onnx] [--out FILE]\n"
        "                 write a trained model (run directory or checkpoint) for PyTorch or ONNX\n"
        "  mlflow sync RUN_DIR|STUDY_DIR   send to MLflow what a run or study could not send\n"
        "\n"
        "options:\n"
        "  -h, --help     show this help (`ddpc train --help` for the command's own)\n"
        "  --version      print the version\n"
        "\n"
        "exit codes: each command's --help lists its own (`ddpc train --help`); 2 is a bad\n"
        "command line\n"
        "\n"
        "environment:\n"
        "  DDPC_BLAS_CORETYPE  OpenBLAS kernels: auto (best for this CPU, default), env\n"
        "                      (keep OPENBLAS_CORETYPE), or a core name such as Haswell\n"
        "  DDPC_CACHE_DIR      where prepared data is cached (default ~/.cache/ddpc)\n"
        "  OPENBLAS_NUM_THREADS  threads of the matrix products\n"
        "  MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME  log runs in MLflow (docs/tracking.md)\n"
        "\n"
        "See docs/config.md for the config reference.\n",
        out);
}

int main(int argc, char **argv) {
  ddpc_blas_select_kernels(argv);
  ddpc_blas_select_threads();
  if (argc < 2) {
    main_usage(stderr);
    return DDPC_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    main_usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("ddpc %s\n", ddpc_version());
    return 0;
  }
  if (strcmp(cmd, "train") == 0) return ddpc_cli_train(argc - 1, argv + 1);
  if (strcmp(cmd, "resume") == 0) return ddpc_cli_resume(argc - 1, argv + 1);
  if (strcmp(cmd, "inspect") == 0) return ddpc_cli_inspect(argc - 1, argv + 1);
  if (strcmp(cmd, "graph") == 0) return ddpc_cli_graph(argc - 1, argv + 1);
  if (strcmp(cmd, "split") == 0) return ddpc_cli_split(argc - 1, argv + 1);
  if (strcmp(cmd, "submit") == 0) return ddpc_cli_submit(argc - 1, argv + 1);
  if (strcmp(cmd, "launch") == 0) return ddpc_cli_launch(argc - 1, argv + 1);
  if (strcmp(cmd, "tune") == 0) return ddpc_cli_tune(argc - 1, argv + 1);
  if (strcmp(cmd, "predict") == 0) return ddpc_cli_predict(argc - 1, argv + 1);
  if (strcmp(cmd, "export") == 0) return ddpc_cli_export(argc - 1, argv + 1);
  if (strcmp(cmd, "mlflow") == 0) return ddpc_cli_mlflow(argc - 1, argv + 1);
  fprintf(stderr, "ddpc: unknown command '%s'\n", cmd);
  main_usage(stderr);
  return DDPC_EXIT_USAGE;
}
