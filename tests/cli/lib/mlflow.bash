# What the MLflow tests (tests/cli/mlflow_*.sh) share: MLflow's own Python (.venv-mlflow,
# made by .ci/setup), the checker that reads a server back with MLflow's client, and the
# server of the CTest fixture "mlflow" (tests/testbeds/mlflow_server.sh).
py="$DDPC_SOURCE_DIR/.venv-mlflow/bin/python"
check="$DDPC_SOURCE_DIR/tests/python/mlflow_check.py"

# t_mlflow_fixture_server: srv and uri of the fixture's server; skips the test without one.
t_mlflow_fixture_server() {
  srv="$DDPC_BUILD_DIR/mlflow-testbed"
  [ -f "$srv/uri" ] || { echo "SKIPPED: no MLflow test server (the fixture mlflow_up skipped: no .venv-mlflow)"; exit 77; }
  uri=$(cat "$srv/uri")
}

# t_mlflow_wait_points RUN_DIR N: waits (up to 300 s: the server may be slow under load)
# until the run of RUN_DIR (its mlflow.json) has N points of val_loss in MLflow; sets
# run_id and points to what it saw last.
t_mlflow_wait_points() {
  points=0 run_id=
  for _ in $(seq 1 600); do
    run_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("run_id") or "")' "$1/mlflow.json" 2>/dev/null)
    [ -n "$run_id" ] && points=$("$py" "$check" points "$uri" "$run_id" val_loss)
    [ "${points:-0}" -ge "$2" ] && return 0
    sleep 0.5
  done
}
