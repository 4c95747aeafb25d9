#!/usr/bin/env bash
# Pruning verdicts (config `pruning`, what the tuner's ASHA uses): after each rung epoch
# rank 0 waits for RUN_DIR/verdicts/epoch-E. "continue" goes on, "prune REASON" checkpoints
# and ends in state pruned (exit 0); no verdict within wait_seconds goes on with a note; a
# stop signal or the loss of the launching process ends the wait at once (preempted).
# Checked on 1 rank and on 2 (the decision reaches every rank).
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
common=(--set train.epochs=6 --set train.batch_size=16 --set 'pruning.rungs=[1,2,4]' --quiet)

# answer DIR EPOCH TEXT: writes the verdict the way the tuner does (complete file, renamed in).
answer() {
  mkdir -p "$1/verdicts"
  printf '%s\n' "$3" >"$1/verdicts/.epoch-$2.tmp" && mv "$1/verdicts/.epoch-$2.tmp" "$1/verdicts/epoch-$2"
}

# Verdicts written before training starts are read at their rung.
dir="$T_DIR/pruned"
answer "$dir" 1 continue
answer "$dir" 2 "prune val_accuracy 0.41 below the rung's cutoff 0.62"
t_run train "$cfg" --run-dir "$dir" "${common[@]}"
t_check "pruned: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "pruned: summary.json state" test "$(t_json "$dir/summary.json" state)" = pruned
t_check "pruned: the reason is the verdict's ($(t_json "$dir/summary.json" stop_reason))" \
  grep -q "pruned at epoch 2: val_accuracy 0.41 below the rung's cutoff 0.62" "$dir/summary.json"
t_check "pruned: two epochs trained" test "$(wc -l <"$dir/metrics.jsonl")" -eq 2
t_check "pruned: events.jsonl has decide -> pruned" \
  grep -q '"from": *"decide", *"to": *"pruned"' "$dir/events.jsonl"
newest=$(ls "$dir"/checkpoints/ckpt-*.ddpc | tail -n 1)
t_check "pruned: the newest checkpoint is epoch 2, state pruned" bash -c "'$DDPC' inspect '$newest' | grep -Eq '^  epoch +2$' && '$DDPC' inspect '$newest' | grep -q '(pruned)'"
t_run train "$cfg" --run-dir "$dir" "${common[@]}" --resume auto
t_check "pruned: resuming does nothing more (rc $T_RC)" test "$T_RC" -eq 0 -a "$(wc -l <"$dir/metrics.jsonl")" -eq 2

# No verdict: goes on after wait_seconds with a note, and ends done.
dir="$T_DIR/silent"
t_run train "$cfg" --run-dir "$dir" --set train.epochs=3 --set train.batch_size=16 --set 'pruning.rungs=[1]' \
  --set pruning.wait_seconds=0.3
t_check "no verdict: exit 0, done" test "$T_RC" -eq 0 -a "$(t_json "$dir/summary.json" state)" = done
t_check "no verdict: a note names the file ($T_ERR$T_OUT)" grep -q "no pruning verdict in .*verdicts/epoch-1" "$T_DIR/err" "$T_DIR/out"

# A verdict that arrives while the run waits, on 2 ranks.
if command -v mpirun >/dev/null; then
  dir="$T_DIR/ranks2"
  (for _ in $(seq 1 600); do [ -s "$dir/metrics.jsonl" ] && break; sleep 0.05; done
   answer "$dir" 1 "prune")&
  t_mpirun 120 2 train "$cfg" --run-dir "$dir" "${common[@]}"
  wait
  t_check "2 ranks: pruned after the first rung (rc $T_RC: $T_ERR)" \
    test "$T_RC" -eq 0 -a "$(t_json "$dir/summary.json" state)" = pruned -a "$(wc -l <"$dir/metrics.jsonl")" -eq 1
fi

# The wait ends at once when a stop signal comes: checkpoint and stop (preempted, exit 5),
# not pruning.wait_seconds later (a tuner killed with -9 has its trials' ranks SIGTERMed).
dir="$T_DIR/signalled"
wait_first_epoch() { for _ in $(seq 1 400); do [ -s "$1/metrics.jsonl" ] && return; sleep 0.05; done; }
# gone PID: waits up to 10 s for PID to end; kills it (and fails the caller) when it does not.
gone() { for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1"; return 1; }
"$DDPC" train "$cfg" --run-dir "$dir" "${common[@]}" --set pruning.wait_seconds=120 >"$T_DIR/out" 2>"$T_DIR/err" &
pid=$!
wait_first_epoch "$dir"
sleep 0.2  # now waiting for the verdict of epoch 1
kill -TERM "$pid"
gone "$pid"
wait "$pid"
rc=$?
t_check "signal while waiting: exit 5 at once (rc $rc: $(cat "$T_DIR/err"))" test "$rc" -eq 5
t_check "signal while waiting: preempted after epoch 1" \
  test "$(t_json "$dir/summary.json" state)" = preempted -a "$(t_json "$dir/summary.json" epochs_completed)" = 1
t_check "signal while waiting: a checkpoint of epoch 1" \
  bash -c "'$DDPC' inspect \"\$(ls '$dir'/checkpoints/ckpt-*.ddpc | tail -n 1)\" | grep -Eq '^  epoch +1\$'"

# ... and when the process that started the run is gone (its mpirun killed outright): the
# run is reparented, notices, and stops the same way.
dir="$T_DIR/orphaned"
bash -c '"$0" train "$1" --run-dir "$2" --set train.epochs=6 --set train.batch_size=16 --set "pruning.rungs=[1,2,4]" \
    --set pruning.wait_seconds=120 --quiet >/dev/null 2>&1 & echo $! >"$2.pid"
  for _ in $(seq 1 400); do [ -s "$2/metrics.jsonl" ] && break; sleep 0.05; done; sleep 0.2' "$DDPC" "$cfg" "$dir"
gone "$(cat "$dir.pid")"
t_check "parent gone while waiting: preempted after epoch 1, within 10 s" \
  test "$(t_json "$dir/summary.json" state 2>/dev/null)" = preempted -a "$(wc -l <"$dir/metrics.jsonl")" -eq 1

# Bad pruning sections get one clear message.
t_run train "$cfg" --run-dir "$T_DIR/bad" --set 'pruning.rungs=[3,1]'
t_expect_error "descending rungs" "pruning.rungs.1" "rungs must ascend, got 1 after 3"
t_run train "$cfg" --run-dir "$T_DIR/bad" --set 'pruning.rungs=[0]'
t_expect_error "rung 0" "pruning.rungs.0" "must be between 1 and"
t_run train "$cfg" --run-dir "$T_DIR/bad" --set 'pruning.wait_seconds=5'
t_expect_error "no rungs" "pruning: needs 'rungs'"
t_finish
