#!/usr/bin/env bash
# ctest-labels: slow
# `ddpc tune` end to end on the small CSV example: bad study files refused before any trial,
# a random study with 2 trials at a time (store, table, best.yaml, --status), failures
# recorded without stopping the study (divergence, a killed rank, a time limit, a start
# that hangs), ASHA pruning through the
# state machine, and kill -9 of the tuner followed by --resume.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
export OPENBLAS_NUM_THREADS=1
base="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"

# study FILE TUNE-BODY: a study file on the CSV example.
study() {
  { echo "base: $base"; echo "tune:"; printf '%s\n' "$2"; } >"$1"
}
# sql DB QUERY: one value from the study store.
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }

# --- bad study files: one message with file:line, no trial started ---
bad() {  # bad NAME TUNE-BODY FRAGMENT...
  local name=$1 body=$2; shift 2
  study "$T_DIR/$name.yaml" "$body"
  t_run tune "$T_DIR/$name.yaml" --study-dir "$T_DIR/$name" --quiet
  t_expect_error "$name" "$@"
  t_check "$name: no trial started" test ! -e "$T_DIR/$name/trials"
}
bad unknown_dist "  metric: val_loss
  space: {optimizer.lr: {logunifrom: [0.001, 0.1]}}" "$T_DIR/unknown_dist.yaml:" "logunifrom" "loguniform"
bad empty_choice "  metric: val_loss
  space: {train.batch_size: {choice: []}}" "$T_DIR/empty_choice.yaml:" "choice"
bad low_above_high "  metric: val_loss
  space: {optimizer.lr: {uniform: [0.5, 0.1]}}" "$T_DIR/low_above_high.yaml:" "0.5"
bad unknown_key "  metric: val_loss
  space: {optimizer.lrr: {uniform: [0.01, 0.1]}}" "optimizer.lrr" "lr"
bad unknown_metric "  metric: val_acc
  space: {optimizer.lr: {uniform: [0.01, 0.1]}}" "$T_DIR/unknown_metric.yaml:" "val_acc"
bad bad_choice_value "  metric: val_loss
  space: {loss: {choice: [cross_entropy, hinge]}}" "tune.space.loss" "hinge"
# A continuous range on an integer key passes at whole-number bounds; its fractional values do not.
bad float_on_int "  metric: val_loss
  space: {train.batch_size: {uniform: [8, 32]}}" "$T_DIR/float_on_int.yaml:4:" "tune.space.train.batch_size" \
  "uniform draws values such as 20.5" "whole"
# A review gate would stop every trial for a person's answer (exit 4): refused up front.
bad review_in_space "  metric: val_loss
  space: {review.after_epochs: {choice: [0, 2]}}" "$T_DIR/review_in_space.yaml:4:" "review.after_epochs = 2" \
  "review gate"
study "$T_DIR/review_base.yaml" "  metric: val_loss
  space: {optimizer.lr: {uniform: [0.01, 0.1]}}"
t_run tune "$T_DIR/review_base.yaml" --study-dir "$T_DIR/review_base" --set review.after_epochs=1 --quiet
t_expect_error "review gate in the base config" "review_base.yaml: the base config" "review gate" "exit 4"
t_check "review gate in the base config: no trial started" test ! -e "$T_DIR/review_base/trials"

# --- a random study: 6 trials, 2 at a time ---
study "$T_DIR/rand.yaml" "  metric: val_accuracy
  algorithm: random
  seed: 7
  max_trials: 6
  parallelism: 2
  space:
    optimizer.lr: {loguniform: [0.001, 0.1]}
    train.batch_size: {choice: [8, 16, 32]}"
t_run tune "$T_DIR/rand.yaml" --study-dir "$T_DIR/rand" --set train.epochs=4
db="$T_DIR/rand/study.db"
t_check "random study: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "random study: 6 trials COMPLETE" test "$(sql "$db" "select count(*) from trials where state='COMPLETE'")" = 6
t_check "random study: each trial's run directory has its summary" bash -c "ls '$T_DIR'/rand/trials/*/summary.json | wc -l | grep -qx 6"
t_check "random study: --set reached the trials (4 epochs)" \
  test "$(t_json "$T_DIR/rand/trials/0003/summary.json" epochs_completed)" = 4
