#!/usr/bin/env bash
# Exact resume: a rank killed with SIGKILL at a random step (mid-epoch included), then
# `--resume auto`, ends with bitwise the parameters of the uninterrupted run; at least 10
# random points across world sizes 1 and 2. Also: a corrupted newest checkpoint is skipped
# with a message and auto falls back; another model is refused naming the keys; another
# world size resumes with a warning; `ddpc inspect` reads a real checkpoint.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
common=(--set train.epochs=4 --set train.batch_size=8 --set checkpoint.every_steps=7 --set checkpoint.keep_last=3 --quiet)
seed=${DDPC_TEST_SEED:-$RANDOM}
echo "random kill points from seed $seed"
RANDOM=$seed

# run_ranks N ARGS...: `ddpc ARGS` on N ranks (N=1 without mpirun).
run_ranks() {
  local n=$1; shift
  if [ "$n" = 1 ]; then t_run "$@"; else t_mpirun 120 "$n" "$@"; fi
}

for n in 1 2; do
  run_ranks "$n" train "$cfg" --run-dir "$T_DIR/ref$n" "${common[@]}"
  t_check "$n ranks: uninterrupted run exits 0 ($T_ERR)" test "$T_RC" -eq 0
  ref=$(t_json "$T_DIR/ref$n/summary.json" params_crc32)
  steps=$(t_json "$T_DIR/ref$n/summary.json" steps)
  for k in 1 2 3 4 5; do
    # After the first checkpoint (step 7), before the last step.
    at=$((RANDOM % (steps - 9) + 8))
    victim=$((RANDOM % n))
    dir="$T_DIR/kill$n-$k"
    DDPC_FAIL_AT="$victim:$at:kill" run_ranks "$n" train "$cfg" --run-dir "$dir" "${common[@]}"
    t_check "$n ranks, rank $victim killed at step $at: the run died (rc $T_RC)" test "$T_RC" -ne 0
    run_ranks "$n" train "$cfg" --run-dir "$dir" --resume auto "${common[@]}"
    t_check "$n ranks, killed at step $at: resume exits 0 ($T_ERR)" test "$T_RC" -eq 0
    got=$(t_json "$dir/summary.json" params_crc32)
    t_check "$n ranks, killed at step $at: params_crc32 $got equals uninterrupted $ref" test "$got" = "$ref"
    t_check "$n ranks, killed at step $at: summary says resumed" test "$(t_json "$dir/summary.json" resumed)" = True
  done
done

# A corrupted newest checkpoint: auto says so and falls back to the previous one, and the
# replay from there still ends bitwise equal.
dir="$T_DIR/corrupt"
DDPC_FAIL_AT="0:150:kill" run_ranks 1 train "$cfg" --run-dir "$dir" "${common[@]}"
newest=$(ls "$dir"/checkpoints/ckpt-*.ddpc | sort | tail -n 1)
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0xff; open(p,"wb").write(b)' "$newest"
t_run inspect "$newest"
t_check "inspect refuses the corrupted file (rc $T_RC)" test "$T_RC" -eq 1
t_check "inspect names the file and the CRC ($T_ERR)" grep -q "$(basename "$newest").*CRC" <<<"$T_ERR"
run_ranks 1 train "$cfg" --run-dir "$dir" --resume auto "${common[@]}"
t_check "auto falls back past the corrupted checkpoint (rc $T_RC)" test "$T_RC" -eq 0
t_check "the skip is reported ($T_ERR)" grep -q "skipping .*$(basename "$newest")" <<<"$T_ERR"
t_check "fallback replay ends bitwise equal" test "$(t_json "$dir/summary.json" params_crc32)" = "$(t_json "$T_DIR/ref1/summary.json" params_crc32)"

# inspect on a real checkpoint.
good=$(ls "$T_DIR"/ref1/checkpoints/ckpt-*.ddpc | sort | tail -n 1)
t_run inspect "$good"
t_check "inspect exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "inspect lists the params section" grep -q "params" <<<"$T_OUT"

# Another model is refused, naming the key; another world size works with a warning.
t_run train "$cfg" --run-dir "$T_DIR/ref1" --resume auto "${common[@]}" --set model.0.units=16
t_expect_error "resume with another model" "model[0]" "differs from the checkpoint"
DDPC_FAIL_AT="0:100:kill" run_ranks 1 train "$cfg" --run-dir "$T_DIR/reshard" "${common[@]}"
t_mpirun 120 2 train "$cfg" --run-dir "$T_DIR/reshard" --resume auto --set train.epochs=4 --set train.batch_size=8 \
  --set checkpoint.every_steps=7 --set checkpoint.keep_last=3
t_check "resume at another world size exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "and says results are no longer bitwise comparable" grep -q "no longer bitwise comparable" <<<"$T_OUT"
t_finish
