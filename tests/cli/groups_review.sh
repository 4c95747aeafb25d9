#!/usr/bin/env bash
# One model per group at a review gate: every group stops at it (exit code 4, a review.json
# each, summary.json await_review); `ddpc resume RUN_DIR --approve` hands the answer to
# every group, which trains on to the weights of a run without the gate, also after the
# run directory moved; `--reject` ends them rejected, counted apart from the done ones and
# outside the means, and a grouped predict leaves their rows out (predict or export of a
# rejected group's own directory notes the rejection).
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/groups.bash"
cd "$T_DIR" || exit 1

g_reference_run

for answer in approve reject; do
  t_run train g.yaml --run-dir "$answer" --quiet --set review.after_epochs=3
  t_check "$answer: the gate ends the run with exit code 4 (got $T_RC; stderr: $T_ERR)" test "$T_RC" -eq 4
done
t_check "every group waits at the gate, with its question" python3 - approve <<'PY'
import json, os, sys
run = sys.argv[1]
s = json.load(open(f"{run}/summary.json"))
assert s["state"] == "await_review", s["state"]
assert (s["groups_await_review"], s["groups_failed"], s["groups_skipped"], s["groups_done"]) == (13, 1, 1, 0), s
for g in s["groups"]:
    if g["state"] == "await_review":
        assert g["epochs"] == 3, g
        q = json.load(open(f"{run}/groups/{g['dir']}/review.json"))
        assert "question" in q and q["epoch"] == 3, q
PY

# The directory moves while it waits (its groups' rows move with it): the resume goes on.
mv approve approved
t_run resume approved --approve --quiet
t_check "approve: the groups train on (exit $T_RC, 7 for boom; stderr: $T_ERR)" test "$T_RC" -eq 7
g_table approved >approve.txt
t_check "approve: per-group results bitwise those of the run without a gate" diff ref.txt approve.txt
t_check "approve: each group's events hold the answer" \
  grep -q '"event":"review","answer":"approve"' approved/groups/g05/events.jsonl

t_run resume reject --reject --quiet
t_check "reject: exit $T_RC (7 for boom; stderr: $T_ERR)" test "$T_RC" -eq 7
t_check "reject: the groups are rejected, counted apart, outside the means" python3 - reject <<'PY'
import json, sys
s = json.load(open(f"{sys.argv[1]}/summary.json"))
assert (s["groups_rejected"], s["groups_done"], s["groups_failed"]) == (13, 0, 1), s
assert s["mean_test_rmse"] is None and s["rows_weighted_test_rmse"] is None, s
rows = {g["value"]: g for g in s["groups"]}
assert rows["g05"]["state"] == "rejected" and rows["g05"]["reason"] == "rejected by the reviewer", rows["g05"]
PY
t_run resume reject --quiet
t_check "reject: a second resume keeps them rejected (exit $T_RC)" test "$T_RC" -eq 7 \
  -a "$(t_json reject/groups/g05/summary.json state)" = rejected

{ head -1 data.csv; grep ',g05,' data.csv | head -5; } >pin.csv
g_rows_of pin.csv g05 g05.csv
t_run predict reject --data pin.csv --out pout.csv
t_expect_error "predict with only a rejected group's rows" \
  "pin.csv: no row of pin.csv belongs to a group with a model to predict with in reject (the first, 'g05': its model was rejected at review)"
t_check "predict: no output file" test ! -e pout.csv
# Named by its own directory, a rejected group's model is used as asked, with a note.
t_run predict reject/groups/g05 --data g05.csv --out g05.out
t_check "predict on the rejected group itself: exit 0 (stderr: $T_ERR)" test "$T_RC" -eq 0 -a -s g05.out
t_check "... noting the rejection" grep -qx \
  "predict: note: reject/groups/g05 was rejected at review (summary.json); its model is used as asked" <<<"$T_ERR"
t_run export reject/groups/g05 --out g05.safetensors
t_check "export of it: exit 0, with the note (stderr: $T_ERR)" test "$T_RC" -eq 0 -a -s g05.safetensors -a \
  "$T_ERR" = "export: note: reject/groups/g05 was rejected at review (summary.json); its model is used as asked"
t_run predict approved/groups/g05 --data g05.csv --out g05.out
t_check "an approved group's predict has no note" test "$T_RC" -eq 0 -a "$(grep -c note: <<<"$T_ERR")" = 0
t_finish
