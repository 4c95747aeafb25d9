#!/usr/bin/env bash
# The C API example registers its own hook and its own stop condition: the hook sees every
# step, epoch, transition and checkpoint, and the custom condition ends the run in `done`
# with its reason.
source "$(dirname "$0")/lib/common.bash"
: "${DDPC_BUILD_DIR:?}"
example="$DDPC_BUILD_DIR/examples/hooks_and_stop"
out=$("$example" "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" 0.3 "output.dir=$T_DIR/run" train.epochs=30 2>&1)
rc=$?
echo "$out" | tail -n 3
t_check "example exits 0 (rc $rc)" test "$rc" -eq 0
t_check "the custom stop ended the run early" grep -Eq "^state done after ([1-9]|[12][0-9]) epochs" <<<"$out"
t_check "its reason reached the transition hook" grep -q "custom: training loss below the threshold" <<<"$out"
t_check "and events.jsonl" grep -q "custom: training loss below the threshold" "$T_DIR/run/events.jsonl"
t_check "the step hook saw every step" python3 -c '
import json, re, sys
out, summary = sys.argv[1], json.load(open(sys.argv[2]))
seen = int(re.search(r"(\d+) steps seen by the hook", out).group(1))
assert seen == summary["steps"] and seen > 0, (seen, summary["steps"])
' "$out" "$T_DIR/run/summary.json"
t_check "the epoch hook saw every epoch with its metrics" python3 -c '
import json, re, sys
out = sys.argv[1]
epochs = [json.loads(l) for l in open(sys.argv[2])]
seen = [(int(e), float(v)) for e, v in re.findall(r"^epoch (\d+) val_loss ([0-9.]+)$", out, re.M)]
assert [e for e, _ in seen] == [m["epoch"] for m in epochs], seen
assert all(abs(v - m["val_loss"]) < 1e-6 for (_, v), m in zip(seen, epochs)), seen
assert re.search(r", %d epochs," % len(epochs), out), out
' "$out" "$T_DIR/run/metrics.jsonl"
t_check "the checkpoint hook saw each file written, which exists" python3 -c '
import os, re, sys
paths = re.findall(r"^checkpoint (\S+)$", sys.argv[1], re.M)
assert paths and all(p.startswith(sys.argv[2] + "/checkpoints/") for p in paths), paths
assert os.path.exists(paths[-1]) and any(p.endswith("best.ddpc") for p in paths), paths
assert re.search(r", %d checkpoints," % len(paths), sys.argv[1]), sys.argv[1]
' "$out" "$T_DIR/run"
t_finish
