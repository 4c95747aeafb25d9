#!/usr/bin/env bash
# Measures ddpc's gradient all-reduce between network-namespace "hosts" (TCP over veth and a
# bridge) for the alpha-beta fit of bench/scaling_projection.py:
#   bash bench/scaling_netns.sh [BUILD_DIR] > allreduce_netns.txt
#   /usr/bin/python3 bench/scaling_projection.py allreduce_netns.txt
# For each link rate (RATES; "none" = unshaped, else tc tbf on both ends of every host's
# veth), rank count (RANKS, one rank per namespace) and libnbc all-reduce algorithm (ALGS:
# 1 ring, 2 binomial tree) it runs bench_allreduce_alpha_beta and prints its lines prefixed
# with the rate. MLP_CHECK=1: then also the measured MLP step with and without overlap at 2
# ranks, unshaped (bench_allreduce --mlp), to set beside the projection. Needs root. The
# "hosts" are the multi-host tests' own (tests/testbeds/netns_hosts.sh: up, rate, down), so
# do not run it while the test suite runs. Everything it set up is torn down on exit,
# failure included.
set -euo pipefail
BUILD=${1:-build}
HOSTS_SH=$(cd "$(dirname "$0")/.." && pwd)/tests/testbeds/netns_hosts.sh
export DDPC_NETNS_RUN=${DDPC_NETNS_RUN:-/run/ddpc-netns}
RATES=${RATES:-"none 25gbit 10gbit"}
RANKS=${RANKS:-"2 3"}
ALGS=${ALGS:-"1 2"}
REPS=${REPS:-400}
BIN=$(cd "$BUILD" && pwd)/bench/bench_allreduce_alpha_beta
[ -x "$BIN" ] || { echo "build $BIN first" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, tc)" >&2; exit 2; }
max_ranks=0
for p in $RANKS; do [ "$p" -gt "$max_ranks" ] && max_ranks=$p; done

teardown() { bash "$HOSTS_SH" down >&2 2>&1 || true; }
trap teardown EXIT
bash "$HOSTS_SH" up "$max_ranks" >&2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
read -r -a MPIARGS < <(tr "\n" " " < "$DDPC_NETNS_RUN/mpirun.args"; echo)

echo "# $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p') nproc=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) load: $(cut -d' ' -f1-3 /proc/loadavg)"
for rate in $RATES; do
  bash "$HOSTS_SH" rate "${rate/none/off}" >&2
  for p in $RANKS; do
    for alg in $ALGS; do
      timeout 600 mpirun "${MPIARGS[@]}" -np "$p" --map-by node \
        -x OMPI_MCA_coll_libnbc_iallreduce_algorithm="$alg" -x OPENBLAS_NUM_THREADS=1 \
        "$BIN" --reps "$REPS" | sed "s/^/$rate /"
    done
  done
done
if [ "${MLP_CHECK:-0}" = 1 ]; then
  bash "$HOSTS_SH" rate off >&2
  echo "# bench_allreduce --mlp, 2 ranks, unshaped"
  timeout 600 mpirun "${MPIARGS[@]}" -np 2 --map-by node -x OPENBLAS_NUM_THREADS=1 -x OPENBLAS_CORETYPE=SkylakeX \
    "$(dirname "$BIN")/bench_allreduce" --mlp | sed 's/^/# /'
fi
echo "# done $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
