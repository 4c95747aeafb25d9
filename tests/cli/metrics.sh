#!/usr/bin/env bash
# Metrics beyond loss and accuracy (issue 14, item 7), through the CLI as a user types it:
# `metrics: [...]` on CSV data made here (text labels, a categorical column, missing cells)
# trains on 1 and 2 ranks, and every number in metrics.jsonl (the last epoch's val_*) and
# summary.json (test_*, the per-class table and the confusion matrix with the class names)
# equals what Python recomputes by the definitions from `ddpc predict` on the same rows with
# the final checkpoint (the validation rows from split.json). A two-class run's ROC AUC
# equals the pair count on predict's probabilities. A run killed mid-epoch resumes to
# bitwise the same parameters and the same metric lines and tables. Early stopping monitors
# val_macro_f1 (mode max) and stops where Lightning's rule says; ddpc tune takes
# val_macro_f1 as tune.metric; what cannot work is refused with one message.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cd "$T_DIR" || exit 1

# Three overlapping classes with text labels (so F1 < 1 and the matrix has off-diagonal
# counts), a categorical column and missing cells, and a two-class file; test files of odd
# length, so ranks take unequal shares.
python3 - <<'PY'
import random
r = random.Random(7)
def rows(n, names, spread):
    out = []
    for i in range(n):
        k = r.randrange(len(names))
        x1 = "" if i % 11 == 4 else "%.4f" % r.gauss(k, spread)  # missing cells, filled with the mean
        soil = ["clay", "sand", "loam"][k % 3] if r.random() < 0.6 else r.choice(["clay", "sand", "loam"])
        out.append("%s,%.4f,%s,%s" % (x1, r.gauss(-0.5 * k, spread), soil, names[k]))
    return out
head = ["x1,x2,soil,tree"]
three = ["oak", "birch", "ash"]
open("train.csv", "w").write("\n".join(head + rows(241, three, 0.9)) + "\n")
open("test.csv", "w").write("\n".join(head + rows(61, three, 0.9)) + "\n")
two = ["no", "yes"]
open("btrain.csv", "w").write("\n".join(head + rows(201, two, 1.2)) + "\n")
open("btest.csv", "w").write("\n".join(head + rows(57, two, 1.2)) + "\n")
PY

cat >run.yaml <<'YAML'
name: metrics
seed: 3
data:
  format: csv
  train: {path: train.csv}
  test: {path: test.csv}
  label_column: tree
  val_fraction: 0.2
  missing: mean
  categorical: [soil]
  preprocess: [{op: standardize, mode: per_feature}]
model: [{type: linear, units: 8}, {type: tanh}, {type: linear, units: 3}]
optimizer: {name: adam, lr: 0.01}
train: {epochs: 3, batch_size: 8, eval_batch_size: 7}
metrics: [macro_f1, per_class, confusion_matrix, top2_accuracy, macro_precision, macro_recall]
YAML
sed -e 's/train.csv/btrain.csv/; s/test.csv/btest.csv/; s/units: 3}/units: 2}/' \
    -e 's/^metrics: .*/metrics: [roc_auc, macro_f1, confusion_matrix]/' run.yaml >binary.yaml

