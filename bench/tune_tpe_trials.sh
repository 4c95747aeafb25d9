#!/usr/bin/env bash
# TPE against random search through the real trial path: `ddpc tune` studies on the small
# CSV example (each trial a real `mpirun ddpc train` of 3 epochs; the objective METRIC over
# a log-uniform learning rate, an integer hidden width and a choice of activation), the
# same budget for both, over several study seeds. Prints the best value per seed and the
# medians. val_loss there is measured on 27 samples, a noisy objective; train_loss (the
# last epoch's mean over the 124 training samples) much less so.
# With DATASET fmnist instead: Fashion-MNIST, the small MLP, 1 epoch per trial, space
# lr log-uniform [1e-5, 1], momentum uniform [0, 0.99], batch size 16..256; METRIC should
# then be val_accuracy (6000 validation images).
# Usage: bench/tune_tpe_trials.sh [BUILD_DIR] [TRIALS] [SEEDS] [METRIC] [DATASET]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
trials=${2:-40}
seeds=${3:-5}
metric=${4:-val_loss}
dataset=${5:-cultivars}
ddpc=$build/bin/ddpc
[ -x "$ddpc" ] || { echo "tune_tpe_trials.sh: $ddpc missing: build first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-tpe-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
export DDPC_CACHE_DIR=$work/cache OPENBLAS_NUM_THREADS=1
for alg in random tpe; do
  for seed in $(seq 1 "$seeds"); do
    if [ "$dataset" = fmnist ]; then
      base=$src/examples/fashion_mnist_variants.yaml
      space='    optimizer.lr: {loguniform: [0.00001, 1.0]}
    optimizer.momentum: {uniform: [0.0, 0.99]}
    train.batch_size: {choice: [16, 32, 64, 128, 256]}'
      train=(--set train.epochs=1 --set model.variant=small)
    else
      base=$src/examples/cultivars_csv.yaml
      space='    optimizer.lr: {loguniform: [0.0001, 1.0]}
    model.0.units: {int: [2, 64]}
    model.1.type: {choice: [tanh, relu, gelu]}'
      train=(--set train.epochs=3)
    fi
    cat >"$work/$alg-$seed.yaml" <<EOF
base: $base
tune:
  metric: $metric
  algorithm: $alg
  seed: $seed
  max_trials: $trials
  parallelism: 2
  space:
$space
EOF
    "$ddpc" tune "$work/$alg-$seed.yaml" --study-dir "$work/$alg-$seed" "${train[@]}" --quiet >/dev/null
  done
done
python3 - "$work" "$seeds" "$metric" <<'PY'
import sqlite3, statistics, sys
work, seeds, metric = sys.argv[1], int(sys.argv[2]), sys.argv[3]
best = {}
for alg in ("random", "tpe"):
    pick = "max" if metric.endswith("accuracy") else "min"
    best[alg] = [sqlite3.connect(f"{work}/{alg}-{s}/study.db").execute(
        f"select {pick}(value) from trials where state='COMPLETE'").fetchone()[0] for s in range(1, seeds + 1)]
    print(f"{alg:6s} best {metric} per seed: " + " ".join(f"{v:.4f}" for v in best[alg]))
mr, mt = statistics.median(best["random"]), statistics.median(best["tpe"])
sign = -1 if metric.endswith("accuracy") else 1
wins = sum(sign * t < sign * r for t, r in zip(best["tpe"], best["random"]))
print(f"median best {metric}: random {mr:.4f}, tpe {mt:.4f} (tpe / random {mt / mr:.3f}); tpe better on {wins} of {seeds} seeds")
PY
