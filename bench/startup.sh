#!/usr/bin/env bash
# Start-up cost of a 2-rank job, best of 5 wall-clock runs each:
#   mpirun -n 2 /bin/true                    Open MPI's launcher alone (no MPI_Init)
#   mpirun -n 2 bench_mpi_init_bare          + MPI_Init/MPI_Finalize (default transports)
#   ... --mca pml ob1 --mca btl self,vader   + MPI_Init/MPI_Finalize, shared memory only
#   mpirun -n 2 ddpc train (epochs=0)        + ddpc: config, data (cache hit), model,
#                                              one evaluation, run files
#   ddpc launch -n 2 (epochs=0)              + the launcher (mpirun found, config loaded
#                                              once more, attempts.jsonl)
# train.epochs=0 stands for "time to the first training step": it loads the data, builds
# and broadcasts the model and evaluates once, then ends. The cultivars config is tiny, so
# the numbers are start-up, not data loading. Usage: bench/startup.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
ddpc=$build/bin/ddpc
bare=$build/bench/bench_mpi_init_bare
for f in "$ddpc" "$bare"; do
  [ -x "$f" ] || { echo "startup.sh: $f missing: build first (cmake --build $build)" >&2; exit 1; }
done
command -v mpirun >/dev/null || { echo "startup.sh: no mpirun on PATH" >&2; exit 1; }
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
work=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-startup-XXXXXX")
trap 'rm -rf "$work"' EXIT
export DDPC_CACHE_DIR=$work/cache OPENBLAS_NUM_THREADS=1
cfg=$src/examples/cultivars_csv.yaml
run=0

# best LABEL COMMAND... : prints the label and the best of 5 wall times in seconds. A
# command's {} is replaced by a fresh run directory each time.
best() {
  local label=$1; shift
  local b="" i t0 t1 args
  for i in 1 2 3 4 5; do
    run=$((run + 1))
    args=("${@//\{\}/$work/run$run}")
    t0=$EPOCHREALTIME
    # Bounded: Open MPI 4.1's mpirun now and then hangs in PMIx_server_finalize after
    # the job has ended.
    timeout -k 5 120 "${args[@]}" >/dev/null 2>"$work/err" || { echo "startup.sh: '$label' failed:" >&2; cat "$work/err" >&2; exit 1; }
    t1=$EPOCHREALTIME
    b=$(python3 -c 'import sys; t=float(sys.argv[2])-float(sys.argv[1]); b=sys.argv[3]; print(t if not b or t<float(b) else b)' "$t0" "$t1" "$b")
  done
  printf '| %-66s | %8.3f |\n' "$label" "$b"
}

# Fill the data cache once so every timed run is a cache hit.
"$ddpc" train "$cfg" --run-dir "$work/warm" --set train.epochs=0 --quiet

echo "2 ranks on $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) cores, $(mpirun --version | head -1)"
printf '| %-66s | %8s |\n' "command" "best (s)"
printf '|%s|%s|\n' "$(printf -- '-%.0s' {1..68})" "$(printf -- '-%.0s' {1..10})"
best "mpirun -n 2 /bin/true" mpirun "${root[@]}" -n 2 /bin/true
best "mpirun -n 2 bench_mpi_init_bare" mpirun "${root[@]}" -n 2 "$bare"
best "mpirun -n 2 --mca pml ob1 --mca btl self,vader bench_mpi_init_bare" \
  mpirun "${root[@]}" -n 2 --mca pml ob1 --mca btl self,vader "$bare"
best "mpirun -n 2 ddpc train cultivars (train.epochs=0)" \
  mpirun "${root[@]}" -n 2 "$ddpc" train "$cfg" --run-dir {} --set train.epochs=0 --quiet
best "ddpc launch -n 2 cultivars (train.epochs=0)" \
  "$ddpc" launch -n 2 "$cfg" --run-dir {} --set train.epochs=0 --quiet
