#!/usr/bin/env bash
# ddpc predict on the CSV example and on a tiny image model: the printed accuracy is the
# one the output file and the labels give; columns are matched by name (shuffled columns,
# the same predictions), other columns pass through verbatim; --out - is the same text,
# and so is --out to a named pipe, which stays one; a regression model names its column
# after the target; examples/predict_from_c (the C API) prints what ddpc predict writes.
# Bad input of every kind: one message, exit 1 (2 for the command line), and no output
# file, not even a partial one.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1
csv="$DDPC_SOURCE_DIR/examples/data/cultivars.csv"

t_run train "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --run-dir run --set train.epochs=3 --quiet
t_check "CSV example trains (stderr: $T_ERR)" test "$T_RC" -eq 0

# The training file, with its label column: every row predicted, accuracy and loss printed.
t_run predict run --data "$csv" --out out.csv
t_check "predict exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "says which checkpoint: $T_ERR" grep -q "^predict: run -> run/checkpoints/best.ddpc (best, epoch 3)$" <<<"$T_ERR"
t_check "header: predicted, p_0..p_2" test "$(head -n 1 out.csv)" = "predicted,p_0,p_1,p_2"
t_check "the printed accuracy is the output file's against the labels" python3 - "$csv" out.csv "$T_ERR" <<'PY'
import csv, re, sys
truth = [int(r["cultivar"]) for r in csv.DictReader(open(sys.argv[1]))]
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == len(truth) == 600, (len(rows), len(truth))
for r in rows:
    p = [float(r[f"p_{k}"]) for k in range(3)]
    assert abs(sum(p) - 1) < 1e-5, r
    assert int(r["predicted"]) == max(range(3), key=lambda k: (p[k], -k)), r
correct = sum(int(r["predicted"]) == t for r, t in zip(rows, truth))
m = re.search(r"accuracy ([0-9.]+) \((\d+) of (\d+)\) \| loss ([0-9.]+) \(cross_entropy\)", sys.argv[3])
assert m, sys.argv[3]
assert int(m.group(2)) == correct and int(m.group(3)) == 600, (m.groups(), correct)
assert m.group(1) == "%.4f" % (correct / 600), (m.group(1), correct)
PY

# Shuffled columns with an id and a text column (commas and quotes inside): the same
# predictions, the extra columns first and as the file had them; no label: no accuracy.
python3 - "$csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = ["hue", "phenols", "alcohol", "color", "magnesium", "acidity"]
with open("shuffled.csv", "w") as f:
    f.write("id," + ",".join(cols[:3]) + ',"note",' + ",".join(cols[3:]) + "\n")
    for i, r in enumerate(rows):
        note = '"row %d, ""quoted"""' % i if i % 2 else "plain-%d" % i
        f.write("r%04d," % i + ",".join(r[c] for c in cols[:3]) + "," + note + "," + ",".join(r[c] for c in cols[3:]) + "\n")
PY
t_run predict run --data shuffled.csv --out shuffled_out.csv
t_check "shuffled columns: exit 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "no label column: no accuracy printed" bash -c '! grep -q accuracy <<<"$1"' _ "$T_ERR"
t_check "header: id, note, then the predictions" test "$(head -n 1 shuffled_out.csv)" = 'id,"note",predicted,p_0,p_1,p_2'
t_check "shuffled columns give the same predictions, the id and note verbatim" python3 - <<'PY'
out, base = open("shuffled_out.csv").read().splitlines(), open("out.csv").read().splitlines()
assert len(out) == len(base) == 601, (len(out), len(base))
for i in range(600):
    note = '"row %d, ""quoted"""' % i if i % 2 else "plain-%d" % i
    assert out[i + 1] == "r%04d,%s,%s" % (i, note, base[i + 1]), (out[i + 1], base[i + 1])
PY

t_run predict run --data shuffled.csv --out -
t_check "--out - writes the same text on stdout" test "$T_OUT" = "$(cat shuffled_out.csv)"
t_run predict run --data shuffled.csv
t_check "stdout is the default" test "$T_OUT" = "$(cat shuffled_out.csv)"
# --out to what is no regular file is written in place and stays what it is: a named pipe
# delivers the text to its reader (a temporary file renamed over it, as for a regular file,
# once replaced /dev/null itself with a file when run as root).
mkfifo pipe
timeout 60 cat pipe >from_pipe &  # bounded: a pipe replaced by a file would leave it waiting
reader=$!
t_run predict run --data shuffled.csv --out pipe
wait "$reader"
t_check "--out a named pipe: exit 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "... its reader got the text" cmp -s from_pipe shuffled_out.csv
t_check "... and it is still a pipe, with no temporary file beside it" test -p pipe -a -z "$(ls | grep '^pipe.tmp')"

# The C API example, on the first 40 rows in the training header's order.
sed -n '2,41p' "$csv" | cut -d, -f1-6 >features.txt
t_predict_from_c run features.txt out.csv 40

# A regression model: its column is named after the target.
python3 - <<'PY'
with open("reg.csv", "w") as f:
    f.write("a,b,y\n")
    for i in range(64):
        a, b = i / 64, (i * 7 % 64) / 64
        f.write("%g,%g,%g\n" % (a, b, 2 * a - b + 0.5))
