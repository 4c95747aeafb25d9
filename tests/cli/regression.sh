#!/usr/bin/env bash
# Regression as a user meets it (issue 14, item 6), on y = 150 + 40a - 25b + 10c + noise
# made here: a float target left at task classification is refused at its line and column
# with the hint, and a 1-unit last layer on whole-number targets suggests task regression;
# a regression run reports MAE, RMSE and R² (val in metrics.jsonl, test in summary.json and
# the last line, no accuracy), checked against the predictions of the final model computed
# here; data.target_standardize keeps loss and errors in the target's units (targets x1000:
# errors x1000, loss x1e6, R² the same) and its constants reach the checkpoint, so that
# ddpc predict gives values in the target's units; val_r2 works as an early-stopping
# monitor (mode max); a checkpoint of an older ddpc (history without these metrics)
# resumes bitwise; 2 ranks count every sample once.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1

# write_data FILE ROWS SEED SCALE: the CSV (targets times SCALE).
write_data() {
  python3 - "$@" <<'PY'
import random, sys
path, rows, seed, scale = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(seed)
with open(path, "w") as f:
    f.write("a,b,c,y\n")
    for _ in range(rows):
        a, b, c = (rng.uniform(-2, 2) for _ in range(3))
        y = (150 + 40 * a - 25 * b + 10 * c + rng.gauss(0, 5)) * scale
        f.write(f"{a:.4f},{b:.4f},{c:.4f},{y:.3f}\n")
PY
}
write_data train.csv 400 1 1
write_data test.csv 120 2 1
write_data train1000.csv 400 1 1000
write_data test1000.csv 120 2 1000

# config FILE TRAIN TEST [EXTRA YAML]: a linear model on the CSV, a separate test file.
config() {
  cat >"$1" <<YAML
name: reg
seed: 1
data:
  format: csv
  task: regression
  train: {path: $2}
  test: {path: $3}
  label_column: y
  val_fraction: 0.2
  preprocess: [{op: standardize, mode: per_feature}]
  cache: false
${4:-}
model: [{type: linear, units: 1}]
optimizer: {name: adam, lr: 0.05}
train: {epochs: 20, batch_size: 16}
checkpoint: {keep_best: false}
YAML
}

# --- the mistakes: a float target as classes; a 1-unit model against counted classes ---
config cls.yaml train.csv test.csv
sed -i 's/task: regression/task: classification/' cls.yaml
t_run train cls.yaml --quiet
t_expect_error "a float target under task classification" "$T_DIR/train.csv:2:23: column 'y'" \
  "expected a non-negative integer class label, got '" "data.task: regression"
python3 -c '
import sys
rows = open("train.csv").read().splitlines()
out = [rows[0]] + [",".join(r.split(",")[:3] + [str(round(float(r.split(",")[3])))]) for r in rows[1:]]
open("whole.csv", "w").write("\n".join(out) + "\n")'
sed 's/train.csv/whole.csv/; s/test: {path: test.csv}/test_fraction: 0.1/' cls.yaml >whole.yaml
t_run train whole.yaml --quiet
t_expect_error "whole-number targets, a 1-unit model, task classification" \
  "the model's last layer gives 1 output per sample but the data has" "counted from its largest label" \
  "a last layer of 1 unit predicts a number" "set data.task: regression"
config bad_std.yaml train.csv test.csv "  target_standardize: true"
sed -i 's/task: regression/task: classification/' bad_std.yaml
t_run train bad_std.yaml --quiet
t_expect_error "target_standardize under classification" "bad_std.yaml:12:23: data.target_standardize" \
  "classification"

# --- a regression run: the metrics, checked against the final model's predictions ---
# check_run DIR TEST: metrics.jsonl's val errors are consistent, the last line and
# summary.json have the test errors, and they are those of DIR's final model on TEST.
check_run() {
  local dir=$1 test=$2
  t_check "$dir: metrics.jsonl has val_mae, val_rmse, val_r2, consistent with val_loss" python3 -c '
import json, math, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    assert m["val_accuracy"] is None and m["val_mae"] <= m["val_rmse"], m
    assert math.isclose(m["val_rmse"] ** 2, m["val_loss"], rel_tol=1e-4), m
' "$dir/metrics.jsonl"
  "$DDPC" predict "$dir/checkpoints/$(ls "$dir/checkpoints" | grep ckpt- | tail -n 1)" --data "$test" \
    --out "$dir.pred.csv" 2>/dev/null
  t_check "$dir: summary.json's test_mae, test_rmse, test_r2 are the final model's on $test" python3 -c '
import csv, json, math, sys
s = json.load(open(sys.argv[1]))
y = [float(r["y"]) for r in csv.DictReader(open(sys.argv[2]))]
p = [float(r["y"]) for r in csv.DictReader(open(sys.argv[3]))]
n = len(y)
mean = sum(y) / n
mae = sum(abs(a - b) for a, b in zip(y, p)) / n
mse = sum((a - b) ** 2 for a, b in zip(y, p)) / n
r2 = 1 - mse * n / sum((a - mean) ** 2 for a in y)
want = {"test_mae": mae, "test_rmse": math.sqrt(mse), "test_r2": r2, "test_loss": mse}
for k, v in want.items():
    assert math.isclose(s[k], v, rel_tol=1e-4), (k, s[k], v)
assert s["test_accuracy"] is None and s["test_r2"] > 0.95, s
' "$dir/summary.json" "$test" "$dir.pred.csv"
}

