#!/usr/bin/env bash
# One model per group (data.group_by) on one rank: every group of a grouped CSV gets its own
# run directory and model, bitwise the model `ddpc train` makes on that group's rows alone;
# a group too small is listed and skipped; a group that diverges fails alone (exit code 7,
# its row says why); ddpc predict routes each row to its group's model and reports the rows
# of groups without one; bad group columns get one clear message.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/groups.bash"
cd "$T_DIR" || exit 1

g_write_data data.csv
g_write_config g.yaml data.csv
g_write_config alone.yaml data.csv ungrouped

t_run train g.yaml --run-dir run
t_check "some groups failed: exit code 7 (got $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 7
t_check "summary.json state groups_failed" test "$(t_json run/summary.json state)" = groups_failed
t_check "15 groups, 13 done, 1 failed, 1 skipped" python3 -c '
import json, sys
s = json.load(open("run/summary.json"))
assert (s["groups_total"], s["groups_done"], s["groups_failed"], s["groups_skipped"]) == (15, 13, 1, 1), s
rows = {g["value"]: g for g in s["groups"]}
assert rows["boom"]["state"] == "diverged" and "non-finite" in rows["boom"]["reason"], rows["boom"]
assert rows["tiny"]["state"] == "skipped" and "8 rows, fewer than data.min_group_rows 30" in rows["tiny"]["reason"]
for v, g in rows.items():
    if v not in ("boom", "tiny"):
        assert g["state"] == "done" and g["epochs"] == 6 and g["test_r2"] > 0.9, g
done = [g for v, g in rows.items() if g["state"] == "done"]
mean = sum(g["test_rmse"] for g in done) / len(done)
weighted = sum(g["test_rmse"] * g["rows"] for g in done) / sum(g["rows"] for g in done)
assert abs(s["mean_test_rmse"] - mean) < 1e-6 and abs(s["rows_weighted_test_rmse"] - weighted) < 1e-6, s
slowest = max((g for g in rows.values() if g["state"] != "skipped"), key=lambda g: g["training_seconds"])
assert s["slowest_group"] == slowest["value"] and s["slowest_group_seconds"] == slowest["training_seconds"], s
assert s["world_size"] == 1 and len(s["ranks"]) == 1 and s["ranks"][0]["groups"] == 14, s["ranks"]
'
t_check "the table is printed, boom's reason with it" grep -q "group boom .*diverged.*non-finite" out
t_check "groups.json maps the value to an encoded directory" python3 -c '
import json
g = {x["value"]: x for x in json.load(open("run/groups.json"))["groups"]}
assert g["odd/name, x"]["dir"] == "groups/odd%2Fname%2C%20x" and g["odd/name, x"]["rows"] == 90, g
assert "rank" not in g["tiny"] and "fewer than" in g["tiny"]["skipped"], g["tiny"]
'
t_check "each group has its own run directory" test -f "run/groups/odd%2Fname%2C%20x/checkpoints/best.ddpc" -o \
  -n "$(ls run/groups/odd%2Fname%2C%20x/checkpoints/)"
t_check "a skipped group gets no directory" test ! -e run/groups/tiny
t_check "a group's run has its own metrics and events" test -s run/groups/g04/metrics.jsonl -a -s run/groups/g04/events.jsonl

# Bitwise the model of `ddpc train` on the group's rows alone, with the same seed.
for value in g03 g11 "odd/name, x"; do
  dir=$(python3 -c 'import json,sys; print([g["dir"] for g in json.load(open("run/groups.json"))["groups"] if g["value"] == sys.argv[1]][0])' "$value")
  g_rows_of data.csv "$value" alone.csv
  t_run train alone.yaml --set data.train.path=alone.csv --run-dir "alone-$value" --quiet
  t_check "$value alone trains (stderr: $T_ERR)" test "$T_RC" -eq 0
  t_check "$value: same parameters as trained alone (CRC)" test \
    "$(t_json "run/$dir/summary.json" params_crc32)" = "$(t_json "alone-$value/summary.json" params_crc32)"
  "$DDPC" export "run/$dir" --format safetensors --out grouped.safetensors >/dev/null 2>&1
  "$DDPC" export "alone-$value" --format safetensors --out alone.safetensors >/dev/null 2>&1
  t_check "$value: the exported tensors are the same bytes" python3 -c '
