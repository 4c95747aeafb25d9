#!/usr/bin/env bash
# ctest-labels: slow
# ddpc predict on the Fashion-MNIST MLP example (one epoch) over the test set: the accuracy
# and loss it prints are the ones ddpc train reported for the same weights and data, and
# the ones the output file and the labels give; 2 ranks write the same file as 1;
# examples/predict_from_c (the C API, raw pixels in) agrees with ddpc predict.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1
data=/usr/share/datasets/fashion-mnist
images="$data/t10k-images-idx3-ubyte.gz" labels="$data/t10k-labels-idx1-ubyte.gz"
[ -r "$images" ] && [ -r "$labels" ] || { echo "SKIPPED: no Fashion-MNIST in $data (dataset-fashion-mnist)"; exit 77; }

t_run train "$DDPC_SOURCE_DIR/examples/fashion_mnist_mlp.yaml" --run-dir mlp --set train.epochs=1 --quiet
t_check "MLP trains one epoch (stderr: $T_ERR)" test "$T_RC" -eq 0

t_run predict mlp --data "$images" --labels "$labels" --out one.csv
t_check "predict exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "says which checkpoint" grep -q "^predict: mlp -> mlp/checkpoints/best.ddpc (best, epoch 1)$" <<<"$T_ERR"
# With one epoch the best checkpoint holds the final weights that ddpc train tested.
t_check "accuracy and loss as ddpc train's test evaluation, and as the file gives" python3 - "$T_ERR" \
  mlp/summary.json one.csv "$labels" <<'PY'
import csv, gzip, json, re, sys
err, summary = sys.argv[1], json.load(open(sys.argv[2]))
m = re.search(r"accuracy ([0-9.]+) \((\d+) of 10000\) \| loss ([0-9.]+) \(cross_entropy\)", err)
assert m, err
correct, loss = int(m.group(2)), float(m.group(3))
assert correct / 10000 == summary["test_accuracy"], (correct, summary["test_accuracy"])
assert abs(loss - summary["test_loss"]) <= 1e-5 * summary["test_loss"], (loss, summary["test_loss"])
truth = gzip.open(sys.argv[4]).read()[8:]
rows = list(csv.DictReader(open(sys.argv[3])))
assert len(rows) == 10000 and list(rows[0])[:2] == ["predicted", "p_0"], list(rows[0])
assert sum(int(r["predicted"]) == t for r, t in zip(rows, truth)) == correct
PY

if command -v mpirun >/dev/null; then
  t_mpirun 120 2 predict mlp --data "$images" --labels "$labels" --out two.csv
  t_check "2 ranks: exit 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
  t_check "2 ranks write the same file as 1 rank, byte for byte" cmp -s one.csv two.csv
else
  t_skip "no mpirun: the 2-rank comparison"
fi

python3 -c 'import gzip, sys
px = gzip.open(sys.argv[1]).read()[16:16 + 25 * 784]
for i in range(25): print(",".join(str(b) for b in px[i * 784:(i + 1) * 784]))' "$images" >pixels.txt
t_predict_from_c mlp pixels.txt one.csv 25
t_finish
