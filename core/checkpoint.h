/* Checkpoint files: one file per checkpoint, a versioned header and a list of sections,
 * each zlib-compressed (or stored as is) and carrying CRC32s of its bytes. Written
 * atomically (temporary name, fsync, rename, fsync of the folder), so a file on disk is
 * either a complete checkpoint or absent; read with every size, offset and CRC verified,
 * so a truncated or corrupted file is refused with its name, the byte offset and the
 * section, never half-loaded.
 *
 * File layout (every integer little-endian, written byte by byte, never as a struct):
 *   header (20 bytes)  magic "DDPCCKPT" (8) | version u32 | section count u32
 *                      | CRC32 of the 16 bytes before it u32
 *   per section        descriptor (52 bytes): id u32 | codec u32 | name (16 bytes,
 *                      NUL-padded, at most 15 characters) | raw bytes u64 | stored bytes u64
 *                      | CRC32 of the raw bytes u32 | CRC32 of the stored bytes u32
 *                      | CRC32 of the 48 descriptor bytes before it u32
 *                      then `stored bytes` of data
 *   nothing after the last section.
 * codec: 0 = stored as is (stored bytes == raw bytes), 1 = one zlib stream (compress2,
 * level 1: a checkpoint pauses training). A section whose zlib stream would save less
 * than 10% is stored as is (trained float weights barely compress; sections of 512 KiB or
 * more decide from four 64 KiB samples, so 100 MB of weights is not compressed in vain).
 * The descriptor CRC means a flipped id, name or size is refused, not silently misread;
 * the stored-bytes CRC also covers the bits a zlib stream ignores.
 * META payload (DDPC_CHECKPOINT_META_BYTES): the fields of ddpc_checkpoint_meta in
 * declaration order, u32 for world_size and state, 8 bytes for every other field (two's
 * complement or IEEE double bits), no padding; use ddpc_checkpoint_encode_meta /
 * ddpc_checkpoint_read_meta.
 * HISTORY payload: ddpc_epoch_metrics records as this build lays them out in memory. A
 * checkpoint of a ddpc before the regression metrics has HISTORY_V1 instead: the same
 * records up to params_crc32 (their first 88 bytes); one before the classification
 * metrics (`metrics:`) HISTORY_V2: the records up to val_r2 (112 bytes); use
 * ddpc_checkpoint_read_history.
 * The container knows nothing of training; ddpc_checkpoint_section_id names what ddpc stores. */
#ifndef DDPC_CORE_CHECKPOINT_H
#define DDPC_CORE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ddpc/ddpc.h"  // ddpc_epoch_metrics

#define DDPC_CHECKPOINT_VERSION 1

typedef enum {
  DDPC_CHECKPOINT_SECTION_META = 1,     // ddpc_checkpoint_meta: counters, state, world size, config hash
  DDPC_CHECKPOINT_SECTION_PARAMS = 2,   // float32 parameters, model order
  DDPC_CHECKPOINT_SECTION_OPTIM_M = 3,  // float32 optimizer first moment / momentum (may be absent)
  DDPC_CHECKPOINT_SECTION_OPTIM_V = 4,  // float32 optimizer second moment (may be absent)
  DDPC_CHECKPOINT_SECTION_HISTORY_V1 = 5,  // older checkpoints' history, without val_mae, val_rmse, val_r2
  DDPC_CHECKPOINT_SECTION_CONFIG = 6,   // the resolved config YAML text (for comparing on resume)
  DDPC_CHECKPOINT_SECTION_RUN = 7,      // "RUN_ID STARTED_AT": the run's identity, kept across resumes (may be absent)
  DDPC_CHECKPOINT_SECTION_INPUT = 8,    // core/model_input.h: raw input, fitted preprocessing, classes (may be absent)
  DDPC_CHECKPOINT_SECTION_HISTORY_V2 = 9,  // older checkpoints' history, without the classification metrics
  DDPC_CHECKPOINT_SECTION_HISTORY = 10,  // ddpc_epoch_metrics[] (ddpc/ddpc.h), one per completed epoch
  DDPC_CHECKPOINT_SECTION_DATA = 11,     // "KEY XXH64 BYTES" per data file read: a moved file may be resumed (may be absent)
} ddpc_checkpoint_section_id;

