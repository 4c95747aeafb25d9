/* A fast 64-bit content hash (XXH64, the algorithm of xxHash's 64-bit variant) with a
 * streaming API, so a file can be hashed chunk by chunk while it is read. Used for the
 * data-cache key, where tens of megabytes are hashed on every run: XXH64 runs at memory
 * speed (four independent multiply lanes), unlike byte-at-a-time FNV-1a. */
#ifndef DDPC_CORE_HASH_H
#define DDPC_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t lane[4];      // the four accumulators, one per 8-byte stripe of a 32-byte block
  uint64_t total;        // bytes fed so far
  uint64_t seed;         // initial seed (needed again for short inputs)
  unsigned char buf[32]; // a partial block carried between updates
  uint32_t buf_len;      // bytes in buf
} ddpc_hash;

void ddpc_hash_init(ddpc_hash *h, uint64_t seed);
void ddpc_hash_update(ddpc_hash *h, const void *data, size_t len);
/* The hash of everything fed so far; h is unchanged, so more can be fed afterwards. */
uint64_t ddpc_hash_final(const ddpc_hash *h);
/* One-shot hash of a buffer. */
uint64_t ddpc_hash_bytes(const void *data, size_t len, uint64_t seed);
/* Feeds the bytes of the file at `path` into h, read in 1 MiB chunks; *bytes receives how
 * many. 0, or -1 with the file (and the byte offset of a read error) in the error. */
int ddpc_hash_file(ddpc_hash *h, const char *path, uint64_t *bytes);

#endif
