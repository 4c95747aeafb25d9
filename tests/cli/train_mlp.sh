#!/usr/bin/env bash
# ctest-labels: slow
# The Fashion-MNIST MLP example end to end: accuracy, run-directory files, memory, the
# data cache (second run maps instead of parsing) and bitwise reproducibility.
source "$(dirname "$0")/lib/common.bash"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "SKIPPED: no dataset-fashion-mnist"; exit 77; }

cfg="$DDPC_SOURCE_DIR/examples/fashion_mnist_mlp.yaml"
t_run train "$cfg" --run-dir "$T_DIR/run1"
t_check "first run exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
echo "$T_OUT"
run="$T_DIR/run1"
for f in config.yaml metrics.jsonl summary.json; do t_check "run dir has $f" test -s "$run/$f"; done
t_check "10 epochs in metrics.jsonl" test "$(wc -l <"$run/metrics.jsonl")" -eq 10
t_check "metrics lines carry every field" python3 -c '
import json, sys
keys = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s", "seconds"]
for i, line in enumerate(open(sys.argv[1])):
    m = json.loads(line)
    assert all(k in m for k in keys), m
    assert m["epoch"] == i + 1 and 0 < m["lr"] < 0.05, m  # cosine from 0.05
    assert 0 < m["val_accuracy"] <= 1 and m["train_loss"] > 0, m
' "$run/metrics.jsonl"
acc=$(t_json "$run/summary.json" test_accuracy)
t_check "test accuracy $acc >= 0.88" t_cmp "$acc" '>=' 0.88
t_check "state done" test "$(t_json "$run/summary.json" state)" = done
t_check "epochs_completed 10" test "$(t_json "$run/summary.json" epochs_completed)" = 10
rss=$(t_json "$run/summary.json" peak_rss_mb)
t_check "peak RSS $rss MiB <= 200" t_cmp "$rss" '<=' 200
t_check "first run parses the data" test "$(t_json "$run/summary.json" data_cache)" = miss
t_check "resolved config is loadable" grep -q "^optimizer:" "$run/config.yaml"

t_run train "$run/config.yaml" --run-dir "$T_DIR/run2" --quiet
t_check "second run from the resolved config exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "--quiet prints nothing" test -z "$T_OUT"
t_check "second run maps the cache" test "$(t_json "$T_DIR/run2/summary.json" data_cache)" = hit
crc1=$(t_json "$run/summary.json" params_crc32)
crc2=$(t_json "$T_DIR/run2/summary.json" params_crc32)
t_check "same config twice gives identical params_crc32 ($crc1 vs $crc2)" test "$crc1" = "$crc2"
echo "data load: miss $(t_json "$run/summary.json" data_seconds) s, hit $(t_json "$T_DIR/run2/summary.json" data_seconds) s"

# The README's main job: the same example data-parallel on 2 ranks.
if command -v mpirun >/dev/null; then
  t_mpirun 300 2 train "$cfg" --run-dir "$T_DIR/run_2ranks"
  t_check "2-rank run exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
  acc=$(t_json "$T_DIR/run_2ranks/summary.json" test_accuracy)
  t_check "2-rank test accuracy $acc >= 0.88" t_cmp "$acc" '>=' 0.88
  t_check "2-rank world_size" test "$(t_json "$T_DIR/run_2ranks/summary.json" world_size)" = 2
fi
t_finish
