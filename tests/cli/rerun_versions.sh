#!/usr/bin/env bash
# Re-running a config (issue 14, item 3): a fresh run (no --run-dir, no --resume) whose
# output.dir holds an earlier run goes to the first free OUTPUT_DIR-2, -3, ... and says so;
# --run-dir still refuses a directory with another run's checkpoints; --resume auto still
# continues output.dir itself; ddpc launch keeps its directory; on 2 ranks rank 0's
# choice is the one the run uses.
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
common=(--set train.epochs=2)
cd "$T_DIR" || exit 1
dir=runs/cultivars_csv

# The first run is stopped mid-way (preempted: checkpointed, not finished).
DDPC_FAIL_AT="0:30:term" t_run train "$cfg" "${common[@]}" --quiet
t_check "first run preempted (rc $T_RC: $T_ERR)" test "$T_RC" -eq 5
t_check "first run in output.dir" test -e "$dir/summary.json"

t_run train "$cfg" "${common[@]}"
t_check "second fresh run exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "second fresh run says where it went ($T_OUT)" \
  grep -qx "run directory: $dir-2 ($dir holds an earlier run; a fresh run takes the next free version)" <<<"$T_OUT"
t_check "second fresh run wrote $dir-2" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "done" and s["epochs_completed"] == 2 and not s["resumed"], s
' "$dir-2/summary.json"
t_check "second fresh run ends naming its summary" grep -q "$dir-2/summary.json" <<<"$T_OUT"
t_check "the first run was left as it was (preempted)" test "$(t_json "$dir/summary.json" state)" = preempted

t_run train "$cfg" "${common[@]}" --quiet
t_check "third fresh run exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "third fresh run wrote $dir-3" test "$(t_json "$dir-3/summary.json" state)" = done

# An explicit --run-dir keeps today's rule.
t_run train "$cfg" "${common[@]}" --run-dir "$dir" --quiet
t_expect_error "--run-dir into a directory with checkpoints is still refused" "$dir already holds checkpoints" \
  "--resume auto"
t_check "--run-dir made no new version" test ! -e "$dir-4"

# --resume auto without --run-dir continues output.dir itself: the first run.
t_run train "$cfg" "${common[@]}" --resume auto
t_check "--resume auto exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "--resume auto continued the first run ($T_OUT)" grep -q "^resume: $dir/checkpoints/ckpt-" <<<"$T_OUT"
t_check "the first run is now done" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "done" and s["resumed"] and s["epochs_completed"] == 2, s
' "$dir/summary.json"
t_check "--resume auto made no new version" test ! -e "$dir-4"

# A trailing slash versions the folder, not a folder inside it.
t_run train "$cfg" "${common[@]}" --set output.dir=runs/slash/ --quiet
t_run train "$cfg" "${common[@]}" --set output.dir=runs/slash/ --quiet
t_check "runs/slash/ versions as runs/slash-2 (rc $T_RC: $T_ERR)" test -e runs/slash-2/summary.json

# 2 ranks: rank 0 picks the version and every rank follows it.
if command -v mpirun >/dev/null; then
  t_mpirun 120 2 train "$cfg" "${common[@]}"
  t_check "2 ranks: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
  t_check "2 ranks: said once where the run went" test "$(grep -c "^run directory: $dir-4 " <<<"$T_OUT")" -eq 1
  t_check "2 ranks: the run is in $dir-4" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "done" and s["world_size"] == 2, s
' "$dir-4/summary.json"
  # ddpc launch names its directory (output.dir, --resume auto): a finished run stays
  # finished there, no new version.
  t_run launch -n 1 "$cfg" "${common[@]}" --quiet
  t_check "ddpc launch exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
  t_check "ddpc launch kept output.dir (no $dir-5)" test ! -e "$dir-5"
else
  t_skip "no mpirun: the 2-rank and ddpc launch checks"
fi
t_finish
