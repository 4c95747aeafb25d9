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

# Faults across the hosts, each run bounded by a timeout. `ddpc launch --max-restarts 2`
# recovers and ends with the undisturbed run's params_crc32; without restarts the job ends
# within comm.timeout_seconds plus a few seconds.
# ddpc launch gets the hostfile itself (so it adds its multi-host Open MPI settings where
# the test bed's own do not already set them) and the rest as --mpirun-arg.
launch_args=(--hostfile "$DDPC_NETNS_RUN/hostfile")
for ((k = 0; k < ${#net_args[@]}; k++)); do
  if [ "${net_args[k]}" = --hostfile ]; then k=$((k + 1)); continue; fi
  launch_args+=(--mpirun-arg "${net_args[k]}")
done
launch_args+=(--mpirun-arg --map-by --mpirun-arg node --mpirun-arg -x --mpirun-arg DDPC_CACHE_DIR)
# 400 epochs (about 7000 steps, several seconds): a fault injected after the first
# checkpoint (step 20) must land in the middle of training; at 40 epochs the job could end
# before the fault took hold, or during its shutdown, which no watchdog guards.
fault_common=(--set train.epochs=400 --set train.batch_size=8 --set checkpoint.every_steps=20 --set comm.timeout_seconds=4 --quiet)
# Every attempt's start is bounded too (the launcher's default, 600 s, suits clusters, not
# a test): an attempt whose daemons never call back is ended and restarted.
launch_args+=(--startup-timeout 60)
export DDPC_LAUNCH_BACKOFF_SECONDS=1
timeout -k 5 300 mpirun "${net_args[@]}" -np 3 --map-by node -x DDPC_CACHE_DIR \
  "$DDPC" train "$cfg" --run-dir "$T_DIR/calm" "${fault_common[@]}" >/dev/null 2>"$T_DIR/calm.err"
rc=$?
calm=$(t_json "$T_DIR/calm/summary.json" params_crc32 2>/dev/null)
t_check "undisturbed run over hosts exits 0 with a params_crc32 (rc $rc: $(tail -n 2 "$T_DIR/calm.err"))" \
  test "$rc" -eq 0 -a -n "$calm"

# wait_for_checkpoint DIR: until a first checkpoint exists (at most 60 s).
wait_for_checkpoint() {
  for _ in $(seq 1 600); do
    ls "$1"/checkpoints/ckpt-*.ddpc >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
# in_training DIR PID: the job has written a checkpoint, is running and has not finished.
in_training() { wait_for_checkpoint "$1" && kill -0 "$2" 2>/dev/null && [ ! -e "$1/summary.json" ]; }

# (a) kill -9 of the rank on h2.
timeout -k 5 300 "$DDPC" launch -n 3 --max-restarts 2 "${launch_args[@]}" "$cfg" --run-dir "$T_DIR/kill" \
  "${fault_common[@]}" >"$T_DIR/kill.out" 2>&1 &
pid=$!
t_check "kill -9 over hosts: the job is training when the fault comes" in_training "$T_DIR/kill" "$pid"
victim=$(ip netns pids ddpc-h2 | while read -r p; do [ "$(cat /proc/"$p"/comm 2>/dev/null)" = ddpc ] && echo "$p"; done | head -n 1)
[ -n "$victim" ] && kill -9 "$victim"
wait "$pid"
rc=$?
t_check "kill -9 over hosts: launch recovers (rc $rc, victim ${victim:-none})" test "$rc" -eq 0 -a -n "$victim"
t_check "kill -9 over hosts: same params_crc32 as the undisturbed run" \
  test "$(t_json "$T_DIR/kill/summary.json" params_crc32 2>/dev/null)" = "$calm"
t_check "kill -9 over hosts: mpirun got each Open MPI setting once, the test bed's own values winning" python3 -c '
import json, sys
argv = json.loads(open(sys.argv[1]).readline())["argv"]
joined = " ".join(argv)
assert "--hostfile" in argv and "--mca routed direct" in joined, joined
assert joined.count("oob_tcp_keepalive_time") == 1 and "oob_tcp_keepalive_time 5" in joined, joined
assert joined.count("orte_startup_timeout") == 1 and "orte_startup_timeout 30" in joined, joined
' "$T_DIR/kill/attempts.jsonl"

# (b) a partition between h1 and h2 while their daemons still reach mpirun: without
# restarts the watchdog ends the job within comm.timeout_seconds (4) plus a few seconds.
timeout -k 5 120 "$DDPC" launch -n 3 --max-restarts 0 "${launch_args[@]}" "$cfg" --run-dir "$T_DIR/part" \
  "${fault_common[@]}" >"$T_DIR/part.out" 2>&1 &
pid=$!
t_check "partition, no restarts: the job is training when the fault comes" in_training "$T_DIR/part" "$pid"
start=$(date +%s)
bash "$beds/netns_hosts.sh" partition h1 h2 on
wait "$pid"
rc=$?
elapsed=$(($(date +%s) - start))
bash "$beds/netns_hosts.sh" partition h1 h2 off
t_check "partition, no restarts: non-zero exit, not the test's timeout (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
t_check "partition, no restarts: ended in ${elapsed}s (< 4 + 20)" test "$elapsed" -lt 24
t_check "partition: the watchdog says what stalled" grep -q "collective watchdog" "$T_DIR/part.out"

# (b2) the loss of h3's link without restarts: ends in bounded time with a message.
timeout -k 5 120 "$DDPC" launch -n 3 --max-restarts 0 "${launch_args[@]}" "$cfg" --run-dir "$T_DIR/linkdown" \
  "${fault_common[@]}" >"$T_DIR/linkdown.out" 2>&1 &
pid=$!
t_check "link lost, no restarts: the job is training when the fault comes" in_training "$T_DIR/linkdown" "$pid"
start=$(date +%s)
bash "$beds/netns_hosts.sh" link h3 down
wait "$pid"
rc=$?
elapsed=$(($(date +%s) - start))
bash "$beds/netns_hosts.sh" link h3 up
t_check "link lost, no restarts: non-zero exit, not the test's timeout (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
t_check "link lost, no restarts: ended in ${elapsed}s (< 4 + 20)" test "$elapsed" -lt 24
t_check "link lost: a message says why ($(tail -n 1 "$T_DIR/linkdown.out"))" grep -Eq "collective watchdog|giving up" "$T_DIR/linkdown.out"

# (c), (d): a partition, then the loss of h3's link, each healed as soon as a watchdog has
# reported the stall. The launcher is held (SIGSTOP) from that report until the network is
# whole again, so its restart starts on a healed network on any machine under any load:
# otherwise the heal (which ends the processes stranded on h3, up to 10 s) races the new
# attempt's start-up. `ddpc launch --max-restarts 2` resumes and ends bitwise equal to the
# calm run. A restart that does meet a network still healing is the start-up deadline's
# case (tests/cli/launch.sh).
# wait_for_text FILE TEXT: until FILE holds TEXT (at most 90 s).
wait_for_text() {
  for _ in $(seq 1 900); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
for fault in partition link; do
  dir="$T_DIR/heal-$fault"
  timeout -k 5 300 "$DDPC" launch -n 3 --max-restarts 2 "${launch_args[@]}" "$cfg" --run-dir "$dir" \
    "${fault_common[@]}" >"$dir.out" 2>&1 &
  pid=$!
  t_check "$fault healed: the job is training when the fault comes" in_training "$dir" "$pid"
  if [ "$fault" = partition ]; then bash "$beds/netns_hosts.sh" partition h1 h2 on; else bash "$beds/netns_hosts.sh" link h3 down; fi
  wait_for_text "$dir.out" "collective watchdog"
  kill -STOP "$pid"
  if [ "$fault" = partition ]; then bash "$beds/netns_hosts.sh" partition h1 h2 off; else bash "$beds/netns_hosts.sh" link h3 up; fi
  kill -CONT "$pid"
  wait "$pid"
  rc=$?
  t_check "$fault healed: launch recovers (rc $rc; $(tail -n 12 "$dir.out" | tr '\n' ' '))" test "$rc" -eq 0
  t_check "$fault healed: the fault cost an attempt ($(wc -l <"$dir/attempts.jsonl") in attempts.jsonl)" \
    test "$(wc -l <"$dir/attempts.jsonl")" -ge 2
  t_check "$fault healed: same params_crc32 as the undisturbed run" \
    test "$(t_json "$dir/summary.json" params_crc32 2>/dev/null)" = "$calm"
done
t_finish
