#!/usr/bin/env bash
# `ddpc submit` on the project's one-node Slurm cluster (fixture "slurm":
# tests/testbeds/slurm_up.sh). (a) a 2-rank job in a run directory whose name needs quoting
# runs to done with the parameters of `mpirun -n 2 ddpc train`; (b) USR1 to the batch
# shell (what --signal=B:USR1@60 sends before the time limit) after the first checkpoint:
# the job checkpoints, requeues itself, resumes and ends bitwise equal to an undisturbed
# run, and meta.json records the restart; (c) an unknown partition is refused in one line;
# (d) --dry-run prints the script and submits nothing; (e) --launcher mpirun; (f) no sbatch.
# ctest-labels: slow
source "$(dirname "$0")/lib/common.bash"
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (the Slurm test bed)"; exit 77; }
command -v sbatch >/dev/null && timeout 10 scontrol ping >/dev/null 2>&1 ||
  { echo "SKIPPED: no Slurm cluster (run tests/testbeds/slurm_up.sh or the slurm fixture)"; exit 77; }
t_need_mpirun
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
small=(--set train.epochs=4 --set train.batch_size=8)
JOBS=()
trap 'for j in "${JOBS[@]}"; do scancel "$j" 2>/dev/null; done; rm -rf "$T_DIR"' EXIT

# submit RUN_DIR ARGS...: ddpc submit, remembering the job id in JOB.
submit() {
  local dir=$1; shift
  t_run submit --nodes 1 --ntasks-per-node 2 --time 00:10:00 "$@" --run-dir "$dir"
  JOB=$(sed -n 's/^submitted job \([0-9][0-9]*\); run directory .*; follow: tail -f .*slurm-[0-9]*\.out$/\1/p' <<<"$T_OUT")
  [ -n "$JOB" ] && JOBS+=("$JOB")
}
# wait_job ID SECONDS: until the job has left the queue (requeues included).
wait_job() {
  local end=$(($(date +%s) + $2))
  while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
    [ "$(date +%s)" -lt "$end" ] || { echo "job $1 still queued after $2 s: $(squeue -h -j "$1")" >&2; return 1; }
    sleep 0.5
  done
}
meta_slurm() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("slurm",{}).get(sys.argv[2]))' "$1" "$2"; }

# (a) A run directory with a blank, a '#' and a command substitution in its name.
dir="$T_DIR/run a#1 \$(touch pwned)"
submit "$dir" "$cfg" "${small[@]}"
t_check "(a) submit exits 0 and names the job ($T_RC: $T_OUT $T_ERR)" test "$T_RC" -eq 0 -a -n "$JOB"
t_check "(a) submit.sbatch is 0644" test "$(stat -c %a "$dir/submit.sbatch" 2>/dev/null)" = 644
wait_job "$JOB" 120
t_check "(a) the job wrote slurm-$JOB.out in the run directory" test -s "$dir/slurm-$JOB.out"
t_check "(a) the job ran to done ($(tail -n 3 "$dir/slurm-$JOB.out" 2>/dev/null))" \
  test "$(t_json "$dir/summary.json" state 2>/dev/null)" = done
t_check "(a) nothing in the path ran as a command" test ! -e pwned -a ! -e "$T_DIR/pwned"
t_mpirun 120 2 train "$cfg" "${small[@]}" --run-dir "$T_DIR/ref_a" --quiet
t_check "(a) mpirun reference exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "(a) same params_crc32 as mpirun -n 2" \
  test "$(t_json "$dir/summary.json" params_crc32 2>/dev/null)" = "$(t_json "$T_DIR/ref_a/summary.json" params_crc32)"
t_check "(a) meta.json has the job id" test "$(meta_slurm "$dir/meta.json" SLURM_JOB_ID)" = "$JOB"
t_check "(a) meta.json has SLURM_NTASKS 2" test "$(meta_slurm "$dir/meta.json" SLURM_NTASKS)" = 2

# (b) Preempted by USR1 to the batch shell, requeued, resumed.
fm=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ -e "$fm" ]; then
  long=("$DDPC_SOURCE_DIR/examples/fashion_mnist_mlp.yaml" --set train.epochs=3 --set train.batch_size=16)
else
  long=("$cfg" --set train.epochs=400 --set train.batch_size=2)
