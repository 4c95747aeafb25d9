/* Shared by the fuzzers (tests/fuzz/fuzz_*.c): a private temporary folder per process,
 * the fuzz input written there as a file for readers that take a path, an input split
 * into NUL-separated text parts (a file and its --set overrides), and a sink for what
 * describing functions print. Nothing here calls MPI. */
#ifndef DDPC_FUZZ_COMMON_H
#define DDPC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The most parts fuzz_split returns; the rest of the input is dropped. */
#define FUZZ_MAX_PARTS 16

/* This process's folder ($TMPDIR or /tmp, ddpc-fuzz-XXXXXX), made at the first call and
 * removed with what is left in it at exit. Aborts when it cannot be made. */
const char *fuzz_dir(void);

/* FOLDER/name (malloc'd); aborts when out of memory. */
char *fuzz_path(const char *name);

/* Writes size bytes to FOLDER/name (replacing it) and returns its path (malloc'd; remove
 * it with fuzz_remove). Aborts on failure: a harness that cannot write tests nothing. */
char *fuzz_write(const char *name, const uint8_t *data, size_t size);

/* Unlinks path (absent is fine) and frees it. */
void fuzz_remove(char *path);

/* The input as NUL-terminated text parts, split at NUL bytes: parts[0] is the whole input
 * when it holds no NUL. Free with fuzz_parts_free. */
typedef struct {
  char *text;                        // a NUL-terminated copy of the input
  const char *part[FUZZ_MAX_PARTS];  // each part, pointing into text
  int n;                             // how many (at least 1)
} fuzz_parts;

void fuzz_split(const uint8_t *data, size_t size, fuzz_parts *out);
void fuzz_parts_free(fuzz_parts *p);

/* /dev/null opened for writing once, for what a reader prints. */
FILE *fuzz_sink(void);

/* Little-endian fields of binary formats, for the harnesses that repair checksums. */
uint32_t fuzz_get_u32(const uint8_t *p);
uint64_t fuzz_get_u64(const uint8_t *p);
void fuzz_put_u32(uint8_t *p, uint32_t v);
void fuzz_put_u64(uint8_t *p, uint64_t v);

#endif
