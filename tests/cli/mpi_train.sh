#!/usr/bin/env bash
# Data-parallel training at 1, 2, 3 and 4 ranks: runs complete, replicas are identical at
# the end of every epoch (ddpc checks that itself and records the checksum), reruns give
# the same params_crc32, only rank 0 writes, and the metrics carry the comm figures.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"

for n in 1 2 3 4; do
  for attempt in a b; do
    t_mpirun 120 "$n" train "$cfg" --run-dir "$T_DIR/run$n$attempt" --set train.epochs=4 --set train.batch_size=8
    t_check "$n ranks ($attempt) exit 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
  done
  run="$T_DIR/run${n}a"
  t_check "$n ranks: world_size recorded" test "$(t_json "$run/summary.json" world_size)" = "$n"
  t_check "$n ranks: same config twice, same params_crc32" \
    test "$(t_json "$run/summary.json" params_crc32)" = "$(t_json "$T_DIR/run${n}b/summary.json" params_crc32)"
  t_check "$n ranks: every epoch has params_crc32, comm_seconds, comm_hidden_fraction" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 4, lines
for m in lines:
    assert isinstance(m["params_crc32"], int) and "comm_seconds" in m and "comm_hidden_fraction" in m, m
    assert (m["comm_seconds"] > 0) == (int(sys.argv[2]) > 1), m
' "$run/metrics.jsonl" "$n"
  t_check "$n ranks: the last epoch's checksum is the final one" \
    test "$(tail -n 1 "$run/metrics.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["params_crc32"])')" \
    = "$(t_json "$run/summary.json" params_crc32)"
done
t_check "only rank 0 prints: one 'data:' line at 4 ranks" test "$(grep -c '^data:' <<<"$T_OUT")" -eq 1

# Both gradient paths (shared memory and bucketed MPI all-reduce) give replicas in lockstep
# and agree with each other to rounding.
t_mpirun 120 2 train "$cfg" --run-dir "$T_DIR/mpi2" --set train.epochs=4 --set train.batch_size=8 \
  --set comm.intra_node=mpi --set comm.bucket_mb=0.0005
t_check "bucketed MPI path exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "bucketed MPI path recorded" test "$(t_json "$T_DIR/mpi2/summary.json" comm_method)" = mpi
t_check "shm path recorded" test "$(t_json "$T_DIR/run2a/summary.json" comm_method)" = shm
t_check "both paths reach the same test loss to 1e-4" python3 -c '
import json, sys
a, b = (json.load(open(p))["test_loss"] for p in sys.argv[1:3])
assert abs(a - b) <= 1e-4 * abs(a), (a, b)
' "$T_DIR/run2a/summary.json" "$T_DIR/mpi2/summary.json"

# Evaluation is sharded so every sample counts once: the same weights (epochs 0: the
# initial ones) give exactly the same test accuracy at 1 and 2 ranks.
t_mpirun 60 1 train "$cfg" --run-dir "$T_DIR/eval1" --set train.epochs=0
t_mpirun 60 2 train "$cfg" --run-dir "$T_DIR/eval2" --set train.epochs=0
t_check "2-rank evaluation accuracy equals 1-rank exactly" \
  test "$(t_json "$T_DIR/eval1/summary.json" test_accuracy)" = "$(t_json "$T_DIR/eval2/summary.json" test_accuracy)"
t_check "and the loss to rounding" python3 -c '
import json, sys
a, b = (json.load(open(p))["test_loss"] for p in sys.argv[1:3])
assert abs(a - b) <= 1e-12 * abs(a), (a, b)
' "$T_DIR/eval1/summary.json" "$T_DIR/eval2/summary.json"
t_finish
