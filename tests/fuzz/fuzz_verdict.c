/* Fuzzes the reader of a pruning verdict (RUN_DIR/verdicts/epoch-E, written by the tuner,
 * read by a trial's rank 0: launch/train/train_verdict.c): the input is the file's text.
 * "continue" must read as continue, "prune" and "prune REASON" as prune with REASON (to
 * the line's end) handed back, and anything else as neither. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "launch/train/train_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  size_t line = strcspn(text, "\n");
  const char *why = NULL;
  size_t why_len = 0;
  int said = train_verdict_parse(text, &why, &why_len);
  int expected = line == 8 && memcmp(text, "continue", 8) == 0                             ? 0
                 : line >= 5 && memcmp(text, "prune", 5) == 0 && (line == 5 || text[5] == ' ') ? 1
                                                                                            : -1;
  bool reason_ok = said != 1 || (why_len == (line > 6 ? line - 6 : 0) && (why_len == 0 || why == text + 6));
  if (said != expected || !reason_ok) {
    fprintf(stderr, "verdict: read %d, expected %d (reason of %zu bytes)\n", said, expected, why_len);
    abort();
  }
  free(text);
  return 0;
}
