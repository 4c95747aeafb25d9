/* The start marker: how a supervisor (`ddpc launch`, `ddpc tune`) learns that the job it
 * started has reached its first training step, so that it can bound the start-up phase
 * (mpirun starting its daemons, MPI_Init, config and data loading) that no collective
 * watchdog covers yet. The supervisor names a file in the run directory through the
 * DDPC_STARTED_FILE environment variable (passed to every rank with mpirun's -x); rank 0
 * creates it after its first training step. The run directory is shared by all ranks
 * (checkpoints need that anyway), so the supervisor sees the file wherever rank 0 runs. */
#ifndef DDPC_LAUNCH_START_MARKER_H
#define DDPC_LAUNCH_START_MARKER_H

#include <stdbool.h>

/* The environment variable that names the marker file. */
#define DDPC_START_MARKER_ENV "DDPC_STARTED_FILE"

/* Default start-up deadline, seconds: long enough for a real cluster's daemons, MPI_Init
 * across nodes and loading a large data set from a cold cache; short enough that a hung
 * start is noticed within minutes rather than never. */
#define DDPC_START_MARKER_DEFAULT_SECONDS 600.0

/* The marker of RUN_DIR as an absolute path (malloc'd; the ranks may run in another
 * working directory), removed if an earlier attempt left it; NULL with an error set. */
char *ddpc_start_marker_prepare(const char *run_dir);

/* Whether the marker at `path` exists: the attempt has taken a training step. */
bool ddpc_start_marker_seen(const char *path);

/* Rank 0, after its first training step: creates the file DDPC_STARTED_FILE names (nothing
 * when it is unset). A failure is said on stderr and otherwise ignored: the supervisor then
 * ends the attempt at its deadline, which the message explains. */
void ddpc_start_marker_write(void);

#endif
