/* Settings of the modules above core (optimizer, schedule, communicator) as plain data.
 * The config parser (core/config.c) fills them and optim/ and comm/ implement them; they
 * live here so that core never includes a header from a module above it. The name tables
 * (in enum order) serve the parser's messages and the modules' name/parse functions. */
#ifndef DDPC_CORE_SETTINGS_H
#define DDPC_CORE_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
  DDPC_OPTIMIZER_SGD,
  DDPC_OPTIMIZER_ADAM,
  DDPC_OPTIMIZER_ADAMW,
  DDPC_OPTIMIZER_COUNT
} ddpc_optimizer_kind;

/* Names in enum order, for configs and messages. */
extern const char *const ddpc_optimizer_names[DDPC_OPTIMIZER_COUNT];

typedef struct {
  ddpc_optimizer_kind kind;  // which update rule
  float lr;                  // base learning rate (the schedule scales it)
  float momentum;            // sgd: momentum factor (0 = plain SGD)
  bool nesterov;             // sgd: Nesterov momentum (needs momentum > 0)
  float weight_decay;        // sgd/adam: L2 added to the gradient; adamw: decoupled decay
  float beta1;               // adam/adamw
  float beta2;               // adam/adamw
  float eps;                 // adam/adamw
} ddpc_optimizer_config;

typedef enum {
  DDPC_SCHEDULE_CONSTANT,
  DDPC_SCHEDULE_STEP,
  DDPC_SCHEDULE_COSINE,
  DDPC_SCHEDULE_COUNT
} ddpc_schedule_kind;

/* Names in enum order, for configs and messages. */
extern const char *const ddpc_schedule_names[DDPC_SCHEDULE_COUNT];

typedef struct {
  ddpc_schedule_kind kind;  // shape after warmup
  int64_t warmup_steps;     // linear warmup from lr/warmup_steps up to lr (0 = none)
  int step_size;            // step: epochs between decays
  float gamma;              // step: decay factor
  float min_lr;             // cosine: floor reached at the last step
} ddpc_schedule_config;

typedef enum {
  DDPC_INTRA_NODE_AUTO,  // shm when every rank is on one node and there are several, else mpi
  DDPC_INTRA_NODE_MPI,   // MPI all-reduce of gradient buckets
  DDPC_INTRA_NODE_SHM,   // shared-memory slots summed by the optimizer (one node only)
  DDPC_INTRA_NODE_COUNT
} ddpc_intra_node;

/* Names in enum order, for configs and messages. */
extern const char *const ddpc_intra_node_names[DDPC_INTRA_NODE_COUNT];

/* Default comm.bucket_mb: PyTorch DDP's 25 MiB, which the scaling projection in
 * bench/RESULTS.md finds within 4 % of the best cap on average from 2 to 256 nodes, where 1
 * MiB is up to 8x slower at 256 (latency per bucket). On one node the shm path is the default
 * and uses no buckets. */
#define DDPC_DEFAULT_BUCKET_MB 25.0
/* Default comm.timeout_seconds: long enough for any collective of a healthy job (a slow
 * epoch-end evaluation included), short enough that a hung job is noticed. */
#define DDPC_DEFAULT_COMM_TIMEOUT_SECONDS 300.0

typedef struct {
  double bucket_mb;             // cap of one gradient bucket, MiB
  bool overlap;                 // start bucket all-reduces during backward (false: one after)
  ddpc_intra_node intra_node;   // how gradients are combined among ranks
  double timeout_seconds;       // a collective with no progress this long aborts the job (0: not watched)
} ddpc_comm_config;

#endif