# check_run DIR TRAIN TEST: the run's numbers against a recomputation from ddpc predict.
check_run() {
  local dir=$1 ckpt
  ckpt="$dir/checkpoints/$(ls "$dir/checkpoints" | grep '^ckpt-' | tail -n 1)"
  python3 - "$dir" "$2" >"$dir.val.csv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "/split.json"))
lines = open(sys.argv[2]).read().splitlines()
print("\n".join([lines[0]] + [lines[n - 1] for n in s["validation"]["lines"]]))
PY
  t_run predict "$ckpt" --data "$dir.val.csv" --out "$dir.val_pred.csv"
  t_check "$dir: predict on the validation rows ($T_ERR)" test "$T_RC" -eq 0
  t_run predict "$ckpt" --data "$3" --out "$dir.test_pred.csv"
  t_check "$dir: predict on the test file ($T_ERR)" test "$T_RC" -eq 0
  t_check "$dir: metrics.jsonl and summary.json match the recomputation from ddpc predict" \
    python3 - "$dir" "$3" <<'PY'
import csv, json, sys
d, test = sys.argv[1], sys.argv[2]
cfg = open(d + "/config.yaml").read()
def truth(path):
    return [r["tree"] for r in csv.DictReader(open(path))]
def metrics(data, pred):
    y = truth(data)
    rows = list(csv.DictReader(open(pred)))
    classes = [c[2:] for c in rows[0] if c.startswith("p_")]
    assert len(rows) == len(y) and sorted(set(y)) <= classes, (len(rows), len(y), classes)
    C = len(classes)
    cm = [[0] * C for _ in range(C)]
    top2 = 0
    for t, r in zip(y, rows):
        cm[classes.index(t)][classes.index(r["predicted"])] += 1
        p = [float(r["p_" + c]) for c in classes]
        k = classes.index(t)
        top2 += sum(1 for j in range(C) if p[j] > p[k] or (p[j] == p[k] and j < k)) < 2
    per = []
    for c in range(C):
        tp, actual, predicted = cm[c][c], sum(cm[c]), sum(cm[j][c] for j in range(C))
        P = tp / predicted if predicted else 0.0   # zero_division=0
        R = tp / actual if actual else 0.0
        F = 2 * P * R / (P + R) if P + R else 0.0
        per.append((P, R, F, actual))
    out = {"macro_precision": sum(p[0] for p in per) / C, "macro_recall": sum(p[1] for p in per) / C,
           "macro_f1": sum(p[2] for p in per) / C, "top2_accuracy": top2 / len(y)}
    if C == 2:  # the pair count: a positive above a negative 1, a tie 1/2
        pos = [float(r["p_" + classes[1]]) for t, r in zip(y, rows) if t == classes[1]]
        neg = [float(r["p_" + classes[1]]) for t, r in zip(y, rows) if t != classes[1]]
        out["roc_auc"] = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))
    return out, per, cm, classes
def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))
listed = cfg.split("metrics: [")[1].split("]")[0].split(", ")
scalars = [m for m in listed if m not in ("per_class", "confusion_matrix")]
val, _, _, _ = metrics(d + ".val.csv", d + ".val_pred.csv")
last = [json.loads(l) for l in open(d + "/metrics.jsonl")][-1]
for m in scalars:
    assert close(last["val_" + m], val[m]), ("val", m, last["val_" + m], val[m])
summary = json.load(open(d + "/summary.json"))
got, per, cm, classes = metrics(test, d + ".test_pred.csv")
for m in scalars:
    assert close(summary["test_" + m], got[m]), ("test", m, summary["test_" + m], got[m])
cmj = summary["test_confusion_matrix"]
assert cmj["classes"] == classes and cmj["counts"] == cm, (cmj, classes, cm)
assert sum(map(sum, cm)) == len(truth(test)), "every test sample counted once"
if "per_class" in listed:
    table = summary["test_per_class"]
    assert [t["class"] for t in table] == classes, table
    for t, (P, R, F, n) in zip(table, per):
        assert close(t["precision"], P) and close(t["recall"], R) and close(t["f1"], F) and t["support"] == n, (t, P, R, F, n)
print("checked", d, sorted(scalars), file=sys.stderr)
PY
}

