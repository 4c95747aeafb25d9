# Shared helpers for the end-to-end tests in tests/cli/*.sh (sourced, not a test itself).
# Environment from CTest: DDPC (the binary), DDPC_SOURCE_DIR, DDPC_BUILD_DIR.
set -uo pipefail

: "${DDPC:?run through ctest (DDPC is the ddpc binary)}"
: "${DDPC_SOURCE_DIR:?}"
T_PASSED=0
T_FAILED=0
T_SKIPPED=0
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ddpc-cli-XXXXXX")
export DDPC_CACHE_DIR="$T_DIR/cache"
trap 'rm -rf "$T_DIR"' EXIT

t_ok() { T_PASSED=$((T_PASSED + 1)); }
t_fail() { T_FAILED=$((T_FAILED + 1)); echo "FAILED: $*" >&2; }
t_check() {  # t_check DESCRIPTION COMMAND... : passes when the command succeeds
  local what=$1; shift
  if "$@"; then t_ok; else t_fail "$what"; fi
}
# t_skip WHY: a part of the script that cannot run here (printed as "SKIPPED: WHY").
t_skip() { T_SKIPPED=$((T_SKIPPED + 1)); echo "SKIPPED: $*"; }
# Ends the script: 1 when a check failed or when no check ran and nothing was skipped (a
# test that tests nothing), 77 (CTest: skipped) when only skips happened, 0 otherwise.
t_finish() {
  echo "$T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped"
  if [ "$T_FAILED" -ne 0 ]; then exit 1; fi
  if [ "$T_PASSED" -eq 0 ]; then
    if [ "$T_SKIPPED" -eq 0 ]; then
      echo "FAILED: no check ran (a test script must check something, or say what it skipped)" >&2
      exit 1
    fi
    exit 77
  fi
  exit 0
}
# JSON field of a file: t_json FILE KEY -> prints the value (python3 reads it).
t_json() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v)' "$1" "$2"; }
# Float comparison: t_cmp A OP B, e.g. t_cmp 0.91 '>=' 0.88
t_cmp() { python3 -c 'import sys; a,op,b=float(sys.argv[1]),sys.argv[2],float(sys.argv[3]); sys.exit(0 if eval("a"+op+"b") else 1)' "$1" "$2" "$3"; }

# t_write_csv_config FILE CSV NAME: a one-epoch config that trains a linear layer on CSV
# (columns a, b, ..., label; 2 classes), all of it for training, without a cache.
t_write_csv_config() {
  cat >"$1" <<YAML
name: $3
data:
  format: csv
  train: {path: $2}
  label_column: label
  num_classes: 2
  val_fraction: 0
  test_fraction: 0
  cache: false
model: [{type: linear, units: 2}]
train: {epochs: 1, batch_size: 1}
YAML
}

# Runs ddpc with arguments, capturing stdout/stderr/exit code into T_OUT, T_ERR, T_RC.
t_run() {
  "$DDPC" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
  T_RC=$?
  T_OUT=$(cat "$T_DIR/out")
  T_ERR=$(cat "$T_DIR/err")
}
# Expects a failed run with one clear error: exit code 1 (never a signal), exactly one
# line on stderr, containing every given fragment.
t_expect_error() {
  local what=$1; shift
  if [ "$T_RC" -ne 1 ]; then t_fail "$what: exit code $T_RC, expected 1; stderr: $T_ERR"; return; fi
  local lines
  lines=$(printf '%s\n' "$T_ERR" | grep -c .)
  if [ "$lines" -ne 1 ]; then t_fail "$what: expected one line on stderr, got $lines: $T_ERR"; return; fi
  local frag
  for frag in "$@"; do
    case "$T_ERR" in
      *"$frag"*) ;;
      *) t_fail "$what: stderr lacks '$frag': $T_ERR"; return ;;
    esac
  done
  t_ok
}

# Multi-rank runs: mpirun with every rank oversubscribed on this machine's cores.
# t_need_mpirun skips the test (exit 77) where Open MPI's launcher is missing.
t_need_mpirun() { command -v mpirun >/dev/null || { echo "SKIPPED: no mpirun"; exit 77; }; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
# t_mpirun SECONDS N ARGS... : runs `ddpc ARGS` on N ranks, bounded by SECONDS, capturing like t_run.
t_mpirun() {
  local secs=$1 n=$2; shift 2
  timeout -k 5 "$secs" mpirun --oversubscribe -n "$n" "$DDPC" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
  T_RC=$?
  T_OUT=$(cat "$T_DIR/out")
  T_ERR=$(cat "$T_DIR/err")
}

# t_predict_from_c MODEL SAMPLES PREDICTIONS N: examples/predict_from_c (the C API) on the raw
# sample lines of SAMPLES prints, for each of the first N rows, the class and probabilities
# that `ddpc predict` wrote to the CSV PREDICTIONS (within 1e-5).
t_predict_from_c() {
  local example="${DDPC_BUILD_DIR:-}/examples/predict_from_c"
  if [ ! -x "$example" ]; then
    t_skip "examples/predict_from_c is not built ($example)"
    return
  fi
  "$example" "$1" <"$2" >"$T_DIR/from_c.txt" 2>"$T_DIR/from_c.err"
  t_check "predict_from_c exits 0 ($(cat "$T_DIR/from_c.err"))" test $? -eq 0
  t_check "predict_from_c prints what ddpc predict writes" python3 - "$T_DIR/from_c.txt" "$3" "$4" <<'PY'
import sys
n = int(sys.argv[3])
c = [l.split(",") for l in open(sys.argv[1]).read().splitlines()]
d = [l.split(",") for l in open(sys.argv[2]).read().splitlines()[1:n + 1]]
assert len(c) == len(d) == n, (len(c), len(d))
for a, b in zip(c, d):
    assert a[0] == b[0], (a, b)
    assert all(abs(float(x) - float(y)) <= 1e-5 for x, y in zip(a[1:], b[1:])), (a, b)
PY
}
