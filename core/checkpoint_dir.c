/* The checkpoints of a run directory (declared in checkpoint.h): where they live and how they
 * are named (RUN_DIR/checkpoints/ckpt-<step>.ddpc, best.ddpc beside them), which one
 * `--resume auto` takes (the newest that verifies), and pruning all but the newest few. The
 * file format itself is checkpoint.c's. */
#include "core/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fsutil.h"

char *ddpc_checkpoint_path(const char *run_dir, int64_t step) {
  return ddpc_format("%s/checkpoints/ckpt-%012lld.ddpc", run_dir, (long long)step);
}

typedef struct {
  int64_t step;  // from the file name
  char *path;    // full path
} checkpoint_file;

/* The step of a name "ckpt-<digits>.ddpc", or -1 for any other name (best.ddpc, temporaries). */
static int64_t checkpoint_name_step(const char *name) {
  if (strncmp(name, "ckpt-", 5) != 0) return -1;
  const char *p = name + 5;
  int64_t step = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9'; p++, digits++) {
    if (digits >= 18) return -1;  // keeps step within int64_t
    step = step * 10 + (*p - '0');
  }
  return digits > 0 && strcmp(p, ".ddpc") == 0 ? step : -1;
}

static int checkpoint_file_newer_first(const void *a, const void *b) {
  const checkpoint_file *x = a, *y = b;
  if (x->step != y->step) return x->step > y->step ? -1 : 1;
  return strcmp(y->path, x->path);
}

static void checkpoint_files_free(checkpoint_file *files, int n) {
  for (int i = 0; i < n; i++) free(files[i].path);
  free(files);
}

/* The ckpt-*.ddpc files of run_dir/checkpoints, newest first. Returns 0 (n may be 0; a
 * missing folder holds none) and *dir the folder (caller frees), or -1 with nothing to free. */
static int checkpoint_list(const char *run_dir, char **dir_out, checkpoint_file **out, int *n_out) {
  *out = NULL;
  *n_out = 0;
  char *dir = ddpc_format("%s/checkpoints", run_dir);
  if (!dir) return -1;
  *dir_out = dir;
  DIR *d = opendir(dir);
  if (!d && errno == ENOENT) return 0;
  if (!d) {
    ddpc_error_set("cannot list '%s': %s", dir, strerror(errno));
    free(dir);
    *dir_out = NULL;
    return -1;
  }
  checkpoint_file *files = NULL;
  int n = 0, cap = 0, rc = 0;
  for (struct dirent *ent; (ent = readdir(d)) != NULL;) {
    int64_t step = checkpoint_name_step(ent->d_name);
    if (step < 0) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      checkpoint_file *grown = realloc(files, (size_t)cap * sizeof *files);
      if (!grown) {
        rc = ddpc_error_set("out of memory listing '%s'", dir);
        break;
      }
      files = grown;
    }
    files[n].step = step;
    files[n].path = ddpc_format("%s/%s", dir, ent->d_name);
    if (!files[n].path) {
      rc = -1;
      break;
    }
    n++;
  }
  closedir(d);
  if (rc != 0) {
    checkpoint_files_free(files, n);
    free(dir);
    *dir_out = NULL;
    return -1;
  }
  if (n > 1) qsort(files, (size_t)n, sizeof *files, checkpoint_file_newer_first);
  *out = files;
  *n_out = n;
  return 0;
}

int ddpc_checkpoint_find_latest(const char *run_dir, char **path, ddpc_checkpoint **ckpt) {
  *path = NULL;
  *ckpt = NULL;
  char *dir = NULL;
  checkpoint_file *files;
  int n;
  if (checkpoint_list(run_dir, &dir, &files, &n) != 0) return -1;
  int rc = 1;
  for (int i = 0; i < n && rc == 1; i++) {
    if (ddpc_checkpoint_read(files[i].path, ckpt) == 0) {
      *path = files[i].path;
      files[i].path = NULL;
      rc = 0;
      break;
    }
    // The message starts with the path already; print it once.
    const char *reason = ddpc_error_message();
    size_t len = strlen(files[i].path);
    if (strncmp(reason, files[i].path, len) == 0 && strncmp(reason + len, ": ", 2) == 0) reason += len + 2;
    fprintf(stderr, "ddpc: skipping %s: %s\n", files[i].path, reason);
  }
  if (rc == 1) ddpc_error_clear();
  // Files that are all damaged are not "no checkpoint": starting over would silently
  // throw the run away.
  if (rc == 1 && n > 0) {
    // best.ddpc is no part of the rotation `auto` picks from (it may be epochs behind the
    // newest), but when it is intact it is the run's last good state: offer it by name.
    char *best = dir ? ddpc_format("%s/best.ddpc", dir) : NULL;
    ddpc_checkpoint *best_ck = NULL;
    bool best_ok = best && access(best, F_OK) == 0 && ddpc_checkpoint_read(best, &best_ck) == 0;
    ddpc_checkpoint_free(best_ck);
    if (best_ok)
      rc = ddpc_error_set("%s/checkpoints: none of its %d checkpoint(s) is valid (each is named above with its "
                          "damage), but %s is intact: resume from it with --resume %s (training continues from "
                          "its epoch), or start over in another run directory",
                          run_dir, n, best, best);
    else
      rc = ddpc_error_set("%s/checkpoints: none of its %d checkpoint(s) is valid (each is named above with its "
                          "damage); resume from a checkpoint PATH or start over in another run directory",
                          run_dir, n);
    free(best);
  }
  free(dir);
  checkpoint_files_free(files, n);
  return rc;
}

int ddpc_checkpoint_exists(const char *run_dir) {
  char *dir = NULL;
  checkpoint_file *files;
  int n;
  if (checkpoint_list(run_dir, &dir, &files, &n) != 0) return -1;
  checkpoint_files_free(files, n);
  char *best = dir ? ddpc_format("%s/best.ddpc", dir) : NULL;
  int rc = n > 0 || (best && access(best, F_OK) == 0) ? 1 : 0;
  free(best);
  free(dir);
  return rc;
}

int ddpc_checkpoint_prune(const char *run_dir, int keep_last) {
  if (keep_last < 1) return ddpc_error_set("checkpoint pruning: keep_last must be at least 1, got %d", keep_last);
  char *dir = NULL;
  checkpoint_file *files;
  int n;
  if (checkpoint_list(run_dir, &dir, &files, &n) != 0) return -1;
  int rc = 0;
  for (int i = keep_last; i < n && rc == 0; i++)
    if (unlink(files[i].path) != 0 && errno != ENOENT)
      rc = ddpc_error_set("cannot remove old checkpoint '%s': %s", files[i].path, strerror(errno));
  if (rc == 0 && n > keep_last) rc = ddpc_fs_sync_parent(files[0].path);
  checkpoint_files_free(files, n);
  free(dir);
  return rc;
}
