#!/usr/bin/env bash
# PyTorch loads `ddpc export`'s safetensors files and predicts as ddpc does. Short runs of
# the MLP, CNN (smaller filters, to stay fast) and CSV examples, two Fashion-MNIST models
# with every other layer kind (layernorm on images and on a flattened image, gelu, dropout,
# tanh, a linear layer straight on an image, bias-less conv), and two on synthetic CSV data
# (a regression; a model whose output is still an image, ChannelsLastFlatten) are exported; then
# tests/python/export_torch.py runs docs/export.md's snippet as written (nn.Sequential from
# the file's metadata, safetensors.torch.load_file, strict load_state_dict), preprocesses raw
# test samples as the metadata says, and compares with ddpc's own predictions of the same
# samples: argmax identical, probabilities within 1e-5. ddpc's predictions come from
# `ddpc predict` where the command exists, else from examples/predict_from_c (the C API).
source "$(dirname "$0")/lib/common.bash"
: "${DDPC_BUILD_DIR:?}"
py=${DDPC_PYTHON:-}
if [ -z "$py" ] || ! "$py" -c 'import torch, safetensors, numpy' 2>/dev/null; then
  echo "FAILED: the Python test consumers are missing ('${py:-DDPC_PYTHON unset}' cannot import torch," \
    "safetensors and numpy): run \`bash .ci/setup\` (it makes .venv-tests)" >&2
  exit 1
fi
script="$DDPC_SOURCE_DIR/tests/python/export_torch.py"
doc="$DDPC_SOURCE_DIR/docs/export.md"
fmnist=/usr/share/datasets/fashion-mnist
test_images="$fmnist/t10k-images-idx3-ubyte.gz"
cultivars="$DDPC_SOURCE_DIR/examples/data/cultivars.csv"
if [ ! -r "$test_images" ]; then
  echo "SKIPPED: no Fashion-MNIST in $fmnist (apt-get install dataset-fashion-mnist)"
  exit 77
fi
predict_from_c="$DDPC_BUILD_DIR/examples/predict_from_c"
use_predict=false
"$DDPC" predict --help >/dev/null 2>&1 && use_predict=true

# train NAME CONFIG [--set k=v]...: a short run in $T_DIR/NAME, exported to its default place.
train_export() {
  local name=$1 config=$2
  shift 2
  t_run train "$config" --run-dir "$T_DIR/$name" --set train.epochs=1 "$@"
  t_check "$name: trains (rc $T_RC): $(tail -n 2 <<<"$T_ERR")" test "$T_RC" -eq 0
  t_run export "$T_DIR/$name"
  t_check "$name: exports (rc $T_RC): $T_ERR" test "$T_RC" -eq 0
  t_check "$name: says which checkpoint: $T_OUT" grep -q "^export: $T_DIR/$name -> checkpoint $T_DIR/$name/checkpoints/" <<<"$T_OUT"
  t_check "$name: wrote export/model.safetensors" test -s "$T_DIR/$name/export/model.safetensors"
}

# predictions NAME DATA RAW: ddpc's predictions of DATA (RAW: the same samples as lines) in $T_DIR/NAME.pred.
predictions() {
  local name=$1 data=$2 raw=$3
  if $use_predict; then
    "$DDPC" predict "$T_DIR/$name" --data "$data" --out "$T_DIR/$name.pred" 2>"$T_DIR/$name.err"
  else
    "$predict_from_c" "$T_DIR/$name" <"$raw" >"$T_DIR/$name.pred" 2>"$T_DIR/$name.err"
  fi
  t_check "$name: ddpc predicts (rc $?): $(cat "$T_DIR/$name.err")" test -s "$T_DIR/$name.pred"
}

mlp="$DDPC_SOURCE_DIR/examples/fashion_mnist_mlp.yaml"
train_export mlp "$mlp"
train_export cnn "$DDPC_SOURCE_DIR/examples/fashion_mnist_cnn.yaml" \
  --set model.0.filters=8 --set model.3.filters=8 --set model.7.units=32
train_export csv "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --set train.epochs=5
train_export kinds "$mlp" --set data.preprocess='[{op: scale, divide: 255}]' --set 'model=[
  {type: conv2d, filters: 4, kernel: 3, stride: 2}, {type: layernorm}, {type: gelu}, {type: maxpool2d, kernel: 2},
  {type: flatten}, {type: layernorm, eps: 0.001}, {type: dropout, p: 0.2}, {type: tanh}, {type: linear, units: 10}]'
train_export on_image "$mlp" --set data.preprocess='[{op: standardize}]' --set 'model=[
  {type: conv2d, filters: 3, kernel: 3, padding: 1, bias: false}, {type: relu}, {type: maxpool2d, kernel: 2},
  {type: linear, units: 16}, {type: relu}, {type: linear, units: 10, bias: false}]'

