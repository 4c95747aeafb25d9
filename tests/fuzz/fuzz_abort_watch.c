/* Fuzzes the reader of mpirun's stderr that `ddpc launch` watches for an announced abort or
 * a lost daemon (launch/jobs/abort_watch.c): the input is the byte stream, fed whole to one
 * watch and in pieces (their lengths taken from the input's own bytes, as pipes split it)
 * to another; both must come to the same verdict, which must be what the lines say. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "launch/jobs/abort_watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *bytes = (const char *)data;
  ddpc_abort_watch whole, pieces;
  ddpc_abort_watch_init(&whole);
  ddpc_abort_watch_init(&pieces);
  bool announced = ddpc_abort_watch_feed(&whole, bytes, size);
  bool announced_in_pieces = false;
  for (size_t at = 0, k = 0; at < size; k++) {
    size_t n = 1 + data[k % size] % 97;
    if (n > size - at) n = size - at;
    announced_in_pieces = ddpc_abort_watch_feed(&pieces, bytes + at, n);
    at += n;
  }
  // What each line says on its own (a long line is judged by its first 1024 bytes).
  bool abort_line = false, lost_line = false;
  for (size_t start = 0; start < size;) {
    const char *nl = memchr(bytes + start, '\n', size - start);
    size_t len = nl ? (size_t)(nl - (bytes + start)) : size - start;
    size_t seen = len < sizeof whole.line ? len : sizeof whole.line;
    abort_line = abort_line || ddpc_abort_watch_line_announces_abort(bytes + start, seen);
    lost_line = lost_line || ddpc_abort_watch_line_reports_lost_daemon(bytes + start, seen);
    start += len + 1;
  }
  if (size > 0 && (announced != announced_in_pieces || whole.lost_daemon != pieces.lost_daemon ||
                   announced != (abort_line || lost_line) || whole.lost_daemon != lost_line)) {
    fprintf(stderr, "abort watch: whole %d/%d, in pieces %d/%d, by lines %d/%d (announced/lost daemon)\n",
            announced, whole.lost_daemon, announced_in_pieces, pieces.lost_daemon, abort_line || lost_line,
            lost_line);
    abort();
  }
  return 0;
}
