/* `ddpc mlflow sync RUN_DIR|STUDY_DIR`: sends to MLflow what a training or a study could not
 * send while it ran (DIR/mlflow_pending.jsonl; compute nodes often have no route to the
 * tracking server), creating runs that never reached it. A study directory's own run and
 * each of its trials' runs are synced, the parent first so its children find it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "launch/cli/cli.h"
#include "launch/train/run_lock.h"
#include "track/track.h"

static void cli_mlflow_usage(FILE *out) {
  fputs("usage: ddpc mlflow sync RUN_DIR|STUDY_DIR\n"
        "\n"
        "Sends what a training (RUN_DIR) or a study (STUDY_DIR and its trials) logged for MLflow\n"
        "but could not send (DIR/mlflow_pending.jsonl) to the tracking server named in\n"
        "DIR/mlflow.json, creating the run there when it never was. What still cannot be sent\n"
        "stays where it was, for the next sync.\n"
        "\n"
        "options:\n"
        "  -h, --help   show this help\n"
        "\n"
        "exit codes: 0 everything sent, 1 something could not be sent (or DIR is not tracked),\n"
        "2 bad command line\n",
        out);
}

typedef struct {
  const char *top;  // the directory given
  int dirs;         // directories synced
  int failed;       // of them, with something left
  int sent;         // items sent in all
} cli_mlflow_sync;

/* A study's trial (TOP/trials/NNNN) whose run never reached the server did not know its
 * parent's id either: the study's run, synced just before, is its parent. */
static void cli_mlflow_adopt_trial(const cli_mlflow_sync *s, const char *dir) {
  size_t len = strlen(s->top);
  if (strncmp(dir, s->top, len) != 0 || strncmp(dir + len, "/trials/", 8) != 0) return;
  char *spool = ddpc_format("%s/%s", dir, DDPC_TRACK_SPOOL_FILE);
  char *parent = spool && access(spool, F_OK) == 0 ? ddpc_track_dir_run_id(s->top) : NULL;
  if (parent && ddpc_track_spool_tag(dir, "mlflow.parentRunId", parent) != 0) ddpc_error_clear();
  free(parent);
  free(spool);
}

static int cli_mlflow_sync_dir(void *user, const char *dir) {
  cli_mlflow_sync *s = user;
  s->dirs++;
  int held = ddpc_run_lock_held(dir);
  if (held != 0) {  // a training still writes there: its own sender is at work
    fprintf(stderr, "ddpc mlflow sync: error: %s\n",
            held > 0 ? "a training is running there; sync it after it ends" : ddpc_error_message());
    if (held > 0) fprintf(stderr, "  (%s)\n", dir);
    s->failed++;
    ddpc_error_clear();
    return 0;
  }
  cli_mlflow_adopt_trial(s, dir);
  int sent = 0;
  if (ddpc_track_sync(dir, &sent) != 0) {
    fprintf(stderr, "ddpc mlflow sync: error: %s\n", ddpc_error_message());
    ddpc_error_clear();
    s->failed++;
  }
  s->sent += sent;
  printf("%s: %d item(s) sent\n", dir, sent);
  return 0;
}

int ddpc_cli_mlflow(int argc, char **argv) {
  const char *action = NULL;
  const char *dir = NULL;
  if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    cli_mlflow_usage(stdout);
    return DDPC_EXIT_OK;
  }
  if (argc < 2 || strcmp(argv[1], "sync") != 0) {
    fprintf(stderr, "ddpc mlflow: expected the action `sync` (see ddpc mlflow --help)\n");
    return DDPC_EXIT_USAGE;
  }
  action = argv[1];
  const ddpc_cli_command c = {"mlflow sync", cli_mlflow_usage, NULL, 0, "RUN_DIR", &dir, true};
  int rc = ddpc_cli_parse(&c, argc - 1, argv + 1);
  if (rc >= 0) return rc;
  (void)action;
  cli_mlflow_sync s = {.top = dir};
  int found = ddpc_track_find_dirs(dir, cli_mlflow_sync_dir, &s);
  if (found < 0) {
    fprintf(stderr, "ddpc mlflow sync: error: %s\n", ddpc_error_message());
    return DDPC_EXIT_FAILED;
  }
  if (found == 0) {
    fprintf(stderr, "ddpc mlflow sync: error: %s holds no %s, nor do its subdirectories: nothing there was tracked in MLflow\n",
            dir, DDPC_TRACK_STATE_FILE);
    return DDPC_EXIT_FAILED;
  }
  if (s.failed > 0) {
    fprintf(stderr, "ddpc mlflow sync: %d of %d run(s) not complete in MLflow; run it again when the server can be reached\n",
            s.failed, s.dirs);
    return DDPC_EXIT_FAILED;
  }
  return DDPC_EXIT_OK;
}