config plain.yaml train.csv test.csv
t_run train plain.yaml --run-dir plain --set optimizer.lr=0.5 --set train.epochs=40
t_check "plain regression run exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "the last line has the test errors, no accuracy ($T_OUT)" \
  grep -Eq '^test_loss [0-9.]+ test_mae [0-9.]+ test_rmse [0-9.]+ test_r2 0\.9[0-9]+ \|' <<<"$T_OUT"
t_check "no accuracy anywhere in the output" test "$(grep -c acc <<<"$T_OUT")" = 0
t_check "epoch lines have val_mae, val_rmse, val_r2" grep -Eq '^epoch 40/40 .* val_mae [0-9.]+ val_rmse [0-9.]+ val_r2 ' <<<"$T_OUT"
check_run plain test.csv

config std.yaml train.csv test.csv "  target_standardize: true"
t_run train std.yaml --run-dir std
t_check "target_standardize run exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
check_run std test.csv
"$DDPC" inspect "std/checkpoints/$(ls std/checkpoints | tail -n 1)" >std.inspect 2>&1
t_check "the standardization constants are in the checkpoint" \
  grep -q "target: standardized in training; target = output \* " std.inspect
config std1000.yaml train1000.csv test1000.csv "  target_standardize: true"
t_run train std1000.yaml --run-dir std1000 --quiet
t_check "targets x1000: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "targets x1000: errors x1000, loss x1e6, R² the same (the target's own units)" python3 -c '
import json, math, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k, f in (("test_mae", 1e3), ("test_rmse", 1e3), ("test_loss", 1e6), ("test_r2", 1)):
    assert math.isclose(a[k] * f, b[k], rel_tol=1e-3), (k, a[k], b[k])
' std/summary.json std1000/summary.json
check_run std1000 test1000.csv

# val_r2 as an early-stopping monitor: improves upward.
t_run train std.yaml --run-dir es --quiet --set 'stop.early_stopping={monitor: val_r2, patience: 2}'
t_check "val_r2 monitor: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "val_r2 monitor: mode max, best_val_r2 the highest epoch's" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r2 = [json.loads(l)["val_r2"] for l in open(sys.argv[2])]
assert s["best_val_r2"] == max(r2) and s["best_epoch"] == r2.index(max(r2)) + 1, (s, r2)
' es/summary.json es/metrics.jsonl
t_check "val_r2 monitor: resolved mode max" grep -q "^    mode: max" es/config.yaml

# A checkpoint of a ddpc before these metrics: its history section (id 5) holds 88-byte
# records. A preempted run's newest checkpoint rewritten so resumes, to bitwise the run's
# uninterrupted parameters, its earlier epochs in metrics.jsonl without regression values.
t_run train std.yaml --run-dir whole --quiet --set train.epochs=4
DDPC_FAIL_AT="0:40:term" t_run train std.yaml --run-dir old --quiet --set train.epochs=4
t_check "preempted for the old-format checkpoint (rc $T_RC)" test "$T_RC" -eq 5
python3 - "old/checkpoints/$(ls old/checkpoints | grep ckpt- | tail -n 1)" <<'PY'
import struct, sys, zlib
path = sys.argv[1]
b = open(path, "rb").read()
count = struct.unpack_from("<I", b, 12)[0]
at, sections = 20, []
for _ in range(count):
    sid, codec = struct.unpack_from("<II", b, at)
    name = b[at + 8:at + 24]
    stored = struct.unpack_from("<Q", b, at + 32)[0]
    data = b[at + 52:at + 52 + stored]
    if codec == 1:
        data = zlib.decompress(data)
    if sid == 10:  # today's history (160-byte records): back to the old section of 88-byte ones
        rec = 160
        data = b"".join(data[i:i + 88] for i in range(0, len(data), rec))
        sid = 5
    sections.append((sid, name, data))
    at += 52 + stored
out = bytearray(b"DDPCCKPT" + struct.pack("<II", 1, len(sections)))
out += struct.pack("<I", zlib.crc32(out))
for sid, name, data in sections:
    crc = zlib.crc32(data)
    desc = struct.pack("<II", sid, 0) + name + struct.pack("<QQII", len(data), len(data), crc, crc)
    out += desc + struct.pack("<I", zlib.crc32(desc)) + data
open(path, "wb").write(bytes(out))
PY
"$DDPC" inspect "old/checkpoints/$(ls old/checkpoints | grep ckpt- | tail -n 1)" >old.inspect 2>&1
t_check "the rewritten checkpoint has the old history section" grep -Eq '^ +5 +history ' old.inspect
t_run train std.yaml --run-dir old --quiet --set train.epochs=4 --resume auto
t_check "the old-format checkpoint resumes (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... to the uninterrupted run's parameters" \
  test "$(t_json old/summary.json params_crc32)" = "$(t_json whole/summary.json params_crc32)"
t_check "... its earlier epoch kept, without regression values" python3 -c '
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
assert [e["epoch"] for e in m] == [1, 2, 3, 4] and m[0]["val_r2"] is None and m[3]["val_r2"] > 0.9, m
' old/metrics.jsonl

if command -v mpirun >/dev/null; then
  t_mpirun 120 2 train std.yaml --run-dir two --quiet
  t_check "2 ranks: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
  check_run two test.csv
else
  t_skip "no mpirun: the 2-rank regression run"
fi
t_finish
