/* Name tables of the settings in settings.h, in enum order. */
#include "core/settings.h"

const char *const ddpc_optimizer_names[DDPC_OPTIMIZER_COUNT] = {
    [DDPC_OPTIMIZER_SGD] = "sgd", [DDPC_OPTIMIZER_ADAM] = "adam", [DDPC_OPTIMIZER_ADAMW] = "adamw"};
const char *const ddpc_schedule_names[DDPC_SCHEDULE_COUNT] = {
    [DDPC_SCHEDULE_CONSTANT] = "constant", [DDPC_SCHEDULE_STEP] = "step", [DDPC_SCHEDULE_COSINE] = "cosine"};
const char *const ddpc_intra_node_names[DDPC_INTRA_NODE_COUNT] = {
    [DDPC_INTRA_NODE_AUTO] = "auto", [DDPC_INTRA_NODE_MPI] = "mpi", [DDPC_INTRA_NODE_SHM] = "shm"};
