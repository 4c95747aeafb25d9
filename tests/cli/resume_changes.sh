#!/usr/bin/env bash
# A resume whose config differs from the checkpoint's (issue 14, item 4): changes to what
# the run computes (the length under a cosine schedule, batch size, optimizer) are refused
# naming the keys and the --allow-changes that accepts them; the rest (the length under a
# constant schedule, stop conditions, checkpointing, the cache's place) are announced and
# recorded in events.jsonl; data and model never change (a data file moved with its
# content may: the checkpoint knows its hash); `ddpc resume RUN_DIR --set train.epochs=N`
# extends a finished run.
source "$(dirname "$0")/lib/common.bash"
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"  # schedule cosine, 26 steps an epoch
cd "$T_DIR" || exit 1
crc() { t_json "$1/summary.json" params_crc32; }

# --- the length under a cosine schedule: the issue's case ---
DDPC_FAIL_AT="0:60:term" t_run train "$cfg" --set train.epochs=12 --run-dir cos --quiet
t_check "cosine run preempted (rc $T_RC: $T_ERR)" test "$T_RC" -eq 5
cp cos/config.yaml config.cos
t_run train "$cfg" --run-dir cos --resume auto --quiet
t_expect_error "resumed without --set train.epochs=12: refused" \
  "the config differs from the checkpoint's in what the run computes: train.epochs 12 -> 30, stop.max_epochs 12 -> 30" \
  "cosine schedule" "--allow-changes train.epochs,stop.max_epochs"
t_check "the refused resume left config.yaml alone" cmp -s cos/config.yaml config.cos
t_run train "$cfg" --run-dir cos --resume auto --set train.epochs=12 --quiet
t_check "resumed with the same config: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... and it ran its 12 epochs" test "$(t_json cos/summary.json epochs_completed)" = 12
t_check "... with no config_changes event" test "$(grep -c config_changes cos/events.jsonl)" = 0

# --- a finished cosine run extended: ddpc resume --set train.epochs ---
t_run resume cos --set train.epochs=14 --quiet
t_expect_error "extending a cosine run without --allow-changes: refused" "train.epochs 12 -> 14" \
  "stop.max_epochs 12 -> 14" "--allow-changes train.epochs,stop.max_epochs"
t_run resume cos --set train.epochs=14 --allow-changes train.epochs,stop.max_epochs
t_check "extended with --allow-changes: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... announced ($T_OUT)" grep -q "^resume: the config differs from the checkpoint's: allowed by --allow-changes: train.epochs 12 -> 14, stop.max_epochs 12 -> 14$" <<<"$T_OUT"
t_check "... says it trains on" grep -q "^resume: the run had ended (done) after 12 epochs; it trains on to 14$" <<<"$T_OUT"
t_check "... and trained to 14 epochs" test "$(t_json cos/summary.json epochs_completed)" = 14
t_check "... recorded in events.jsonl" python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if "config_changes" in l]
assert len(ev) == 1, ev
ch = {c["key"]: c for c in ev[0]["changes"]}
assert ch["train.epochs"] == {"key": "train.epochs", "from": "12", "to": "14", "allowed": True}, ch
assert ch["stop.max_epochs"]["allowed"] and ev[0]["epoch"] == 12, ev
' cos/events.jsonl
t_run resume cos --quiet
t_check "resumed again as it now is: nothing to do (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
cp cos/config.yaml config.cos14
t_run resume cos --set stop.max_seconds=100
t_check "a finished run resumed with a new stop condition: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... announced, then nothing to do ($T_OUT)" grep -Pzq "the checkpoint's: stop.max_seconds 0 -> 100\nresume: cos is finished \(state done after 14 epochs\); nothing to train" <<<"$T_OUT"
t_check "... its config.yaml is the one it ran with" cmp -s cos/config.yaml config.cos14
t_check "... and no change was recorded" test "$(grep -c config_changes cos/events.jsonl)" = 1

# --- a constant schedule: the length is announced, and nothing else changes the results ---
const=(--set schedule.name=constant --set train.epochs=4)
t_run train "$cfg" "${const[@]}" --run-dir whole --quiet
t_check "uninterrupted constant run (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
DDPC_FAIL_AT="0:30:term" t_run train "$cfg" "${const[@]}" --set train.epochs=3 --run-dir cut --quiet
t_check "constant run preempted (rc $T_RC)" test "$T_RC" -eq 5
t_run train "$cfg" "${const[@]}" --run-dir cut --resume auto --set checkpoint.keep_last=3 \
  --set 'stop.early_stopping={patience: 50}'
