#!/usr/bin/env bash
# One model per group spread over 1, 2 and 3 ranks (mpirun): the groups go largest first to
# the least loaded rank, and every group's model is bitwise the same whichever rank trains
# it and however many ranks there are; a preemption of every rank checkpoints each rank's
# group in flight, and the run resumed on another number of ranks ends bitwise the same.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/groups.bash"
t_need_mpirun
cd "$T_DIR" || exit 1

g_write_data data.csv
g_write_config g.yaml data.csv
t_run train g.yaml --run-dir r1 --quiet
t_check "1 rank: exit code 7 (boom diverges; stderr: $T_ERR)" test "$T_RC" -eq 7
g_table r1 >r1.txt
for n in 2 3; do
  t_mpirun 300 "$n" train g.yaml --run-dir "r$n" --quiet
  t_check "$n ranks: exit code 7 (stderr: $T_ERR)" test "$T_RC" -eq 7
  t_check "$n ranks: rank 0 says that 7 is the run's outcome before mpirun's report" grep -q \
    "^ddpc: exit code 7 is the run's outcome (state groups_failed, in summary.json), not a crash" "$T_DIR/err"
  g_table "r$n" >"r$n.txt"
  t_check "$n ranks: per-group results bitwise those of 1 rank" diff r1.txt "r$n.txt"
  t_check "$n ranks: largest groups first to the least loaded rank; every rank reported" python3 - "r$n" "$n" <<'PY'
import json, sys
run, n = sys.argv[1], int(sys.argv[2])
groups = [g for g in json.load(open(run + "/groups.json"))["groups"] if "skipped" not in g]
load = [0] * n
for g in sorted(groups, key=lambda g: (-g["rows"], g["value"])):
    best = min(range(n), key=lambda r: (load[r], r))
    assert g["rank"] == best, (g, load)
    load[best] += g["rows"]
s = json.load(open(run + "/summary.json"))
assert s["world_size"] == n and [r["rank"] for r in s["ranks"]] == list(range(n)), s["ranks"]
assert sum(r["groups"] for r in s["ranks"]) == len(groups), s["ranks"]
assert all(r["busy_seconds"] > 0 and 0 <= r["idle_fraction"] < 1 for r in s["ranks"]), s["ranks"]
rows = {g["value"]: g for g in s["groups"]}
assert all(rows[g["value"]]["rank"] == g["rank"] for g in groups)
PY
done

# Preemption on every rank (each process signals itself with SIGUSR1 at step 20 of the first
# group it trains, as a scheduler signals every task): each rank's group in flight
# checkpoints, no other group starts, exit 5; --resume auto on 3 ranks ends it bitwise.
DDPC_FAIL_AT=0:20:usr1 t_mpirun 300 2 train g.yaml --run-dir pre --quiet
t_check "preempted on 2 ranks: exit code 5 (got $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 5
t_check "each rank's group in flight checkpointed, the others not started" python3 - pre <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
rows = {g["value"]: g for g in s["groups"]}
flight = [v for v, g in rows.items() if g["state"] == "preempted" and "not started" not in g["reason"]]
assert s["state"] == "preempted" and sorted(flight) == ["g10", "g11"], (s["state"], flight)
assert sorted(rows[v]["rank"] for v in flight) == [0, 1], [rows[v] for v in flight]
for v in flight:
    assert os.listdir(f"{sys.argv[1]}/groups/{v}/checkpoints"), v
rest = [g for v, g in rows.items() if v not in flight and g["state"] != "skipped"]
assert rest and all(g["state"] == "preempted" and "not started" in g["reason"] for g in rest), rest
PY
t_mpirun 300 3 train g.yaml --run-dir pre --resume auto --quiet
t_check "resumed on 3 ranks: exit code 7 (stderr: $T_ERR)" test "$T_RC" -eq 7
g_table pre >pre.txt
t_check "preempted on 2 ranks, resumed on 3: per-group results bitwise those of 1 rank" diff r1.txt pre.txt
t_finish
