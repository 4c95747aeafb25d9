#!/usr/bin/env bash
# slurm_up.sh - a one-node Slurm cluster on this machine for the tests that submit jobs
# (the CTest fixture "slurm"; Debian 12, root). One node named `hostname -s` with every
# core; slurmctld, slurmd and munged run as plain background daemons (no systemd), found
# again by their pid files. Idempotent: a cluster that is already up is left as it is.
# Installs slurmctld slurmd slurm-client munge with apt-get when missing.
#
#   DDPC_SLURM_BASE  state and logs (default /var/lib/ddpc-slurm)
#   DDPC_SLURM_RUN   pid files (default /run/ddpc-slurm)
#   DDPC_SLURM_WAIT  seconds to wait for the node to go idle (default 60)
# Prints "SKIPPED: why" and exits 77 where it cannot run (not root, no packages).
# Undo with slurm_down.sh.
set -euo pipefail

BASE=${DDPC_SLURM_BASE:-/var/lib/ddpc-slurm}
RUN=${DDPC_SLURM_RUN:-/run/ddpc-slurm}
WAIT=${DDPC_SLURM_WAIT:-60}
CONF=/etc/slurm/slurm.conf

log() { echo "[slurm_up $(date +%T)] $*"; }
die() { echo "[slurm_up] ERROR: $*" >&2; exit 1; }
skip() { echo "SKIPPED: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "the Slurm test bed needs root"

# ---------------------------------------------------------------- packages
pkgs=()
command -v slurmctld >/dev/null || pkgs+=(slurmctld)
command -v slurmd >/dev/null || pkgs+=(slurmd)
command -v sbatch >/dev/null || pkgs+=(slurm-client)
command -v munged >/dev/null || pkgs+=(munge)
if [ ${#pkgs[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || skip "no apt-get to install ${pkgs[*]}"
  log "installing: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt may hold the lock on a shared machine: wait for it.
  { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; } ||
    skip "could not install ${pkgs[*]}"
fi

# ---------------------------------------------------------------- helpers
# A dead daemon can stay a zombie for a moment (PID 1 reaps lazily): state Z is dead.
running() { local st; st=$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null) && [ "$st" != Z ]; }
alive() {  # alive PIDFILE COMM: the pid in PIDFILE is a live COMM process
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && running "$pid" && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$2" ]
}
wait_for() {  # wait_for SECONDS CMD...: poll CMD every 0.2 s
  local end=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}
stop_pidfile() {  # stop_pidfile PIDFILE COMM: TERM, then KILL after 10 s
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  if [ -n "$pid" ] && alive "$1" "$2"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_for 10 sh -c "! awk '{exit \$3==\"Z\"}' /proc/$pid/stat" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# A controller this script did not start (another test bed) would fight ours for the port.
if ! alive "$RUN/slurmctld.pid" slurmctld; then
  for pid in $(pgrep -x slurmctld); do
    running "$pid" && die "a slurmctld not started by this script is running (pid $pid); stop it first"
  done
fi

# ---------------------------------------------------------------- config
HEAD=$(hostname -s)
# The cores this machine gives us, not a thread budget: GNU nproc honours OMP_NUM_THREADS
# and OMP_THREAD_LIMIT, and a test run with OMP_NUM_THREADS=1 (as benchmarks set it) would
# declare a 1-CPU node on which every 2-rank job waits forever (PartitionConfig).
CPUS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
MEM_MB=$(awk '/MemTotal/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
# slurmd and srun must resolve the node name.
if ! getent hosts "$HEAD" >/dev/null; then
  log "adding $HEAD to /etc/hosts"
  echo "127.0.0.1 $HEAD" >>/etc/hosts
fi
mkdir -p "$BASE/ctld" "$BASE/d" "$BASE/log" "$BASE/pmixtmp" "$RUN" /etc/slurm

newconf=$(mktemp)
cat >"$newconf" <<CONF
# written by ddpc tests/testbeds/slurm_up.sh - one-node test cluster
ClusterName=ddpc
SlurmctldHost=$HEAD(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CryptoType=crypto/munge
# A requeued job may start again only once its credential expired (default 120 s).
AuthInfo=cred_expire=10
StateSaveLocation=$BASE/ctld
SlurmdSpoolDir=$BASE/d/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.%n.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in this machine's containers: /proc based tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
# No slurmdbd: sacct has no data; finished jobs go to a text file (sacct -c).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Debian's Open MPI has a PMIx client but no PMI-2 one.
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
SlurmdTimeout=10
InactiveLimit=0
KillWait=5
MinJobAge=300
# Short test jobs start within seconds.
SchedulerParameters=sched_interval=2
NodeName=$HEAD NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HEAD Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
printf 'PMIxCliTmpDirBase=%s\n' "$BASE/pmixtmp" >"$newconf.mpi"
cmp -s "$newconf.mpi" /etc/slurm/mpi.conf || install -m 644 "$newconf.mpi" /etc/slurm/mpi.conf
conf_changed=0
if ! cmp -s "$newconf" "$CONF"; then
  install -m 644 "$newconf" "$CONF"
  conf_changed=1
  log "wrote $CONF"
fi
rm -f "$newconf" "$newconf.mpi"

# ---------------------------------------------------------------- munged
MUNGE_PID=/run/munge/munged.pid
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating the munge key"
  mungekey --create --force 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
if alive "$MUNGE_PID" munged; then
  log "munged already running (pid $(cat "$MUNGE_PID"))"
else
  log "starting munged"
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock "$MUNGE_PID"
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 alive "$MUNGE_PID" munged || die "munged did not start"
fi
ln -sf "$MUNGE_PID" "$RUN/munged.pid"
wait_for 10 sh -c 'munge -n | unmunge' || die "munge round trip failed"

# ---------------------------------------------------------------- slurmctld, slurmd
if [ "$conf_changed" = 1 ]; then
  # A changed node line needs a restart, not `scontrol reconfigure`.
  for f in "$RUN"/slurmd.*.pid; do [ -e "$f" ] && stop_pidfile "$f" slurmd; done
  stop_pidfile "$RUN/slurmctld.pid" slurmctld
fi
if alive "$RUN/slurmctld.pid" slurmctld; then
  log "slurmctld already running (pid $(cat "$RUN/slurmctld.pid"))"
else
  log "starting slurmctld"
  rm -f "$RUN/slurmctld.pid"
  slurmctld
  wait_for 20 alive "$RUN/slurmctld.pid" slurmctld || die "slurmctld did not start; see $BASE/log/slurmctld.log"
fi
wait_for 20 scontrol ping || die "slurmctld does not answer; see $BASE/log/slurmctld.log"
pf=$RUN/slurmd.$HEAD.pid
if alive "$pf" slurmd; then
  log "slurmd already running (pid $(cat "$pf"))"
else
  log "starting slurmd $HEAD"
  rm -f "$pf"
  mkdir -p "$BASE/d/$HEAD"
  slurmd -N "$HEAD"
  wait_for 20 alive "$pf" slurmd || die "slurmd did not start; see $BASE/log/slurmd.$HEAD.log"
fi

# ---------------------------------------------------------------- wait for idle
end=$(($(date +%s) + WAIT))
last_resume=0
while :; do
  state=$(sinfo -h -N -n "$HEAD" -o %T 2>/dev/null | head -n 1)
  case "$state" in idle | mixed | allocated | completing) break ;; esac
  # A node that was down when the controller last ran comes back on request.
  if [[ "$state" =~ down|drain|fail ]] && [ $(($(date +%s) - last_resume)) -ge 3 ]; then
    log "node $HEAD is $state; resuming it"
    last_resume=$(date +%s)
    scontrol update NodeName="$HEAD" State=RESUME || true
  fi
  [ "$(date +%s)" -lt "$end" ] || die "node $HEAD not idle after ${WAIT}s (state '$state'); see $BASE/log/"
  sleep 0.3
done
log "cluster up: node $HEAD $state"