fi
dir="$T_DIR/requeue"
submit "$dir" "${long[@]}"
t_check "(b) submit exits 0 ($T_ERR)" test "$T_RC" -eq 0 -a -n "$JOB"
end=$(($(date +%s) + 120))
until compgen -G "$dir/checkpoints/ckpt-*.ddpc" >/dev/null || [ "$(date +%s)" -ge "$end" ]; do sleep 0.1; done
t_check "(b) a first checkpoint appeared" compgen -G "$dir/checkpoints/ckpt-*.ddpc" >/dev/null
scancel --signal=USR1 --batch "$JOB"
t_check "(b) scancel --signal=USR1 --batch accepted" test $? -eq 0
wait_job "$JOB" 180
log=$(cat "$dir/slurm-$JOB.out" 2>/dev/null)
t_check "(b) the batch shell passed USR1 on ($log)" grep -q "USR1 received, passing it to the job step" <<<"$log"
t_check "(b) the step stopped preempted with 5" grep -q "the job step exited with 5" <<<"$log"
t_check "(b) the job requeued itself" grep -q "requeueing job $JOB" <<<"$log"
t_check "(b) the second start resumed from a checkpoint" grep -q "^resume: .*ckpt-" <<<"$log"
t_check "(b) the requeued job ran to done" test "$(t_json "$dir/summary.json" state 2>/dev/null)" = done
t_check "(b) summary says resumed" test "$(t_json "$dir/summary.json" resumed 2>/dev/null)" = True
restarts=$(meta_slurm "$dir/meta.json" SLURM_RESTART_COUNT)
t_check "(b) meta.json slurm.SLURM_RESTART_COUNT >= 1 (got $restarts)" test "${restarts:-0}" -ge 1 2>/dev/null
t_mpirun 300 2 train "${long[@]}" --run-dir "$T_DIR/ref_b" --quiet
t_check "(b) undisturbed reference exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "(b) requeued run ends bitwise equal to the undisturbed one" \
  test "$(t_json "$dir/summary.json" params_crc32 2>/dev/null)" = "$(t_json "$T_DIR/ref_b/summary.json" params_crc32)"

# (c) sbatch's refusal in one line, exit 1.
t_run submit --partition nosuch "$cfg" "${small[@]}" --run-dir "$T_DIR/nosuch"
t_expect_error "(c) unknown partition" "ddpc submit: sbatch refused the job: " "nosuch"

# (d) --dry-run: the script on stdout, nothing written, nothing queued.
before=$(squeue -h | wc -l)
t_run submit --dry-run --ntasks-per-node 2 --partition debug --account acct --job-name "dry run" "$cfg" \
  --run-dir "$T_DIR/dry" --set 'name=$(rm -rf x)'
t_check "(d) dry run exits 0 ($T_ERR)" test "$T_RC" -eq 0
for line in '#SBATCH --job-name="dry run"' '#SBATCH --nodes=1' '#SBATCH --ntasks-per-node=2' \
  '#SBATCH --partition=debug' '#SBATCH --account=acct' "#SBATCH --output=$T_DIR/dry/slurm-%j.out" \
  '#SBATCH --signal=B:USR1@60' '#SBATCH --requeue' '#SBATCH --open-mode=append'; do
  t_check "(d) dry run prints '$line'" grep -qxF -- "$line" <<<"$T_OUT"
done
t_check "(d) the override stays one quoted word" grep -qF -- "--set 'name=\$(rm -rf x)'" <<<"$T_OUT"
t_check "(d) dry run writes nothing" test ! -e "$T_DIR/dry"
t_check "(d) dry run queues nothing" test "$(squeue -h | wc -l)" = "$before"

# (e) mpirun inside the allocation instead of srun.
dir="$T_DIR/mpirun"
submit "$dir" --launcher mpirun "$cfg" "${small[@]}"
t_check "(e) --launcher mpirun submits ($T_ERR)" test "$T_RC" -eq 0 -a -n "$JOB"
wait_job "$JOB" 120
t_check "(e) the script uses mpirun" grep -q '^mpirun ' "$dir/submit.sbatch"
t_check "(e) mpirun job ends with the reference parameters ($(tail -n 3 "$dir/slurm-$JOB.out" 2>/dev/null))" \
  test "$(t_json "$dir/summary.json" params_crc32 2>/dev/null)" = "$(t_json "$T_DIR/ref_a/summary.json" params_crc32)"

# (f) No sbatch on PATH: a clear message and 127.
PATH=/nonexistent "$DDPC" submit "$cfg" --run-dir "$T_DIR/nosbatch" >/dev/null 2>"$T_DIR/err"
rc=$?
t_check "(f) no sbatch: exit 127 ($rc)" test "$rc" -eq 127
t_check "(f) no sbatch: says so ($(cat "$T_DIR/err"))" grep -q "ddpc submit: cannot run sbatch: No such file or directory" "$T_DIR/err"
t_finish
