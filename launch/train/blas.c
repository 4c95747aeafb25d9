/* OpenBLAS kernel selection by re-execution (see blas.h for why). */
#include "launch/train/blas.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *blas_best_core(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return NULL;  // older CPUs: OpenBLAS's own detection is right
}

void ddpc_blas_select_kernels(char **argv) {
  const char *mode = getenv("DDPC_BLAS_CORETYPE");
  if (!mode || !*mode) mode = "auto";
  if (getenv("DDPC_BLAS_REEXEC")) {
    // We are the re-executed process; drop the marker so our own children start clean.
    unsetenv("DDPC_BLAS_REEXEC");
    return;
  }
  if (strcmp(mode, "env") == 0) return;
  const char *want = strcmp(mode, "auto") == 0 ? blas_best_core() : mode;
  const char *have = getenv("OPENBLAS_CORETYPE");
  if (!want || (have && strcmp(have, want) == 0)) return;
  setenv("OPENBLAS_CORETYPE", want, 1);
  setenv("DDPC_BLAS_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  fprintf(stderr, "ddpc: warning: could not re-execute with OPENBLAS_CORETYPE=%s; using %s kernels\n", want,
          openblas_get_corename());
}

const char *ddpc_blas_core_name(void) { return openblas_get_corename(); }

void ddpc_blas_select_threads(void) {
  if (getenv("OPENBLAS_NUM_THREADS") || getenv("OMP_NUM_THREADS")) return;
  // Ranks sharing a machine would otherwise each start one BLAS thread per core.
  const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (!local) local = getenv("SLURM_NTASKS_PER_NODE");
  long ranks = local ? strtol(local, NULL, 10) : 1;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (ranks <= 1 || cores <= 0) return;
  openblas_set_num_threads(cores / ranks > 1 ? (int)(cores / ranks) : 1);
}