# ---- 3 classes: 1 rank, 2 ranks (drop_last too) ----
t_run train run.yaml --run-dir one --quiet
t_check "1 rank: exit 0 ($T_ERR)" test "$T_RC" -eq 0
check_run one train.csv test.csv
t_check "1 rank: the classes by name, sorted" python3 -c '
import json, sys
s = json.load(open("one/summary.json"))
assert s["test_confusion_matrix"]["classes"] == ["ash", "birch", "oak"], s["test_confusion_matrix"]
assert 0 < s["test_macro_f1"] < 1 and 0 < s["test_top2_accuracy"] <= 1, s
'
f1=$(python3 -c 'import json; print("%.4f" % json.load(open("one/summary.json"))["test_macro_f1"])')
t_run resume one
t_check "ddpc resume of the finished run shows its test metrics ($T_OUT)" \
  grep -q "test_acc [0-9.]* test_macro_precision [0-9.]* test_macro_recall [0-9.]* test_macro_f1 $f1 test_top2_accuracy" <<<"$T_OUT$T_ERR"
t_check "1 rank: every epoch line has the listed val metrics" python3 -c '
import json
m = [json.loads(l) for l in open("one/metrics.jsonl")]
keys = ["val_macro_precision", "val_macro_recall", "val_macro_f1", "val_top2_accuracy"]
assert len(m) == 3 and all(isinstance(e[k], float) for e in m for k in keys), m
assert all("val_roc_auc" not in e and "val_per_class" not in e for e in m)
'
t_mpirun 180 2 train run.yaml --run-dir two --quiet
t_check "2 ranks: exit 0 ($T_ERR)" test "$T_RC" -eq 0
check_run two train.csv test.csv
t_mpirun 180 2 train run.yaml --run-dir two_drop --quiet --set train.drop_last=true --set train.batch_size=5
t_check "2 ranks, drop_last: exit 0 ($T_ERR)" test "$T_RC" -eq 0
check_run two_drop train.csv test.csv

# ---- two classes: ROC AUC, the scores gathered from 1, 2 and 3 ranks (uneven shares) ----
t_run train binary.yaml --run-dir bone --quiet
t_check "binary, 1 rank: exit 0 ($T_ERR)" test "$T_RC" -eq 0
check_run bone btrain.csv btest.csv
t_mpirun 180 2 train binary.yaml --run-dir btwo --quiet
t_check "binary, 2 ranks: exit 0 ($T_ERR)" test "$T_RC" -eq 0
check_run btwo btrain.csv btest.csv
t_mpirun 180 3 train binary.yaml --run-dir bthree --quiet
t_check "binary, 3 ranks: exit 0 ($T_ERR)" test "$T_RC" -eq 0
check_run bthree btrain.csv btest.csv
t_check "binary: an AUC strictly between 0.5 and 1" python3 -c '
import json; a = json.load(open("btwo/summary.json"))["test_roc_auc"]; assert 0.5 < a < 1, a'

# ---- killed mid-epoch and resumed: the same metric lines and test results ----
DDPC_FAIL_AT="0:30:term" t_run train run.yaml --run-dir cut --quiet
t_check "preempted mid-run (rc $T_RC)" test "$T_RC" -eq 5
t_run train run.yaml --run-dir cut --quiet --resume auto
t_check "resumed: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "resumed: metrics.jsonl and the test metrics as the uninterrupted run's" python3 -c '
import json
timing = {"samples_per_s", "seconds", "comm_seconds", "comm_hidden_fraction"}
a = [{k: v for k, v in json.loads(l).items() if k not in timing} for l in open("one/metrics.jsonl")]
b = [{k: v for k, v in json.loads(l).items() if k not in timing} for l in open("cut/metrics.jsonl")]
assert a == b, (a, b)
x, y = json.load(open("one/summary.json")), json.load(open("cut/summary.json"))
for k in ("test_macro_f1", "test_top2_accuracy", "test_per_class", "test_confusion_matrix", "params_crc32"):
    assert x[k] == y[k], (k, x[k], y[k])
'

# ---- early stopping on val_macro_f1, not listed in metrics: ----
t_run train run.yaml --run-dir es --quiet --set metrics=[] --set train.epochs=40 --set optimizer.lr=0.05 \
  --set 'stop.early_stopping={monitor: val_macro_f1, patience: 2}'
