#!/usr/bin/env bash
# ctest-labels: slow
# `ddpc tune` with tune.backend slurm on the project's one-node Slurm cluster (fixture
# "slurm": tests/testbeds/slurm_up.sh). A background loop samples squeue every 0.2 s
# throughout and counts the jobs whose working directory lies in a study of this test:
# never more than parallelism (2). (a) a 4-trial study, 2 at a time, completes: 4 COMPLETE
# trials, each a batch job with its script and output in its run directory; (b) the tuner
# killed with -9: its jobs run on, and --resume follows them by their job ids instead of
# submitting them again; (c) SIGINT to the tuner: the jobs checkpoint and stop (exit 5),
# the tuner exits 5, --resume continues the trials from their checkpoints; (d) no sbatch on
# PATH: exit 127, nothing left behind; (e) sbatch's refusal of a job in one line.
source "$(dirname "$0")/lib/common.bash"
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (the Slurm test bed)"; exit 77; }
command -v sbatch >/dev/null && timeout 10 scontrol ping >/dev/null 2>&1 ||
  { echo "SKIPPED: no Slurm cluster (run tests/testbeds/slurm_up.sh or the slurm fixture)"; exit 77; }
base="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"

# our_jobs: "ID NAME STATE" of every queued job working in one of this test's studies.
our_jobs() { squeue -h -o '%i %j %T %Z' 2>/dev/null | awk -v d="$T_DIR/" 'index($4, d) == 1 {print $1, $2, $3}'; }
SAMPLER=
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  for j in $(our_jobs | cut -d' ' -f1); do scancel "$j" 2>/dev/null; done
  rm -rf "$T_DIR"
}
trap cleanup EXIT

# One line per sample: how many of our jobs were in the queue, and which.
(while :; do
  jobs=$(our_jobs)
  echo "$(grep -c . <<<"$jobs") $(tr '\n' ' ' <<<"$jobs")"
  sleep 0.2
done) >"$T_DIR/queue.log" 2>&1 &
SAMPLER=$!

# study FILE MAX_TRIALS: a random study on the CSV example, 2 trials at a time on Slurm.
study() {
  cat >"$1" <<EOF
base: $base
tune:
  metric: val_accuracy
  algorithm: random
  seed: 7
  max_trials: $2
  parallelism: 2
  backend: slurm
  space:
    optimizer.lr: {loguniform: [0.001, 0.1]}
    train.batch_size: {choice: [8, 16, 32]}
EOF
}
# sql DB QUERY: one value from the study store.
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }
# wait_until SECONDS CMD...: polls CMD every 0.1 s.
wait_until() {
  local end=$(($(date +%s) + $1)); shift
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.1; done
}
# running_jobs STUDY_DIR: how many of its jobs squeue shows RUNNING.
running_jobs() { our_jobs | awk -v n="$(basename "$1")." 'index($2, n) == 1 && $3 == "RUNNING"' | wc -l; }
# two_running STUDY_DIR: both its jobs run.
two_running() { test "$(running_jobs "$1")" = 2; }
# checkpointed STUDY_DIR TRIALS...: each trial has a checkpoint.
checkpointed() {
  local d=$1 n; shift
  for n in "$@"; do compgen -G "$d/trials/$n/checkpoints/ckpt-*.ddpc" >/dev/null || return 1; done
}

# (a) 4 trials, 2 at a time, a few epochs each.
study "$T_DIR/a.yaml" 4
t_run tune "$T_DIR/a.yaml" --study-dir "$T_DIR/a" --set train.epochs=4
db="$T_DIR/a/study.db"
t_check "(a) the study exits 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "(a) 4 trials COMPLETE ($T_OUT)" test "$(sql "$db" "select count(*) from trials where state='COMPLETE'")" = 4
t_check "(a) each trial ran once" test "$(sql "$db" "select count(*) from trials where attempts=1")" = 4
t_check "(a) the store is intact" test "$(sql "$db" "pragma integrity_check")" = ok
t_check "(a) each trial was one batch job" test "$(grep -c '^\[.*\] trial [0-3] is job [0-9]* (output ' <<<"$T_OUT")" = 4
for n in 0000 0001 0002 0003; do
  d="$T_DIR/a/trials/$n"
  t_check "(a) trial $n: srun runs ddpc train in its script" grep -q "^srun --mpi=pmix .* train $base --run-dir $d --resume auto " "$d/submit.sbatch"
  t_check "(a) trial $n: the script does not requeue" grep -qx '#SBATCH --no-requeue' "$d/submit.sbatch"
  t_check "(a) trial $n: its job's output says the step exited with 0" grep -q "the job step exited with 0" "$d"/slurm-*.out
  t_check "(a) trial $n: 4 epochs done" test "$(t_json "$d/summary.json" epochs_completed 2>/dev/null)" = 4
  t_check "(a) trial $n: no job id left to follow" test ! -e "$d/slurm_job_id"
done
t_check "(a) best.yaml is a training config" bash -c '"$0" graph "$1" >/dev/null' "$DDPC" "$T_DIR/a/best.yaml"
t_check "(a) the sampler saw both trial jobs queued at once" grep -q '^2 ' "$T_DIR/queue.log"

