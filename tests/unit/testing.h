/* A small test harness shared by the unit tests: checks that report file and line, parts
 * skipped with their reason, and counters so each program ends with "N passed, N failed,
 * N skipped". A program that ran no check and skipped nothing fails; one that skipped
 * everything it had (no check ran) exits 77, which CTest reports as skipped. */
#ifndef DDPC_TESTING_H
#define DDPC_TESTING_H

#include <stdbool.h>
#include <stddef.h>

extern int testing_passed;
extern int testing_failed;
extern int testing_skipped;

void testing_check(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Records a part of the program that cannot run here, printing "SKIPPED: <why>". */
void testing_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the totals and returns the process exit code: 1 when a check failed or when no
 * check ran and nothing was skipped (a test that tests nothing), 77 (skipped) when no
 * check ran but a part was skipped, 0 otherwise (skipped parts are then in the totals). */
int testing_finish(void);
/* Absolute path of a file inside the source tree (from DDPC_SOURCE_DIR), or NULL. */
const char *testing_source_path(const char *relative);
/* A fresh private temporary directory for this test program; removed by the caller's OS. */
const char *testing_temp_dir(void);

/* The whole of `path` (malloc'd, one spare byte for a terminator) with its length in
 * *bytes, or NULL when it cannot be read. */
unsigned char *testing_read_file(const char *path, size_t *bytes);
/* Writes `bytes` bytes to `path` (created or truncated); 0 on success, -1 otherwise. */
int testing_write_file(const char *path, const void *data, size_t bytes);

/* Runs fn(arg, text, size) in a child process whose address space is limited to `extra`
 * bytes more than it already uses, so that a large allocation fails there with "out of
 * memory" instead of passing unnoticed (overcommit would grant it). fn writes what it
 * found into text (NUL-terminated). Returns that text, or NULL when the child failed.
 * AddressSanitizer reserves terabytes of address space, so there no limit is set and
 * *limited (when not NULL) says so. */
char *testing_run_limited(size_t extra, void (*fn)(void *arg, char *text, size_t size), void *arg, bool *limited);

#define CHECK(cond, ...) testing_check((cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_NEAR(a, b, tol, what)                                                     \
  testing_check(fabs((double)(a) - (double)(b)) <= (tol), __FILE__, __LINE__,          \
                "%s: %.9g vs %.9g (tol %.3g)", (what), (double)(a), (double)(b), (double)(tol))

#endif
