/* XXH64 (see hash.h). Reads are done with memcpy so unaligned input is fine, and values
 * are read little-endian so the hash of a file is the same on every machine. */
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

#define HASH_P1 0x9E3779B185EBCA87ULL
#define HASH_P2 0xC2B2AE3D27D4EB4FULL
#define HASH_P3 0x165667B19E3779F9ULL
#define HASH_P4 0x85EBCA77C2B2AE63ULL
#define HASH_P5 0x27D4EB2F165667C5ULL

static inline uint64_t hash_rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t hash_read64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];  // compilers turn this into one load
  return v;
}

static inline uint32_t hash_read32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hash_round(uint64_t acc, uint64_t input) {
  acc += input * HASH_P2;
  acc = hash_rotl(acc, 31);
  return acc * HASH_P1;
}

static inline uint64_t hash_merge(uint64_t acc, uint64_t lane) {
  acc ^= hash_round(0, lane);
  return acc * HASH_P1 + HASH_P4;
}

void ddpc_hash_init(ddpc_hash *h, uint64_t seed) {
  memset(h, 0, sizeof *h);
  h->seed = seed;
  h->lane[0] = seed + HASH_P1 + HASH_P2;
  h->lane[1] = seed + HASH_P2;
  h->lane[2] = seed;
  h->lane[3] = seed - HASH_P1;
}

/* Consumes whole 32-byte blocks; returns the bytes used. */
static size_t hash_blocks(uint64_t lane[4], const unsigned char *p, size_t len) {
  uint64_t v0 = lane[0], v1 = lane[1], v2 = lane[2], v3 = lane[3];
  size_t used = 0;
  for (; used + 32 <= len; used += 32, p += 32) {
    v0 = hash_round(v0, hash_read64(p));
    v1 = hash_round(v1, hash_read64(p + 8));
    v2 = hash_round(v2, hash_read64(p + 16));
    v3 = hash_round(v3, hash_read64(p + 24));
  }
  lane[0] = v0, lane[1] = v1, lane[2] = v2, lane[3] = v3;
  return used;
}

void ddpc_hash_update(ddpc_hash *h, const void *data, size_t len) {
  const unsigned char *p = data;
  h->total += len;
  if (h->buf_len) {
    size_t take = 32 - h->buf_len < len ? 32 - h->buf_len : len;
    memcpy(h->buf + h->buf_len, p, take);
    h->buf_len += (uint32_t)take;
    p += take;
    len -= take;
    if (h->buf_len < 32) return;
    hash_blocks(h->lane, h->buf, 32);
    h->buf_len = 0;
  }
  size_t used = hash_blocks(h->lane, p, len);
  memcpy(h->buf, p + used, len - used);
  h->buf_len = (uint32_t)(len - used);
}

uint64_t ddpc_hash_final(const ddpc_hash *h) {
  uint64_t acc;
  if (h->total >= 32) {
    acc = hash_rotl(h->lane[0], 1) + hash_rotl(h->lane[1], 7) + hash_rotl(h->lane[2], 12) +
          hash_rotl(h->lane[3], 18);
    for (int i = 0; i < 4; i++) acc = hash_merge(acc, h->lane[i]);
  } else {
    acc = h->seed + HASH_P5;
  }
  acc += h->total;
  const unsigned char *p = h->buf;
  uint32_t left = h->buf_len;
  for (; left >= 8; left -= 8, p += 8) {
    acc ^= hash_round(0, hash_read64(p));
    acc = hash_rotl(acc, 27) * HASH_P1 + HASH_P4;
  }
  if (left >= 4) {
    acc ^= (uint64_t)hash_read32(p) * HASH_P1;
    acc = hash_rotl(acc, 23) * HASH_P2 + HASH_P3;
    p += 4;
    left -= 4;
  }
  for (; left > 0; left--, p++) {
    acc ^= (uint64_t)*p * HASH_P5;
    acc = hash_rotl(acc, 11) * HASH_P1;
  }
  acc ^= acc >> 33;
  acc *= HASH_P2;
  acc ^= acc >> 29;
  acc *= HASH_P3;
  acc ^= acc >> 32;
  return acc;
}

uint64_t ddpc_hash_bytes(const void *data, size_t len, uint64_t seed) {
  ddpc_hash h;
  ddpc_hash_init(&h, seed);
  ddpc_hash_update(&h, data, len);
  return ddpc_hash_final(&h);
}

int ddpc_hash_file(ddpc_hash *h, const char *path, uint64_t *bytes) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ddpc_error_set("%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1u << 20;
  unsigned char *buf = ddpc_malloc(cap, "file hash buffer");
  if (!buf) {
    close(fd);
    return -1;
  }
  *bytes = 0;
  int rc = 0;
  for (;;) {
    ssize_t got = read(fd, buf, cap);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = ddpc_error_set("%s: byte %llu: read error: %s", path, (unsigned long long)*bytes, strerror(errno));
      break;
    }
    if (got == 0) break;
    ddpc_hash_update(h, buf, (size_t)got);
    *bytes += (uint64_t)got;
  }
  free(buf);
  close(fd);
  return rc;
}
