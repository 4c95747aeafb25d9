/* The table of a study's trials, as `ddpc tune --status`, the tuner's live view and its
 * final report print it: one row per trial (number, state, the metric — final, or latest
 * while running — epochs, time taken, the parameters in short, why it failed or was
 * pruned), the best trial marked with '*', and a last line "best: trial N metric=V". */
#ifndef DDPC_LAUNCH_TUNE_TABLE_H
#define DDPC_LAUNCH_TUNE_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#include "tune/tune_store.h"

/* Index in `trials` of the best one: the COMPLETE trial with the highest value when
 * `maximize` else the lowest, the lower number on a tie; while none has completed, the
 * best PRUNED one in the same way (the best line then says so); -1 when there is none yet. */
int ddpc_tune_table_best(const ddpc_tune_trial *trials, int n, bool maximize);

/* Prints the table of n trials (in the order given) to f. `metric` names the value column
 * and the best line. */
void ddpc_tune_table_print(FILE *f, const ddpc_tune_trial *trials, int n, const char *metric, bool maximize);

/* One line for a live view, newline included:
 * "trials: 12 (3 running, 7 complete, 1 pruned, 1 failed); best: trial 4 val_accuracy=0.8812". */
void ddpc_tune_table_print_summary(FILE *f, const ddpc_tune_trial *trials, int n, const char *metric,
                                   bool maximize);

/* The live table on a terminal: redrawn in place (cursor up, clear to the end), and
 * erased before any other line is printed so that line lands above the table. */
typedef struct {
  int lines;        // lines of the table on the screen now (0: none)
  double drawn_at;  // when it was drawn (monotonic seconds)
} ddpc_tune_live_view;

void ddpc_tune_live_erase(ddpc_tune_live_view *v, FILE *f);
/* Erases the previous table and draws the trials and the summary line. */
void ddpc_tune_live_draw(ddpc_tune_live_view *v, FILE *f, const ddpc_tune_trial *trials, int n, const char *metric,
                         bool maximize);

#endif
