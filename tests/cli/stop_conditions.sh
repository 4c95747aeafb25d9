#!/usr/bin/env bash
# Stop conditions declared in the config end the run where the rule says: early stopping
# on a plateau, a target reached, divergence with a huge learning rate (on every rank).
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"

# A learning rate too small to move anything: val_loss stays flat, so with patience 2 the
# first epoch sets the best and epochs 2 and 3 do not improve: stop after epoch 3.
t_run train "$cfg" --run-dir "$T_DIR/plateau" --quiet --set optimizer.lr=1e-12 --set train.epochs=20 \
  --set 'stop.early_stopping={monitor: val_loss, patience: 2}'
t_check "plateau run exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "plateau: stopped after 3 epochs" test "$(t_json "$T_DIR/plateau/summary.json" epochs_completed)" = 3
t_check "plateau: state done" test "$(t_json "$T_DIR/plateau/summary.json" state)" = done
t_check "plateau: the reason says early stopping" grep -q "early stopping" <<<"$(t_json "$T_DIR/plateau/summary.json" stop_reason)"
t_check "plateau: best epoch 1" test "$(t_json "$T_DIR/plateau/summary.json" best_epoch)" = 1
t_check "plateau: the transition is in events.jsonl" grep -q '"to":"done".*early stopping' "$T_DIR/plateau/events.jsonl"

# target: stop at the first epoch whose val_accuracy reaches 0.85.
t_run train "$cfg" --run-dir "$T_DIR/target" --quiet --set train.epochs=30 \
  --set 'stop.target={monitor: val_accuracy, value: 0.85}'
t_check "target run exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "target: stopped at the first epoch reaching 0.85" python3 -c '
import json, sys
acc = [json.loads(l)["val_accuracy"] for l in open(sys.argv[1])]
assert acc[-1] >= 0.85 and all(a < 0.85 for a in acc[:-1]) and len(acc) < 30, acc
' "$T_DIR/target/metrics.jsonl"
t_check "target: reason names the target" grep -q "target" <<<"$(t_json "$T_DIR/target/summary.json" stop_reason)"

# A huge learning rate diverges; with 2 ranks every rank stops in `diverged` (exit 3):
# once by the divergence rule (train_loss above 10), once by a non-finite loss (inputs
# scaled to overflow float).
if command -v mpirun >/dev/null; then
  t_mpirun 60 2 train "$cfg" --run-dir "$T_DIR/diverge" --set optimizer.name=sgd --set optimizer.lr=10 \
    --set optimizer.momentum=0.9 --set 'data.preprocess=[]' --set train.epochs=20 --set 'stop.divergence={above: 10}'
  t_check "divergence rule: exit code 3 from every rank, not a hang (rc $T_RC)" test "$T_RC" -eq 3
  t_check "divergence rule: state diverged" test "$(t_json "$T_DIR/diverge/summary.json" state)" = diverged
  t_check "divergence rule: reason names the monitor" grep -q "train_loss" <<<"$(t_json "$T_DIR/diverge/summary.json" stop_reason)"
  t_mpirun 60 2 train "$cfg" --run-dir "$T_DIR/nonfinite" --set 'data.preprocess=[{op: scale, multiply: 1e38}]' \
    --set optimizer.lr=10 --set train.epochs=20
  t_check "non-finite loss: exit code 3 from every rank (rc $T_RC)" test "$T_RC" -eq 3
  t_check "non-finite loss: state diverged in the first epoch" \
    test "$(t_json "$T_DIR/nonfinite/summary.json" state)/$(t_json "$T_DIR/nonfinite/summary.json" epochs_completed)" = diverged/0
fi
t_finish