t_check "random study: the store is intact" test "$(sql "$db" "pragma integrity_check")" = ok
t_check "random study: best.yaml is a training config" "$DDPC" graph "$T_DIR/rand/best.yaml"
t_check "random study: the output names the best trial" grep -q "best trial:" "$T_DIR/out"
# At most 2 trials at once, and they did run side by side: from their start and end in the
# store (milliseconds; a recorded span holds the process's own).
t_check "random study: 2 trials at a time, never 3" python3 -c '
import sqlite3, sys
from datetime import datetime
def t(s): return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
rows = sqlite3.connect(sys.argv[1]).execute("select started_at, ended_at from trials").fetchall()
# An end sorts before a start at the same moment: the next trial starts after one ended.
events = sorted([(t(a), 1) for a, _ in rows] + [(t(b), -1) for _, b in rows])
running = peak = 0
for _, step in events:
    running += step
    peak = max(peak, running)
print("most trials at once:", peak)
sys.exit(0 if peak == 2 else 1)' "$db"
t_run tune --status "$T_DIR/rand"
t_check "--status: a row per trial ($T_OUT)" test "$(printf '%s\n' "$T_OUT" | grep -c COMPLETE)" -ge 6
t_run tune "$T_DIR/rand.yaml" --study-dir "$T_DIR/rand"
t_expect_error "a second study into the same directory" "already holds a study" "--resume"

# --- the base config inline: written to STUDY_DIR/base.yaml, which every trial reads ---
cat >"$T_DIR/inline.yaml" <<EOF
base:
  name: inline
  data: {format: csv, train: {path: $DDPC_SOURCE_DIR/examples/data/cultivars.csv}, label_column: cultivar}
  model: [{type: linear, units: 8}, {type: relu}, {type: linear, units: 3}]
  train: {epochs: 2, batch_size: 16}
tune:
  metric: val_loss
  algorithm: random
  max_trials: 2
  space:
    optimizer.lr: {loguniform: [0.001, 0.1]}
EOF
t_run tune "$T_DIR/inline.yaml" --study-dir "$T_DIR/inline" --quiet
t_check "inline base: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "inline base: base.yaml is a training config" "$DDPC" graph "$T_DIR/inline/base.yaml"
t_check "inline base: 2 trials COMPLETE" \
  test "$(sql "$T_DIR/inline/study.db" "select count(*) from trials where state='COMPLETE'")" = 2

# --- failures are recorded, the study goes on ---
study "$T_DIR/fail.yaml" "  metric: val_loss
  algorithm: grid
  max_trials: 2
  space:
    optimizer.lr: {choice: [0.01, 10]}"
t_run tune "$T_DIR/fail.yaml" --study-dir "$T_DIR/fail" --set train.epochs=3 --set optimizer.name=sgd \
  --set optimizer.momentum=0.99 --set schedule.name=constant --set model.1.type=relu --quiet
db="$T_DIR/fail/study.db"
t_check "diverging trial: the study still exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "diverging trial: FAIL with its reason" \
  grep -q diverged <<<"$(sql "$db" "select reason from trials where state='FAIL'")"
t_check "diverging trial: the other COMPLETE" test "$(sql "$db" "select count(*) from trials where state='COMPLETE'")" = 1

study "$T_DIR/crash.yaml" "  metric: val_loss
  algorithm: random
  max_trials: 2
  max_failures: 1
  space:
    optimizer.lr: {loguniform: [0.001, 0.01]}"
DDPC_FAIL_AT=0:3:kill t_run tune "$T_DIR/crash.yaml" --study-dir "$T_DIR/crash" --set train.epochs=3 --quiet
db="$T_DIR/crash/study.db"
t_check "killed rank: the study exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "killed rank: both trials FAIL as crashed after a restart" \
  test "$(sql "$db" "select count(*) from trials where state='FAIL' and reason like 'crashed%' and attempts=2")" = 2
t_check "killed rank: the log tail is kept" \
  test -n "$(sql "$db" "select log_tail from trials where number=0")"

# A trial that runs over tune.trial_max_seconds is asked to checkpoint and stop: FAIL as
# timed out, its run preempted long before its epochs. "early": the stop falls due before
# mpirun has started the ranks, when a signal reaches no rank (or ends mpirun itself); it
# goes out once the trial has taken a step (the old single signal, lost under load, once
# left the 100000-epoch trial running).
for spec in "slow 1.5 100000" "early 0.01 3000"; do
  read -r name limit epochs <<<"$spec"
  study "$T_DIR/$name.yaml" "  metric: val_loss
  algorithm: random
  max_trials: 1
  trial_max_seconds: $limit
  space:
    optimizer.lr: {loguniform: [0.001, 0.01]}"
  t_run tune "$T_DIR/$name.yaml" --study-dir "$T_DIR/$name" --set train.epochs="$epochs" --quiet
  db="$T_DIR/$name/study.db"
  t_check "timeout ($name): the study exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
  t_check "timeout ($name): FAIL as timed out ($(sql "$db" "select reason from trials where number=0"))" \
    test "$(sql "$db" "select count(*) from trials where state='FAIL' and reason like 'timed out%exit code 5'")" = 1
  t_check "timeout ($name): checkpointed and stopped early (state preempted)" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "preempted" and s["epochs_completed"] < int(sys.argv[2]), (s["state"], s["epochs_completed"])
