#!/usr/bin/env bash
# What logging to MLflow costs training: the Fashion-MNIST MLP example
# (examples/fashion_mnist_mlp.yaml, 1 rank) with train.log_every_steps=10, trained untracked
# and tracked into a real MLflow server (tests/testbeds/mlflow_server.sh, .venv-mlflow),
# alternately, REPS times each. Both log steps.jsonl every 10 steps, so the difference is
# the tracking alone (params, tags, 13 metrics per epoch, step_loss every 10 steps, the
# artifacts at the end). Prints each run's training time (summary.json's training_seconds:
# the steps and evaluations, which tracking must not slow), wall time (the process, with the
# bounded wait for the sender at the end) and CPU time (user + system of every thread), then
# the best of each. On a shared machine these differ by more than tracking costs, so each
# tracked run also reports (DDPC_MLFLOW_STATS) its items, requests and the CPU time of its
# sender thread, which is all the work tracking adds besides queueing an item (a lock and a
# copy, inside training_seconds): that time over training_seconds is the overhead even if
# the sender took it all from the training's own core.
# Usage: bench/mlflow_overhead.sh [BUILD_DIR] [EPOCHS] [REPS]   (defaults: build, 10, 2)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
epochs=${2:-10}
reps=${3:-2}
ddpc=$build/bin/ddpc
[ -x "$ddpc" ] || { echo "mlflow_overhead.sh: $ddpc missing: build first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-mlflow-bench-XXXXXX")
server=$src/tests/testbeds/mlflow_server.sh
trap 'bash "$server" stop "$work/srv" >/dev/null 2>&1; rm -rf "$work"' EXIT
export DDPC_CACHE_DIR=$work/cache OPENBLAS_NUM_THREADS=1
unset MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
bash "$server" start "$work/srv" >/dev/null
uri=$(cat "$work/srv/uri")
cfg=(--set "train.epochs=$epochs" --set train.log_every_steps=10 --quiet)
"$ddpc" train "$src/examples/fashion_mnist_mlp.yaml" "${cfg[@]}" --set train.epochs=1 --run-dir "$work/warm" >/dev/null

run() {  # run NAME [ENV...]: prints training_seconds, wall seconds and CPU seconds (user + system, all threads)
  local name=$1; shift
  env "$@" python3 - "$ddpc" "$src/examples/fashion_mnist_mlp.yaml" "$work/$name" "${cfg[@]}" <<'PY'
import json, os, subprocess, sys, time
ddpc, config, run_dir, cfg = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
t0 = time.monotonic()
p = subprocess.Popen([ddpc, "train", config, *cfg, "--run-dir", run_dir], stdout=subprocess.DEVNULL,
                     stderr=open(run_dir + ".err", "w"))
_, status, ru = os.wait4(p.pid, 0)
wall = time.monotonic() - t0
print(json.load(open(os.path.join(run_dir, "summary.json")))["training_seconds"], wall, ru.ru_utime + ru.ru_stime)
PY
}

printf '%-9s %-4s %12s %10s %10s\n' mode rep training_s wall_s cpu_s
for r in $(seq 1 "$reps"); do
  read -r tr wa cpu < <(run "plain$r")
  printf '%-9s %-4s %12.3f %10.3f %10.3f\n' untracked "$r" "$tr" "$wa" "$cpu" | tee -a "$work/plain"
  read -r tr wa cpu < <(run "tracked$r" MLFLOW_TRACKING_URI="$uri" MLFLOW_EXPERIMENT_NAME=bench DDPC_MLFLOW_STATS=1)
  printf '%-9s %-4s %12.3f %10.3f %10.3f\n' tracked "$r" "$tr" "$wa" "$cpu" | tee -a "$work/tracked"
  stats=$(grep -o 'mlflow stats: .*' "$work/tracked$r.err" || true)
  sender=$(grep -o '[0-9.]* s CPU' <<<"$stats" | cut -d' ' -f1)
  python3 -c 'import sys; print(f"          {sys.argv[1]}: sender CPU / training_seconds = {100 * float(sys.argv[2]) / float(sys.argv[3]):.3f} %")' \
    "$stats" "${sender:-nan}" "$tr"
  [ ! -e "$work/tracked$r/mlflow_pending.jsonl" ] || echo "note: tracked run $r left items in mlflow_pending.jsonl"
done
python3 - "$work/plain" "$work/tracked" <<'PY'
import sys
# Best of the repetitions: on a shared machine the noise only ever adds time.
rows = [[list(map(float, l.split()[2:5])) for l in open(p)] for p in sys.argv[1:3]]
(pt, pw, pc), (tt, tw, tc) = [[min(c) for c in zip(*r)] for r in rows]
print(f"best training_seconds: untracked {pt:.3f}, tracked {tt:.3f}: {100 * (tt - pt) / pt:+.2f} %")
print(f"best wall seconds:     untracked {pw:.3f}, tracked {tw:.3f}: {100 * (tw - pw) / pw:+.2f} %")
print(f"best CPU seconds:      untracked {pc:.3f}, tracked {tc:.3f}: {100 * (tc - pc) / pc:+.2f} % "
      "(the process, sender thread included; as noisy as training_seconds between identical runs)")
PY
