#!/usr/bin/env bash
# ddpc export --format onnx, checked by real consumers (tests/python/onnx_check.py in
# .venv-tests): onnx.checker accepts each file, and ONNX Runtime on raw inputs gives the
# predictions `ddpc predict` gives (probabilities within 1e-5, identical classes): the
# Fashion-MNIST MLP and CNN examples on the test images (short runs), the CSV example, and
# three small CSV models that between them use every layer kind in every ONNX form (conv2d
# with and without bias, padding, stride; maxpool2d with its own stride; layernorm on images
# and on a flattened vector; gelu, tanh, relu, dropout, flatten; linear with and without
# bias, and straight on an image; a regression output; an output that is still an image).
# docs/export.md's onnxruntime snippet runs as written and prints ddpc's classes. A file that
# cannot be written leaves nothing behind.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1
if ! "${DDPC_PYTHON:-}" -c 'import onnx, onnxruntime, numpy' 2>/dev/null; then
  echo "FAILED: '${DDPC_PYTHON:-}' cannot import onnx, onnxruntime and numpy; run bash .ci/setup (it makes .venv-tests)" >&2
  exit 1
fi
check="$DDPC_SOURCE_DIR/tests/python/onnx_check.py"

# t_onnx NAME RUN --idx FILE | --csv FILE: exports RUN to NAME.onnx and checks it against RUN.
t_onnx() {
  local name=$1 run=$2; shift 2
  t_run export "$run" --format onnx --out "$name.onnx"
  t_check "$name: export exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
  t_check "$name: onnx.checker and ONNX Runtime agree with ddpc" "$DDPC_PYTHON" "$check" "$name.onnx" "$run" "$DDPC" "$@"
}

fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/t10k-images-idx3-ubyte.gz" ]; then
  t_run train "$DDPC_SOURCE_DIR/examples/fashion_mnist_mlp.yaml" --run-dir mlp --set train.epochs=1 --quiet
  t_check "MLP trains (stderr: $T_ERR)" test "$T_RC" -eq 0
  t_onnx mlp mlp --idx "$fm/t10k-images-idx3-ubyte.gz"
  # The CNN learns from the 10000 test images alone (one epoch of 2000): the export is what is tested.
  t_run train "$DDPC_SOURCE_DIR/examples/fashion_mnist_cnn.yaml" --run-dir cnn --quiet --set train.epochs=1 \
    --set data.train.images="$fm/t10k-images-idx3-ubyte.gz" --set data.train.labels="$fm/t10k-labels-idx1-ubyte.gz" \
    --set data.val_fraction=0.8
  t_check "CNN trains (stderr: $T_ERR)" test "$T_RC" -eq 0
  t_onnx cnn cnn --idx "$fm/t10k-images-idx3-ubyte.gz"
else
  t_skip "no dataset-fashion-mnist: the MLP and CNN examples"
fi

t_run train "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --run-dir cultivars --set train.epochs=3 --quiet
t_check "CSV example trains (stderr: $T_ERR)" test "$T_RC" -eq 0
t_onnx cultivars cultivars --csv "$DDPC_SOURCE_DIR/examples/data/cultivars.csv"

# Synthetic data: 72 features f0.. (an image of 6x6x2 after reshape), a class label and a
# regression target, both depending on the features.
"$DDPC_PYTHON" - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
x = rng.normal(2.0, 3.0, size=(240, 72)).astype(np.float32)
s = x[:, :36].sum(1) - x[:, 36:].sum(1)
cls = np.digitize(s, np.quantile(s, [1 / 3, 2 / 3]))
cls12 = np.digitize(s, np.quantile(s, np.linspace(0, 1, 13)[1:-1]))
for name, cols, label, y in (("cls3", 72, "label", cls), ("reg", 32, "target", s / 10),
                             ("cls12", 32, "label", cls12)):
    with open(name + ".csv", "w") as f:
        f.write(",".join(f"f{i}" for i in range(cols)) + f",{label}\n")
        for row, v in zip(x[:, :cols], y):
            f.write(",".join("%.6g" % c for c in row) + "," + ("%d" % v if label == "label" else "%.6g" % v) + "\n")
