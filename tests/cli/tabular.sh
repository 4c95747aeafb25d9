#!/usr/bin/env bash
# Tabular data as it comes (issue 14, item 5), through the CLI as a user types it: a CSV
# made here with text class labels, categorical columns and missing cells trains on 2
# ranks; the run directory (encoding.json, split.json) and the checkpoint (ddpc inspect)
# hold the label list, the categories and the fill values, each checked against what the
# training split's rows give; a run killed mid-epoch resumes to bitwise the uninterrupted
# run's parameters; ddpc predict writes the class texts and agrees with the run's test
# accuracy, per-class F1 and confusion matrix (class names), the C API
# (examples/predict_from_c) and ONNX Runtime on the export with it;
# ddpc split writes the split's rows; every data.missing policy; an unseen category; the cache keyed on the new
# keys; integer labels keep their meaning; bad values refused with file:line:column.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cd "$T_DIR" || exit 1

# train.csv / test.csv / new.csv, the same every time (seeded). Missing cells: x1 empty in
# every 13th row, color NA in every 17th; the test file holds a color ('purple') the
# training file never has.
python3 - <<'PY'
import random
r = random.Random(14)
species = ["virginica", "setosa", "versicolor"]  # not in sorted order on purpose
def rows(n, first, purple=False):
    out = []
    for i in range(first, first + n):
        k = i % 3
        x1 = "%.3f" % r.gauss(2.0 * k, 0.6)
        x2 = "%.3f" % r.gauss(1.0 - k, 0.6)
        color = ["red", "green", "blue"][k] if r.random() < 0.85 else r.choice(["red", "green", "blue"])
        shape = r.choice(["round", "flat"])
        if i % 13 == 5: x1 = ""
        if i % 17 == 3: color = "NA"
        if purple and i % 5 == 0: color = "purple"
        out.append(f"{x1},{x2},{color},{shape},{species[k]}")
    return out
head = "x1,x2,color,shape,species"
open("train.csv", "w").write("\n".join([head] + rows(240, 0)) + "\n")
open("test.csv", "w").write("\n".join([head] + rows(60, 1000, purple=True)) + "\n")
open("new.csv", "w").write("id," + head + "\n" + "\n".join(f"r{i}," + l for i, l in enumerate(rows(30, 2000, True))) + "\n")
PY

cat >run.yaml <<'YAML'
name: tabular
seed: 5
data:
  format: csv
  train: {path: train.csv}
  test: {path: test.csv}
  label_column: species
  val_fraction: 0.2
  missing: mean
  categorical: [color, shape]
  preprocess: [{op: standardize, mode: per_feature}]
model: [{type: linear, units: 16}, {type: relu}, {type: linear, units: 3}]
optimizer: {name: adam, lr: 0.01}
train: {epochs: 4, batch_size: 8}
checkpoint: {every_steps: 5, keep_last: 3}
metrics: [macro_f1, per_class, confusion_matrix]
YAML

# ---- 2 ranks: uninterrupted, then killed mid-epoch and resumed ----
t_mpirun 120 2 train run.yaml --run-dir ref --quiet
t_check "2 ranks: training on text labels, categories and missing cells exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_mpirun 120 2 train run.yaml --run-dir ref_notes
t_check "the run says how many cells it filled and that the test file has unseen categories ($T_OUT)" \
  grep -q "missing cells filled from the training split.*column 'color': [0-9]* rows of validation/test hold a category the training split lacks" <<<"$T_OUT"
steps=$(t_json ref/summary.json steps)
DDPC_FAIL_AT="1:$((steps / 2 + 1)):kill" t_mpirun 120 2 train run.yaml --run-dir killed --quiet
t_check "rank 1 killed at step $((steps / 2 + 1)) of $steps: the run died (rc $T_RC)" test "$T_RC" -ne 0
t_mpirun 120 2 train run.yaml --run-dir killed --resume auto --quiet
t_check "the resume exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "resumed parameters are bitwise the uninterrupted run's" \
  test "$(t_json killed/summary.json params_crc32)" = "$(t_json ref/summary.json params_crc32)"