' "$T_DIR/$name/trials/0000/summary.json" "$epochs"
done

# A trial whose start hangs (a stand-in mpirun that stalls on its first call, then runs the
# real one): ended at tune.trial_startup_seconds, counted as a crash, restarted, COMPLETE.
real_mpirun=$(command -v mpirun)
mkdir -p "$T_DIR/stallbin"
cat >"$T_DIR/stallbin/mpirun" <<EOF
#!/bin/sh
if [ ! -e "$T_DIR/stall.state" ]; then : >"$T_DIR/stall.state"; sleep 300; exit 0; fi
exec "$real_mpirun" "\$@"
EOF
chmod +x "$T_DIR/stallbin/mpirun"
study "$T_DIR/stall.yaml" "  metric: val_loss
  algorithm: random
  max_trials: 1
  max_failures: 1
  trial_startup_seconds: 20
  space:
    optimizer.lr: {loguniform: [0.001, 0.01]}"
start=$(date +%s)
PATH="$T_DIR/stallbin:$PATH" t_run tune "$T_DIR/stall.yaml" --study-dir "$T_DIR/stall" --set train.epochs=2
elapsed=$(($(date +%s) - start))
db="$T_DIR/stall/study.db"
t_check "hung start: the study exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "hung start: ended, not waited out (${elapsed}s)" test "$elapsed" -lt 150
t_check "hung start: said ($T_OUT)" grep -q "trial 0 took no training step within tune.trial_startup_seconds (20 s)" <<<"$T_OUT"
t_check "hung start: COMPLETE on its second attempt ($(sql "$db" "select state || ' ' || attempts || ' ' || failures from trials"))" \
  test "$(sql "$db" "select state || ' ' || attempts || ' ' || failures from trials")" = "COMPLETE 2 1"
bad startup_negative "  metric: val_loss
  trial_startup_seconds: -1
  space: {optimizer.lr: {uniform: [0.01, 0.1]}}" "$T_DIR/startup_negative.yaml:" "tune.trial_startup_seconds"

# A refused command line (exit 2) or a review gate (exit 4) would fail again: FAIL, no restart.
# A stand-in mpirun ends trial 0 with 4 and trial 1 with 2 without training anything.
mkdir -p "$T_DIR/fakebin"
printf '#!/bin/sh\ncase "$*" in *trials/0000*) exit 4 ;; *) exit 2 ;; esac\n' >"$T_DIR/fakebin/mpirun"
chmod +x "$T_DIR/fakebin/mpirun"
study "$T_DIR/noretry.yaml" "  metric: val_loss
  algorithm: random
  max_trials: 2
  max_failures: 3
  space:
    optimizer.lr: {loguniform: [0.001, 0.01]}"
PATH="$T_DIR/fakebin:$PATH" t_run tune "$T_DIR/noretry.yaml" --study-dir "$T_DIR/noretry" --quiet
db="$T_DIR/noretry/study.db"
t_check "exit 4/2: the study exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "exit 4: FAIL after one attempt, as a review gate ($(sql "$db" "select reason from trials where number=0"))" \
  test "$(sql "$db" "select count(*) from trials where number=0 and state='FAIL' and attempts=1 and reason like '%review gate (exit 4)%'")" = 1
t_check "exit 2: FAIL after one attempt, as a refused command line ($(sql "$db" "select reason from trials where number=1"))" \
  test "$(sql "$db" "select count(*) from trials where number=1 and state='FAIL' and attempts=1 and reason like '%command line (exit 2%'")" = 1

# max_failures bounds restarts across tuners: the crash count is in the store. A stand-in
# mpirun crashes every attempt (exit 6), and its second attempt first kills the tuner (-9).
mkdir -p "$T_DIR/crashbin"
cat >"$T_DIR/crashbin/mpirun" <<'EOF'
#!/bin/sh
n=$(cat "$FAKE_COUNT" 2>/dev/null || echo 0)
echo $((n + 1)) >"$FAKE_COUNT"
[ "$n" = 1 ] && kill -9 "$PPID"
exit 6
EOF
chmod +x "$T_DIR/crashbin/mpirun"
study "$T_DIR/recrash.yaml" "  metric: val_loss
  algorithm: random
  max_trials: 1
  max_failures: 2
  space:
    optimizer.lr: {loguniform: [0.001, 0.01]}"
