#!/usr/bin/env bash
# One model per group, interrupted: a kill -9 in the middle of the queue (a group half
# trained, some finished, some not started) and a SIGTERM (the group in flight checkpoints,
# the rest wait), each continued with --resume auto / ddpc resume, give bitwise the
# per-group results of an uninterrupted run; finished groups are left alone.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/groups.bash"
cd "$T_DIR" || exit 1

g_reference_run

# One rank trains the largest groups first: g11 .. g06 are done when g05 (7th) is killed at
# its step 40 of 72 (DDPC_FAIL_GROUP keeps DDPC_FAIL_AT to that group).
DDPC_FAIL_GROUP=g05 DDPC_FAIL_AT=0:40:kill t_run train g.yaml --run-dir k --quiet
t_check "killed by SIGKILL (exit $T_RC)" test "$T_RC" -eq 137
t_check "g06 had finished before the kill" test "$(t_json k/groups/g06/summary.json state)" = done
t_check "g05 was killed with checkpoints and no summary" test -n "$(ls k/groups/g05/checkpoints)" -a \
  ! -e k/groups/g05/summary.json
t_check "g04 had not started" test ! -e k/groups/g04/checkpoints
finished_before=$(t_json k/groups/g08/summary.json finished_at)
sleep 1  # a group trained again would show a later finished_at
t_run train g.yaml --run-dir k --resume auto --quiet
t_check "resumed run ends like the uninterrupted one (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 7
g_table k >k.txt
t_check "per-group results bitwise the same after kill -9 and --resume auto" diff ref.txt k.txt
t_check "a finished group is left alone" test "$(t_json k/groups/g08/summary.json finished_at)" = "$finished_before"
t_check "the killed group continued from its checkpoint" test "$(t_json k/groups/g05/summary.json resumed)" = True

# SIGTERM in g05: it checkpoints and stops, the later groups do not start; exit code 5.
DDPC_FAIL_GROUP=g05 DDPC_FAIL_AT=0:40:term t_run train g.yaml --run-dir p --quiet
t_check "preempted: exit code 5 (got $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 5
t_check "summary.json says preempted, g05 preempted, g04 not started" python3 -c '
import json
s = json.load(open("p/summary.json"))
rows = {g["value"]: g for g in s["groups"]}
assert s["state"] == "preempted" and rows["g05"]["state"] == "preempted", s
assert rows["g04"]["state"] == "preempted" and "not started" in rows["g04"]["reason"], rows["g04"]
assert rows["g06"]["state"] == "done", rows["g06"]
'
t_run resume p --quiet
t_check "ddpc resume continues it (exit $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 7
g_table p >p.txt
t_check "per-group results bitwise the same after SIGTERM and ddpc resume" diff ref.txt p.txt
t_finish