PY
# t_synthetic NAME LABEL TASK SHAPE MODEL: a 1-epoch config on NAME.csv reshaped to SHAPE.
t_synthetic() {
  cat >"$1.yaml" <<YAML
name: onnx_$1
seed: 5
data:
  format: csv
  task: $3
  train: {path: $1.csv}
  label_column: $2
  val_fraction: 0
  test_fraction: 0
  cache: false
  preprocess:
    - {op: standardize, mode: per_feature}
    - {op: reshape, shape: $4}
  target_standardize: $([ "$3" = regression ] && echo true || echo false)  # the graph un-standardizes
model: $5
train: {epochs: 1, batch_size: 16}
YAML
  t_run train "$1.yaml" --run-dir "$1" --quiet
  t_check "$1 trains (stderr: $T_ERR)" test "$T_RC" -eq 0
  t_onnx "$1" "$1" --csv "$1.csv"
}
# Conv with stride, padding and bias; layernorm over the channels of an image; gelu; pooling
# with a stride below its window; a bias-less 1x1 conv; relu; dropout; flatten (C, H, W);
# layernorm over the flattened vector; linear with and without bias; tanh.
t_synthetic cls3 label classification "[6, 6, 2]" '
  - {type: conv2d, filters: 4, kernel: 3, stride: 2, padding: 1}
  - {type: layernorm}
  - {type: gelu}
  - {type: maxpool2d, kernel: 2, stride: 1}
  - {type: conv2d, filters: 6, kernel: 1, bias: false}
  - {type: relu}
  - {type: dropout, p: 0.3}
  - {type: flatten}
  - {type: layernorm}
  - {type: linear, units: 8}
  - {type: tanh}
  - {type: linear, units: 3, bias: false}'
# Regression; a conv without padding; linear straight on a 2x2x3 image; gelu and layernorm on vectors.
t_synthetic reg target regression "[4, 4, 2]" '
  - {type: conv2d, filters: 3, kernel: 2, stride: 2}
  - {type: tanh}
  - {type: linear, units: 5}
  - {type: gelu}
  - {type: layernorm}
  - {type: linear, units: 1}'
# The output is still an image (2x2x3, twelve classes): ddpc's order for it is HWC.
t_synthetic cls12 label classification "[4, 4, 2]" '
  - {type: conv2d, filters: 3, kernel: 3, padding: 1}
  - {type: maxpool2d, kernel: 3, stride: 1}'

# docs/export.md's onnxruntime snippet, as written, on the runs it names (the CSV example's
# default export, the MLP's mlp.onnx): it runs and predicts what ddpc predict does.
if [ -f mlp.onnx ]; then
  mkdir -p runs && ln -s ../cultivars runs/cultivars_csv && ln -s "$DDPC_SOURCE_DIR/examples" examples
  t_run export runs/cultivars_csv --format onnx
  "$DDPC_PYTHON" - "$DDPC_SOURCE_DIR/docs/export.md" >snippet.py <<'PY'
import re, sys
page = open(sys.argv[1]).read()
section = page.split("## Export for ONNX Runtime: ONNX", 1)[1].split("\n## ", 1)[0]
print(re.search(r"```python\n(.*?)```", section, re.S).group(1))
PY
  t_check "docs/export.md's onnxruntime snippet runs" bash -c '"$1" snippet.py >snippet.out 2>&1' _ "$DDPC_PYTHON"
  "$DDPC" predict cultivars --data examples/data/cultivars.csv --out cultivars_pred.csv 2>/dev/null
  "$DDPC" predict mlp --data "$fm/t10k-images-idx3-ubyte.gz" --out mlp_pred.csv 2>/dev/null
  expect=$(for f in cultivars_pred.csv mlp_pred.csv; do sed -n 2,11p "$f" | cut -d, -f1 | tr '\n' ' '; echo; done)
  t_check "the snippet prints ddpc predict's classes (got: $(cat snippet.out))" \
    test "$(tr -d '[]' <snippet.out | tr -s ' ' | sed 's/^ //; s/$/ /')" = "$expect"
else
  t_skip "no mlp.onnx: docs/export.md's onnxruntime snippet"
fi

# An output that cannot be written: one message, and no file, not even a temporary one.
mkdir -p ro
t_run export cultivars --format onnx --out ro/missing/m.onnx
t_expect_error "unwritable output" "ro/missing/m.onnx"
t_check "nothing left in ro/" test -z "$(ls -A ro)"
t_finish
