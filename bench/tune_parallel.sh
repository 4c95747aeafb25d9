#!/usr/bin/env bash
# The tuner's parallelism and per-trial overhead, measured in one run:
#   1. 16 Fashion-MNIST MLP trials of 3 epochs (random search over lr, batch size and the
#      small/medium variants; 1 rank each) with --parallelism 1, then --parallelism 2 on
#      the same seed (the same 16 configurations): wall times and their ratio.
#   2. Per-trial overhead on the tiny CSV example (1 epoch), best of 5 each:
#      mpirun -n 1 /bin/true, mpirun -n 1 ddpc train, and a 10-trial study per trial.
#      And a trial's fixed cost split into launch -> first step and last step -> exit.
# Usage: bench/tune_parallel.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
ddpc=$build/bin/ddpc
[ -x "$ddpc" ] || { echo "tune_parallel.sh: $ddpc missing: build first" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "tune_parallel.sh: no mpirun on PATH" >&2; exit 1; }
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
work=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-tune-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
export DDPC_CACHE_DIR=$work/cache OPENBLAS_NUM_THREADS=1

cat >"$work/mlp.yaml" <<EOF
base: $src/examples/fashion_mnist_variants.yaml
tune:
  metric: val_accuracy
  algorithm: random
  seed: 11
  max_trials: 16
  space:
    optimizer.lr: {loguniform: [0.005, 0.2]}
    train.batch_size: {choice: [64, 128]}
    model.variant: {choice: [small, medium]}
EOF
# Warm the prepared-data cache so neither run pays for it.
"$ddpc" train "$src/examples/fashion_mnist_variants.yaml" --run-dir "$work/warm" --set train.epochs=0 --quiet

seconds() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$1" "$2"; }
declare -A wall
for p in 1 2; do
  t0=$EPOCHREALTIME
  "$ddpc" tune "$work/mlp.yaml" --parallelism "$p" --study-dir "$work/p$p" --set train.epochs=3 \
    --set stop.early_stopping.patience=100 --quiet >"$work/p$p.out"
  t1=$EPOCHREALTIME
  wall[$p]=$(seconds "$t0" "$t1")
  echo "16 trials x 3 epochs, parallelism $p: ${wall[$p]} s"
done
python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f"parallelism 2 / parallelism 1 wall time: {b / a:.3f}")' \
  "${wall[1]}" "${wall[2]}"

# best LABEL COMMAND...: best of 5 wall times; {} in the command becomes a fresh folder.
run=0
best() {
  local label=$1; shift
  local b="" t0 t1 args
  for _ in 1 2 3 4 5; do
    run=$((run + 1))
    args=("${@//\{\}/$work/run$run}")
    t0=$EPOCHREALTIME
    timeout -k 5 120 "${args[@]}" >/dev/null 2>&1
    t1=$EPOCHREALTIME
    b=$(python3 -c 'import sys; t = float(sys.argv[2]) - float(sys.argv[1]); b = sys.argv[3]; print(f"{t:.3f}" if not b or t < float(b) else b)' "$t0" "$t1" "$b")
  done
  printf '%-52s %s s\n' "$label" "$b"
  last=$b
}
cfg=$src/examples/cultivars_csv.yaml
"$ddpc" train "$cfg" --run-dir "$work/warm2" --set train.epochs=0 --quiet
best "mpirun -n 1 /bin/true" mpirun "${root[@]}" -n 1 /bin/true
t_true=$last
best "mpirun -n 1 ddpc train (1 epoch)" mpirun "${root[@]}" -n 1 "$ddpc" train "$cfg" --run-dir {} --set train.epochs=1 --quiet
t_train=$last
# Where a trial's fixed cost goes, from the run's own timeline (summary.json, Unix times):
# launch -> first step (mpirun, MPI_Init, config, cached data, model), the steps, last
# step -> mpirun gone (test split, files, MPI_Finalize, mpirun's shutdown). Medians of 5.
for k in 1 2 3 4 5; do
  t0=$EPOCHREALTIME
  mpirun "${root[@]}" -n 1 "$ddpc" train "$cfg" --run-dir "$work/split$k" --set train.epochs=1 --quiet >/dev/null 2>&1
  t1=$EPOCHREALTIME
  echo "$t0 $t1 $work/split$k/summary.json"
done >"$work/split.txt"
python3 - "$work/split.txt" <<'EOF'
import json, statistics, sys
rows = []
for line in open(sys.argv[1]):
    t0, t1, path = line.split()
    tl = json.load(open(path))["timeline"]
    rows.append((tl["first_step"] - float(t0), tl["last_step"] - tl["first_step"], float(t1) - tl["last_step"]))
start, steps, end = (statistics.median(c) for c in zip(*rows))
print(f"mpirun -n 1 ddpc train (1 epoch), medians of 5: launch -> first step {start:.3f} s, "
      f"steps {steps * 1000:.1f} ms, last step -> exit {end:.3f} s")
EOF
cat >"$work/tiny.yaml" <<EOF
base: $cfg
tune:
  metric: val_accuracy
  algorithm: random
  max_trials: 10
  space:
    optimizer.lr: {loguniform: [0.001, 0.1]}
EOF
best "ddpc tune: 10 trials of 1 epoch, parallelism 1" "$ddpc" tune "$work/tiny.yaml" --study-dir {} --set train.epochs=1 --quiet
t_study=$last
python3 - "$t_true" "$t_train" "$t_study" <<'EOF'
import sys
t_true, t_train, t_study = map(float, sys.argv[1:])
per_trial = t_study / 10
print(f"per trial in a study: {per_trial:.3f} s = {per_trial / t_train:.2f}x a bare `mpirun -n 1 ddpc train`, "
      f"{per_trial / t_true:.2f}x `mpirun -n 1 /bin/true`")
print(f"tuner's own cost per trial (study/10 - direct train): {per_trial - t_train:+.3f} s")
EOF
