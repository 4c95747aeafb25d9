/* ddpc public API: distributed data-parallel training in C.
 *
 * The library is driven by a declarative YAML config (see README.md). This header is the
 * stable surface for programs that embed ddpc: run a training job from a config and read
 * its outcome. Custom layers, hooks and stop conditions join it with the state-machine
 * issue. Link with `pkg-config --libs ddpc`. */
#ifndef DDPC_DDPC_H
#define DDPC_DDPC_H

#ifdef __cplusplus
extern "C" {
#endif

#define DDPC_VERSION_MAJOR 0
#define DDPC_VERSION_MINOR 1
#define DDPC_VERSION_PATCH 0

/* "0.1.0" */
const char *ddpc_version(void);

/* Options of one training run; zero-initialise and set what you need. */
typedef struct {
  const char *config_path;          // YAML config file (required)
  const char *const *overrides;     // "key.path=value" strings applied after the file
  int n_overrides;                  // number of overrides
  const char *run_dir;              // run directory; NULL = output.dir from the config
  int quiet;                        // non-zero: no progress output
} ddpc_train_options;

/* Outcome of a run, also written to RUN_DIR/summary.json. */
typedef struct {
  int epochs_completed;             // full epochs trained
  double test_loss;                 // mean loss on the test split (NaN when there is none)
  double test_accuracy;             // fraction correct on the test split (classification)
  unsigned long params_crc32;       // zlib CRC32 of the final parameter bytes, model order
  double samples_per_s;             // training throughput over the whole run
  double wall_seconds;              // from start to summary
  double peak_rss_mb;               // peak resident memory of this process
  const char *state;                // "done", "diverged" (non-finite loss) or "failed"
  int quiet_error;                  // the failure is reported by another rank: print nothing
} ddpc_train_result;

/* Trains as the config says. Returns 0 on success; otherwise non-zero, with the reason in
 * ddpc_last_error(). */
int ddpc_train_run(const ddpc_train_options *options, ddpc_train_result *result);

/* The message of the last failure ("run.yaml:3:7: unknown key 'lr' ..."), or "". */
const char *ddpc_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
