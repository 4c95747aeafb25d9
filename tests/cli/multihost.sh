#!/usr/bin/env bash
# ctest-labels: slow
# Several hosts: three network namespaces on a bridge, reached by mpirun through
# tests/testbeds/netns_rsh.sh, one rank per host over TCP. Training across them ends with
# the same params_crc32 as 3 ranks on one host on the same gradient path (MPI buckets).
# The namespaces are made here and removed on exit; needs root.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root for network namespaces"; exit 77; }
command -v ip >/dev/null || { echo "SKIPPED: no iproute2"; exit 77; }
beds="$DDPC_SOURCE_DIR/tests/testbeds"
export DDPC_NETNS_RUN="$T_DIR/netns"
trap 'bash "$beds/netns_hosts.sh" down >/dev/null 2>&1; rm -rf "$T_DIR"' EXIT
bash "$beds/netns_hosts.sh" up 3 || { echo "SKIPPED: cannot create network namespaces here"; exit 77; }
read -r -a net_args <<<"$(tr '\n' ' ' <"$DDPC_NETNS_RUN/mpirun.args")"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
common=(--set train.epochs=3 --set train.batch_size=8 --quiet)

timeout -k 5 120 mpirun "${net_args[@]}" -np 3 --map-by node -x DDPC_CACHE_DIR -x OPENBLAS_NUM_THREADS \
  "$DDPC" train "$cfg" --run-dir "$T_DIR/hosts3" "${common[@]}" >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
t_check "3 hosts: training exits 0 (rc $rc: $(tail -n 3 "$T_DIR/err"))" test "$rc" -eq 0
t_check "3 hosts: the mpi path" test "$(t_json "$T_DIR/hosts3/summary.json" comm_method)" = mpi
t_check "3 hosts: meta.json names h1 h2 h3" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert sorted(m["hosts"]) == ["h1", "h2", "h3"] and m["nodes"] == 3, m
' "$T_DIR/hosts3/meta.json"
t_mpirun 120 3 train "$cfg" --run-dir "$T_DIR/local3" "${common[@]}" --set comm.intra_node=mpi
t_check "3 local ranks exit 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "3 hosts give the params_crc32 of 3 ranks on one host" \
  test "$(t_json "$T_DIR/hosts3/summary.json" params_crc32)" = "$(t_json "$T_DIR/local3/summary.json" params_crc32)"
t_finish
