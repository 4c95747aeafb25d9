#!/usr/bin/env bash
# mlflow_server.sh - a real MLflow tracking server on 127.0.0.1 for the tracking tests: the
# CTest fixture "mlflow" (one server for tests/cli/mlflow_*.sh) and the tests that stop and
# restart a server of their own.
#
#   mlflow_server.sh start DIR [PORT]   starts `mlflow server` with a SQLite backend store
#                                       (DIR/mlflow.db) and served artifacts (DIR/artifacts)
#                                       on PORT (default: a free one), waits until it answers,
#                                       and writes DIR/pid, DIR/port and DIR/uri
#   mlflow_server.sh stop DIR           stops it by its pid (its process group), waits for it
#
# MLflow comes from .venv-mlflow (made by .ci/setup; DDPC_MLFLOW_VENV to use another).
# Prints "SKIPPED: why" and exits 77 where there is none.
#   DDPC_MLFLOW_WAIT  seconds to wait for the server to answer (default 300: it imports a
#                     lot, and a loaded 2-core machine makes that slow)
set -uo pipefail

action=${1:-}
dir=${2:-}
[ -n "$action" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
venv=${DDPC_MLFLOW_VENV:-$here/../../.venv-mlflow}
wait_s=${DDPC_MLFLOW_WAIT:-300}
log() { echo "[mlflow_server $(date +%T)] $*"; }

stop() {
  rm -f "$dir/uri"  # a server that is not up is not found by the tests
  [ -f "$dir/pid" ] || return 0
  local pid
  pid=$(cat "$dir/pid")
  rm -f "$dir/pid"
  # setsid made it a process-group leader: the group holds the server's workers too.
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 -- "-$pid" 2>/dev/null || { log "stopped (pid $pid)"; return 0; }
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null
  log "killed (pid $pid did not stop on SIGTERM within 30 s)"
}

# A port nobody listens on now (the kernel's pick; taken again only by a race, retried below).
free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_once() {
  local port=$1
  mkdir -p "$dir/artifacts"
  # No telemetry, no browser: the server runs where nothing outside can be reached.
  MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true setsid "$venv/bin/mlflow" server --host 127.0.0.1 --port "$port" \
    --backend-store-uri "sqlite:///$dir/mlflow.db" --artifacts-destination "$dir/artifacts" --workers 1 \
    >>"$dir/server.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/pid"
  local deadline=$((SECONDS + wait_s))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the server exited before answering; its log ($dir/server.log):"
      tail -20 "$dir/server.log"
      rm -f "$dir/pid"
      return 1
    fi
    if curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$port/health" 2>/dev/null; then
      echo "$port" >"$dir/port"
      echo "http://127.0.0.1:$port" >"$dir/uri"
      log "up at http://127.0.0.1:$port (pid $pid, $dir)"
      return 0
    fi
    sleep 0.5
  done
  log "no answer from http://127.0.0.1:$port within ${wait_s} s; its log:"
  tail -20 "$dir/server.log"
  stop
  return 1
}

case $action in
  start)
    [ -x "$venv/bin/mlflow" ] || { echo "SKIPPED: no MLflow in $venv (bash .ci/setup installs it)"; exit 77; }
    command -v curl >/dev/null || { echo "SKIPPED: no curl to ask the server whether it is up"; exit 77; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    stop
    if [ -n "${3:-}" ]; then start_once "$3"; exit $?; fi
    for _ in 1 2 3; do start_once "$(free_port)" && exit 0; done
    exit 1
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    stop
    ;;
  *) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