t_check "early stopping on val_macro_f1: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "early stopping: resolved mode max" grep -q "^    mode: max" es/config.yaml
t_check "early stopping: stops where Lightning's rule says, best value and epoch in summary.json" python3 -c '
import json
m = [json.loads(l) for l in open("es/metrics.jsonl")]
s = json.load(open("es/summary.json"))
best, best_epoch, bad, stop = None, 0, 0, None
for e in m:
    v = e["val_macro_f1"]
    if best is None or v > best:
        best, best_epoch, bad = v, e["epoch"], 0
    else:
        bad += 1
    if bad >= 2:
        stop = e["epoch"]
        break
assert stop is not None and stop < 40, ("the plateau should stop it", [e["val_macro_f1"] for e in m])
assert s["epochs_completed"] == stop == len(m), (s["epochs_completed"], stop, len(m))
assert s["best_val_macro_f1"] == best and s["best_epoch"] == best_epoch, (s, best, best_epoch)
assert s["stop_reason"].startswith("early stopping: val_macro_f1 did not improve"), s["stop_reason"]
assert 0 < s["test_macro_f1"] <= 1 and "test_per_class" not in s, "a monitored metric is reported as a listed one"
'

# ---- ddpc tune with tune.metric: val_macro_f1 ----
cat >study.yaml <<'YAML'
base: run.yaml
tune:
  metric: val_macro_f1
  algorithm: random
  max_trials: 2
  seed: 1
  space:
    optimizer.lr: {loguniform: [0.003, 0.05]}
YAML
t_run tune study.yaml --study-dir study --quiet --set train.epochs=2
t_check "tune on val_macro_f1: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "tune: each trial's value is its best val_macro_f1 (mode max)" python3 -c '
import json, sqlite3
db = sqlite3.connect("study/study.db")
rows = db.execute("select number, value, state from trials order by number").fetchall()
assert len(rows) == 2 and all(r[2] == "COMPLETE" for r in rows), rows
for number, value, _ in rows:
    m = [json.loads(l)["val_macro_f1"] for l in open("study/trials/%04d/metrics.jsonl" % number)]
    assert abs(value - max(m)) <= 1e-9, (number, value, m)
'
sed 's/^metrics: .*//' run.yaml >plain.yaml
sed 's/base: run.yaml/base: plain.yaml/' study.yaml >study_plain.yaml
t_run tune study_plain.yaml --study-dir study_plain --quiet
t_expect_error "tune.metric not computed by the base config" "study_plain.yaml:3:11: tune.metric: the trials report" \
  "val_macro_f1 only when the base config asks for it: add 'metrics: [macro_f1]' to"
t_check "no trial started" test ! -e study_plain/trials

# ---- refusals, one message each, nothing trained ----
t_run train run.yaml --run-dir bad1 --set 'metrics=[f1]'
t_expect_error "unknown metrics: entry" "--set metrics=[f1]: metrics: unknown metric 'f1'; expected one of macro_precision," \
  "macro_f1, topK_accuracy, roc_auc, per_class, confusion_matrix"
t_run train run.yaml --run-dir bad2 --set 'metrics=[roc_auc]'
t_expect_error "roc_auc with 3 classes" "roc_auc is for two classes" "the data has 3 classes"
t_run train run.yaml --run-dir bad3 --set 'metrics=[top3_accuracy]'
t_expect_error "top-k with k = classes" "top3_accuracy needs more than 3 classes, but the data has 3"
t_run train binary.yaml --run-dir bad4 --set 'stop.early_stopping={monitor: val_roc_auc}' --set 'metrics=[top2_accuracy]'
t_expect_error "top2 of 2 classes, named in the list" "top2_accuracy needs more than 2 classes"
t_check "nothing was trained" test ! -e bad1/checkpoints -a ! -e bad2/checkpoints -a ! -e bad3/checkpoints -a ! -e bad4/checkpoints
t_finish
