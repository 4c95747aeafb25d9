/* One training at a time in a run directory. Rank 0 of `ddpc train` takes RUN_DIR/.lock (an
 * fcntl write lock) before it writes anything there and keeps it for as long as it lives;
 * the kernel drops it when the process ends, also after kill -9. A second training started
 * in the same directory (a restarted trial while the previous attempt's rank still winds
 * down) waits for it a little, then ends with one message instead of writing the same
 * checkpoints and metrics; `ddpc tune --resume` asks whether a trial's directory is still
 * held before it starts the trial again. */
#ifndef DDPC_LAUNCH_RUN_LOCK_H
#define DDPC_LAUNCH_RUN_LOCK_H

/* Takes the lock of run_dir (which must exist), waiting up to wait_seconds for another
 * holder to end. Returns the descriptor to keep open for the run's life (closing it, or
 * any other descriptor of the file in this process, releases the lock), or -1 with one
 * message naming the directory. On a filesystem without locks it warns on stderr and
 * returns the descriptor unlocked: the run goes on unguarded rather than not at all. */
int ddpc_run_lock_take(const char *run_dir, double wait_seconds);

/* 1 when another process holds run_dir's lock, 0 when none does (also when it was never
 * taken), -1 with a message when that cannot be told. */
int ddpc_run_lock_held(const char *run_dir);

/* Releases a lock from ddpc_run_lock_take (-1 is fine). */
void ddpc_run_lock_release(int fd);

#endif
