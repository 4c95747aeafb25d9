#!/usr/bin/env bash
# ctest-labels: mlflow
# ddpc tune in MLflow (the CTest fixture "mlflow"): a 4-trial study at parallelism 2 is a
# parent run (the space, algorithm, scheduler, parallelism as params; best_value after each
# finished trial; the best trial tagged) with 4 child runs, one per trial, each tagged with
# its number, state and value; resumed with a fifth trial, the study keeps its parent run.
# Then headless Chromium opens the MLflow UI's runs page of the experiment and must show the
# parent run and, expanded, its children (tests/python/mlflow_ui_check.py); the screenshot
# and page text stay in the build tree (test-output/mlflow_tune).
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
source "$(dirname "$0")/lib/mlflow.bash"
t_mlflow_fixture_server
out="$DDPC_BUILD_DIR/test-output/mlflow_tune"
export MLFLOW_TRACKING_URI="$uri" MLFLOW_EXPERIMENT_NAME="t$$-$RANDOM-tune"
# Every run's items must have arrived when it is checked: a slow server (a loaded machine)
# gets all the time it needs at each run's end instead of the default 5 s.
export DDPC_MLFLOW_FLUSH_SECONDS=300
cat >"$T_DIR/study.yaml" <<YAML
base: $DDPC_SOURCE_DIR/examples/cultivars_csv.yaml
tune:
  metric: val_loss
  space: {optimizer.lr: {loguniform: [0.001, 0.1]}}
  algorithm: random
  max_trials: 4
  parallelism: 2
YAML
t_run tune "$T_DIR/study.yaml" --study-dir "$T_DIR/study" --set train.epochs=3 --quiet
t_check "tune: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "tune: a parent run with 4 children" "$py" "$check" study "$uri" "$MLFLOW_EXPERIMENT_NAME" "$T_DIR/study" 4
for n in 0 1 2 3; do
  t_check "trial $n: its own run is complete" "$py" "$check" run "$uri" "$MLFLOW_EXPERIMENT_NAME" "$T_DIR/study/trials/000$n"
done
parent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$T_DIR/study/mlflow.json")

# The UI: the parent and, once expanded, its four children.
exp_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["experiment_id"])' "$T_DIR/study/mlflow.json")
rm -rf "$out"
"$py" "$DDPC_SOURCE_DIR/tests/python/mlflow_ui_check.py" "$uri" "$exp_id" "$out" "study study" \
  cultivars_csv-0000 cultivars_csv-0001 cultivars_csv-0002 cultivars_csv-0003
ui=$?
if [ "$ui" -eq 77 ]; then t_skip "no chromium"; else t_check "the MLflow UI shows the parent run and its children" test "$ui" -eq 0; fi
t_check "the UI's screenshot is kept" test -s "$out/experiment.png"

# Resumed with one more trial: the same parent run, now with 5 children.
t_run tune --resume "$T_DIR/study" --set train.epochs=3 --set tune.max_trials=5 --quiet
t_check "tune --resume: exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "tune --resume: the same parent run" \
  test "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$T_DIR/study/mlflow.json")" = "$parent"
t_check "tune --resume: 5 children under it" "$py" "$check" study "$uri" "$MLFLOW_EXPERIMENT_NAME" "$T_DIR/study" 5
t_check "tune --resume: one parent run in the experiment" \
  test "$("$py" "$check" count "$uri" "$MLFLOW_EXPERIMENT_NAME")" = 6

# A study whose server is down from its start to its end (a cluster without a route to it):
# the study and its trials keep everything, and one `ddpc mlflow sync STUDY_DIR` later makes
# the parent run and its children as if the server had been up. A server of its own.
server="$DDPC_SOURCE_DIR/tests/testbeds/mlflow_server.sh"
own="$T_DIR/srv"
trap 'bash "$server" stop "$own" >/dev/null; rm -rf "$T_DIR"' EXIT
if bash "$server" start "$own"; then
  own_uri=$(cat "$own/uri")
  own_port=$(cat "$own/port")
  bash "$server" stop "$own"
  DDPC_MLFLOW_FLUSH_SECONDS=2 MLFLOW_TRACKING_URI="$own_uri" MLFLOW_EXPERIMENT_NAME=offline \
    t_run tune "$T_DIR/study.yaml" --study-dir "$T_DIR/offline" --set train.epochs=2 --set tune.max_trials=2 --quiet
  t_check "offline study: exit 0 ($T_ERR)" test "$T_RC" -eq 0
  t_check "offline study: its parent run kept for later" test -s "$T_DIR/offline/mlflow_pending.jsonl"
  bash "$server" start "$own" "$own_port" || t_fail "the MLflow server did not start again on port $own_port"
  t_run mlflow sync "$T_DIR/offline"
  t_check "sync of the offline study: exit 0 ($T_ERR)" test "$T_RC" -eq 0
  t_check "after sync: a parent run with 2 children" "$py" "$check" study "$own_uri" offline "$T_DIR/offline" 2
  for n in 0 1; do
    t_check "after sync: trial $n's run is complete" "$py" "$check" run "$own_uri" offline "$T_DIR/offline/trials/000$n"
  done
else
  t_fail "the MLflow server of the offline study did not start"
fi
t_finish
