/* The pieces of a grouped run shared by launch/groups' files:
 *   groups_split.c   the CSV split into one file per group, the group's directory name
 *   groups_plan.c    which rank trains which groups (largest first, least loaded rank)
 *   groups_report.c  groups.json, each group's outcome and the run's summary.json
 *   groups_run.c     the driver: set-up on rank 0, each rank's groups, the end
 * Not a public interface. */
#ifndef DDPC_LAUNCH_GROUPS_INTERNAL_H
#define DDPC_LAUNCH_GROUPS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One value of the group column. */
typedef struct {
  char *value;         // the cell as the CSV has it, quotes removed ("" unescaped)
  char *dir;           // its directory under RUN_DIR/groups/ (groups_encode_name)
  uint32_t rows;       // data rows in the training file
  uint32_t test_rows;  // data rows in data.test's file (0 when there is none)
  char *train_text;    // set-up only: the group's CSV text (header, then its rows)
  size_t train_len, train_cap;  // its bytes, and the bytes allocated
  char *test_text;     // likewise for data.test's file
  size_t test_len, test_cap;
  char *skip_reason;   // why it is not trained (too few rows, no test rows); NULL: trained
  int rank;            // the rank that trains it (-1 when skipped)
  int order;           // its place in the rank's queue: largest groups first
  int created;         // set-up only: its place in order of first appearance in the file
} groups_entry;

typedef struct {
  groups_entry *items;  // sorted by value (byte order)
  int count;
  uint32_t test_orphans;  // data.test rows whose group has no training rows (left out)
  int *row_group;         // GROUPS_SPLIT_PREDICT: per data row, in file order, its entry
  int *row_line;          // ...and its line in the file
  uint32_t n_rows;        // data rows
} groups_list;

/* What a split is for. */
typedef enum {
  GROUPS_SPLIT_TRAIN,    // the training file: creates the groups; the group column is cut out
  GROUPS_SPLIT_TEST,     // data.test's file: rows of the training file's groups; cut likewise
  GROUPS_SPLIT_PREDICT,  // ddpc predict's input: creates the groups, keeps every column (the
                         // group column passes through) and records each row's group
} groups_split_mode;

/* A file-name-safe directory name for a group value: bytes outside [A-Za-z0-9._-] become
 * %XX, and "." and ".." are encoded whole. NULL when out of memory. */
char *groups_encode_name(const char *value);

/* Splits the CSV at `path` by the column `column` into l (see groups_split_mode). Each
 * group's text is the header and its rows, byte for byte as the file has them but for the
 * group column's cell (cut out for training), so the group's file reads as the same
 * numbers. Errors name file:line:column. */
int groups_split_csv(const char *path, const char *column, groups_split_mode mode, groups_list *l);
void groups_list_free(groups_list *l);

/* Assigns every group that is not skipped to a rank of `world`: largest first (ties by
 * value), each to the rank with the least rows so far (ties: the lowest rank). Sets rank and
 * order. */
void groups_plan_assign(groups_list *l, int world);

/* groups_predict.c: `ddpc predict RUN_DIR` of a grouped run (see groups.h). */

/* groups_report.c */
/* RUN_DIR/groups.json: every group's value, directory, rows, rank (or why it is skipped). */
int groups_write_index(const char *run_dir, const char *column, const groups_list *l);
/* RUN_DIR/groups/DIR/outcome.json, by the rank that trained the group: how its run ended
 * (the training's final state, or `failed` with the error, or `preempted` before it started),
 * the rank and this process's seconds. */
int groups_write_outcome(const char *group_dir, const groups_entry *e, const char *state, const char *reason,
                         double seconds);
/* What the whole run reports, after every rank has finished. */
typedef struct {
  const char *run_dir;       // RUN_DIR
  const char *name;          // the config's name
  const char *column;        // data.group_by
  int min_group_rows;        // data.min_group_rows
  bool classification;       // the test metric is accuracy (else RMSE, in the target's units)
  int world;                 // ranks
  const double *busy;        // per rank: seconds spent training groups
  const int *trained;        // per rank: groups run
  double wall_seconds;       // from the start to now
  bool quiet;                // print nothing
} groups_report;
/* Rank 0: reads every group's outcome.json and summary.json, writes RUN_DIR/summary.json
 * (the per-group table and the overall figures), prints them; *state gets the run's state
 * (done, groups_failed or preempted). */
int groups_write_summary(const groups_report *r, const groups_list *l, const char **state);

#endif