export FAKE_COUNT="$T_DIR/recrash.count"
PATH="$T_DIR/crashbin:$PATH" t_run tune "$T_DIR/recrash.yaml" --study-dir "$T_DIR/recrash" --quiet
t_check "recrash: the tuner was killed in the second attempt (rc $T_RC)" test "$T_RC" -eq 137
PATH="$T_DIR/crashbin:$PATH" t_run tune --resume "$T_DIR/recrash" --quiet
db="$T_DIR/recrash/study.db"
t_check "recrash: --resume exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "recrash: 2 restarts in all, not 2 more after --resume ($(sql "$db" "select attempts || ' attempts, ' || failures || ' failures: ' || reason from trials"))" \
  test "$(sql "$db" "select count(*) from trials where state='FAIL' and attempts=4 and failures=2 and reason like '%2 restart(s) used'")" = 1
unset FAKE_COUNT

# --- ASHA: pruned through the state machine, fewer epochs in all ---
study "$T_DIR/asha.yaml" "  metric: val_accuracy
  algorithm: random
  seed: 3
  max_trials: 8
  parallelism: 2
  scheduler: {asha: {grace: 1, reduction_factor: 3, max_epochs: 9}}
  space:
    optimizer.lr: {loguniform: [0.00001, 0.1]}"
