#!/usr/bin/env bash
# A study's best trial is its best COMPLETE one; a PRUNED trial stands in only while none
# has completed (an interrupted study's --status) and is then marked. A trial's last line
# gives its value as the table does (its best epoch's), saying so. And a tpe study within
# TPE's 20 random start-up trials says at its start that it is a random search.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1
# The first study of docs/tuning.md, one trial at a time (ASHA's verdicts do not depend on
# timing then): trial 4 is pruned at rung 4 with a better value than trial 1 (pruned at 2).
cat >study.yaml <<YAML
base: $DDPC_SOURCE_DIR/examples/cultivars_csv.yaml
tune:
  metric: val_loss
  space:
    optimizer.lr: {loguniform: [0.001, 0.1]}
    model.0.units: {choice: [8, 32, 64]}
    schedule.warmup_steps: {int: [0, 40]}
    train.batch_size: {quniform: [8, 32, 8]}
  algorithm: tpe
  max_trials: 5
  parallelism: 1
  scheduler: {asha: {grace: 2, reduction_factor: 2, max_epochs: 8}}
  seed: 1
YAML
t_run tune study.yaml --study-dir st
t_check "the study runs (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "tpe with 5 trials says it is a random search: $T_OUT" \
  grep -q "note: tpe proposes its first 20 trials at random (hyperopt's start-up); with max_trials 5 this study is a random search" <<<"$T_OUT"
pruned_line=$(grep -E "trial [0-9]+ PRUNED after [0-9]+ epochs: best val_loss [0-9.]+$" <<<"$T_OUT" | tail -n 1)
t_check "a pruned trial's last line says its value is the best epoch's: $T_OUT" test -n "$pruned_line"
n=$(sed -E 's/.*trial ([0-9]+) PRUNED.*/\1/' <<<"$pruned_line")
v=$(sed -E 's/.*best val_loss ([0-9.]+)$/\1/' <<<"$pruned_line")
t_check "the table shows trial $n with the same value $v: $T_OUT" grep -qE "^  +$n  PRUNED +$v " <<<"$T_OUT"
t_check "a COMPLETE trial is best: $T_OUT" grep -qE "^\* +[0-9]+  COMPLETE" <<<"$T_OUT"

# The study as if interrupted while its complete trials ran: the best pruned trial stands
# in, marked as such.
python3 - st/study.db <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE trials SET state='RUNNING', value=NULL, ended_at=NULL WHERE state='COMPLETE'")
c.commit()
PY
t_run tune --status st
t_check "--status of the interrupted study (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
best=$(python3 - st/study.db <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n, v, e = c.execute("SELECT number, value, epochs_done FROM trials WHERE state='PRUNED' ORDER BY value, number LIMIT 1").fetchone()
print(f"best so far: trial {n} val_loss={v:.6g} (pruned at epoch {e}; no trial has completed yet)")
PY
)
t_check "the pruned stand-in says so ($best): $T_OUT" grep -qxF "$best" <<<"$T_OUT"
t_finish
