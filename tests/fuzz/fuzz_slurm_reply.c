/* Fuzzes the readers of what Slurm's commands print, which `ddpc submit` and the tuner's
 * Slurm backend act on (launch/jobs/slurm_script.c, tune/tune_slurm.c): the input is read
 * as sbatch --parsable's output, as squeue's list of job ids and as scontrol's one-line
 * job record. Each answer is checked against what the text says, worked out here: a job
 * id accepted is digits (with one "_N" or "+N") that the output starts with; a job is
 * listed only when a line holds exactly its id; an ended job's exit code is 0-255. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "launch/jobs/slurm_script.h"
#include "tune/tune_slurm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether a line of text, blanks around it aside, is exactly id. */
static bool fuzz_some_line_is(const char *text, const char *id) {
  size_t n = strlen(id);
  for (const char *line = text; *line;) {
    size_t len = strcspn(line, "\n");
    size_t a = 0, b = len;
    while (a < b && strchr(" \t\r\v\f", line[a])) a++;
    while (b > a && strchr(" \t\r\v\f", line[b - 1])) b--;
    if (b - a == n && memcmp(line + a, id, n) == 0) return true;
    line += len + (line[len] == '\n');
  }
  return false;
}

static void fuzz_check_job_id(const char *text) {
  char *id = ddpc_slurm_parse_job_id(text);
  if (!id) return;
  size_t n = strlen(id), digits = strspn(id, "0123456789");
  size_t tail = digits < n ? strspn(id + digits + 1, "0123456789") : 0;
  bool shape = n > 0 && n < 64 && digits > 0 &&
               (digits == n || ((id[digits] == '_' || id[digits] == '+') && digits + 1 + tail == n && tail > 0));
  if (!shape || strncmp(text, id, n) != 0 || !strchr(";\r\n", text[n])) {
    fprintf(stderr, "sbatch: accepted job id '%s'\n", id);
    abort();
  }
  free(id);
}

static void fuzz_check_queue(const char *text) {
  static const char *const ids[] = {"1", "12", "123", "123_4", "99+1", "4294967295"};
  enum { N = sizeof ids / sizeof ids[0] };
  bool listed[N] = {false};
  ddpc_tune_slurm_parse_queue(text, ids, N, listed);
  for (int i = 0; i < N; i++)
    if (listed[i] != fuzz_some_line_is(text, ids[i])) {
      fprintf(stderr, "squeue: job %s listed %d\n", ids[i], listed[i]);
      abort();
    }
}

static void fuzz_check_record(const char *text) {
  ddpc_tune_trial_exit e = {.exit_code = -7, .signal = -7};
  int rc = ddpc_tune_slurm_parse_record(text, &e);
  bool ok = rc == 0 || rc == -1 ? e.exit_code == -7 && e.signal == -7
            : rc == 1           ? e.exit_code >= 0 && e.exit_code <= 255 && e.signal >= 0 && e.signal <= 127 &&
                            (e.signal == 0 || e.exit_code == 128 + e.signal)
                                : false;
  if (!ok) {
    fprintf(stderr, "scontrol: %d, exit code %d, signal %d\n", rc, e.exit_code, e.signal);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  fuzz_check_job_id(text);
  fuzz_check_queue(text);
  fuzz_check_record(text);
  free(text);
  return 0;
}
