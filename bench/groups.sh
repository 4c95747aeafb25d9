#!/usr/bin/env bash
# One model per group (data.group_by) spread over ranks: 64 groups of uneven sizes (300 to
# 2190 rows; a different linear relation each), an MLP (8-256-256-1) each, trained on 1 rank and then on
# 2 ranks (mpirun). Prints both wall times, their ratio (goal: at most 0.55), each rank's
# busy seconds and the idle fraction of the less loaded rank (summary.json's `ranks`), and
# checks that both runs made bitwise the same models (params_crc32 per group). Checkpoints
# are written at the end only: 40 fsynced checkpoints per group would measure the disk.
# Usage: bench/groups.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
ddpc=$build/bin/ddpc
[ -x "$ddpc" ] || { echo "groups.sh: $ddpc missing: build first" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "groups.sh: no mpirun on PATH" >&2; exit 1; }
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
work=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-groups-bench-XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export OPENBLAS_NUM_THREADS=1

python3 - "$work/data.csv" <<'PY'
import random, sys
rng = random.Random(5)
rows = []
for g in range(64):
    n = 300 + (g * 37) % 64 * 30          # uneven: 300 .. 2190 rows
    w = [rng.uniform(-2, 2) for _ in range(8)]
    for _ in range(n):
        x = [rng.uniform(-1, 1) for _ in range(8)]
        rows.append((f"c{g:02d}", x, sum(a * b for a, b in zip(w, x)) + rng.gauss(0, 0.1)))
rng.shuffle(rows)
with open(sys.argv[1], "w") as f:
    f.write("customer," + ",".join(f"x{i}" for i in range(8)) + ",y\n")
    for g, x, y in rows:
        f.write(g + "," + ",".join(f"{v:.4f}" for v in x) + f",{y:.5f}\n")
PY
cat >"$work/groups.yaml" <<YAML
name: groups-bench
seed: 1
data:
  format: csv
  task: regression
  train: {path: $work/data.csv}
  label_column: y
  group_by: customer
  val_fraction: 0.2
  test_fraction: 0.2
  cache: false
model: [{type: linear, units: 256}, {type: relu}, {type: linear, units: 256}, {type: relu}, {type: linear, units: 1}]
optimizer: {name: adam, lr: 0.003}
train: {epochs: 40, batch_size: 16}
checkpoint: {every_epochs: 0, keep_best: false}
YAML

declare -A wall
for n in 1 2; do
  t0=$EPOCHREALTIME
  mpirun "${root[@]}" --oversubscribe -n "$n" "$ddpc" train "$work/groups.yaml" --run-dir "$work/r$n" --quiet || true
  t1=$EPOCHREALTIME
  wall[$n]=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$t0" "$t1")
  echo "64 groups, $n rank(s): ${wall[$n]} s (state $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$work/r$n/summary.json"))"
done
python3 - "$work" "${wall[1]}" "${wall[2]}" <<'PY'
import json, sys
work, w1, w2 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
print(f"2 ranks / 1 rank wall time: {w2 / w1:.3f} (goal: at most 0.55)")
s1, s2 = (json.load(open(f"{work}/r{n}/summary.json")) for n in (1, 2))
for r in s2["ranks"]:
    print(f"rank {r['rank']}: {r['groups']} groups, busy {r['busy_seconds']:.2f} s, idle fraction {r['idle_fraction']:.3f}")
print(f"load balance (mean busy / max busy): {s2['load_balance']:.3f}")
crc = lambda s: {g["value"]: g.get("params_crc32") for g in s["groups"]}
same = crc(s1) == crc(s2)
print("per-group parameters bitwise the same on 1 and 2 ranks:", "yes" if same else "NO")
print(f"mean test_rmse {s2['mean_test_rmse']:.4f}, rows-weighted {s2['rows_weighted_test_rmse']:.4f}, "
      f"groups done {s2['groups_done']}/{s2['groups_total']}")
sys.exit(0 if same else 1)
PY
