/* Reading a run's outcome from its summary.json (see run_summary.h). */
#include "launch/jobs/run_summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

char *ddpc_run_summary_state(const char *run_dir) {
  char *path = ddpc_format("%s/summary.json", run_dir);
  FILE *f = path ? fopen(path, "r") : NULL;
  free(path);
  if (!f) return NULL;
  // The state is among the first keys ddpc writes; the head of the file is enough.
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *key = strstr(buf, "\"state\":");
  if (!key) return NULL;
  const char *q = strchr(key + 8, '"');
  const char *end = q ? strchr(q + 1, '"') : NULL;
  return end ? ddpc_format("%.*s", (int)(end - q - 1), q + 1) : NULL;
}