/* Counters and identity of the training state; everything needed besides the arrays. */
typedef struct {
  uint32_t world_size;       // ranks that wrote it
  uint32_t state;            // ddpc_state (core/machine.h) the run was in
  uint64_t config_hash;      // ddpc_config_hash of the resolved config
  uint64_t seed;             // run seed
  int64_t epoch;             // epochs completed
  int64_t step;              // optimizer steps completed (global, all epochs)
  int64_t batch_in_epoch;    // steps completed in the current (unfinished) epoch; 0 at a boundary
  uint64_t optimizer_steps;  // the optimizer's own step count (Adam bias correction)
  double elapsed_seconds;    // training time before this checkpoint (max_seconds budget)
  double best_value;         // best monitored value so far (NaN when none)
  int64_t best_epoch;        // epoch of best_value (0 when none)
  int64_t bad_epochs;        // early stopping: epochs without improvement so far
  int64_t reviewed_epoch;    // last epoch a review gate was answered for (0: none)
  double epoch_loss_sum;     // mid-epoch: training loss summed over the epoch's samples so far (all ranks)
  double epoch_correct;      // mid-epoch: correct predictions so far (all ranks)
  double epoch_samples;      // mid-epoch: samples trained so far in the epoch (all ranks)
  double epoch_seconds;      // mid-epoch: time spent in the epoch so far
} ddpc_checkpoint_meta;

/* Encoded size of ddpc_checkpoint_meta (2 x 4 + 15 x 8 bytes). */
#define DDPC_CHECKPOINT_META_BYTES 128
/* The META payload for m in the format above (portable, unlike the struct's bytes). */
void ddpc_checkpoint_encode_meta(const ddpc_checkpoint_meta *m, unsigned char out[DDPC_CHECKPOINT_META_BYTES]);

typedef struct {
  uint32_t id;         // ddpc_checkpoint_section_id
  const char *name;    // short name shown by `ddpc inspect` (at most 15 characters)
  const void *data;    // raw bytes
  size_t bytes;        // raw size
} ddpc_checkpoint_section;

/* Writes `path` atomically with the given sections. */
int ddpc_checkpoint_write(const char *path, const ddpc_checkpoint_section *sections, int n_sections);

typedef struct ddpc_checkpoint ddpc_checkpoint;

/* Reads and verifies the whole file. Errors: "ckpt-000120.ddpc: section 'params' at byte
 * 4096: CRC32 mismatch (stored 1a2b..., computed ...)", "...: truncated at byte N", ... */
int ddpc_checkpoint_read(const char *path, ddpc_checkpoint **out);
/* The raw bytes of section `id`, or NULL when absent; *bytes receives its size. */
const void *ddpc_checkpoint_find_section(const ddpc_checkpoint *ckpt, uint32_t id, size_t *bytes);
/* Decodes the META section into *out: 0, 1 when absent, -1 (error naming the file) when it
 * has the wrong size. */
int ddpc_checkpoint_read_meta(const ddpc_checkpoint *ckpt, ddpc_checkpoint_meta *out);
/* The metric history, one record per completed epoch: the HISTORY section, or an older
 * checkpoint's HISTORY_V1 (its regression metrics then NaN). *out (caller frees) is NULL
 * and *count 0 when there is neither; -1 (error naming the file) when the section is not a
 * whole number of records. */
int ddpc_checkpoint_read_history(const ddpc_checkpoint *ckpt, ddpc_epoch_metrics **out, int64_t *count);
void ddpc_checkpoint_free(ddpc_checkpoint *ckpt);
/* Human-readable listing: header, each section (name, sizes, CRC), and the decoded meta
 * and history; what `ddpc inspect` prints. */
void ddpc_checkpoint_describe(const ddpc_checkpoint *ckpt, FILE *out);

/* ---- the run directory's checkpoints (checkpoint_dir.c) ---- */

/* Checkpoints of a run live in RUN_DIR/checkpoints/ named ckpt-<step, 12 digits>.ddpc, and
 * the best one (by the monitored metric) as RUN_DIR/checkpoints/best.ddpc. */
char *ddpc_checkpoint_path(const char *run_dir, int64_t step);
/* The newest checkpoint of run_dir that reads and verifies; invalid newer ones are
 * reported on stderr ("skipping ...: <reason>") and skipped. Returns 0 and sets *path
 * (caller frees) and *ckpt; returns 1 when there is no checkpoint at all; -1 on error,
 * also when there are checkpoints but none of them is valid. */
int ddpc_checkpoint_find_latest(const char *run_dir, char **path, ddpc_checkpoint **ckpt);
/* 1 when run_dir holds a checkpoint (ckpt-*.ddpc or best.ddpc, valid or not), 0 when none,
 * -1 when the folder cannot be read. */
int ddpc_checkpoint_exists(const char *run_dir);
/* Removes all but the newest keep_last ckpt-*.ddpc files (best.ddpc is kept). */
int ddpc_checkpoint_prune(const char *run_dir, int keep_last);

#endif
