#!/usr/bin/env bash
# One run directory across several runs: a fresh run refuses a directory that holds an
# earlier run's checkpoints; resuming a finished run leaves its files as they were; a
# refused resume leaves config.yaml alone; `--resume auto` refuses when every checkpoint
# is damaged instead of starting over, offering an intact best.ddpc as the PATH to resume
# from (which works); best.ddpc holds the best epoch by
# checkpoint.monitor even when no checkpoint was due at that epoch; run_id and started_at
# survive a resume; a failure on rank 0 ends in state `failed` in events and summary; a
# second training in a directory another one holds is refused.
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
common=(--set train.epochs=3 --set train.batch_size=16 --quiet)
run="$T_DIR/run"
# listing DIR: names, sizes and contents of the checkpoints, to see they were not touched.
listing() { (cd "$1/checkpoints" && ls -l --time-style=+%s.%N && cat ./*.ddpc | cksum); }

t_run train "$cfg" --run-dir "$run" "${common[@]}"
t_check "first run exits 0 ($T_ERR)" test "$T_RC" -eq 0
cp "$run/summary.json" "$T_DIR/summary.first"
cp "$run/meta.json" "$T_DIR/meta.first"
cp "$run/config.yaml" "$T_DIR/config.first"
before=$(listing "$run")

t_run train "$cfg" --run-dir "$run" "${common[@]}"
t_expect_error "a fresh run into a directory with checkpoints is refused" "$run already holds checkpoints" \
  "--resume auto" "--run-dir"
t_check "the refused run left the checkpoints alone" test "$(listing "$run")" = "$before"

t_run train "$cfg" --run-dir "$run" --resume auto "${common[@]}"
t_check "resuming the finished run exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "resuming the finished run keeps summary.json as it was" cmp -s "$run/summary.json" "$T_DIR/summary.first"
t_check "resuming the finished run keeps meta.json as it was" cmp -s "$run/meta.json" "$T_DIR/meta.first"

t_run train "$cfg" --run-dir "$run" --resume auto "${common[@]}" --set model.0.units=16
t_expect_error "a resume with another model is refused" "the config differs from the checkpoint's in model[0]"
t_check "the refused resume left config.yaml as it was" cmp -s "$run/config.yaml" "$T_DIR/config.first"

# Every checkpoint of the rotation damaged: a clear refusal, not a silent fresh start.
for f in "$run"/checkpoints/ckpt-*.ddpc; do
  python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 1; open(sys.argv[1], "wb").write(b)' "$f"
done
t_run train "$cfg" --run-dir "$run" --resume auto "${common[@]}"
t_check "all checkpoints damaged: exit code 1 (rc $T_RC)" test "$T_RC" -eq 1
t_check "all checkpoints damaged: says none is valid ($T_ERR)" grep -q "none of its 2 checkpoint(s) is valid" <<<"$T_ERR"
t_check "all checkpoints damaged: each is named" test "$(grep -c "skipping $run/checkpoints/ckpt-" <<<"$T_ERR")" -eq 2
t_check "all checkpoints damaged: nothing was trained (summary unchanged)" cmp -s "$run/summary.json" "$T_DIR/summary.first"
t_check "all checkpoints damaged: the intact best.ddpc is offered as a --resume PATH" \
  grep -q "but $run/checkpoints/best.ddpc is intact: resume from it with --resume $run/checkpoints/best.ddpc" <<<"$T_ERR"
t_run train "$cfg" --run-dir "$run" --resume "$run/checkpoints/best.ddpc" "${common[@]}"
t_check "resuming from the offered best.ddpc works (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0

# best.ddpc by checkpoint.monitor (val_accuracy) while early stopping watches val_loss,
# with no checkpoint due before the end: it holds the epoch with the best val_accuracy.
best="$T_DIR/best"
t_run train "$cfg" --run-dir "$best" --quiet --set train.epochs=6 --set checkpoint.every_epochs=100 \
  --set checkpoint.monitor=val_accuracy --set 'stop.early_stopping={monitor: val_loss, patience: 50}'
t_check "best run exits 0 ($T_ERR)" test "$T_RC" -eq 0
"$DDPC" inspect "$best/checkpoints/best.ddpc" >"$T_DIR/best.txt" 2>&1
t_check "best.ddpc holds the parameters of the best val_accuracy epoch" python3 -c '
import json, re, sys
epochs = [json.loads(l) for l in open(sys.argv[1])]
top = max(e["val_accuracy"] for e in epochs)
want = next(e for e in epochs if e["val_accuracy"] == top)
text = open(sys.argv[2]).read()
crc = re.search(r"^\s+2\s+params\s+\d+\s+\d+\s+\w+\s+([0-9a-f]{8})", text, re.M).group(1)
epoch = int(re.search(r"^\s+epoch\s+(\d+)$", text, re.M).group(1))
assert epoch == want["epoch"] and int(crc, 16) == want["params_crc32"], (epoch, crc, want)
assert want["epoch"] != epochs[-1]["epoch"], "the crafted run should peak before its last epoch"
' "$best/metrics.jsonl" "$T_DIR/best.txt"
t_check "summary.json names the early-stopping monitor's best" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
epochs = [json.loads(l) for l in open(sys.argv[2])]
low = min(e["val_loss"] for e in epochs)
assert s["best_val_loss"] == low and s["best_epoch"] == next(e["epoch"] for e in epochs if e["val_loss"] == low), s
' "$best/summary.json" "$best/metrics.jsonl"

# run_id and started_at belong to the run: a preempted run resumed keeps them.
pre="$T_DIR/pre"
DDPC_FAIL_AT="0:30:term" t_run train "$cfg" --run-dir "$pre" "${common[@]}"
t_check "preempted run exits 5 (rc $T_RC)" test "$T_RC" -eq 5
cp "$pre/meta.json" "$T_DIR/meta.pre"
sleep 1
t_run train "$cfg" --run-dir "$pre" --resume auto "${common[@]}"
t_check "resumed run exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "run_id and started_at survive the resume" python3 -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["run_id"] == b["run_id"] and a["started_at"] == b["started_at"] and b["state"] == "done", (a, b)
assert b["build"]["build_type"] and "DDPC_CUDA=" in b["build"]["options"], b["build"]
' "$T_DIR/meta.pre" "$pre/meta.json"

# A failure on rank 0 during training: exit 6, and the run directory says `failed` and why.
fail="$T_DIR/fail"
DDPC_FAIL_AT="0:10:fail" t_run train "$cfg" --run-dir "$fail" "${common[@]}"
t_check "injected failure: exit code 6 (rc $T_RC)" test "$T_RC" -eq 6
t_check "injected failure: summary.json state failed with the reason" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "failed" and "failure injected by DDPC_FAIL_AT at step 10" in s["stop_reason"], s
' "$fail/summary.json"
t_check "injected failure: the transition to failed is in events.jsonl" \
  grep -q '"from":"train_epoch","to":"failed","reason":"failure injected' "$fail/events.jsonl"
# One training per run directory: a second one waits for the first (which hangs here, at
# step 5, holding the directory), gives up with a message, and runs once the first is gone.
busy="$T_DIR/busy"
DDPC_FAIL_AT="0:5:hang" "$DDPC" train "$cfg" --run-dir "$busy" "${common[@]}" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 100); do [ -e "$busy/events.jsonl" ] && break; sleep 0.1; done
t_run train "$cfg" --run-dir "$busy" --resume auto "${common[@]}"
t_expect_error "a second training in a busy run directory is refused" \
  "$busy: another training is running in this run directory"
kill -9 "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
t_run train "$cfg" --run-dir "$busy" --resume auto "${common[@]}"
t_check "once the holder is gone (kill -9), the directory is free (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_finish
