#!/usr/bin/env bash
# ASHA against running every trial to its end, on the Fashion-MNIST example study
# (examples/fashion_mnist_tune.yaml: lr, batch size, small/medium/large MLP, up to 9 epochs
# with early stopping). Both studies use the same seed and N <= 20 trials, so TPE is still
# in its random start-up phase and both see the same N configurations: the difference is
# the scheduler alone. Prints the best val_accuracy of each and the epochs each spent.
# Usage: bench/tune_asha.sh [BUILD_DIR] [N_TRIALS]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
n=${2:-16}
ddpc=$build/bin/ddpc
[ -x "$ddpc" ] || { echo "tune_asha.sh: $ddpc missing: build first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-asha-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
export DDPC_CACHE_DIR=$work/cache OPENBLAS_NUM_THREADS=1
study=$src/examples/fashion_mnist_tune.yaml
for sched in fifo asha; do
  extra=()
  [ "$sched" = fifo ] && extra=(--set tune.scheduler=fifo)
  t0=$EPOCHREALTIME
  "$ddpc" tune "$study" --max-trials "$n" --parallelism 2 --study-dir "$work/$sched" "${extra[@]}" --quiet >/dev/null
  t1=$EPOCHREALTIME
  python3 - "$work/$sched/study.db" "$sched" "$t0" "$t1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select value, epochs_done, state from trials").fetchall()
best = max(v for v, _, s in rows if v is not None)
epochs = sum(e for _, e, _ in rows)
states = {}
for _, _, s in rows:
    states[s] = states.get(s, 0) + 1
print(f"{sys.argv[2]}: best val_accuracy {best:.4f}, epochs {epochs}, trials {states}, "
      f"wall {float(sys.argv[4]) - float(sys.argv[3]):.0f} s")
with open(sys.argv[1] + ".summary", "w") as f:
    f.write(f"{best} {epochs}\n")
PY
done
python3 - "$work/fifo/study.db.summary" "$work/asha/study.db.summary" <<'PY'
import sys
fb, fe = map(float, open(sys.argv[1]).read().split())
ab, ae = map(float, open(sys.argv[2]).read().split())
print(f"asha - fifo best val_accuracy: {100 * (ab - fb):+.2f} points; asha epochs / fifo epochs: {ae / fe:.3f}")
PY
