/* Reading a run's outcome from its summary.json (see run_summary.h). */
#include "launch/jobs/run_summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fsutil.h"

char *ddpc_run_summary_state(const char *run_dir) {
  // The state is among the first keys ddpc writes; the head of the file is enough.
  char buf[8192];
  if (!ddpc_fs_read_head(run_dir, "summary.json", buf, sizeof buf)) return NULL;
  const char *key = strstr(buf, "\"state\":");
  if (!key) return NULL;
  const char *q = strchr(key + 8, '"');
  const char *end = q ? strchr(q + 1, '"') : NULL;
  return end ? ddpc_format("%.*s", (int)(end - q - 1), q + 1) : NULL;
}
