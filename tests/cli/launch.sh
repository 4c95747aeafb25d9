#!/usr/bin/env bash
# `ddpc launch`: supervises `mpirun ddpc train` and restarts it after faults. A run
# through the launcher equals plain mpirun bit for bit; a rank killed mid-run (the
# DDPC_FAIL_AT hook) is restarted from the last checkpoint to the same weights; with no
# restarts left it gives up with the job's exit code; a bad config or data file fails
# once (exit 1, never restarted) unless mpirun reported a lost daemon; exits 3 and 4 pass
# through; an mpirun that hangs after the run finished is ended with the run's code;
# a start that hangs (a stand-in mpirun that stalls) is ended and restarted; SIGTERM to
# the launcher checkpoints the job (exit 5) and launching again
# continues it; usage errors exit 2. Every run is bounded by a timeout.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cd "$T_DIR" || exit 1
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
small=(--set train.epochs=4 --set train.batch_size=8)
export DDPC_LAUNCH_BACKOFF_SECONDS=0 OPENBLAS_NUM_THREADS=1

# t_launch SECONDS ARGS... : `ddpc launch ARGS` bounded by SECONDS, captured like t_run.
t_launch() {
  local secs=$1; shift
  timeout -k 5 "$secs" "$DDPC" launch "$@" >"$T_DIR/out" 2>"$T_DIR/err"
  T_RC=$?
  T_OUT=$(cat "$T_DIR/out")
  T_ERR=$(cat "$T_DIR/err")
}
# Field of line N (1-based) of a JSON-lines file.
t_jsonl() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]).get(sys.argv[3]))' "$1" "$2" "$3"; }
t_lines() { if [ -f "$1" ]; then grep -c . "$1"; else echo 0; fi; }

# (a) The launcher's run equals plain mpirun.
t_mpirun 120 2 train "$cfg" --run-dir ref "${small[@]}" --quiet
t_check "reference run: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
ref_crc=$(t_json ref/summary.json params_crc32)
t_launch 120 -n 2 "$cfg" --run-dir a "${small[@]}"
t_check "launch: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "launch: rank 0's lines stream through" grep -q "^epoch 4/4 " <<<"$T_OUT"
t_check "launch: same params_crc32 as mpirun" test "$(t_json a/summary.json params_crc32)" = "$ref_crc"
t_check "launch: one attempt recorded" test "$(t_lines a/attempts.jsonl)" -eq 1
t_check "launch: attempt exit_code 0" test "$(t_jsonl a/attempts.jsonl 1 exit_code)" = 0
t_check "launch: attempt not restarted" test "$(t_jsonl a/attempts.jsonl 1 restarted)" = False
argv=$(t_jsonl a/attempts.jsonl 1 argv)
t_check "launch: argv runs ddpc train with --resume auto ($argv)" \
  grep -qF "'-n', '2', '-x', 'OPENBLAS_NUM_THREADS', '-x', 'DDPC_STARTED_FILE=$T_DIR/a/.started', '$DDPC', 'train', '$cfg', '--run-dir', 'a', '--set', 'train.epochs=4', '--set', 'train.batch_size=8', '--resume', 'auto']" <<<"$argv"
if [ "$(id -u)" -eq 0 ]; then
  t_check "launch: root gets --allow-run-as-root" grep -q "'--allow-run-as-root'" <<<"$argv"
fi

# (b) A rank killed at step 40 (epoch 2; the epoch-1 checkpoint is at step 26): restarted
# once with --resume auto, which does not inherit the fault, and ends bit-equal.
DDPC_FAIL_AT=1:40:kill t_launch 180 -n 2 --max-restarts 2 --mpirun-arg=-x --mpirun-arg DDPC_FAIL_AT \
  "$cfg" --run-dir b "${small[@]}"
t_check "restart: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "restart: two attempts" test "$(t_lines b/attempts.jsonl)" -eq 2
first_rc=$(t_jsonl b/attempts.jsonl 1 exit_code)
t_check "restart: first attempt failed ($first_rc)" test "$first_rc" != 0 -a "$first_rc" != None
t_check "restart: first attempt restarted" test "$(t_jsonl b/attempts.jsonl 1 restarted)" = True
t_check "restart: second attempt done" test "$(t_jsonl b/attempts.jsonl 2 exit_code)" = 0
t_check "restart: second attempt not restarted" test "$(t_jsonl b/attempts.jsonl 2 restarted)" = False
t_check "restart: -x DDPC_FAIL_AT passed to mpirun" grep -q "'-x', 'DDPC_FAIL_AT'" <<<"$(t_jsonl b/attempts.jsonl 1 argv)"
t_check "restart: announced ($T_ERR)" grep -q "ddpc launch: attempt 1 ended with exit code $first_rc (a fault); restart 1 of 2 in 0 s with --resume auto" <<<"$T_ERR"
t_check "restart: resumed from a checkpoint" test "$(t_json b/summary.json resumed)" = True
t_check "restart: same params_crc32 as the undisturbed run" test "$(t_json b/summary.json params_crc32)" = "$ref_crc"

