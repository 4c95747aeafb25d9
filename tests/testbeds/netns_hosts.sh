#!/usr/bin/env bash
# Several "hosts" on one machine for multi-host MPI tests: network namespaces ddpc-h1..N,
# each with eth0 at 10.78.0.<i>/24 on a bridge (ddpcbr0, 10.78.0.254 in the root
# namespace, where mpirun runs). mpirun reaches them through netns_rsh.sh as its
# plm_rsh_agent. The subnet exists only inside this machine.
#   netns_hosts.sh up [N]     create (idempotent); writes $DDPC_NETNS_RUN/{hosts,hostfile,mpirun.args}
#   netns_hosts.sh down       kill what runs inside, delete namespaces, veths, bridge, /etc/hosts lines
#   netns_hosts.sh link HOST down|up      cut or restore a host's link (its daemon loses mpirun too)
#   netns_hosts.sh partition HOST1 HOST2 on|off   drop traffic between two hosts only
#   netns_hosts.sh rate RATE|off   cap every host's link to RATE (tc's units: 10gbit,
#                                  500mbit) both ways, with tbf (this kernel has no netem)
# Needs root and iproute2 (installs iproute2 and iptables when missing).
set -euo pipefail
RUN=${DDPC_NETNS_RUN:-/run/ddpc-netns}
NET=10.78.0
BRIDGE=ddpcbr0
HERE=$(cd "$(dirname "$0")" && pwd)
say() { echo "[netns_hosts] $*"; }
die() { echo "[netns_hosts] error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"

need_tools() {
  local missing=()
  command -v ip >/dev/null || missing+=(iproute2)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v unshare >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

hosts_block() {  # rewrite /etc/hosts in place (it may be a bind mount)
  local tmp
  tmp=$(mktemp)
  sed '/^# ddpc-netns begin$/,/^# ddpc-netns end$/d' /etc/hosts >"$tmp"
  if [ "${1:-}" = add ]; then
    { echo "# ddpc-netns begin"; echo "$NET.254 ddpc-head"; awk '{print $2, $1}' "$RUN/hosts"; echo "# ddpc-netns end"; } >>"$tmp"
  fi
  cat "$tmp" >/etc/hosts
  rm -f "$tmp"
}

up() {
  local n=${1:-3}
  need_tools
  mkdir -p "$RUN"
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr replace "$NET.254/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  : >"$RUN/hosts"
  : >"$RUN/hostfile"
  for i in $(seq 1 "$n"); do
    local ns=ddpc-h$i veth=ddpch${i}v
    if ! ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      ip netns add "$ns"
      # A veth left by an interrupted run has its peer elsewhere: start it over.
      ip link del "$veth" 2>/dev/null || true
    fi
    ip -n "$ns" link show eth0 >/dev/null 2>&1 || ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr replace "$NET.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    echo "h$i $NET.$i $ns $veth" >>"$RUN/hosts"
    echo "h$i slots=1" >>"$RUN/hostfile"
  done
  hosts_block add
  # Only the test subnet, TCP between the "hosts", and short OOB keepalives: without them
  # mpirun waits forever for a daemon whose link went down. A startup timeout too: right
  # after a host's link came back, its new daemon at times never calls back, and mpirun
  # (orte_startup_timeout 0 by default) would wait for it forever. routed direct: every
  # daemon talks to mpirun itself; the default tree routes through other daemons, and a
  # partition between two hosts then strands mpirun's messages ("ORTE does not know how to
  # route a message") so that the job hangs instead of aborting.
  cat >"$RUN/mpirun.args" <<ARGS
--hostfile $RUN/hostfile
--mca plm_rsh_agent $HERE/netns_rsh.sh
--mca plm_rsh_no_tree_spawn 1
--mca pml ob1
--mca btl tcp,self
--mca btl_tcp_if_include $NET.0/24
--mca oob_tcp_if_include $NET.0/24
--mca mpi_yield_when_idle 1
--mca oob_tcp_keepalive_time 5
--mca oob_tcp_keepalive_intvl 2
--mca oob_tcp_keepalive_probes 3
--mca orte_startup_timeout 30
--mca routed direct
ARGS
  # Fresh links take a moment: wait until every host answers on the bridge address.
  for i in $(seq 1 "$n"); do
    local ok=0
    for _ in $(seq 1 50); do
      # "Connection refused" proves the bridge answered (nothing listens on port 1).
      out=$(ip netns exec "ddpc-h$i" timeout 2 bash -c "exec 3<>/dev/tcp/$NET.254/1" 2>&1 || true)
      case "$out" in *refused*) ok=1; break ;; esac
      sleep 0.1
    done
    [ "$ok" = 1 ] || die "ddpc-h$i cannot reach the bridge"
  done
  say "up: $n hosts ($RUN/hostfile, mpirun options in $RUN/mpirun.args)"
}

down() {
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^ddpc-h[0-9]+$'); do
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] && kill -KILL $pids 2>/dev/null || true
    ip netns del "$ns" || true
  done
  for veth in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^ddpch[0-9]+v$'); do
    ip link del "$veth" 2>/dev/null || true
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE" || true
  local rules
  rules=$(iptables -S FORWARD 2>/dev/null | grep -- "ddpc-partition" | sed 's/^-A/-D/' || true)
  while read -r rule; do
    # shellcheck disable=SC2086
    [ -n "$rule" ] && iptables $rule || true
  done <<<"$rules"
  hosts_block remove
  rm -rf "$RUN"
  say "down"
}

