/* What a run directory's summary.json says of how the run ended, for the programs that
 * watch `ddpc train` from outside: the launcher (a job whose mpirun hangs after the run
 * finished), the tuner (a trial whose batch job Slurm has forgotten). */
#ifndef DDPC_LAUNCH_RUN_SUMMARY_H
#define DDPC_LAUNCH_RUN_SUMMARY_H

/* The "state" of RUN_DIR/summary.json (malloc'd), or NULL when there is none to read. */
char *ddpc_run_summary_state(const char *run_dir);

#endif
