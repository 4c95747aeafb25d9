#!/usr/bin/env bash
# `ddpc launch` and `ddpc submit` pass --allow-changes on to `ddpc train`: a preempted run
# continued through the launcher with a longer schedule is refused without it, and
# resumes with it; the batch script of `ddpc submit` carries it.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
run="$T_DIR/run"

# Rank 0 sends itself SIGTERM at step 30 (epoch 2): preempted, exit 5, no restart.
DDPC_FAIL_AT="0:30:term" t_run launch -n 2 "$cfg" --run-dir "$run" --quiet --set train.epochs=3
t_check "launch: preempted, exit 5 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 5
t_run launch -n 2 "$cfg" --run-dir "$run" --quiet --set train.epochs=4
t_check "launch: a longer cosine schedule is refused without --allow-changes (rc $T_RC)" test "$T_RC" -eq 1
t_check "... naming --allow-changes: $T_ERR" grep -q "allow-changes train.epochs" <<<"$T_ERR"
t_run launch -n 2 "$cfg" --run-dir "$run" --quiet --set train.epochs=4 --allow-changes train.epochs,stop.max_epochs
t_check "launch --allow-changes: resumes and finishes (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... 4 epochs, done" test "$(t_json "$run/summary.json" state)/$(t_json "$run/summary.json" epochs_completed)" = done/4
t_check "... the change is recorded as allowed" grep -q '"key":"train.epochs","from":"3","to":"4","allowed":true' "$run/events.jsonl"

t_run submit --dry-run "$cfg" --run-dir "$T_DIR/job" --set train.epochs=4 --allow-changes 'train.epochs,stop.max_epochs'
t_check "submit --dry-run exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "submit: the job's ddpc train gets --allow-changes: $T_OUT" \
  grep -qE "train .* --resume auto --set train.epochs=4 --allow-changes train.epochs,stop.max_epochs &$" <<<"$T_OUT"
t_finish