# (c) No restarts allowed: the job's code, one attempt, a message saying so.
DDPC_FAIL_AT=1:40:kill t_launch 120 -n 2 --max-restarts 0 "$cfg" --run-dir c "${small[@]}"
t_check "no restarts: non-zero exit (rc $T_RC)" test "$T_RC" -ne 0 -a "$T_RC" -ne 124
t_check "no restarts: one attempt" test "$(t_lines c/attempts.jsonl)" -eq 1
t_check "no restarts: not restarted" test "$(t_jsonl c/attempts.jsonl 1 restarted)" = False
t_check "no restarts: gives up ($T_ERR)" grep -qx "ddpc launch: giving up after 0 restarts (last exit code $T_RC)" <<<"$T_ERR"

# (d) A config error is caught before mpirun starts: exit 1, the config's own message.
t_launch 60 -n 2 "$cfg" --run-dir d --set train.batch_size=-1
t_expect_error "config error" "ddpc launch: error: --set train.batch_size=-1: train.batch_size: must be between 1 and 1048576, got -1"
t_check "config error: no attempt" test "$(t_lines d/attempts.jsonl)" -eq 0
# A data error found by the ranks: exit 1 passed through, never restarted.
OPENBLAS_NUM_THREADS= t_launch 60 -n 2 --max-restarts 2 "$cfg" --run-dir d2 --set data.train.path=missing.csv
t_check "data error: exit 1 (rc $T_RC)" test "$T_RC" -eq 1
t_check "data error: one attempt" test "$(t_lines d2/attempts.jsonl)" -eq 1
t_check "data error: attempt exit_code 1" test "$(t_jsonl d2/attempts.jsonl 1 exit_code)" = 1
t_check "data error: not restarted" test "$(t_jsonl d2/attempts.jsonl 1 restarted)" = False
t_check "data error: no giving up" test "$(grep -c "giving up" <<<"$T_ERR")" -eq 0
t_check "data error: -x OPENBLAS_NUM_THREADS only when set" \
  grep -qF "'-n', '2', '-x', 'DDPC_STARTED_FILE=$T_DIR/d2/.started', '$DDPC', 'train'" <<<"$(t_jsonl d2/attempts.jsonl 1 argv)"

# (e) SIGTERM to the launcher: the job checkpoints and stops (5), no restart; launching
# again continues the run (ddpc launch always passes --resume auto).
fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/train-images-idx3-ubyte.gz" ]; then
  mlp="$DDPC_SOURCE_DIR/examples/fashion_mnist_mlp.yaml"
  timeout -k 5 300 "$DDPC" launch -n 2 --max-restarts 2 "$mlp" --run-dir e >e.out 2>e.err &
  pid=$!
  # Each rank reacts to SIGUSR1 once training runs: wait for the first epoch's line.
  for _ in $(seq 1 1200); do grep -q "^epoch 1/" e.out && break; sleep 0.1; done
  kill -TERM "$pid"
  wait "$pid"
  rc=$?
  t_check "sigterm: exit 5 (rc $rc: $(cat e.err))" test "$rc" -eq 5
  t_check "sigterm: state preempted" test "$(t_json e/summary.json state)" = preempted
  t_check "sigterm: one attempt, not restarted" test "$(t_lines e/attempts.jsonl)" -eq 1 -a \
    "$(t_jsonl e/attempts.jsonl 1 restarted)" = False
  t_launch 300 -n 2 "$mlp" --run-dir e --quiet
  t_check "sigterm: launching again finishes (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
  t_check "sigterm: the second launch resumed" test "$(t_json e/summary.json resumed)" = True
  t_check "sigterm: all epochs done" test "$(t_json e/summary.json epochs_completed)" -eq 10
  t_check "sigterm: attempts appended" test "$(t_lines e/attempts.jsonl)" -eq 2

  # Two signals: the second ends the job at once; still no restart.
  timeout -k 5 300 "$DDPC" launch -n 2 --max-restarts 2 "$mlp" --run-dir e2 >e2.out 2>e2.err &
  pid=$!
  for _ in $(seq 1 1200); do grep -q "^epoch 1/" e2.out && break; sleep 0.1; done
  kill -TERM "$pid"
  kill -INT "$pid"
  wait "$pid"
  rc=$?
  t_check "two signals: non-zero exit (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
  t_check "two signals: one attempt, not restarted" test "$(t_lines e2/attempts.jsonl)" -eq 1 -a \
    "$(t_jsonl e2/attempts.jsonl 1 restarted)" = False
