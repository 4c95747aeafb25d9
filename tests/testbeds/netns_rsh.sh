#!/bin/sh
# Open MPI's plm_rsh_agent for the namespace "hosts" of netns_hosts.sh: like ssh, but
# instead of logging in it enters HOST's network namespace (and a UTS namespace with
# HOST's name, so each rank reports its own host name) and runs the command line there.
#   netns_rsh.sh [ssh options] HOST COMMAND...
MAP=${DDPC_NETNS_RUN:-/run/ddpc-netns}/hosts
while [ $# -gt 0 ]; do
  case "$1" in
    -[oplieFiJS]) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "netns_rsh: usage: $0 [opts] HOST CMD..." >&2; exit 255; }
host=$1
shift
ns=$(awk -v h="$host" '$1 == h || $2 == h { print $3; exit }' "$MAP" 2>/dev/null)
name=$(awk -v h="$host" '$1 == h || $2 == h { print $1; exit }' "$MAP" 2>/dev/null)
[ -n "$ns" ] || { echo "netns_rsh: unknown host '$host' (not in $MAP)" >&2; exit 255; }
# Like ssh, the remaining words form one command line for a shell (Open MPI quotes them).
exec ip netns exec "$ns" unshare --uts -- sh -c 'hostname "$0" && exec sh -c "$1"' "$name" "$*"
