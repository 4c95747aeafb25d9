#!/usr/bin/env bash
# The pause a mid-epoch checkpoint adds to training, measured in training rather than
# inferred from bench_checkpoint's write time. For the MLP example and for a ~25 M
# parameter (~100 MB) MLP it runs one epoch of `ddpc train` (one rank) RUNS times with
# checkpoint.every_steps=K and RUNS times without checkpoints, alternating, and takes the
# time in steps from summary.json's timeline (last_step - first_step: the steps and the
# checkpoints written between them; the end-of-run checkpoint and the evaluations fall
# outside it). pause per checkpoint = (best with - best without) / checkpoints written,
# where checkpoints written = floor((steps - 1) / K) (none at an epoch's last step; the
# files are pruned to keep_last, so they are counted from the steps and the newest
# mid-epoch file's step is checked against the count).
# The 100 MB model trains on the first 2304 Fashion-MNIST training images (32 steps of
# 64) with plain SGD, so its checkpoint holds the parameters only (~100 MB, like
# bench_checkpoint's 25 M case). When build/bench/bench_checkpoint exists (or
# $BENCH_CHECKPOINT; set it empty to skip) it is run once in the same temporary folder
# and the pause is also given as a multiple of its pure write time.
#
# usage: bench/checkpoint_pause.sh [RUNS]    (RUNS: runs per variant, default 3)
#   env: DDPC (default build/bin/ddpc), BENCH_CHECKPOINT, OPENBLAS_NUM_THREADS (default 1)
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n 's/^# \{0,1\}usage: /usage: /p' "$0"
  exit 0
