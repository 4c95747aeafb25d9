#!/usr/bin/env bash
# ctest-labels: slow
# The Fashion-MNIST CNN example reaches its accuracy target within 10 epochs.
source "$(dirname "$0")/lib/common.bash"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "SKIPPED: no dataset-fashion-mnist"; exit 77; }

t_run train "$DDPC_SOURCE_DIR/examples/fashion_mnist_cnn.yaml" --run-dir "$T_DIR/run"
t_check "run exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
echo "$T_OUT"
acc=$(t_json "$T_DIR/run/summary.json" test_accuracy)
t_check "test accuracy $acc >= 0.905" t_cmp "$acc" '>=' 0.905
t_check "10 epochs in metrics.jsonl" test "$(wc -l <"$T_DIR/run/metrics.jsonl")" -eq 10
t_finish