# ---- what the run directory records, against the CSV's own rows ----
t_check "encoding.json and split.json hold what the training split gives" python3 - <<'PY'
import csv, json, math
enc = json.load(open("ref/encoding.json"))
split = json.load(open("ref/split.json"))
lines = open("train.csv").read().splitlines()
missing = {"", "NA", "N/A", "NaN", "nan", "null", "?"}
assert enc["text_labels"] is True and enc["classes"] == ["setosa", "versicolor", "virginica"], enc["classes"]
train = [next(csv.reader([lines[n - 1]])) for n in split["train"]["lines"]]
val = split["validation"]["lines"]
assert len(train) + len(val) == 240 and not set(split["train"]["lines"]) & set(val), "train/val partition the rows"
assert sorted(split["train"]["lines"] + val) == list(range(2, 242)), "every data line of train.csv, by number"
assert split["test"]["file"].endswith("test.csv") and split["test"]["lines"] == list(range(2, 62))
cols = {c["name"]: c for c in enc["columns"]}
x1 = [float(r[0]) for r in train if r[0] not in missing]
assert abs(cols["x1"]["fill"] - sum(x1) / len(x1)) < 1e-5, (cols["x1"]["fill"], sum(x1) / len(x1))
colors = [r[2] for r in train if r[2] not in missing]
assert cols["color"]["categories"] == sorted(set(colors)), cols["color"]
assert cols["color"]["fill"] == max(sorted(set(colors)), key=colors.count), cols["color"]
assert cols["shape"]["categories"] == ["flat", "round"] and cols["x2"]["kind"] == "numeric"
assert enc["inputs"] == ["x1", "x2", "color=blue", "color=green", "color=red", "shape=flat", "shape=round"], enc["inputs"]
PY
ck=$(ls ref/checkpoints/ckpt-*.ddpc | sort | tail -n 1)
t_run inspect "$ck"
t_check "inspect shows the label list ($T_OUT)" grep -q "text labels (sorted; class k is the k-th): setosa, versicolor, virginica" <<<"$T_OUT"
fill=$(python3 -c 'import json; print("%.9g" % [c for c in json.load(open("ref/encoding.json"))["columns"] if c["name"] == "x1"][0]["fill"])')
t_check "inspect shows x1's fill $fill" grep -q "column x1: numeric, missing mean (fill $fill)" <<<"$T_OUT"
t_check "inspect shows the categories" grep -q "column color: categorical, missing mean (fill .*); categories (3): blue, green, red" <<<"$T_OUT"

# ---- ddpc predict: class texts, the same encoding as training ----
t_run predict ref --data new.csv --out pred.csv
t_check "predict exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "the output header names the classes" test "$(head -n 1 pred.csv)" = "id,predicted,p_setosa,p_versicolor,p_virginica"
t_check "every predicted class is one of the texts" python3 -c '
import csv; rows = list(csv.DictReader(open("pred.csv")))
assert len(rows) == 30 and all(r["predicted"] in ("setosa", "versicolor", "virginica") for r in rows)
assert all(abs(sum(float(r[k]) for k in ("p_setosa", "p_versicolor", "p_virginica")) - 1) < 1e-5 for r in rows)'
t_check "an unseen category is counted in a warning ($T_ERR)" grep -q "warning: [1-9][0-9]* cells hold a category the model was not trained on" <<<"$T_ERR"
# The C API (examples/predict_from_c: ddpc_predictor_encode, ddpc_predictor_class_name) on
# the same rows as text cells, missing ones and 'purple' included.
cut -d, -f2- new.csv >noid.csv
t_run predict ref --data noid.csv --out noid_pred.csv
tail -n +2 noid.csv | cut -d, -f1-4 >noid_rows.txt
t_predict_from_c ref noid_rows.txt noid_pred.csv 30
# ONNX Runtime on the exported graph, its inputs encoded from the metadata's `columns` as
# docs/export.md says: the probabilities ddpc predict wrote.
if [ -x "${DDPC_PYTHON:-}" ] && "$DDPC_PYTHON" -c 'import onnxruntime' 2>/dev/null; then
  t_run export ref --format onnx --out tab.onnx
  t_check "export to ONNX exits 0 ($T_ERR)" test "$T_RC" -eq 0
  t_check "ONNX Runtime on inputs encoded from the metadata gives ddpc predict's probabilities" "$DDPC_PYTHON" - <<'PY'