fi
runs=${1:-3}
case $runs in '' | *[!0-9]* | 0) echo "checkpoint_pause.sh: RUNS must be a positive integer" >&2; exit 2 ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)
ddpc=${DDPC:-$src/build/bin/ddpc}
bench_ckpt=${BENCH_CHECKPOINT-$src/build/bench/bench_checkpoint}
[ -x "$ddpc" ] || { echo "checkpoint_pause.sh: $ddpc missing: build first (or set DDPC)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "checkpoint_pause.sh: python3 needed to read summary.json" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
cfg=$src/examples/fashion_mnist_mlp.yaml
fm=/usr/share/datasets/fashion-mnist
work=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-ckpt-pause-XXXXXX")
trap 'rm -rf "$work"' EXIT
export DDPC_CACHE_DIR=$work/cache

# be32 N: N as 4 big-endian bytes.
be32() {
  local b
  for b in 24 16 8 0; do
    # shellcheck disable=SC2059  # the format is built from digits only
    printf "\\x$(printf %02x $((($1 >> b) & 255)))"
  done
}
# idx_subset N OUT: the first N Fashion-MNIST training images and labels as OUT.img/OUT.lab.
idx_subset() {
  local n=$1 out=$2
  { printf '\x00\x00\x08\x03'; be32 "$n"; printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'
    (gzip -dc "$fm/train-images-idx3-ubyte.gz" | tail -c +17 | head -c $((n * 784))) || true; } >"$out.img"
  { printf '\x00\x00\x08\x01'; be32 "$n"
    (gzip -dc "$fm/train-labels-idx1-ubyte.gz" | tail -c +9 | head -c "$n") || true; } >"$out.lab"
  if [ "$(stat -c %s "$out.img")" -ne $((16 + n * 784)) ] || [ "$(stat -c %s "$out.lab")" -ne $((8 + n)) ]; then
    echo "checkpoint_pause.sh: could not cut $n images from $fm" >&2
    exit 1
  fi
}
idx_subset 2304 "$work/train"
idx_subset 256 "$work/test"

common=(--set train.epochs=1 --set checkpoint.every_epochs=0 --set checkpoint.keep_best=false --quiet)
mlp_args=()
big_args=(--set "data.train={images: $work/train.img, labels: $work/train.lab}"
  --set "data.test={images: $work/test.img, labels: $work/test.lab}"
  --set data.cache=false --set optimizer.momentum=0
  --set 'model=[{type: linear, units: 4608}, {type: relu}, {type: linear, units: 4608}, {type: relu}, {type: linear, units: 10}]')

# one_run K ARGS...: trains in a fresh run directory with checkpoint.every_steps=K (0: none)
# and prints "seconds_in_steps steps param_count checkpoint_file_bytes".
one_run() {
  local k=$1; shift
  local dir
  dir=$(mktemp -d "$work/run-XXXXXX")
  "$ddpc" train "$cfg" "$@" "${common[@]}" --set checkpoint.every_steps="$k" --run-dir "$dir/run" \
    >"$work/out" 2>&1 || { echo "checkpoint_pause.sh: ddpc train failed:" >&2; cat "$work/out" >&2; exit 1; }
  python3 - "$dir/run" "$k" <<'EOF'
import json, os, sys
run, k = sys.argv[1], int(sys.argv[2])
s = json.load(open(os.path.join(run, "summary.json")))
assert s["state"] == "done", s["state"]
steps, t = s["steps"], s["timeline"]
files = sorted(f for f in os.listdir(os.path.join(run, "checkpoints")) if f.startswith("ckpt-"))
size = 0
if k > 0:
    n = (steps - 1) // k
    # newest mid-epoch checkpoint (the last file is the end-of-run one)
    assert n >= 1 and len(files) >= 2, files
    mid = files[-2]
    assert int(mid[5:-5]) == n * k, (mid, n * k)
    size = os.path.getsize(os.path.join(run, "checkpoints", mid))
print(f'{t["last_step"] - t["first_step"]:.3f} {steps} {s["param_count"]} {size}')
EOF
  rm -rf "$dir"
}

# Pure write time per case, from bench_checkpoint in the same folder (optional).
w_mlp="" w_big=""
if [ -n "$bench_ckpt" ] && [ -x "$bench_ckpt" ]; then
  "$bench_ckpt" "$work" >"$work/bench" 2>&1 || { echo "checkpoint_pause.sh: $bench_ckpt failed:" >&2; cat "$work/bench" >&2; exit 1; }
  w_mlp=$(awk '/^mlp 235146 x2/ {print $7}' "$work/bench")
  w_big=$(awk '/^25M params/ {print $7}' "$work/bench")
fi

# Warm the data cache of the MLP example so no timed run loads the full set from .gz.
"$ddpc" train "$cfg" --set train.epochs=0 --quiet --run-dir "$work/warm" >/dev/null 2>&1 || true

echo "checkpoint pause in training, 1 rank, OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS, $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) cores, runs in $(dirname "$work"), best of $runs (min-max)"
printf '| %-10s | %8s | %7s | %3s | %5s | %-22s | %-22s | %8s | %9s |\n' \
  model "param MB" "file MB" K ckpts "s with (min-max)" "s without (min-max)" "pause ms" "x write"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------ ---------- --------- ----- ------- \
  ------------------------ ------------------------ ---------- -----------
for m in mlp big; do
  if [ $m = mlp ]; then k=25 name="MLP"; args=("${mlp_args[@]}"); w=$w_mlp
  else k=4 name="25M MLP"; args=("${big_args[@]}"); w=$w_big; fi
  with=() without=()
  for ((i = 0; i < runs; i++)); do
    read -r t steps params size < <(one_run "$k" "${args[@]}")
    with+=("$t")
    read -r t _ _ _ < <(one_run 0 "${args[@]}")
    without+=("$t")
  done
  python3 - "$name" "$k" "$steps" "$params" "$size" "${w:-}" "${with[*]}" "${without[*]}" <<'EOF'
import sys
name, k, steps, params, size, w, a, b = sys.argv[1:]
k, steps, params, size = int(k), int(steps), int(params), int(size)
a = [float(x) for x in a.split()]; b = [float(x) for x in b.split()]
n = (steps - 1) // k
pause = (min(a) - min(b)) / n
ratio = f"{pause / float(w):.1f}" if w else "-"
sa, sb = f"{min(a):.3f}-{max(a):.3f}", f"{min(b):.3f}-{max(b):.3f}"
print(f"| {name:<10} | {params * 4 / 1e6:8.1f} | {size / 1e6:7.1f} | {k:3d} | {n:5d} | "
      f"{sa:<22} | {sb:<22} | {pause * 1e3:8.1f} | {ratio:>9} |")
EOF
done
if [ -n "$w_mlp" ]; then
  echo "x write: pause / bench_checkpoint's write time in the same folder just before" \
    "(MLP: sgd-m case ${w_mlp} s; 25M: 100 MB case ${w_big} s)"
fi
