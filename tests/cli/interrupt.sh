#!/usr/bin/env bash
# Ctrl-C on a foreground `ddpc train` (SIGINT to its whole process group, as a terminal
# sends it): the run checkpoints and stops in state `preempted` with exit code 5, says so
# and prints the command that continues it; that command finishes the run. A second
# Ctrl-C stops at once (the default action of SIGINT: the process ends by the signal).
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/fashion_mnist_mlp.yaml"
run="$T_DIR/run"

# Starts `ddpc train` in a process group of its own (what a shell's foreground job is);
# waits until it has finished its first epoch, so the interrupt comes mid-run.
start_run() {
  setsid "$DDPC" train "$cfg" --run-dir "$1" --set train.epochs=3 >"$T_DIR/out" 2>&1 &
  T_PID=$!
  local waited=0
  while ! grep -q "^epoch 1/3" "$T_DIR/out" 2>/dev/null && kill -0 "$T_PID" 2>/dev/null && [ $waited -lt 600 ]; do
    sleep 0.2
    waited=$((waited + 1))
  done
}

start_run "$run"
kill -INT -- "-$T_PID"
wait "$T_PID"
T_RC=$?
out=$(cat "$T_DIR/out")
t_check "Ctrl-C: exit code 5, preempted (rc $T_RC): $out" test "$T_RC" -eq 5
t_check "Ctrl-C: the run says what happens" grep -q "interrupted: checkpointing at the next step" <<<"$out"
t_check "Ctrl-C: state preempted in summary.json" test "$(t_json "$run/summary.json" state)" = preempted
t_check "Ctrl-C: a checkpoint was written" compgen -G "$run/checkpoints/ckpt-*.ddpc"
t_check "Ctrl-C: the command that continues is printed" grep -q "continue with: ddpc resume $run" <<<"$out"
t_run resume "$run" --quiet
t_check "the printed command finishes the run (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "resumed: 3 epochs done" test "$(t_json "$run/summary.json" epochs_completed)" = 3
t_check "resumed: state done" test "$(t_json "$run/summary.json" state)" = done

# Twice: the second interrupt ends the process by SIGINT (128 + 2), no waiting.
start_run "$T_DIR/twice"
kill -INT -- "-$T_PID"
sleep 0.05
kill -INT -- "-$T_PID" 2>/dev/null
wait "$T_PID"
T_RC=$?
# Where the first stop already completed between the two signals, the run ended cleanly (5).
t_check "second Ctrl-C: ends at once by SIGINT, or had already stopped cleanly (rc $T_RC)" \
  test "$T_RC" -eq 130 -o "$T_RC" -eq 5
t_finish
