#!/usr/bin/env bash
# The CSV example (shipped tabular data, Adam, cosine schedule with warmup) trains well,
# and --set overrides reach the resolved config.
source "$(dirname "$0")/lib/common.bash"

cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
t_run train "$cfg" --run-dir "$T_DIR/run" --set train.epochs=20
t_check "run exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
acc=$(t_json "$T_DIR/run/summary.json" test_accuracy)
t_check "test accuracy $acc >= 0.85" t_cmp "$acc" '>=' 0.85
t_check "20 epochs recorded" test "$(wc -l <"$T_DIR/run/metrics.jsonl")" -eq 20
t_check "override in resolved config" grep -Eq "epochs: 20" "$T_DIR/run/config.yaml"
t_check "learning rate decays (cosine)" python3 -c '
import json, sys
lrs = [json.loads(l)["lr"] for l in open(sys.argv[1])]
assert all(a > b for a, b in zip(lrs, lrs[1:])), lrs
' "$T_DIR/run/metrics.jsonl"
t_finish
