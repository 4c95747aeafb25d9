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
