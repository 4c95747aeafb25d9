#!/usr/bin/env bash
# ctest-labels: mlflow
# An MLflow server that goes away mid-run never touches training: a run whose server is
# stopped after epoch 2 ends as it would untracked (exit code, test loss, final parameters),
# keeps what it could not send in RUN_DIR/mlflow_pending.jsonl and says how to send it;
# `ddpc mlflow sync` fails while the server is down (the spool kept) and, once a server is
# back on the same store, completes the run with nothing missing (its exported model too). A server of its own
# (tests/testbeds/mlflow_server.sh), since this test stops it. A run that never reaches
# the server at all is kept whole and created in MLflow by the sync.
source "$(dirname "$0")/lib/common.bash"
server="$DDPC_SOURCE_DIR/tests/testbeds/mlflow_server.sh"
source "$(dirname "$0")/lib/mlflow.bash"
base="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
[ -x "$py" ] || { echo "SKIPPED: no .venv-mlflow (bash .ci/setup makes it)"; exit 77; }
srv="$T_DIR/srv"
trap 'bash "$server" stop "$srv" >/dev/null; rm -rf "$T_DIR"' EXIT
bash "$server" start "$srv" || { echo "FAILED: the MLflow server did not start" >&2; exit 1; }
uri=$(cat "$srv/uri")
port=$(cat "$srv/port")
unset MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
export DDPC_MLFLOW_FLUSH_SECONDS=2  # the server is down at the end: no use waiting long
# The run waits at epoch 2 for a pruning verdict: the server is stopped there, mid-run.
cfg=(--set train.epochs=6 --set train.log_every_steps=10 --set 'pruning.rungs=[2]')

# The same run untracked, for its results (the verdict written ahead: it does not wait).
mkdir -p "$T_DIR/plain/verdicts" && echo continue >"$T_DIR/plain/verdicts/epoch-2"
t_run train "$base" "${cfg[@]}" --run-dir "$T_DIR/plain"
plain_rc=$T_RC

MLFLOW_TRACKING_URI="$uri" MLFLOW_EXPERIMENT_NAME=outage "$DDPC" train "$base" "${cfg[@]}" --run-dir "$T_DIR/jobs/run" \
  >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
pid=$!
t_mlflow_wait_points "$T_DIR/jobs/run" 2
t_check "epochs 1-2 reached MLflow before the outage ($points points)" test "${points:-0}" -ge 2
bash "$server" stop "$srv"
mkdir -p "$T_DIR/jobs/run/verdicts" && echo continue >"$T_DIR/jobs/run/verdicts/epoch-2.tmp" && mv "$T_DIR/jobs/run/verdicts/epoch-2.tmp" "$T_DIR/jobs/run/verdicts/epoch-2"
wait "$pid"
rc=$?
err=$(cat "$T_DIR/run.err")
t_check "server down: same exit code as untracked ($rc, $plain_rc; $err)" test "$rc" -eq "$plain_rc" -a "$rc" -eq 0
same() { python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(0 if all(a[k]==b[k] for k in ("state","test_loss","test_accuracy","params_crc32","epochs_completed")) else 1)' "$1" "$2"; }
t_check "server down: same results as untracked" same "$T_DIR/jobs/run/summary.json" "$T_DIR/plain/summary.json"
t_check "server down: what was not sent is in mlflow_pending.jsonl" test -s "$T_DIR/jobs/run/mlflow_pending.jsonl"
t_check "server down: the model artifacts wait in the spool, read from RUN_DIR/export" \
  grep -q '"key":"model/model.onnx","value":"export/model.onnx"' "$T_DIR/jobs/run/mlflow_pending.jsonl"
case "$err" in *"ddpc mlflow sync $T_DIR/jobs/run"*) t_ok ;; *) t_fail "no word of ddpc mlflow sync: $err" ;; esac

# A run that never reaches the server (a compute node without a route): trained as usual,
# everything kept, its MLflow run created by the sync below.
mkdir -p "$T_DIR/jobs/never/verdicts" && echo continue >"$T_DIR/jobs/never/verdicts/epoch-2"
MLFLOW_TRACKING_URI="$uri" MLFLOW_EXPERIMENT_NAME=outage t_run train "$base" "${cfg[@]}" --run-dir "$T_DIR/jobs/never"
t_check "server unreachable from the start: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "server unreachable from the start: same results" same "$T_DIR/jobs/never/summary.json" "$T_DIR/plain/summary.json"
t_check "server unreachable from the start: no run id yet" \
  python3 -c 'import json,sys; sys.exit(0 if not json.load(open(sys.argv[1])).get("run_id") else 1)' "$T_DIR/jobs/never/mlflow.json"

t_run mlflow sync "$T_DIR/jobs/run"
t_check "sync with the server down: exit 1" test "$T_RC" -eq 1
case "$T_ERR" in *"could not be sent"*"mlflow_pending.jsonl"*) t_ok ;; *) t_fail "sync's message: $T_ERR" ;; esac
t_check "sync with the server down: the spool stays" test -s "$T_DIR/jobs/run/mlflow_pending.jsonl"

# The server back on the same store and port (mlflow.json names the URI).
bash "$server" start "$srv" "$port" || t_fail "the MLflow server did not start again on port $port"
t_run mlflow sync "$T_DIR/jobs"  # both runs below it
t_check "sync: exit 0 ($T_ERR)" test "$T_RC" -eq 0
case "$T_OUT" in *"jobs/never: "*"item(s) sent"*"jobs/run: "*"item(s) sent"*) t_ok ;; *) t_fail "sync's report: $T_OUT" ;; esac
t_check "sync: the spool is gone" test ! -e "$T_DIR/jobs/run/mlflow_pending.jsonl" -a ! -e "$T_DIR/jobs/never/mlflow_pending.jsonl"
# Its model was exported at the end and kept for the sync: ddpc export's bytes.
t_run export "$T_DIR/jobs/run" --format safetensors --out "$T_DIR/run.safetensors"
t_check "ddpc export safetensors: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_run export "$T_DIR/jobs/run" --format onnx --out "$T_DIR/run.onnx"
t_check "ddpc export onnx: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "after sync the interrupted run is complete in MLflow, its model too" "$py" "$check" run "$uri" outage \
  "$T_DIR/jobs/run" --safetensors "$T_DIR/run.safetensors" --onnx "$T_DIR/run.onnx"
t_check "after sync the run that never reached MLflow is there, complete" "$py" "$check" run "$uri" outage "$T_DIR/jobs/never"
t_run mlflow sync "$T_DIR/jobs/run"
t_check "a second sync has nothing to send (exit 0)" test "$T_RC" -eq 0

# Bad spool lines are reported with their place, and nothing is sent.
printf '{"kind":"metric","key":"x"}\n' >"$T_DIR/jobs/run/mlflow_pending.jsonl"
t_run mlflow sync "$T_DIR/jobs/run"
t_check "bad spool line: exit 1" test "$T_RC" -eq 1
case "$T_ERR" in *"mlflow_pending.jsonl:1: a metric line needs"*) t_ok ;; *) t_fail "bad spool line message: $T_ERR" ;; esac
t_run mlflow sync "$T_DIR/nothing"
t_check "sync of an untracked directory: exit 1" test "$T_RC" -eq 1
t_finish