PY
cat >reg.yaml <<YAML
name: reg
data: {format: csv, task: regression, train: {path: $T_DIR/reg.csv}, label_column: y, val_fraction: 0, test_fraction: 0, cache: false}
model: [{type: linear, units: 1}]
loss: mse
train: {epochs: 2, batch_size: 8}
YAML
t_run train reg.yaml --run-dir reg --quiet
t_check "regression trains (stderr: $T_ERR)" test "$T_RC" -eq 0
t_run predict reg --data reg.csv --out reg_out.csv
t_check "regression predicts (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "regression: header is the target's name" test "$(head -n 1 reg_out.csv)" = "y"
t_check "regression: 64 values and an mse loss" bash -c \
  'test "$(wc -l <reg_out.csv)" -eq 65 && grep -q "loss [0-9.e-]* (mse)" <<<"$1" && ! grep -q accuracy <<<"$1"' _ "$T_ERR"

# A tiny image model (4x4 IDX images) for the image errors.
python3 - <<'PY'
import struct
def images(name, n, h, w):
    with open(name, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 7) % 256 for i in range(n * h * w)))
images("img.idx", 40, 4, 4)
images("img5.idx", 3, 5, 5)
with open("lab.idx", "wb") as f:
    f.write(struct.pack(">II", 0x801, 40) + bytes(i % 4 for i in range(40)))
with open("lab30.idx", "wb") as f:
    f.write(struct.pack(">II", 0x801, 30) + bytes(i % 4 for i in range(30)))
PY
cat >img.yaml <<YAML
name: img
data: {format: idx, train: {images: $T_DIR/img.idx, labels: $T_DIR/lab.idx}, val_fraction: 0.25, test_fraction: 0, preprocess: [{op: scale, divide: 255}, {op: flatten}], cache: false}
model: [{type: linear, units: 4}]
train: {epochs: 1, batch_size: 4}
YAML
t_run train img.yaml --run-dir img --quiet
t_check "image model trains (stderr: $T_ERR)" test "$T_RC" -eq 0
t_run predict img --data img.idx --labels lab.idx --out img_out.csv
t_check "image model predicts with labels (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "images: 40 rows of predicted, p_0..p_3" bash -c \
  'test "$(head -n 1 img_out.csv)" = "predicted,p_0,p_1,p_2,p_3" && test "$(wc -l <img_out.csv)" -eq 41'

# Bad input: one line on stderr, exit 1, nothing written where the output would go.
cp run/checkpoints/best.ddpc damaged.ddpc
printf 'XXXX' | dd of=damaged.ddpc bs=1 seek=300 conv=notrunc status=none
cut -d, -f1,3- "$csv" >missing.csv
sed '5s/^\([^,]*\),[^,]*/\1,abc/' "$csv" >nonnumeric.csv
echo "a file" >notadir
expect_no_output() {  # expect_no_output WHAT FRAGMENT...: after t_run ... --out bad_out.csv
  t_expect_error "$@"
  t_check "$1: no output file" bash -c '! ls bad_out.csv* >/dev/null 2>&1'
}
t_run predict nowhere --data "$csv" --out bad_out.csv
expect_no_output "missing model" "nowhere: No such file or directory"
t_run predict damaged.ddpc --data "$csv" --out bad_out.csv
expect_no_output "damaged checkpoint" "damaged.ddpc: section" "CRC32 mismatch"
t_run predict run --data missing.csv --out bad_out.csv
expect_no_output "missing feature column" "missing.csv:1: no column named 'acidity'" "the header has: 'alcohol',"
t_run predict run --data nonnumeric.csv --out bad_out.csv
expect_no_output "non-numeric cell" "nonnumeric.csv:5:8: column 'acidity': expected a finite number, got 'abc'"
t_run predict img --data img5.idx --out bad_out.csv
expect_no_output "wrong image shape" "img5.idx: images of 5x5 pixels, but the model was trained on 4x4 images"
t_run predict img --data img.idx --labels lab30.idx --out bad_out.csv
expect_no_output "label count" "lab30.idx: 30 labels for the 40 images"
t_run predict run --data img.idx --out bad_out.csv
expect_no_output "images for a CSV model" "img.idx: binary data" "reads CSV"
t_run predict run --data "$csv" --out notadir/bad_out.csv
expect_no_output "unwritable output path" "writing notadir/bad_out.csv: cannot create" "Not a directory"
echo "previous" >kept.csv
t_run predict run --data missing.csv --out kept.csv
t_check "a failed run leaves an existing output as it was" test "$(cat kept.csv)" = previous
t_run predict run --data "$csv" --frobnicate
t_check "unknown option: exit 2 ($T_ERR)" bash -c 'test "$1" -eq 2 && grep -q "unknown option .--frobnicate." <<<"$2"' _ "$T_RC" "$T_ERR"
t_run predict run
t_check "missing --data: exit 2 ($T_ERR)" bash -c 'test "$1" -eq 2 && grep -q "missing --data" <<<"$2"' _ "$T_RC" "$T_ERR"
t_run predict run --data "$csv" --labels lab.idx
t_expect_error "--labels for a CSV model" "a labels file is for IDX images"
t_run predict --help
t_check "--help answers" bash -c 'test "$1" -eq 0 && grep -q "^usage: ddpc predict MODEL --data FILE" <<<"$2"' _ "$T_RC" "$T_OUT"
t_finish
