/* Choice of OpenBLAS kernels for the `ddpc` command. OpenBLAS picks its kernels once,
 * when it is loaded, from OPENBLAS_CORETYPE or its own CPU detection (which gives AVX2
 * "Haswell" kernels to AVX-512 AMD CPUs). ddpc wants the fastest kernels the CPU has, so
 * DDPC_BLAS_CORETYPE decides:
 *   auto (default)  the best kernels for this CPU: SkylakeX on AVX-512, Haswell on AVX2;
 *   env             leave OPENBLAS_CORETYPE (or OpenBLAS's detection) alone;
 *   NAME            exactly that OpenBLAS core, e.g. Haswell, SkylakeX, Zen.
 * When the wanted core differs from OPENBLAS_CORETYPE, the command re-executes itself
 * once with OPENBLAS_CORETYPE set (same argument vector, no shell). */
#ifndef DDPC_LAUNCH_BLAS_H
#define DDPC_LAUNCH_BLAS_H

/* Returns only when no re-execution is needed (or it failed, which leaves OpenBLAS's own
 * choice in place with a warning). */
void ddpc_blas_select_kernels(char **argv);
/* When neither OPENBLAS_NUM_THREADS nor OMP_NUM_THREADS is set and several ranks share
 * this machine (OMPI_COMM_WORLD_LOCAL_SIZE, SLURM_NTASKS_PER_NODE), gives each rank
 * cores / ranks BLAS threads instead of OpenBLAS's one per core. */
void ddpc_blas_select_threads(void);
/* The core name OpenBLAS says it is using. */
const char *ddpc_blas_core_name(void);

#endif
