#!/usr/bin/env bash
# Resuming a run that has ended shows the results it ended with (not `test_loss nan ... 0
# samples/s`), and a resume that lowers stop.max_epochs below a mid-epoch checkpoint's
# epoch shows that epoch without a nonsensical total (`epoch 2/0`).
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"

t_run train "$cfg" --run-dir "$T_DIR/done" --quiet --set train.epochs=3
t_check "the run trains (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
before=$(cat "$T_DIR/done/summary.json")
t_run resume "$T_DIR/done"
t_check "resume of a finished run exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "it says the run is finished: $T_OUT" grep -q "is finished (state done after 3 epochs); nothing to train" <<<"$T_OUT"
loss=$(python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["test_loss"])' "$T_DIR/done/summary.json")
acc=$(python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["test_accuracy"])' "$T_DIR/done/summary.json")
t_check "it shows the recorded results (test_loss $loss test_acc $acc): $T_OUT" grep -q "^test_loss $loss test_acc $acc | [1-9]" <<<"$T_OUT"
t_check "no nan in what it prints" test -z "$(grep -i nan <<<"$T_OUT")"
t_check "summary.json is left as it was" test "$before" = "$(cat "$T_DIR/done/summary.json")"

# A run that sends itself SIGTERM at step 40 (mid-epoch 2: 26 steps an epoch), through the
# real handler, resumed for evaluation only: the interrupted epoch is finished first.
DDPC_FAIL_AT="0:40:term" t_run train "$cfg" --run-dir "$T_DIR/stopped" --quiet --set train.epochs=30
t_check "SIGTERM: preempted, exit 5 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 5
t_run resume "$T_DIR/stopped" --set stop.max_epochs=0 --allow-changes stop.max_epochs
t_check "evaluation-only resume exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "resumed mid-epoch: $T_OUT" grep -q "mid-epoch" <<<"$T_OUT"
t_check "no epoch shown against a total of 0: $T_OUT" test -z "$(grep -E '^epoch [0-9]+/0\b' <<<"$T_OUT")"
t_check "the finished interrupted epoch says what it is: $T_OUT" \
  grep -qE '^epoch 2 \(the interrupted one, past stop.max_epochs 0\) train_loss' <<<"$T_OUT"
t_check "evaluated: test results printed: $T_OUT" grep -qE '^test_loss [0-9.]+ test_acc [0-9.]+' <<<"$T_OUT"
t_finish