import json, struct, sys
def tensors(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a and a == b, (list(a), list(b))
' grouped.safetensors alone.safetensors
done

# ddpc predict on the grouped run: each row goes to its group's model, in the input's order;
# rows of a group without a model (diverged, skipped, unseen) are left out and reported.
python3 - data.csv <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
pick = [r for r in rows[1:] if r[1] in ("g03", "g07", "boom", "tiny")][:40] + [["0.5", "zzz", "0.5", "1"]]
pick += [r for r in rows[1:] if r[1] == "tiny"][:2]
pick += [r for r in rows[1:] if r[1] == "odd/name, x"][:5]
with open("pin.csv", "w") as f:
    f.write("x1,store,x2,y\n")
    for r in pick:
        r = list(r)
        r[1] = '"' + r[1] + '"' if "," in r[1] else r[1]
        f.write(",".join(r) + "\n")
PY
t_run predict run --data pin.csv --out pout.csv
t_check "grouped predict exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "the rows without a model are reported with their first line" python3 -c '
import sys
err = sys.argv[1]
assert "boom" in err and "ended diverged" in err and "zzz" in err and "no trained group" in err, err
assert "tiny" in err and "pin.csv:" in err, err
' "$T_ERR"
# What each group's own model says of its rows, in the grouped output's order.
python3 - pin.csv <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
for g in ("g03", "g07"):
    with open(f"pin-{g}.csv", "w") as f:
        f.write("x1,store,x2,y\n")
        for r in rows[1:]:
            if r[1] == g:
                f.write(",".join(r) + "\n")
PY
"$DDPC" predict run/groups/g03 --data pin-g03.csv --out g03.out 2>/dev/null
"$DDPC" predict run/groups/g07 --data pin-g07.csv --out g07.out 2>/dev/null
odd=$(python3 -c 'import json; print([g["dir"] for g in json.load(open("run/groups.json"))["groups"] if g["value"] == "odd/name, x"][0])')
python3 - pin.csv odd.csv <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
with open(sys.argv[2], "w") as f:
    f.write("x1,store,x2,y\n")
    for r in rows[1:]:
        if r[1] == "odd/name, x":
            f.write(",".join([r[0], '"odd/name, x"', r[2], r[3]]) + "\n")
PY
"$DDPC" predict "run/$odd" --data odd.csv --out odd.out 2>/dev/null
t_check "each row predicted by its group's model, in the input's order" python3 - pin.csv pout.csv <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
out = list(csv.reader(open(sys.argv[2])))
assert out[0] == ["store", "y"], out[0]
own = {g: [r[1] for r in list(csv.reader(open(f"{n}.out")))[1:]] for g, n in (("g03", "g03"), ("g07", "g07"), ("odd/name, x", "odd"))}
want = [[r[1], own[r[1]].pop(0)] for r in rows if r[1] in own]
assert out[1:] == want and len(want) > 20, (out[1:5], want[:5])
PY
t_run predict run --data data.csv --labels x.idx --out -
t_expect_error "IDX labels for a grouped run" "--labels: IDX labels; a grouped run predicts CSV rows"

# ASHA cannot prune a grouped config's trials (tuning grouped configs: cli.groups_tune).
printf 'base: %s\ntune:\n  metric: val_loss\n  space: {optimizer.lr: {loguniform: [0.001, 0.1]}}\n  scheduler: asha\n' \
  "$T_DIR/g.yaml" >study.yaml
t_run tune study.yaml --study-dir study --quiet
t_expect_error "ddpc tune with asha on a grouped base config" "asha cannot prune" "data.group_by: store" "fifo"

# A run directory that holds a grouped run is not started over.
t_run train g.yaml --run-dir run --quiet
t_expect_error "a fresh run into a grouped run's directory" "run already holds a grouped run (groups.json)" \
  "--resume auto"

# Bad group columns: one message each, with the file and line.
sed 's/group_by: store/group_by: shop/' g.yaml >bad.yaml
t_run train bad.yaml --run-dir bad --quiet
t_expect_error "no such column" "$T_DIR/data.csv:1: no column named 'shop' (data.group_by)"
printf 'x1,store,x2,y\n1,a,2,3\n1,,2,3\n' >empty.csv
t_run train g.yaml --set data.train.path=empty.csv --run-dir bad --quiet
t_expect_error "an empty group cell" "$T_DIR/empty.csv:3:3: column 'store' (data.group_by): expected a group value"
printf 'x1,store,x2,y\n1,a,2,3\n1\n' >short.csv
t_run train g.yaml --set data.train.path=short.csv --run-dir bad --quiet
t_expect_error "a short row" "$T_DIR/short.csv:3:" "group column 'store'"
t_run train g.yaml --set data.group_by=y --run-dir bad --quiet
t_expect_error "the label column as group column" "data.group_by: 'y' is the label column"
t_finish