host_field() { awk -v h="$1" -v f="$2" '$1 == h { print $f }' "$RUN/hosts"; }

# Processes that were running on a host when its link went down belong to jobs that have
# ended meanwhile. Once the link is back they clean up their session files under the /tmp
# every namespace shares, racing the daemon of the next job on that host (which then never
# calls back): they get 10 s to leave by themselves, then are killed.
end_stale_processes() {
  local ns=$1 down_at=$2 now pid age
  for _ in $(seq 1 100); do
    now=$(date +%s)
    local stale=()
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      age=$(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ')
      [ -n "$age" ] && [ $((now - age)) -le "$down_at" ] && stale+=("$pid")
    done
    [ ${#stale[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "${stale[@]}" 2>/dev/null || true
}

link() {
  local veth ns
  veth=$(host_field "$1" 4)
  ns=$(host_field "$1" 3)
  [ -n "$veth" ] || die "unknown host $1"
  ip link set "$veth" "$2"
  if [ "$2" = down ]; then
    date +%s >"$RUN/$1.down_at"
  elif [ -f "$RUN/$1.down_at" ]; then
    end_stale_processes "$ns" "$(cat "$RUN/$1.down_at")"
    rm -f "$RUN/$1.down_at"
  fi
}

partition() {  # traffic between two hosts crosses the bridge: drop it there, both ways
  local a b op
  a=$(host_field "$1" 2)
  b=$(host_field "$2" 2)
  [ -n "$a" ] && [ -n "$b" ] || die "unknown host $1 or $2"
  op=-I
  [ "$3" = off ] && op=-D
  modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  iptables "$op" FORWARD -s "$a" -d "$b" -j DROP -m comment --comment ddpc-partition
  iptables "$op" FORWARD -s "$b" -d "$a" -j DROP -m comment --comment ddpc-partition
}

# A token bucket on both ends of each host's veth: the host's sending and its receiving are
# each capped. The 256 KiB burst lets a whole TCP window through at once at 10 Gbit/s and
# more; a smaller one caps below the rate asked for.
rate() {
  local veth ns
  [ -s "$RUN/hosts" ] || die "no hosts: run '$0 up' first"
  case "$1" in off | [0-9]*bit) ;; *) die "rate: expected a tc rate such as 10gbit or 500mbit, or off; got '$1'" ;; esac
  while read -r _ _ ns veth; do
    tc qdisc del dev "$veth" root 2>/dev/null || true
    ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null || true
    [ "$1" = off ] && continue
    tc qdisc replace dev "$veth" root tbf rate "$1" burst 256kb latency 20ms
    ip netns exec "$ns" tc qdisc replace dev eth0 root tbf rate "$1" burst 256kb latency 20ms
  done <"$RUN/hosts"
  say "rate: ${1/off/unlimited} on every host's link"
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  down) down ;;
  link) link "$2" "$3" ;;
  partition) partition "$2" "$3" "$4" ;;
  rate) rate "${2:-}" ;;
  *) die "usage: $0 up [N] | down | link HOST down|up | partition H1 H2 on|off | rate RATE|off" ;;
esac