# (b) kill -9 of the tuner: the jobs run on; --resume follows them.
study "$T_DIR/b.yaml" 2
"$DDPC" tune "$T_DIR/b.yaml" --study-dir "$T_DIR/b" --set train.epochs=2500 --quiet >"$T_DIR/b.out" 2>&1 &
tuner=$!
wait_until 120 two_running "$T_DIR/b"
t_check "(b) both trial jobs run" two_running "$T_DIR/b"
ids=$(cat "$T_DIR"/b/trials/*/slurm_job_id 2>/dev/null | sort | tr '\n' ' ')
kill -9 "$tuner"
wait "$tuner" 2>/dev/null
t_check "(b) the jobs outlive the tuner ($ids)" two_running "$T_DIR/b"
t_run tune --resume "$T_DIR/b"
db="$T_DIR/b/study.db"
t_check "(b) resume: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "(b) resume: it follows the jobs by their ids" \
  test "$(grep -o 'following its job [0-9]*' <<<"$T_OUT" | awk '{print $4}' | sort | tr '\n' ' ')" = "$ids"
t_check "(b) resume: 2 trials COMPLETE" test "$(sql "$db" "select count(*) from trials where state='COMPLETE'")" = 2
t_check "(b) resume: no trial submitted again" test "$(sql "$db" "select count(*) from trials where attempts=1")" = 2
t_check "(b) resume: one job output per trial" test "$(ls "$T_DIR"/b/trials/*/slurm-*.out | wc -l)" = 2
t_check "(b) the store is intact" test "$(sql "$db" "pragma integrity_check")" = ok

# (c) SIGINT: the jobs checkpoint and stop; --resume continues them.
study "$T_DIR/c.yaml" 2
"$DDPC" tune "$T_DIR/c.yaml" --study-dir "$T_DIR/c" --set train.epochs=2500 >"$T_DIR/c.out" 2>&1 &
tuner=$!
wait_until 120 checkpointed "$T_DIR/c" 0000 0001
kill -INT "$tuner"
wait "$tuner"
rc=$?
db="$T_DIR/c/study.db"
t_check "(c) interrupted tuner exits 5 ($rc: $(cat "$T_DIR/c.out"))" test "$rc" -eq 5
t_check "(c) both trials checkpointed and stopped" test "$(grep -c 'checkpointed and stopped' "$T_DIR/c.out")" = 2
t_check "(c) their jobs' steps exited with 5" test "$(cat "$T_DIR"/c/trials/*/slurm-*.out | grep -c 'the job step exited with 5')" = 2
t_check "(c) no job of the study left in the queue" test -z "$(our_jobs | grep ' c\.')"
t_check "(c) both trials stay RUNNING in the store" \
  test "$(sql "$db" "select count(*) from trials where state='RUNNING'")" = 2
t_run tune --resume "$T_DIR/c" --quiet
t_check "(c) resume: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "(c) resume: 2 trials COMPLETE after a second job each" \
  test "$(sql "$db" "select count(*) from trials where state='COMPLETE' and attempts=2")" = 2
t_check "(c) resume: continued from the checkpoint" grep -q "^resume: .*ckpt-" "$T_DIR"/c/trials/0000/slurm-*.out
t_check "(c) the store is intact" test "$(sql "$db" "pragma integrity_check")" = ok

# The bound, over every sample of the whole test.
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
SAMPLER=
max=$(cut -d' ' -f1 "$T_DIR/queue.log" | sort -n | tail -n 1)
echo "squeue sampled $(wc -l <"$T_DIR/queue.log") times: at most ${max:-0} trial jobs in the queue at once"
t_check "never more than 2 trial jobs in the queue (max $max over $(wc -l <"$T_DIR/queue.log") samples:
$(grep -v '^[0-2] ' "$T_DIR/queue.log" | head -n 5))" test "${max:-0}" -le 2

# (d) No sbatch on PATH: 127, one line, no study left behind.
study "$T_DIR/d.yaml" 2
PATH=/nonexistent "$DDPC" tune "$T_DIR/d.yaml" --study-dir "$T_DIR/d" >/dev/null 2>"$T_DIR/err"
rc=$?
t_check "(d) no sbatch: exit 127 ($rc)" test "$rc" -eq 127
t_check "(d) no sbatch: says so ($(cat "$T_DIR/err"))" grep -q "sbatch not found on PATH" "$T_DIR/err"
t_check "(d) no sbatch: no study.db" test ! -e "$T_DIR/d/study.db"

# (e) sbatch refuses a trial's job: exit 1, one line passing sbatch's own message on.
SBATCH_PARTITION=nosuch t_run tune "$T_DIR/d.yaml" --study-dir "$T_DIR/e" --quiet
t_expect_error "(e) sbatch refusal" "ddpc tune: error: trial 0: sbatch refused the job: " "nosuch"
# (f) tune.slurm reaches each trial's script: a partition sbatch does not know is refused,
# and the script asks for the time given.
t_run tune "$T_DIR/d.yaml" --study-dir "$T_DIR/f" --set tune.slurm.partition=nosuch2 --set tune.slurm.time=00:07:00 --quiet
t_expect_error "(f) tune.slurm.partition" "sbatch refused the job: " "nosuch2"
t_check "(f) the trial's script has the time and partition" \
  grep -Eq -- "--time=\"?00:07:00" "$T_DIR/f/trials/0000/submit.sbatch"
t_run tune "$T_DIR/d.yaml" --study-dir "$T_DIR/g" --set tune.slurm.partiton=x --quiet
t_expect_error "(g) a typo in tune.slurm" "partiton" "partition"
t_finish
