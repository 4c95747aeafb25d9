# Helpers for the tests of one model per group (tests/cli/groups*.sh; sourced, not a test).
# Needs common.bash first.

# g_write_data FILE: a deterministic grouped CSV (columns x1, store, x2, y; regression) with
# 15 groups: 12 ordinary ones of uneven sizes (40 to 293 rows), each with its own linear
# relation; "odd/name, x" (a value that is no file name, quoted in the file); "tiny" (8
# rows, below min_group_rows 30); "boom" (features of a thousand times the scale, so that
# SGD's steps overshoot and the loss becomes infinite: the group diverges).
g_write_data() {
  python3 - "$1" <<'PY'
import random, sys
rng = random.Random(7)
groups = [(f"g{k:02d}", 40 + 23 * k, (k - 5.5) * 3, 2 - k * 0.4) for k in range(12)]
groups += [("odd/name, x", 90, 7.0, -3.0), ("tiny", 8, 1.0, 1.0), ("boom", 60, 1e6, 1e6)]
rows = []
for name, n, a, b in groups:
    for i in range(n):
        x1, x2 = rng.uniform(-2, 2), rng.uniform(-2, 2)
        if name == "boom":
            x1, x2 = x1 * 1000, x2 * 1000
        rows.append((name, x1, x2, a * x1 + b * x2 + 10 + rng.gauss(0, 0.3)))
rng.shuffle(rows)
with open(sys.argv[1], "w") as f:
    f.write("x1,store,x2,y\n")
    for name, x1, x2, y in rows:
        cell = '"' + name.replace('"', '""') + '"' if "," in name else name
        f.write(f"{x1:.4f},{cell},{x2:.4f},{y:.6g}\n")
PY
}

# g_write_config FILE DATA [EXTRA_DATA_LINE]: a small regression run over DATA grouped by
# `store`; without group_by when EXTRA is "ungrouped" (the config of one group's rows alone).
g_write_config() {
  local grouped="  group_by: store
  min_group_rows: 30"
  [ "${3:-}" = ungrouped ] && grouped=""
  cat >"$1" <<YAML
name: groups
seed: 3
data:
  format: csv
  task: regression
  train: {path: $2}
  label_column: y
$grouped
  val_fraction: 0.2
  test_fraction: 0.2
  cache: false
model: [{type: linear, units: 1}]
optimizer: {name: sgd, lr: 0.05}
train: {epochs: 6, batch_size: 8}
YAML
}

# g_rows_of DATA VALUE OUT: the rows of group VALUE without the store column (what a user
# would give `ddpc train` to train that group alone).
g_rows_of() {
  python3 - "$1" "$2" "$3" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
i = rows[0].index("store")
with open(sys.argv[3], "w") as f:
    for r in [rows[0]] + [r for r in rows[1:] if r[i] == sys.argv[2]]:
        f.write(",".join(r[:i] + r[i + 1:]) + "\n")
PY
}

# g_table RUN_DIR: "value state epochs params_crc32" per group of summary.json, sorted.
g_table() {
  python3 - "$1/summary.json" <<'PY'
import json, sys
for g in sorted(json.load(open(sys.argv[1]))["groups"], key=lambda g: g["value"]):
    print(g["value"], g["state"], g.get("epochs"), g.get("params_crc32"), g.get("test_rmse"))
PY
}

# g_reference_run: in the current folder, data.csv, g.yaml and the run without interruption
# ("ref"), whose per-group table is ref.txt; it ends with exit code 7 (boom diverges).
g_reference_run() {
  g_write_data data.csv
  g_write_config g.yaml data.csv
  t_run train g.yaml --run-dir ref --quiet
  t_check "the uninterrupted run ends with exit code 7 (boom diverges; stderr: $T_ERR)" test "$T_RC" -eq 7
  g_table ref >ref.txt
}
