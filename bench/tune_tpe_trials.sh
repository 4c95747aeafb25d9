#!/usr/bin/env bash
# TPE against random search through the real trial path: `ddpc tune` studies on the small
# CSV example (each trial a real `mpirun ddpc train` of 3 epochs; the objective METRIC over
# a log-uniform learning rate, an integer hidden width and a choice of activation), the
# same budget for both, over several study seeds. Prints the best value per seed and the
# medians. val_loss there is measured on 27 samples, a noisy objective; train_loss (the
# last epoch's mean over the 124 training samples) much less so.
# Usage: bench/tune_tpe_trials.sh [BUILD_DIR] [TRIALS] [SEEDS] [METRIC]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
trials=${2:-40}
seeds=${3:-5}
metric=${4:-val_loss}
ddpc=$build/bin/ddpc
[ -x "$ddpc" ] || { echo "tune_tpe_trials.sh: $ddpc missing: build first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-tpe-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
export DDPC_CACHE_DIR=$work/cache OPENBLAS_NUM_THREADS=1
for alg in random tpe; do
  for seed in $(seq 1 "$seeds"); do
    cat >"$work/$alg-$seed.yaml" <<EOF
base: $src/examples/cultivars_csv.yaml
tune:
  metric: $metric
  algorithm: $alg
  seed: $seed
  max_trials: $trials
  parallelism: 2
  space:
    optimizer.lr: {loguniform: [0.0001, 1.0]}
    model.0.units: {int: [2, 64]}
    model.1.type: {choice: [tanh, relu, gelu]}
EOF
    "$ddpc" tune "$work/$alg-$seed.yaml" --study-dir "$work/$alg-$seed" --set train.epochs=3 --quiet >/dev/null
  done
done
python3 - "$work" "$seeds" "$metric" <<'PY'
import sqlite3, statistics, sys
work, seeds, metric = sys.argv[1], int(sys.argv[2]), sys.argv[3]
best = {}
for alg in ("random", "tpe"):
    best[alg] = [sqlite3.connect(f"{work}/{alg}-{s}/study.db").execute(
        "select min(value) from trials where state='COMPLETE'").fetchone()[0] for s in range(1, seeds + 1)]
    print(f"{alg:6s} best {metric} per seed: " + " ".join(f"{v:.4f}" for v in best[alg]))
mr, mt = statistics.median(best["random"]), statistics.median(best["tpe"])
wins = sum(t < r for t, r in zip(best["tpe"], best["random"]))
print(f"median best {metric}: random {mr:.4f}, tpe {mt:.4f} (tpe / random {mt / mr:.3f}); tpe better on {wins} of {seeds} seeds")
PY
