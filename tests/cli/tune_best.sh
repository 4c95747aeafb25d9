#!/usr/bin/env bash
# The tuner's suggestion runs as printed (issue 14, item 2): after a small study,
# `ready to run: ddpc train STUDY_DIR/best.yaml` trains into a run directory of its own
# (STUDY_DIR/best), also when the base config's output.dir holds an earlier run's
# checkpoints; run again, it goes to the next version of it (best-2).
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
export OPENBLAS_NUM_THREADS=1
base="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
cd "$T_DIR" || exit 1

# The base config's own run first: its output.dir (runs/cultivars_csv) now holds checkpoints.
t_run train "$base" --set train.epochs=2 --quiet
t_check "base run exits 0 ($T_ERR)" test "$T_RC" -eq 0
base_files=$(ls -l --time-style=+%s.%N runs/cultivars_csv/checkpoints)

cat >study.yaml <<YAML
base: $base
tune:
  metric: val_loss
  algorithm: random
  seed: 3
  max_trials: 2
  parallelism: 2
  space:
    optimizer.lr: {loguniform: [0.001, 0.1]}
    model.0.units: {choice: [8, 16]}
YAML
t_run tune study.yaml --study-dir runs/study --set train.epochs=2
t_check "study exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
printed=$(sed -n 's/^ready to run: //p' <<<"$T_OUT")
t_check "the study prints the command ($printed)" test "$printed" = "ddpc train runs/study/best.yaml"

# The printed command, word for word (ddpc is the binary under test).
read -r -a words <<<"$printed"
t_run "${words[@]:1}"
t_check "the printed command exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "it trained into the study's best/ ($T_OUT)" test -s runs/study/best/summary.json
t_check "it says where it writes" grep -q "runs/study/best/summary.json" <<<"$T_OUT"
t_check "the base run's checkpoints were left alone" test "$(ls -l --time-style=+%s.%N runs/cultivars_csv/checkpoints)" = "$base_files"
t_check "best.yaml's run is the best trial's (same parameters)" python3 -c '
import json, re, sys
best = int(re.search(r"^# The best trial \((\d+),", open(sys.argv[1]).read(), re.M).group(1))
a = json.load(open("runs/study/trials/%04d/summary.json" % best))
b = json.load(open(sys.argv[2]))
assert a["params_crc32"] == b["params_crc32"], (a["params_crc32"], b["params_crc32"])
' runs/study/best.yaml runs/study/best/summary.json

# Run again as printed: the next version of its directory (item 3), not a refusal.
t_run "${words[@]:1}"
t_check "the printed command again exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "the second run went to best-2" test -s runs/study/best-2/summary.json

t_finish
