/* Error reporting for the whole library. A failing function records one message with
 * ddpc_error_set() and returns a non-zero status; the caller that decides to stop prints
 * ddpc_error_message() once: the `ddpc` command, a program through ddpc_last_error(), or,
 * with several ranks, the training session before it aborts the job (train_abort).
 * Messages name the file and place ("run.yaml:12:5: ...") so a user can fix the input. */
#ifndef DDPC_CORE_ERROR_H
#define DDPC_CORE_ERROR_H

#include <stddef.h>

/* Records a message, replacing any earlier one. printf-style. Always returns -1 so a
 * function can `return ddpc_error_set(...)`. */
int ddpc_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prepends context to the current message ("loading data: " + old message). */
int ddpc_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current message, or "" when none was recorded. */
const char *ddpc_error_message(void);
void ddpc_error_clear(void);

/* Allocation that records "out of memory (N bytes for WHAT)" on failure instead of
 * crashing later on a NULL pointer. Returned memory is zeroed for calloc. */
void *ddpc_malloc(size_t bytes, const char *what);
void *ddpc_calloc(size_t count, size_t size, const char *what);
/* 64-byte aligned allocation for SIMD/BLAS buffers; free with free(). Zeroed. */
void *ddpc_alloc_aligned(size_t bytes, const char *what);
/* Copy of a string, NULL-safe (returns NULL for NULL). */
char *ddpc_strdup(const char *s);
/* asprintf that records an error on failure; returns NULL then. */
char *ddpc_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
