/* What a resumed run's config changes from its checkpoint's, and which changes a resume
 * may make. A run started with --set train.epochs=12 and resumed without it must not end
 * at 10 epochs with a schedule changed mid-run and no word said. Both configs are compared
 * as resolved YAML (core/config_write.c writes every key), one leaf key at a time:
 *   refused    data and model: the saved parameters would mean something else (the data
 *              cache's place excepted)
 *   allowable  keys that change what the results mean: seed, loss, optimizer, schedule,
 *              train.batch_size, train.drop_last, train.grad_clip, and the run's length
 *              (train.epochs, stop.max_epochs) when the schedule follows it; refused
 *              unless the user names them (--allow-changes)
 *   announced  everything else (stop conditions, checkpointing, logging, comm, review,
 *              the length on a schedule that does not follow it): said and recorded
 * output.dir says where the run is, not what it is: not compared. */
#ifndef DDPC_LAUNCH_TRAIN_RESUME_DIFF_H
#define DDPC_LAUNCH_TRAIN_RESUME_DIFF_H

#include <stdbool.h>

typedef enum {
  DDPC_RESUME_CHANGE_ANNOUNCED,  // said and recorded; the resume goes on
  DDPC_RESUME_CHANGE_ALLOWABLE,  // refused unless named in the allow list
  DDPC_RESUME_CHANGE_REFUSED,    // refused whatever the allow list says
} ddpc_resume_change_kind;

typedef struct {
  char *key;                     // "optimizer.lr", "model[0]", "data.preprocess[1]"
  char *saved;                   // the checkpoint's value as written; NULL: the key was absent
  char *current;                 // this run's value; NULL: the key is absent now
  ddpc_resume_change_kind kind;  // what a resume may do about it
  bool allowed;                  // allowable and named in the allow list
} ddpc_resume_change;

typedef struct {
  ddpc_resume_change *changes;  // in the current config's order, then the removed keys
  int count;
} ddpc_resume_diff;

/* Compares two resolved configs. length_tied: the schedule sets the learning rate from the
 * run's planned length (cosine: stop.max_epochs). allow: the --allow-changes list, keys or
 * whole sections separated by commas ("optimizer,train.epochs"; NULL or "" for none).
 * Returns 0, or -1 out of memory. */
int ddpc_resume_diff_find(const char *saved_yaml, const char *current_yaml, bool length_tied, const char *allow,
                          ddpc_resume_diff *out);
void ddpc_resume_diff_free(ddpc_resume_diff *d);

/* The changes of `kind` ("key saved -> current, ..."; with_values false: the keys alone);
 * only those not allowed when not_allowed. NULL when there are none (or out of memory). */
char *ddpc_resume_diff_list(const ddpc_resume_diff *d, ddpc_resume_change_kind kind, bool not_allowed,
                            bool with_values);
/* The keys of the allowable changes not allowed, comma-separated, ready for
 * --allow-changes; NULL when there are none. */
char *ddpc_resume_diff_allow_hint(const ddpc_resume_diff *d);
/* Calls fn(user, key, value) for every leaf of a resolved config, in order: the keys this
 * comparison uses ("optimizer.lr", "model[0]") and the values as written (MLflow's params).
 * Returns 0, or -1 out of memory. */
int ddpc_resume_diff_each_leaf(const char *yaml, void (*fn)(void *user, const char *key, const char *value), void *user);

/* The change of `key`, or NULL when the key did not change. */
const ddpc_resume_change *ddpc_resume_diff_get(const ddpc_resume_diff *d, const char *key);

#endif