else
  t_skip "part (e): no $fm"
fi

# (f) Usage errors exit 2; --help answers; no mpirun exits 127.
t_launch 10 "$cfg"
t_check "usage: -n missing exits 2 (rc $T_RC)" test "$T_RC" -eq 2
t_check "usage: -n missing explained ($T_ERR)" grep -q "missing -n N" <<<"$T_ERR"
t_launch 10 -n 2
t_check "usage: CONFIG missing exits 2 (rc $T_RC)" test "$T_RC" -eq 2
t_launch 10 -n 0 "$cfg"
t_check "usage: -n 0 exits 2 ($T_ERR)" test "$T_RC" -eq 2
t_launch 10 -n 2 --max-restarts -1 "$cfg"
t_check "usage: --max-restarts -1 exits 2 ($T_ERR)" grep -q "^ddpc launch: --max-restarts wants a whole number >= 0, got '-1'$" <<<"$T_ERR"
t_launch 10 -n 2 --bogus "$cfg"
t_check "usage: unknown option exits 2 (rc $T_RC)" test "$T_RC" -eq 2
t_launch 10 -n 2 "$cfg" "$cfg"
t_check "usage: two configs exit 2 (rc $T_RC)" test "$T_RC" -eq 2
t_launch 10 --help
t_check "help: exit 0 (rc $T_RC)" test "$T_RC" -eq 0
t_check "help: usage line" grep -q "^usage: ddpc launch -n N" <<<"$T_OUT"
t_check "help: exit codes" grep -q "127 mpirun not found" <<<"$T_OUT"
t_check "ddpc --help lists launch" grep -q "^  launch -n N CONFIG" <<<"$("$DDPC" --help)"
# (h) How mpirun's own exit is read, through a stand-in mpirun on PATH: its first call
# prints what FAKE_SAYS and exits with FAKE_EXIT, later calls run the real mpirun.
real_mpirun=$(command -v mpirun)
mkdir -p fake
cat >fake/mpirun <<EOF
#!/bin/sh
if [ ! -e "\$FAKE_STATE" ]; then : >"\$FAKE_STATE"; printf '%s\n' "\$FAKE_SAYS" >&2; exit "\$FAKE_EXIT"; fi
exec "$real_mpirun" "\$@"
EOF
chmod +x fake/mpirun
# Open MPI reporting a lost daemon exits with 1, like a bad config: its report makes it a fault.
FAKE_STATE=$T_DIR/lost.state FAKE_EXIT=1 FAKE_SAYS="ORTE has lost communication with a remote daemon." \
  PATH="$T_DIR/fake:$PATH" t_launch 120 -n 2 --max-restarts 1 "$cfg" --run-dir lost "${small[@]}"
t_check "lost daemon: restarted and finished (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "lost daemon: two attempts, the first restarted" \
  test "$(t_lines lost/attempts.jsonl)/$(t_jsonl lost/attempts.jsonl 1 exit_code)/$(t_jsonl lost/attempts.jsonl 1 restarted)" = 2/1/True
t_check "lost daemon: the launcher says why it restarts" grep -q "Open MPI lost a daemon" <<<"$T_ERR"
t_check "lost daemon: same weights as mpirun" test "$(t_json lost/summary.json params_crc32)" = "$ref_crc"
# Outcomes of ddpc train are passed on, never restarted: diverged (3), a review gate (4).
for code in 3 4; do
  FAKE_STATE=$T_DIR/code$code.state FAKE_EXIT=$code FAKE_SAYS="stand-in mpirun exits $code" \
    PATH="$T_DIR/fake:$PATH" t_launch 60 -n 2 --max-restarts 2 "$cfg" --run-dir "code$code" "${small[@]}" --quiet
  t_check "exit $code: passed on without a restart (rc $T_RC, $(t_lines "code$code/attempts.jsonl") attempts)" \
    test "$T_RC/$(t_lines "code$code/attempts.jsonl")/$(t_jsonl "code$code/attempts.jsonl" 1 restarted)" = "$code/1/False"
done