# Synthetic CSV: 32 features f0.. (a 4x4x2 image after reshape), a class of 12 and a
# regression target, both depending on the features.
"$py" - "$T_DIR" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(11)
x = rng.normal(1.0, 2.0, size=(300, 32)).astype(np.float32)
s = x[:, :16].sum(1) - x[:, 16:].sum(1)
for name, label, y in (("reg", "target", ["%.6g" % v for v in s / 8]),
                       ("img_out", "label", ["%d" % v for v in np.digitize(s, np.quantile(s, np.linspace(0, 1, 13)[1:-1]))])):
    with open(f"{sys.argv[1]}/{name}.csv", "w") as f:
        f.write(",".join(f"f{i}" for i in range(32)) + f",{label}\n")
        f.writelines(",".join("%.6g" % c for c in row) + "," + v + "\n" for row, v in zip(x, y))
PY
# synthetic NAME LABEL TASK MODEL: NAME.csv reshaped to 4x4x2, a few epochs.
synthetic() {
  cat >"$T_DIR/$1.yaml" <<YAML
name: torch_$1
seed: 5
data:
  format: csv
  task: $3
  train: {path: $T_DIR/$1.csv}
  label_column: $2
  val_fraction: 0.2
  test_fraction: 0
  cache: false
  preprocess: [{op: standardize, mode: per_feature}, {op: reshape, shape: [4, 4, 2]}]
  target_standardize: $([ "$3" = regression ] && echo true || echo false)  # outputs back in the target's units
model: $4
train: {batch_size: 16}
YAML
  train_export "$1" "$T_DIR/$1.yaml" --set train.epochs=3
}
synthetic reg target regression '[{type: conv2d, filters: 3, kernel: 2, stride: 2}, {type: tanh},
  {type: linear, units: 5}, {type: gelu}, {type: layernorm}, {type: linear, units: 1}]'
synthetic img_out label classification '[{type: conv2d, filters: 3, kernel: 3, padding: 1},
  {type: maxpool2d, kernel: 3, stride: 1}]'

# Without ddpc predict: raw samples as lines for predict_from_c, one file per data set.
if ! $use_predict; then
  "$py" "$script" raw "$T_DIR/mlp/export/model.safetensors" "$test_images" >"$T_DIR/idx.raw"
  for name in csv reg img_out; do
    data="$T_DIR/$name.csv"
    [ "$name" = csv ] && data=$cultivars
    "$py" "$script" raw "$T_DIR/$name/export/model.safetensors" "$data" >"$T_DIR/$name.raw"
  done
fi
args=()
for name in mlp cnn kinds on_image csv reg img_out; do
  data=$test_images raw="$T_DIR/idx.raw"
  case $name in
    csv) data=$cultivars raw="$T_DIR/csv.raw" ;;
    reg | img_out) data="$T_DIR/$name.csv" raw="$T_DIR/$name.raw" ;;
  esac
  predictions "$name" "$data" "$raw"
  args+=("$T_DIR/$name/export/model.safetensors" "$data" "$T_DIR/$name.pred")
done
echo "ddpc's predictions from $($use_predict && echo "ddpc predict" || echo "examples/predict_from_c")"
"$py" "$script" compare "$doc" "${args[@]}"
t_check "PyTorch predicts as ddpc (docs/export.md's snippet; argmax identical, probabilities within 1e-5)" \
  test $? -eq 0

# README's short snippet, as written, from a folder where runs/cultivars_csv is the CSV run:
# its printed probabilities for the first row of cultivars.csv are ddpc predict's.
if $use_predict; then
  mkdir -p "$T_DIR/readme/runs" && ln -s "$T_DIR/csv" "$T_DIR/readme/runs/cultivars_csv"
  (cd "$T_DIR/readme" && "$py" - "$DDPC_SOURCE_DIR/README.md" "$T_DIR/csv.pred") <<'PY'
import csv, re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
assert len(blocks) == 1, f"README.md has {len(blocks)} python blocks, expected 1"
scope = {}
exec(blocks[0], scope)
got = (scope["model"](scope["raw"] * scope["scale"] + scope["shift"])).softmax(1)[0].tolist()
row = next(csv.DictReader(open(sys.argv[2])))
want = [float(row[f"p_{k}"]) for k in range(3)]
assert max(abs(a - b) for a, b in zip(got, want)) <= 1e-5, (got, want)
PY
  t_check "README's PyTorch snippet runs and predicts the first cultivars row as ddpc predict" test $? -eq 0
fi
t_finish
