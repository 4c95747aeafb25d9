/* One model per group (data.group_by): the rows of a CSV are split by one column's value
 * and every group gets a model of its own, trained by the ordinary training session on its
 * rows alone, the groups spread over the ranks. Used by `ddpc train` and `ddpc resume`
 * (launch/cli) when the config names data.group_by. */
#ifndef DDPC_LAUNCH_GROUPS_H
#define DDPC_LAUNCH_GROUPS_H

#include <stdbool.h>

#include "core/config.h"
#include "ddpc/ddpc.h"
#include "predict/predict_file.h"

/* Runs every group of cfg (loaded from opt's config and overrides) and writes RUN_DIR's
 * groups.json and summary.json; returns the command's exit code (core/exit_code.h): 0 when
 * every group trained ended well, 5 when a stop signal preempted some, 7 when some failed
 * or diverged, 1 when the groups could not be set up (the message is printed). */
int ddpc_groups_run(const ddpc_train_options *opt, const ddpc_config *cfg);

/* The groups of a study tuned per group (`ddpc tune`, tune.per_group true). */
typedef struct {
  char **values;  // each group to tune: its value,
  char **dirs;    // and its directory under DIR/groups/ (train.csv, test.csv there)
  int count;      // how many (groups too small are left out)
  int skipped;    // how many were too small (DIR/groups.json says why)
  bool has_test;  // each group has a test.csv (the config names data.test)
} ddpc_groups_split;
/* Splits cfg's data by data.group_by into DIR/groups/<encoded value>/train.csv (and test.csv),
 * as a grouped run does, and writes DIR/groups.json. Returns 0, or -1 with the error set. */
int ddpc_groups_split_for_tuning(const ddpc_config *cfg, const char *dir, ddpc_groups_split *out);
void ddpc_groups_split_free(ddpc_groups_split *s);

/* Whether MODEL (ddpc predict's argument) is the directory of a grouped run (groups.json). */
bool ddpc_groups_is_run(const char *model_path);
/* `ddpc predict RUN_DIR --data FILE` for a grouped run: every row of FILE goes to the model
 * of its group (the run's data.group_by column, which FILE must have) and the predictions
 * come out in FILE's row order, as ddpc predict writes them. Rows of a group without a
 * trained model (unseen, skipped, failed or diverged) are left out and reported, not
 * guessed. Under mpirun rank 0 does it all. Returns the exit code (0, or 1 with the message
 * printed). */
int ddpc_groups_predict(const char *run_dir, const ddpc_predict_options *o, int batch);

#endif