# mpirun hanging in its shutdown after the run finished (Open MPI 4.1 does at times): the
# launcher ends it once summary.json is written and the grace is over, with the run's code.
cat >fake/mpirun-hangs <<EOF
#!/bin/sh
"$real_mpirun" "\$@"
sleep 300
EOF
chmod +x fake/mpirun-hangs
mkdir -p hangbin && ln -sf "$T_DIR/fake/mpirun-hangs" hangbin/mpirun
start=$(date +%s)
DDPC_LAUNCH_FINISH_GRACE_SECONDS=2 PATH="$T_DIR/hangbin:$PATH" t_launch 120 -n 2 "$cfg" --run-dir hang "${small[@]}"
elapsed=$(($(date +%s) - start))
t_check "hung shutdown: exit 0 as the run's summary says (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "hung shutdown: ended within the grace, not the 300 s sleep (${elapsed}s)" test "$elapsed" -lt 60
t_check "hung shutdown: the launcher says why" grep -q "the run ended (state done in summary.json) but" <<<"$T_ERR"
t_check "hung shutdown: one attempt, not restarted, exit_code 0" \
  test "$(t_lines hang/attempts.jsonl)/$(t_jsonl hang/attempts.jsonl 1 exit_code)/$(t_jsonl hang/attempts.jsonl 1 restarted)" = 1/0/False

# A start that hangs: the stand-in's first call prints Open MPI's routing failure (a lost
# daemon: a fault at once, ended after the abort grace) or nothing at all (ended at the
# start-up deadline), then sleeps; the launcher ends it and the restart finishes the run.
cat >fake/mpirun-stalls <<EOF
#!/bin/sh
if [ ! -e "\$FAKE_STATE" ]; then
  : >"\$FAKE_STATE"
  [ -n "\$FAKE_SAYS" ] && printf '%s\n' "\$FAKE_SAYS" >&2
  sleep 300
  exit 0
fi
exec "$real_mpirun" "\$@"
EOF
chmod +x fake/mpirun-stalls
mkdir -p stallbin && ln -sf "$T_DIR/fake/mpirun-stalls" stallbin/mpirun
route_msg="ORTE does not know how to route a message to the specified daemon located on the indicated node:"
for dir in route stall; do
  if [ "$dir" = route ]; then what="unroutable daemon" says=$route_msg; else what="silent stall" says=""; fi
  start=$(date +%s)
  FAKE_STATE=$T_DIR/$dir.state FAKE_SAYS=$says PATH="$T_DIR/stallbin:$PATH" \
    t_launch 240 -n 2 --max-restarts 1 --startup-timeout 20 "$cfg" --run-dir "$dir" "${small[@]}"
  elapsed=$(($(date +%s) - start))
  t_check "$what: restarted and finished (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
  t_check "$what: ended well before the stand-in's 300 s sleep (${elapsed}s)" test "$elapsed" -lt 150
  t_check "$what: the first attempt was killed and restarted" \
    test "$(t_lines "$dir/attempts.jsonl")/$(t_jsonl "$dir/attempts.jsonl" 1 signal)/$(t_jsonl "$dir/attempts.jsonl" 1 restarted)" = 2/9/True
  t_check "$what: same weights as mpirun" test "$(t_json "$dir/summary.json" params_crc32)" = "$ref_crc"
  t_check "$what: the start marker is passed to every rank" \
    grep -qF "'-x', 'DDPC_STARTED_FILE=$(realpath "$dir")/.started'" <<<"$(t_jsonl "$dir/attempts.jsonl" 2 argv)"
  if [ "$dir" = route ]; then
    t_check "$what: a lost daemon, not the start-up deadline ($T_ERR)" \
      grep -q "Open MPI lost a daemon" <<<"$T_ERR"
    t_check "$what: ended within the abort grace, not the deadline (${elapsed}s)" \
      test "$(grep -c "no training step" <<<"$T_ERR")" -eq 0
  else
    t_check "$what: the launcher says the start hung ($T_ERR)" \
      grep -q "no training step [0-9]* s after .* started (--startup-timeout 20)" <<<"$T_ERR"
  fi
done
t_launch 10 -n 2 --startup-timeout soon "$cfg" --run-dir f
t_check "--startup-timeout soon: exit 2 with a message ($T_ERR)" \
  test "$T_RC" -eq 2 -a "$T_ERR" = "ddpc launch: --startup-timeout expects seconds >= 0, got 'soon'"

timeout -k 5 10 env PATH=/nonexistent "$DDPC" launch -n 2 "$cfg" --run-dir f >out 2>err
T_RC=$?
T_ERR=$(cat err)
t_check "no mpirun: exit 127 (rc $T_RC)" test "$T_RC" -eq 127
t_check "no mpirun: says so ($T_ERR)" grep -q "^ddpc launch: mpirun not found on PATH" <<<"$T_ERR"
t_finish
