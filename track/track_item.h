/* One thing to log in MLflow (a param, tag, metric, the run's end, an artifact) and its
 * line in DIR/mlflow_pending.jsonl, the spool of what could not be sent:
 *   {"kind":"metric","run":null,"key":"val_loss","value":null,"number":0.41,"step":3,"time":1733...}
 * The spool is read back by `ddpc mlflow sync` and by a resumed run: untrusted bytes, each
 * line checked (known kind, the fields that kind needs, a relative artifact path). */
#ifndef DDPC_TRACK_TRACK_ITEM_H
#define DDPC_TRACK_TRACK_ITEM_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
  DDPC_TRACK_ITEM_PARAM,     // key = value, logged once
  DDPC_TRACK_ITEM_TAG,       // key = value, may be set again
  DDPC_TRACK_ITEM_METRIC,    // key, number at step, time
  DDPC_TRACK_ITEM_END,       // the run's status (FINISHED, FAILED, KILLED; RUNNING again on resume), at time
  DDPC_TRACK_ITEM_ARTIFACT,  // key = the artifact's path in the run; value = the file of the directory
                             // it is read from (NULL: key), both relative
  DDPC_TRACK_ITEM_COUNT
} ddpc_track_item_kind;

typedef struct {
  ddpc_track_item_kind kind;  // what it is
  char *run;                  // MLflow run id it goes to; NULL: the tracker's own run
  char *key;                  // name (param, tag, metric) or relative path (artifact)
  char *value;                // param or tag value; the end's status; an artifact's file
  double number;              // metric value
  int64_t step;               // metric step
  int64_t time_ms;            // metric timestamp or end time, Unix milliseconds
} ddpc_track_item;

extern const char *const ddpc_track_item_kind_names[DDPC_TRACK_ITEM_COUNT];

void ddpc_track_item_free(ddpc_track_item *it);

/* Writes the item as one spool line (with its newline). */
void ddpc_track_item_write(FILE *out, const ddpc_track_item *it);

/* Parses one spool line (without its newline) into *it (owned strings). Returns 0, or -1
 * with "FILE:LINE: ..." set (what was expected). */
int ddpc_track_item_parse(const char *line, const char *file, int line_no, ddpc_track_item *it);

/* Reads every line of a spool file. *items and *count receive them (free each, then the
 * array); a missing file is 0 items. *bytes: the length read. -1 with the error on a bad
 * line or a read error. */
int ddpc_track_spool_read(const char *path, ddpc_track_item **items, int *count, long *bytes);

#endif
