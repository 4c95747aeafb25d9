#!/usr/bin/env bash
# The collective watchdog: a rank that stops taking part (DDPC_FAIL_AT=...:hang, as behind a
# cut network link) must not hang the job. Within comm.timeout_seconds plus a few seconds
# the rank still waiting says, in one line, which operation made no progress, at which step
# and on which rank, and the job ends non-zero. Both gradient paths: the shared-memory wait
# and the MPI bucket all-reduce.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cd "$T_DIR" || exit 1
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
host=$(hostname)

for path in shm mpi; do
  case $path in
    shm) op="shared-memory gradient exchange (waiting for rank 1)" ;;
    mpi) op="allreduce (gradient bucket 1 of 1)" ;;
  esac
  start=$(date +%s.%N)
  DDPC_FAIL_AT=1:40:hang timeout -k 5 60 mpirun --oversubscribe -x DDPC_FAIL_AT -n 2 "$DDPC" train "$cfg" \
    --run-dir "run-$path" --quiet --set train.epochs=4 --set train.batch_size=8 \
    --set comm.timeout_seconds=3 --set comm.intra_node="$path" >out 2>err
  rc=$?
  elapsed=$(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$start" "$(date +%s.%N)")
  t_check "$path: non-zero exit, not the test's timeout (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124 -a "$rc" -ne 137
  t_check "$path: ended in ${elapsed}s (timeout 3 s + at most 10)" t_cmp "$elapsed" '<' 13
  t_check "$path: waited the timeout first (${elapsed}s)" t_cmp "$elapsed" '>=' 3
  t_check "$path: one watchdog line ($(cat err))" test "$(grep -c "collective watchdog" err)" -eq 1
  want="ddpc: rank 0 (local rank 0 on host $host): collective watchdog: $op made no progress for 3."
  t_check "$path: the line names rank, local rank, host and operation ($(grep "watchdog" err))" grep -qF "$want" err
  t_check "$path: the line names the step and the limit" \
    grep -qF " s at step 40 (comm.timeout_seconds 3); aborting the job" err
  t_check "$path: the run was training when it stopped (no summary)" test ! -e "run-$path/summary.json"
done

# The limit is written to the resolved config of a normal run.
t_mpirun 60 2 train "$cfg" --run-dir ok --quiet --set train.epochs=2 --set train.batch_size=8 --set comm.timeout_seconds=7.5
t_check "a healthy run with the watchdog on finishes (rc $T_RC, $T_ERR)" test "$T_RC" -eq 0
t_check "resolved config has comm.timeout_seconds" grep -q "^  timeout_seconds: 7.5$" ok/config.yaml
t_finish
