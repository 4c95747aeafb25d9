#!/usr/bin/env bash
# ctest-labels: mlflow
# ddpc train logging in a real MLflow tracking server (the CTest fixture "mlflow",
# tests/testbeds/mlflow_server.sh), read back with MLflow's Python client
# (tests/python/mlflow_check.py): nothing changes without tracking; a bad tracking URI in
# the config is one message with its place; a 2-rank training is one run with every config
# leaf as a param, metric histories equal to metrics.jsonl and steps.jsonl, test metrics,
# status, tags and artifacts (the config's experiment winning over MLFLOW_EXPERIMENT_NAME),
# the model among them byte for byte what `ddpc export` writes; a model that cannot be
# exported is a warning, never the run's failure; a run killed with kill -9 and resumed
# continues the same MLflow run.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
source "$(dirname "$0")/lib/mlflow.bash"
t_mlflow_fixture_server
base="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
unset MLFLOW_TRACKING_URI MLFLOW_EXPERIMENT_NAME
tag="t$$-$RANDOM"  # experiments of this run of the test (the server outlives it)
# Every run's items must have arrived when it is checked: a slow server (a loaded machine)
# gets all the time it needs at each run's end instead of the default 5 s.
export DDPC_MLFLOW_FLUSH_SECONDS=300

# --- no tracking configured: no MLflow file, no word about it ---
t_run train "$base" --set train.epochs=1 --run-dir "$T_DIR/plain"
t_check "untracked run: exit 0" test "$T_RC" -eq 0
t_check "untracked run: no mlflow.json" test ! -e "$T_DIR/plain/mlflow.json"
t_check "untracked run: no spool" test ! -e "$T_DIR/plain/mlflow_pending.jsonl"
case "$T_ERR" in *MLflow*|*mlflow*) t_fail "untracked run speaks of MLflow: $T_ERR" ;; *) t_ok ;; esac

# --- a tracking URI that is not a server: refused where it is written ---
{ cat "$base"; printf 'tracking:\n  mlflow:\n    uri: file:///tmp/mlruns\n'; } | sed "s#data/cultivars.csv#$DDPC_SOURCE_DIR/examples/data/cultivars.csv#" >"$T_DIR/bad_uri.yaml"
t_run train "$T_DIR/bad_uri.yaml" --run-dir "$T_DIR/bad_uri"
t_expect_error "file: tracking URI" "$T_DIR/bad_uri.yaml:" "tracking.mlflow.uri" "http://" "file:///tmp/mlruns"

# --- 2 ranks: one run with everything ---
export MLFLOW_TRACKING_URI="$uri" MLFLOW_EXPERIMENT_NAME="$tag-from-env"
t_mpirun 600 2 train "$base" --set train.epochs=4 --set train.log_every_steps=10 \
  --set 'metrics=[macro_f1, top2_accuracy, confusion_matrix]' \
  --set tracking.mlflow.experiment="$tag-train" --run-dir "$T_DIR/two"
t_check "2 ranks: exit 0 ($T_ERR)" test "$T_RC" -eq 0
# The model artifacts are what ddpc export writes for the run (its best checkpoint).
t_run export "$T_DIR/two" --format safetensors --out "$T_DIR/two.safetensors"
t_check "ddpc export safetensors: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_run export "$T_DIR/two" --format onnx --out "$T_DIR/two.onnx"
t_check "ddpc export onnx: exit 0 ($T_ERR)" test "$T_RC" -eq 0
case "$T_OUT" in *"checkpoints/best.ddpc (best,"*) t_ok ;; *) t_fail "ddpc export took another checkpoint: $T_OUT" ;; esac
t_check "2 ranks: the run in MLflow is complete, its model ddpc export's" "$py" "$check" run "$uri" "$tag-train" "$T_DIR/two" \
  --world-size 2 --safetensors "$T_DIR/two.safetensors" --onnx "$T_DIR/two.onnx"
t_check "the config's experiment wins over MLFLOW_EXPERIMENT_NAME" \
  test "$("$py" "$check" count "$uri" "$tag-from-env")" = 0

# --- a model that cannot be exported (RUN_DIR/export is a file): the run is as ever ---
mkdir -p "$T_DIR/noexport" && : >"$T_DIR/noexport/export"
MLFLOW_EXPERIMENT_NAME="$tag-noexport" t_run train "$base" --set train.epochs=1 --run-dir "$T_DIR/noexport"
t_check "export fails: exit 0 ($T_ERR)" test "$T_RC" -eq 0
case "$T_ERR" in *"warning: the model not exported for MLflow: "*"export' exists and is not a directory"*) t_ok ;;
  *) t_fail "export fails: no warning on stderr: $T_ERR" ;; esac
t_check "export fails: a warning event in events.jsonl" \
  test "$(grep -c '"event":"warning","what":"mlflow_model","message":"the model not exported' "$T_DIR/noexport/events.jsonl")" = 1
t_check "export fails: summary.json says done" grep -q '"state":"done"' "$T_DIR/noexport/summary.json"
t_check "export fails: the run in MLflow is complete, without a model" "$py" "$check" run "$uri" "$tag-noexport" "$T_DIR/noexport" --no-model

# --- kill -9 and resume: the same MLflow run goes on ---
# The run waits at epoch 2 for a pruning verdict (nothing else stops it there), so the
# test can see epochs 1-2 in MLflow before it lets the run go on to its kill in epoch 3.
export MLFLOW_EXPERIMENT_NAME="$tag-resume"
cfg=(--set train.epochs=5 --set 'pruning.rungs=[2]' --run-dir "$T_DIR/killed")
DDPC_FAIL_AT=0:60:kill "$DDPC" train "$base" "${cfg[@]}" >"$T_DIR/killed.out" 2>&1 &
pid=$!
t_mlflow_wait_points "$T_DIR/killed" 2
t_check "before the kill: epochs 1-2 in MLflow (run $run_id, $points points)" test "${points:-0}" -ge 2
mkdir -p "$T_DIR/killed/verdicts" && echo continue >"$T_DIR/killed/verdicts/epoch-2.tmp" &&
  mv "$T_DIR/killed/verdicts/epoch-2.tmp" "$T_DIR/killed/verdicts/epoch-2"
wait "$pid"
rc=$?
t_check "killed with SIGKILL (exit $rc)" test "$rc" -eq 137
t_run train "$base" "${cfg[@]}" --resume auto
t_check "resumed: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "resumed: the same MLflow run id in mlflow.json" \
  test "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$T_DIR/killed/mlflow.json")" = "$run_id"
t_check "resumed: one run in the experiment" test "$("$py" "$check" count "$uri" "$tag-resume")" = 1
t_check "resumed: the run is complete, every epoch once" "$py" "$check" run "$uri" "$tag-resume" "$T_DIR/killed"
t_finish