import csv, json
import numpy as np, onnxruntime as ort
s = ort.InferenceSession("tab.onnx")
meta = s.get_modelmeta().custom_metadata_map
cols, classes = json.loads(meta["columns"]), json.loads(meta["classes"])
assert classes == ["setosa", "versicolor", "virginica"], classes
missing = {"", "NA", "N/A", "NaN", "nan", "null", "?"}
x = []
for r in csv.DictReader(open("new.csv")):
    v = []
    for c in cols:
        t = r[c["name"]].strip()
        if c["kind"] == "numeric":
            v.append(c["fill"] if t in missing else float(t))
        else:
            t = c["fill"] if t in missing else t
            v += [1.0 if t == k else 0.0 for k in c["categories"]]
    x.append(v)
assert [len(v) for v in x] == [len(json.loads(meta["feature_names"]))] * 30
p = s.run(["probabilities"], {"input": np.array(x, np.float32)})[0]
for r, q in zip(csv.DictReader(open("pred.csv")), p):
    assert r["predicted"] == classes[int(q.argmax())], (r, q)
    assert all(abs(float(r["p_" + k]) - q[i]) < 1e-5 for i, k in enumerate(classes)), (r, q)
PY
else
  t_skip "no onnxruntime in \$DDPC_PYTHON (.ci/setup makes it)"
fi
t_run predict ref --data test.csv --out test_pred.csv
want=$(python3 -c 'import json; print("%.4f" % json.load(open("ref/summary.json"))["test_accuracy"])')
t_check "predict on the test file has the run's test accuracy $want ($T_ERR)" grep -q "accuracy $want" <<<"$T_ERR"
t_check "per-class F1 and the confusion matrix, by class name, are those of the predictions (and of the resumed run)" \
  python3 - <<'PY'
import csv, json
s, r = json.load(open("ref/summary.json")), json.load(open("killed/summary.json"))
classes = ["setosa", "versicolor", "virginica"]
truth = [row["species"] for row in csv.DictReader(open("test.csv"))]
pred = [row["predicted"] for row in csv.DictReader(open("test_pred.csv"))]
counts = [[sum(1 for t, p in zip(truth, pred) if t == a and p == b) for b in classes] for a in classes]
cm = s["test_confusion_matrix"]
assert cm["classes"] == classes and cm["counts"] == counts, (cm, counts)
for k, c in enumerate(classes):
    tp = counts[k][k]
    prec = tp / max(1, sum(counts[i][k] for i in range(3)))
    rec = tp / max(1, sum(counts[k]))
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    got = [x for x in s["test_per_class"] if x["class"] == c][0]
    assert abs(got["f1"] - f1) < 1e-6 and got["support"] == sum(counts[k]), (c, got, f1)
assert r["test_per_class"] == s["test_per_class"] and r["test_confusion_matrix"] == cm
PY

# ---- data.missing: error (default), drop_rows, per column; predicting refuses a drop ----
t_run train run.yaml --run-dir refused --set data.missing=error --quiet
t_expect_error "a missing cell under the default policy" "train.csv:5:" "column 'color': expected a category, got 'NA'" \
  "set data.missing to drop_rows or mean"
t_run train run.yaml --run-dir refused --set data.missing=error --set 'data.missing={color: mean}' --quiet
t_expect_error "an empty numeric cell" "train.csv:7:1: column 'x1': expected a finite number, got ''"
t_run train run.yaml --run-dir drop --set data.missing=drop_rows --quiet
t_check "drop_rows trains ($T_ERR)" test "$T_RC" -eq 0
t_check "drop_rows leaves out exactly the rows with a missing cell" python3 - <<'PY'
import json
s = json.load(open("drop/split.json"))
kept = s["train"]["lines"] + s["validation"]["lines"]
lines = open("train.csv").read().splitlines()
bad = [n for n in range(2, 242) if any(c in ("", "NA") for c in lines[n - 1].split(",")[:4])]
assert bad and sorted(kept) == [n for n in range(2, 242) if n not in bad], (len(kept), len(bad))
PY
# ddpc split writes the same rows as three CSV files, lines as the file has them.
t_run split run.yaml --out rows --set data.missing=drop_rows
t_check "ddpc split exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "ddpc split writes the rows split.json lists, the header first" python3 - <<'PY'
import json
s = json.load(open("drop/split.json"))
files = {"train": "train.csv", "validation": "train.csv", "test": "test.csv"}
for part, src in files.items():
    lines = open(src).read().splitlines()
    got = open(f"rows/{part}.csv").read().splitlines()
    assert got == [lines[0]] + [lines[n - 1] for n in s[part]["lines"]], part