t_run tune "$T_DIR/asha.yaml" --study-dir "$T_DIR/asha" --quiet
db="$T_DIR/asha/study.db"
pruned=$(sql "$db" "select count(*) from trials where state='PRUNED'")
t_check "asha: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "asha: some trials pruned ($pruned)" test "$pruned" -ge 1
t_check "asha: a pruned trial ended in state pruned with a checkpoint" bash -c "
  n=\$(python3 -c 'import sqlite3; print(sqlite3.connect(\"$db\").execute(\"select number from trials where state=\\\"PRUNED\\\" limit 1\").fetchone()[0])')
  d=\$(printf '%s/asha/trials/%04d' '$T_DIR' \"\$n\")
  grep -q '\"state\": *\"pruned\"' \"\$d/summary.json\" && ls \"\$d\"/checkpoints/ckpt-*.ddpc >/dev/null"
t_check "asha: pruned trials stopped at a rung (1 or 3 epochs)" \
  test "$(sql "$db" "select count(*) from trials where state='PRUNED' and epochs_done not in (1, 3)")" = 0
# best.yaml is the config the best trial ran (asha's 9 epochs too), less the tuner's rungs,
# with a run directory of its own (STUDY_DIR/best).
best=$(sed -n 's/^# The best trial (\([0-9]*\),.*/\1/p' "$T_DIR/asha/best.yaml")
t_check "asha: best.yaml is the best trial's config.yaml without its pruning section, output.dir the study's best/" bash -c "
  diff <(grep -v '^#' '$T_DIR/asha/best.yaml') \
       <(awk '/^pruning:/ {skip = 1; next} /^[^ ]/ {skip = 0} !skip' \"\$(printf '%s/asha/trials/%04d' '$T_DIR' '$best')/config.yaml\" |
         sed '\$s|^  dir: .*|  dir: $(realpath "$T_DIR/asha")/best|')"
t_check "asha: best.yaml trains 9 epochs" grep -Eq '^  epochs: 9$' "$T_DIR/asha/best.yaml"

# --- kill -9 of the tuner while a trial waits at a rung: judged there on --resume ---
# Trial 0 (lr 0.05) sets rung 1; trial 1 (lr 1e-5) reaches it with the tuner frozen, so no
# verdict comes; the tuner is then killed. The trial stops with a checkpoint at the rung
# (its wait ends with the SIGTERM), and --resume gives it the decision it had: pruned.
study "$T_DIR/rung.yaml" "  metric: val_accuracy
  algorithm: grid
  max_trials: 2
  scheduler: {asha: {grace: 1, reduction_factor: 3, max_epochs: 3}}
  space:
    optimizer.lr: {choice: [0.05, 0.00001]}"
"$DDPC" tune "$T_DIR/rung.yaml" --study-dir "$T_DIR/rung" --quiet >/dev/null 2>&1 &
tuner=$!
d1="$T_DIR/rung/trials/0001"
for _ in $(seq 1 1500); do pgrep -f -- "--run-dir $d1" >/dev/null && break; sleep 0.01; done
kill -STOP "$tuner"  # trial 1 has started; nobody reads its epochs now
for _ in $(seq 1 600); do [ -s "$d1/metrics.jsonl" ] && break; sleep 0.05; done
sleep 0.3  # it waits for the verdict of epoch 1
kill -9 "$tuner"
wait "$tuner" 2>/dev/null
for _ in $(seq 1 100); do [ -f "$d1/summary.json" ] && break; sleep 0.05; done
t_check "rung: the waiting trial stopped at once, checkpointed at its rung" \
  test "$(t_json "$d1/summary.json" state 2>/dev/null)" = preempted -a "$(t_json "$d1/summary.json" epochs_completed 2>/dev/null)" = 1
t_run tune --resume "$T_DIR/rung" --quiet
db="$T_DIR/rung/study.db"
t_check "rung: --resume exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "rung: trial 1 PRUNED at rung 1, not trained on ($(sql "$db" "select state || ' ' || epochs_done || ' ' || coalesce(reason, '') from trials where number=1"))" \
  test "$(sql "$db" "select count(*) from trials where number=1 and state='PRUNED' and epochs_done=1 and reason like 'asha: pruned at rung 1%'")" = 1
t_check "rung: trial 0 COMPLETE" test "$(sql "$db" "select state from trials where number=0")" = COMPLETE

# --- kill -9 of the tuner, then --resume ---
study "$T_DIR/resume.yaml" "  metric: val_accuracy
  algorithm: tpe
  seed: 5
  max_trials: 4
  parallelism: 2
  space:
    optimizer.lr: {loguniform: [0.001, 0.1]}"
# 1000 epochs (a few seconds): the kill finds trials mid-training, and their mpirun takes
# about a second to pass the SIGTERM on.
"$DDPC" tune "$T_DIR/resume.yaml" --study-dir "$T_DIR/resume" --set train.epochs=1000 --quiet >/dev/null 2>&1 &
tuner=$!
db="$T_DIR/resume/study.db"
# Killed once 2 trials are done and the next two are a few epochs in.
epochs_of() { cat "$T_DIR/resume/trials/$1/metrics.jsonl" 2>/dev/null | wc -l; }
for _ in $(seq 1 1200); do
  [ -f "$db" ] && [ "$(sql "$db" "select count(*) from trials where state='COMPLETE'" 2>/dev/null)" -ge 2 ] 2>/dev/null &&
    [ "$(epochs_of 0002)" -ge 5 ] && [ "$(epochs_of 0003)" -ge 5 ] && break
  sleep 0.05
done
kill -9 "$tuner"
wait "$tuner" 2>/dev/null
done_before=$(sql "$db" "select group_concat(number || ':' || attempts) from trials where state='COMPLETE'")
interrupted=$(sql "$db" "select group_concat(run_dir, ' ') from trials where state='RUNNING'")
# The orphaned trials are still winding down (their mpirun, SIGTERMed by the kernel when the
# tuner died, stops them about a second later; they checkpoint first): --resume waits for
# each to let go of its run directory (RUN_DIR/.lock) before it starts the trial again.
t_run tune --resume "$T_DIR/resume" --quiet
t_check "resume: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "resume: no two trainings in one directory (no trial refused its run directory)" \
  bash -c "! grep -l 'another training is running' '$T_DIR'/resume/trials/*/trial.log"
t_check "resume: 4 trials COMPLETE" test "$(sql "$db" "select count(*) from trials where state='COMPLETE'")" = 4
t_check "resume: finished trials did not run again ($done_before)" bash -c "
  for pair in \$(tr ',' ' ' <<<'$done_before'); do
    n=\${pair%%:*}; a=\${pair##*:}
    [ \"\$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select attempts from trials where number=?\", (int(sys.argv[2]),)).fetchone()[0])' '$db' \"\$n\")\" = \"\$a\" ] || exit 1
  done"
t_check "resume: the store is intact" test "$(sql "$db" "pragma integrity_check")" = ok
# The trials the kill interrupted went on from their checkpoints (SIGTERM from their dead
# mpirun: checkpoint, exit 5), not from scratch.
t_check "resume: an interrupted trial continued from its checkpoint ($interrupted)" bash -c "
  for d in $interrupted; do grep -Eq '\"reason\":\"resume\",\"epoch\":[0-9]+,\"step\":[1-9]' \"\$d/events.jsonl\" && exit 0; done; exit 1"
t_finish
