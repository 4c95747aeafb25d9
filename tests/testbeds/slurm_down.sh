#!/usr/bin/env bash
# slurm_down.sh - stops the cluster slurm_up.sh started: cancels every job still queued or
# running, then stops slurmd, slurmctld and munged by their pid files (never by name).
#   DDPC_SLURM_BASE  state and logs (default /var/lib/ddpc-slurm)
#   DDPC_SLURM_RUN   pid files (default /run/ddpc-slurm)
#   DDPC_SLURM_PURGE=1  also delete the state and logs
set -uo pipefail
BASE=${DDPC_SLURM_BASE:-/var/lib/ddpc-slurm}
RUN=${DDPC_SLURM_RUN:-/run/ddpc-slurm}
log() { echo "[slurm_down $(date +%T)] $*"; }

[ "$(id -u)" = 0 ] || { echo "SKIPPED: the Slurm test bed needs root"; exit 77; }

# A dead daemon can stay a zombie for a moment (PID 1 reaps lazily): state Z is dead.
running() { local st; st=$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null) && [ "$st" != Z ]; }
stop_pidfile() {  # stop_pidfile PIDFILE COMM
  local f=$1 comm=$2 pid i
  pid=$(cat "$f" 2>/dev/null) || return 0
  if [ -z "$pid" ] || ! running "$pid" || [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != "$comm" ]; then
    rm -f "$f"
    return 0
  fi
  log "stopping $comm (pid $pid)"
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 100); do
    running "$pid" || break
    sleep 0.1
  done
  if running "$pid"; then
    log "$comm: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    sleep 0.2
  fi
  rm -f "$f"
}

# Only a controller this test bed started is asked to cancel jobs.
ctld=$(cat "$RUN/slurmctld.pid" 2>/dev/null)
if [ -n "$ctld" ] && running "$ctld" && command -v squeue >/dev/null && scontrol ping >/dev/null 2>&1; then
  jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    scancel $jobs 2>/dev/null
    for i in $(seq 1 100); do
      [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
fi

for f in "$RUN"/slurmd.*.pid; do
  [ -e "$f" ] && stop_pidfile "$f" slurmd
done
stop_pidfile "$RUN/slurmctld.pid" slurmctld
# munged only when this test bed started it (slurm_up.sh links its pid file here).
if [ -L "$RUN/munged.pid" ]; then
  stop_pidfile /run/munge/munged.pid munged
  rm -f "$RUN/munged.pid"
fi
if [ "${DDPC_SLURM_PURGE:-0}" = 1 ]; then
  log "purging $BASE"
  rm -rf "$BASE"
fi
log "done"