PY
t_run split run.yaml
t_check "ddpc split without --out is a usage error ($T_ERR)" test "$T_RC" -eq 2
t_run predict drop --data new.csv --out drop_pred.csv
t_expect_error "predicting with a drop_rows model refuses a missing cell" "new.csv:9:4: column 'x1'" \
  "trained with data.missing drop_rows"
t_run train run.yaml --run-dir percol --set 'data.missing={x1: mean, color: drop_rows}' --quiet
t_check "data.missing per column trains ($T_ERR)" test "$T_RC" -eq 0
t_check "per column: x1 filled with a mean, color dropping rows" python3 -c '
import json; c = {c["name"]: c for c in json.load(open("percol/encoding.json"))["columns"]}
assert c["x1"]["missing"] == "mean" and "fill" in c["x1"] and c["color"]["missing"] == "drop_rows" and c["x2"]["missing"] == "error"'

# ---- the cache follows data.missing and data.categorical ----
export DDPC_CACHE_DIR="$T_DIR/cache2"  # empty: the runs above filled the first one
t_run train run.yaml --run-dir c1 --quiet
t_check "a new cache directory: a miss" test "$(t_json c1/summary.json data_cache)" = miss
t_run train run.yaml --run-dir c2 --quiet
t_check "same settings: the cache is hit" test "$(t_json c2/summary.json data_cache)" = hit
t_run train run.yaml --run-dir c3 --set data.missing=drop_rows --quiet
t_check "another data.missing: not served from the cache ($T_ERR)" test "$(t_json c3/summary.json data_cache)" = miss
t_run train run.yaml --run-dir c4 --set 'data.categorical=[color, shape, x2]' --quiet
t_check "another data.categorical: not served from the cache" test "$(t_json c4/summary.json data_cache)" = miss
t_run train run.yaml --run-dir c5 --set 'data.categorical=[color]'
t_expect_error "a text column not listed as categorical" "train.csv:2:" "column 'shape': expected a finite number"

# ---- integer labels keep class id = the integer ----
python3 -c '
lines = open("train.csv").read().splitlines()
ids = {"setosa": "2", "versicolor": "0", "virginica": "1"}
out = [lines[0]] + [",".join(l.split(",")[:4] + [ids[l.split(",")[4]]]) for l in lines[1:]]
open("int.csv", "w").write("\n".join(out) + "\n")'
t_run train run.yaml --run-dir ints --set data.train.path=int.csv --set data.test= --set data.test_fraction=0.1 --quiet
t_check "integer labels with categorical columns train ($T_ERR)" test "$T_RC" -eq 0
t_check "integer labels: classes are the integers" python3 -c '
import json; e = json.load(open("ints/encoding.json")); assert e["text_labels"] is False and e["classes"] == ["0", "1", "2"], e'
t_run predict ints --data int.csv --out int_pred.csv
t_check "integer labels: the output keeps p_0, p_1, p_2" test "$(head -n 1 int_pred.csv)" = "predicted,p_0,p_1,p_2"

# ---- bad values: one clear message with the place ----
t_run train run.yaml --run-dir bad --set data.missing=average
t_expect_error "an unknown policy" "data.missing" "expected one of error, drop_rows, mean"
t_run train run.yaml --run-dir bad --set 'data.categorical=[colour]'
t_expect_error "an unknown categorical column" "data.categorical: no column named 'colour'" "the header has"
t_run train run.yaml --run-dir bad --set 'data.categorical=[species]'
t_expect_error "the label column as categorical" "column 'species' is the label column"
t_run train run.yaml --run-dir bad --set 'data.missing={x9: mean}'
t_expect_error "an unknown column in data.missing" "data.missing: no column named 'x9'"
sed '9s/,[0-9]$/,two/' int.csv >mixed.csv
t_run train run.yaml --run-dir bad --set data.train.path=mixed.csv --set data.test= --set data.test_fraction=0.1
t_expect_error "class ids with a text among them" "mixed.csv:9:" "class label 'two' is a text, but" \
  "must be all class ids (integers) or all texts"
t_run train run.yaml --run-dir bad --set data.num_classes=4
t_expect_error "data.num_classes against the text labels" "3 class labels" "data.num_classes is 4"
sed -i '5s/,[a-z]*$/,dragon/' test.csv
t_run train run.yaml --run-dir bad
t_expect_error "a test-file class the training file lacks" "test.csv:5:" "class 'dragon' is not one of the 3 classes"
t_finish