t_check "resumed with a longer run and new stop conditions: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... announced, each change with its values ($T_OUT)" grep -q "^resume: the config differs from the checkpoint's: train.epochs 3 -> 4, stop.max_epochs 3 -> 4, stop.early_stopping.monitor (none) -> val_loss, .*stop.early_stopping.patience (none) -> 50, .*checkpoint.keep_last 2 -> 3$" <<<"$T_OUT"
t_check "... ran to the new length, bitwise the uninterrupted run" test "$(crc cut)" = "$(crc whole)"
t_run resume whole --set train.epochs=5 --quiet
t_check "a finished constant run extended without --allow-changes (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... to 5 epochs" test "$(t_json whole/summary.json epochs_completed)" = 5

# --- batch size and optimizer: refused, accepted when named (a key or its section) ---
DDPC_FAIL_AT="0:30:term" t_run train "$cfg" --run-dir geo --quiet
t_run train "$cfg" --run-dir geo --resume auto --set train.batch_size=8 --set optimizer.lr=0.005 --quiet
t_expect_error "batch size and lr changed: refused" "optimizer.lr 0.01 -> 0.005, train.batch_size 16 -> 8" \
  "--allow-changes optimizer.lr,train.batch_size"
t_run train "$cfg" --run-dir geo --resume auto --set train.batch_size=8 --set optimizer.lr=0.005 \
  --allow-changes train.batch_size --quiet
t_expect_error "only the batch size allowed: the lr still refused" "optimizer.lr 0.01 -> 0.005" \
  "--allow-changes optimizer.lr"
t_run train "$cfg" --run-dir geo --resume auto --set train.batch_size=8 --set optimizer.lr=0.005 \
  --allow-changes train.batch_size,optimizer
t_check "both allowed: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... the interrupted epoch starts over ($T_OUT)" \
  grep -q "^resume: the interrupted epoch 2 starts over (its batches are dealt anew)$" <<<"$T_OUT"
t_check "... announced as allowed" grep -q "allowed by --allow-changes: optimizer.lr 0.01 -> 0.005, train.batch_size 16 -> 8$" <<<"$T_OUT"
t_check "... the optimizer section's new lr ran (config.yaml)" grep -q "^  lr: 0.005$" geo/config.yaml

# --- the model never changes, --allow-changes or not; the cache's place may ---
t_run train "$cfg" --run-dir geo --resume auto --set model.0.units=16 --allow-changes model --quiet
t_expect_error "another model: refused even when named" "the config differs from the checkpoint's in model[0]"
DDPC_CACHE_DIR="$T_DIR/other_cache" t_run train "$cfg" --run-dir geo --resume auto --set train.batch_size=8 \
  --set optimizer.lr=0.005
t_check "another cache folder: announced, not refused (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... named in the announcement" grep -q "^resume: the config differs from the checkpoint's: data.cache_dir " <<<"$T_OUT"

# --- the data: another file is refused; the same content at another path goes on ---
mkdir -p staged1 staged2
cp "$DDPC_SOURCE_DIR/examples/data/cultivars.csv" staged1/
sed "s|path: data/cultivars.csv|path: $T_DIR/staged1/cultivars.csv|" "$cfg" >staged.yaml
t_run train staged.yaml --run-dir ref_data --quiet
DDPC_FAIL_AT="0:40:kill" t_run train staged.yaml --run-dir moved --quiet
t_check "a run on staged data killed (rc $T_RC)" test "$T_RC" -eq 137
mv staged1/cultivars.csv staged2/
head -n 150 staged2/cultivars.csv >staged2/fewer.csv
t_run resume moved --set data.train.path="$T_DIR/staged2/fewer.csv" --quiet
t_expect_error "other data at the new path: refused" \
  "the config differs from the checkpoint's in data.train.path; resume with the run's own config.yaml"
t_run resume moved --set data.train.path="$T_DIR/staged2/cultivars.csv"
t_check "the same data moved: the resume goes on (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "... saying so, with the content's size and hash ($T_OUT)" grep -q \
  "^resume: data.train.path moved: $T_DIR/staged2/cultivars.csv holds the content the run trained on (24362 bytes, xxh64 [0-9a-f]\{16\})$" <<<"$T_OUT"
t_check "... and announcing the change" grep -q \
  "^resume: the config differs from the checkpoint's: data.train.path $T_DIR/staged1/cultivars.csv -> $T_DIR/staged2/cultivars.csv$" <<<"$T_OUT"
t_check "... bitwise the weights of the run that never moved" test "$(crc moved)" = "$(crc ref_data)"
t_check "meta.json records the new path with the same hash" python3 -c '
import json, sys
a = json.load(open("ref_data/meta.json"))["data_files"]["train"]
b = json.load(open("moved/meta.json"))["data_files"]["train"]
assert a["xxh64"] == b["xxh64"] and a["bytes"] == b["bytes"] == 24362 and b["path"].endswith("staged2/cultivars.csv"), (a, b)
'

t_finish
