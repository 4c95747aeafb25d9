#!/usr/bin/env bash
# `ddpc tune` with a grouped base config (data.group_by): with tune.per_group false (the
# default) each trial is a grouped run, one model per group with the trial's setting, and its
# value is the rows-weighted mean of its groups' best tune.metric, recomputed here from the
# trial's own files; best.yaml trains all groups again; a trial whose groups diverge is FAIL
# (exit 7), not restarted as a crash. Refused with one message: ASHA on a
# grouped study and tune.per_group true without data.group_by. With tune.per_group true one
# ordinary study per group on its own rows, each with a best.yaml that trains it again; --status
# and --resume per group.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
export OPENBLAS_NUM_THREADS=1
cd "$T_DIR" || exit 1

# Three groups of uneven sizes, each with its own linear relation (deterministic).
python3 - <<'PY'
import random
rng = random.Random(11)
rows = []
for name, n, a, b in [("north", 50, 2.0, -1.0), ("south", 80, -3.0, 0.5), ("east", 120, 0.5, 2.5)]:
    for _ in range(n):
        x1, x2 = rng.uniform(-2, 2), rng.uniform(-2, 2)
        rows.append((name, x1, x2, a * x1 + b * x2 + 1 + rng.gauss(0, 0.2)))
rng.shuffle(rows)
with open("data.csv", "w") as f:
    f.write("x1,region,x2,y\n")
    f.writelines(f"{x1:.4f},{g},{x2:.4f},{y:.6g}\n" for g, x1, x2, y in rows)
PY
cat >base.yaml <<'YAML'
name: grouped
seed: 5
data:
  format: csv
  task: regression
  train: {path: data.csv}
  label_column: y
  group_by: region
  min_group_rows: 20
  val_fraction: 0.2
  test_fraction: 0.2
  cache: false
model: [{type: linear, units: 1}]
optimizer: {name: sgd, lr: 0.05}
train: {epochs: 3, batch_size: 8}
YAML
# study FILE EXTRA-TUNE-LINES: a random study over the learning rate of base.yaml.
study() {
  cat >"$1" <<YAML
base: base.yaml
tune:
  metric: val_loss
  space: {optimizer.lr: {loguniform: [0.005, 0.2]}}
  algorithm: random
  max_trials: 3
  parallelism: 2
  seed: 2
$2
YAML
}

# --- tune.per_group false: one study, every trial a grouped run ---
study s.yaml "  per_group: false"
t_run tune s.yaml --study-dir study --quiet
t_check "the grouped study ends well (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "each trial is a grouped run scored by the rows-weighted mean of its groups' best val_loss" python3 - <<'PY'
import json, sqlite3
rows = sqlite3.connect("study/study.db").execute(
    "select number, state, value, epochs_done, run_dir from trials order by number").fetchall()
assert len(rows) == 3, rows
for number, state, value, epochs, run_dir in rows:
    assert state == "COMPLETE" and epochs == 3, (number, state, epochs)
    groups = json.load(open(f"{run_dir}/groups.json"))["groups"]
    assert sorted(g["value"] for g in groups) == ["east", "north", "south"], groups
    summary = json.load(open(f"{run_dir}/summary.json"))
    assert summary["groups_done"] == 3, summary
    total = weights = 0.0
    for g in groups:
        best = min(json.loads(line)["val_loss"] for line in open(f"{run_dir}/{g['dir']}/metrics.jsonl"))
        total += best * g["rows"]
        weights += g["rows"]
    assert abs(value - total / weights) <= 1e-9 * abs(value), (number, value, total / weights)
values = [r[2] for r in rows]
assert len(set(values)) == 3, values  # three settings, three values
PY
t_check "best.yaml keeps the grouping" grep -q "group_by: region" study/best.yaml
t_run tune --status study
t_check "--status prints the table (exit $T_RC): $T_OUT" test "$T_RC" -eq 0
t_check "--status names the best trial" grep -q "^best: trial" out
t_run train study/best.yaml --quiet
t_check "ddpc train best.yaml trains every group (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "best.yaml's run has a model per group" python3 -c '
import json
s = json.load(open("study/best/summary.json"))
assert s["groups_done"] == 3 and s["group_by"] == "region", s
'

# --- per_group false is the default ---
study d.yaml ""
t_run tune d.yaml --study-dir default --max-trials 1 --set train.epochs=1 --quiet
t_check "tune.per_group defaults to false (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 0 -a -f default/best.yaml

# --- a trial whose groups diverge is FAIL with its reason, not a crash to restart ---
t_run tune d.yaml --study-dir diverged --max-trials 1 --set 'tune.space={train.batch_size: {choice: [8]}}' \
  --set optimizer.lr=10 --set train.epochs=30 --quiet
