#!/usr/bin/env bash
# SIGTERM mid-epoch: checkpoint, state `preempted`, exit code 5, and `--resume auto`
# finishes bitwise equal to an uninterrupted run. Review gates: the run stops at the gate
# (exit code 4, review.json), --approve continues to the same final weights as a run
# without a gate, --reject ends it in `rejected`; answers are recorded in events.jsonl.
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
common=(--set train.epochs=4 --set train.batch_size=8 --quiet)

t_run train "$cfg" --run-dir "$T_DIR/ref" "${common[@]}"
ref=$(t_json "$T_DIR/ref/summary.json" params_crc32)
t_check "meta.json describes the run" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
for k in ("run_id", "started_at", "ended_at", "hosts", "peak_rss_mb_per_rank", "world_size", "ddpc_version",
          "build", "config_hash", "data_files", "test"):
    assert k in m, k
assert m["world_size"] == 1 and len(m["hosts"]) == 1 and m["data_files"]["train"]["bytes"] > 0, m
assert len(m["data_files"]["train"]["xxh64"]) == 16 and m["test"]["accuracy"] > 0.5, m
' "$T_DIR/ref/meta.json"
t_check "best.ddpc is kept" test -s "$T_DIR/ref/checkpoints/best.ddpc"
t_check "keep_last 2: two step checkpoints" test "$(ls "$T_DIR"/ref/checkpoints/ckpt-*.ddpc | wc -l)" -eq 2

# The process sends itself SIGTERM at step 75 (epoch 2, mid-epoch), through the real handler.
DDPC_FAIL_AT="0:75:term" t_run train "$cfg" --run-dir "$T_DIR/pre" "${common[@]}"
t_check "SIGTERM: exit code 5 (rc $T_RC, $T_ERR)" test "$T_RC" -eq 5
t_check "SIGTERM: state preempted" test "$(t_json "$T_DIR/pre/summary.json" state)" = preempted
t_check "SIGTERM: stopped mid-epoch within 8 steps" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert 76 <= s["steps"] <= 83 and s["epochs_completed"] == 1, s
' "$T_DIR/pre/summary.json"
t_run train "$cfg" --run-dir "$T_DIR/pre" --resume auto "${common[@]}"
t_check "SIGTERM: resume exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "SIGTERM: resumed run is bitwise equal" test "$(t_json "$T_DIR/pre/summary.json" params_crc32)" = "$ref"

# SIGUSR1 on one rank of two (as Slurm sends before the time limit): every rank stops.
if command -v mpirun >/dev/null; then
  t_mpirun 120 2 train "$cfg" --run-dir "$T_DIR/ref2" "${common[@]}"
  DDPC_FAIL_AT="1:40:usr1" t_mpirun 120 2 train "$cfg" --run-dir "$T_DIR/usr1" "${common[@]}"
  t_check "SIGUSR1 on rank 1: exit code 5 (rc $T_RC, $T_ERR)" test "$T_RC" -eq 5
  t_check "SIGUSR1: state preempted" test "$(t_json "$T_DIR/usr1/summary.json" state)" = preempted
  t_mpirun 120 2 train "$cfg" --run-dir "$T_DIR/usr1" --resume auto "${common[@]}"
  t_check "SIGUSR1: resume exits 0 ($T_ERR)" test "$T_RC" -eq 0
  t_check "SIGUSR1: resumed 2-rank run is bitwise equal" \
    test "$(t_json "$T_DIR/usr1/summary.json" params_crc32)" = "$(t_json "$T_DIR/ref2/summary.json" params_crc32)"
fi

# Review gate after every 2 epochs: stops after epoch 2.
t_run train "$cfg" --run-dir "$T_DIR/gate" "${common[@]}" --set review.after_epochs=2
t_check "gate: exit code 4 (rc $T_RC, $T_ERR)" test "$T_RC" -eq 4
t_check "gate: state await_review after 2 epochs" test "$(t_json "$T_DIR/gate/summary.json" state)/$(t_json "$T_DIR/gate/summary.json" epochs_completed)" = await_review/2
t_check "gate: review.json asks and carries the metrics" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["epoch"] == 2 and len(r["metrics"]) == 2 and "--approve" in r["approve"], r
' "$T_DIR/gate/review.json"
t_run resume "$T_DIR/gate" --quiet
t_check "gate: resume without an answer is refused" test "$T_RC" -eq 1
t_check "gate: and says how to answer" grep -q -- "--approve" <<<"$T_ERR"
cp -r "$T_DIR/gate" "$T_DIR/gate_reject"
t_run resume "$T_DIR/gate" --approve --quiet
t_check "gate: --approve finishes (rc $T_RC, $T_ERR)" test "$T_RC" -eq 0
t_check "gate: approved run equals the run without a gate" test "$(t_json "$T_DIR/gate/summary.json" params_crc32)" = "$ref"
t_check "gate: the answer is in events.jsonl" grep -q '"event":"review","answer":"approve"' "$T_DIR/gate/events.jsonl"
t_run resume "$T_DIR/gate_reject" --reject --quiet
t_check "gate: --reject exits 0 (rc $T_RC, $T_ERR)" test "$T_RC" -eq 0
t_check "gate: state rejected" test "$(t_json "$T_DIR/gate_reject/summary.json" state)" = rejected
t_check "gate: rejection recorded" grep -q '"answer":"reject"' "$T_DIR/gate_reject/events.jsonl"
t_check "gate: every event has its fields; the answers are transitions of the table" python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
for e in events:
    if e.get("event") == "review":
        assert e["answer"] in ("approve", "reject") and e["by"] and e["time"] and e["epoch"] == 2, e
    else:
        assert set(e) == {"time", "from", "to", "reason", "epoch", "step"}, e
moves = [(e["from"], e["to"], e["reason"]) for e in events if "from" in e]
assert ("decide", "await_review", "review after 2 epochs") in moves, moves
assert ("await_review", sys.argv[2], sys.argv[3]) in moves, moves
' "$T_DIR/gate/events.jsonl" decide "approved by the reviewer"
t_check "gate: the rejection is a transition too" \
  grep -q '"from":"await_review","to":"rejected","reason":"rejected by the reviewer"' "$T_DIR/gate_reject/events.jsonl"
t_run resume "$T_DIR/gate_reject" --approve --quiet
t_check "gate: a rejected run stays rejected (rc $T_RC)" test "$T_RC/$(t_json "$T_DIR/gate_reject/summary.json" state)" = 0/rejected

# review.when: a gate on a metric's value (val_accuracy above 0.5 is reached in epoch 1).
t_run train "$cfg" --run-dir "$T_DIR/when" "${common[@]}" --set 'review.when={monitor: val_accuracy, above: 0.5}'
t_check "review.when: exit code 4 (rc $T_RC, $T_ERR)" test "$T_RC" -eq 4
t_check "review.when: the question names the monitor and the bound" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert "val_accuracy" in r["question"] and "above 0.5" in r["question"] and r["epoch"] == 1, r
' "$T_DIR/when/review.json"
t_run resume "$T_DIR/when" --approve --quiet
t_check "review.when: asked again after the next epoch (rc $T_RC)" test "$T_RC" -eq 4
t_check "review.when: the second question is about epoch 2" test "$(t_json "$T_DIR/when/review.json" epoch)" = 2

# Resuming with another data config is refused with the key named, like another model.
t_run train "$cfg" --run-dir "$T_DIR/ref" --resume auto "${common[@]}" --set data.val_fraction=0.2
t_expect_error "resume with another data split" "the config differs from the checkpoint's in data.val_fraction"
t_finish
