/* Filesystem helpers shared by run directories, the data cache and checkpoints:
 * `mkdir -p`, and atomic replacement of a file (temporary name, fsync, rename, fsync of
 * the folder) so a reader sees either the old file or the complete new one. */
#ifndef DDPC_CORE_FSUTIL_H
#define DDPC_CORE_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Creates `path` and its missing parents with `mode` (like mkdir -p). */
int ddpc_fs_mkdirs(const char *path, mode_t mode);

/* Writes `path` atomically: `write` fills the FILE (returning 0 on success) that lands
 * under a temporary name in the same folder, created 0644 with O_EXCL; then fsync,
 * rename over `path`, fsync of the folder. On any failure the old file is untouched. An
 * existing `path` that is no regular file or folder (/dev/null, a named pipe) is written
 * in place instead, and stays what it is. */
typedef int (*ddpc_fs_writer)(FILE *out, void *user);
int ddpc_fs_write_atomic(const char *path, ddpc_fs_writer write, void *user);

/* Reads at most size - 1 bytes from the start of RUN_DIR/NAME into buf, NUL-terminated:
 * the head of a small file ddpc wrote (summary.json's outcome comes first). Returns false
 * when the file cannot be opened. */
bool ddpc_fs_read_head(const char *run_dir, const char *name, char *buf, size_t size);

/* fsync of the folder that holds `path`, so a rename or creation survives a crash. */
int ddpc_fs_sync_parent(const char *path);

#endif