t_check "a study whose only trial failed still ends (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "the diverged grouped trial is FAIL once, with why" python3 -c '
import sqlite3
r = sqlite3.connect("diverged/study.db").execute("select state, reason, attempts, exit_code from trials").fetchall()
assert len(r) == 1 and r[0][0] == "FAIL" and r[0][2] == 1 and r[0][3] == 7, r
assert "some groups failed or diverged" in r[0][1] and "summary.json" in r[0][1], r
'

# --- tune.per_group true: one ordinary study per group, each with its own best.yaml ---
study pg.yaml "  per_group: true"
t_run tune pg.yaml --study-dir pg --max-trials 2 --quiet
t_check "the per-group study ends well (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "one study per group on that group's rows alone, summary.json listing each best" python3 - <<'PY'
import csv, json, sqlite3
rows = list(csv.reader(open("data.csv")))
s = json.load(open("pg/summary.json"))
assert s["metric"] == "val_loss" and sorted(g["value"] for g in s["groups"]) == ["east", "north", "south"], s
for g in s["groups"]:
    d = g["study_dir"]
    assert d.endswith("/pg/groups/" + g["value"]) and g["best_yaml"] == d + "/best.yaml", g
    mine = [r for r in rows[1:] if r[1] == g["value"]]
    split = list(csv.reader(open(d + "/train.csv")))
    assert split[0] == ["x1", "x2", "y"] and split[1:] == [r[:1] + r[2:] for r in mine], g["value"]
    trials = sqlite3.connect(d + "/study.db").execute("select state, value from trials").fetchall()
    assert len(trials) == 2 and all(t[0] == "COMPLETE" for t in trials), trials
    assert g["best_value"] == min(t[1] for t in trials) or abs(g["best_value"] / min(t[1] for t in trials) - 1) < 1e-8, g
    best = open(g["best_yaml"]).read()
    assert "group_by" not in best and d + "/train.csv" in best, best
PY
t_run train "$T_DIR/pg/groups/north/best.yaml" --quiet
t_check "a group's best.yaml runs (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "...and trains that group's best trial again, bitwise" python3 -c '
import json, sqlite3
db = sqlite3.connect("pg/groups/north/study.db")
run = db.execute("select run_dir from trials order by value limit 1").fetchone()[0]
a, b = json.load(open(run + "/summary.json")), json.load(open("pg/groups/north/best/summary.json"))
assert a["params_crc32"] == b["params_crc32"], (a["params_crc32"], b["params_crc32"])
'
t_run tune --status pg
t_check "--status of a per-group study shows each group's table (exit $T_RC)" test "$T_RC" -eq 0 -a \
  "$(grep -c "^group study pg/groups/" out)" -eq 3 -a "$(grep -c "^best: trial" out)" -eq 3
t_run tune --resume pg --max-trials 3 --quiet
t_check "--resume continues each group's study (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "...to 3 trials each, the first 2 kept" python3 -c '
import sqlite3
for g in ("east", "north", "south"):
    t = sqlite3.connect(f"pg/groups/{g}/study.db").execute("select number, attempts from trials").fetchall()
    assert t == [(0, 1), (1, 1), (2, 1)], (g, t)
'

# ASHA prunes within each group's study, as in any study.
study pga.yaml "  per_group: true
  scheduler: {asha: {grace: 1, reduction_factor: 2, max_epochs: 3}}"
t_run tune pga.yaml --study-dir pga --quiet
t_check "per_group true with asha (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 0 -a -f pga/groups/east/best.yaml \
  -a -f pga/groups/north/best.yaml -a -f pga/groups/south/best.yaml

# --- refused before any trial, with one message ---
study asha.yaml "  scheduler: {asha: {grace: 1, reduction_factor: 2, max_epochs: 3}}"
t_run tune asha.yaml --study-dir asha --quiet
t_expect_error "asha on a grouped study" "$T_DIR/asha.yaml:" "asha cannot prune" "data.group_by: region" "fifo"
t_check "asha: no trial started" test ! -e asha/trials
t_run tune pg.yaml --study-dir pg2 --quiet --set data.group_by=
t_expect_error "per_group true without groups" "$T_DIR/pg.yaml:" "tune.per_group" "has no data.group_by"
study pgbad.yaml "  per_group: maybe"
t_run tune pgbad.yaml --study-dir pgbad --quiet
t_expect_error "per_group not a boolean" "$T_DIR/pgbad.yaml:" "tune.per_group" "maybe"
t_finish
