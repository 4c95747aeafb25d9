#!/usr/bin/env bash
# ctest-labels: gpu
# `device: cuda` end to end; SKIPPED (exit 77) where this ddpc has no CUDA or the machine no
# GPU. On a GPU: the MLP and the CNN trained for 200+ steps on the GPU follow the CPU
# run's per-step loss within 1e-3; a GPU run's checkpoint resumes on the CPU and a CPU
# run's on the GPU, each ending close to the uninterrupted run; two ranks on one GPU are
# refused with a message; two ranks on two GPUs (where there are two) all-reduce with NCCL
# and stay in lockstep.
source "$(dirname "$0")/lib/common.bash"
mlp="$DDPC_SOURCE_DIR/examples/fashion_mnist_mlp.yaml"
cnn="$DDPC_SOURCE_DIR/examples/fashion_mnist_cnn.yaml"
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "SKIPPED: no Fashion-MNIST"; exit 77; }

t_run train "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --run-dir "$T_DIR/probe" --quiet --set device=cuda \
  --set train.epochs=0
case "$T_ERR" in
  *"built without CUDA"* | *"no usable GPU"*) echo "SKIPPED: ${T_ERR#*error: }"; exit 77 ;;
esac
t_check "a CUDA build with a GPU runs device: cuda (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0

# 78 % of the training file for validation leaves 13,200 samples: 206 steps of 64.
short=(--set data.val_fraction=0.78 --set train.epochs=1 --set train.log_every_steps=1 --quiet)
# same_curve NAME A B: steps.jsonl of runs A and B agree within 1e-3 at every step, >= 200 steps.
same_curve() {
  python3 -c '
import json, sys
a = [json.loads(l)["loss"] for l in open(sys.argv[1])]
b = [json.loads(l)["loss"] for l in open(sys.argv[2])]
worst = max(abs(x - y) for x, y in zip(a, b))
print(f"{sys.argv[3]}: {len(a)} steps, largest loss difference {worst:.2e}")
assert len(a) == len(b) >= 200 and worst <= 1e-3, (len(a), len(b), worst)
' "$2/steps.jsonl" "$3/steps.jsonl" "$1"
}
for model in mlp cnn; do
  cfg=${!model}
  t_run train "$cfg" --run-dir "$T_DIR/$model-cpu" "${short[@]}"
  t_check "$model on the CPU exits 0 ($T_ERR)" test "$T_RC" -eq 0
  t_run train "$cfg" --run-dir "$T_DIR/$model-gpu" "${short[@]}" --set device=cuda
  t_check "$model on the GPU exits 0 ($T_ERR)" test "$T_RC" -eq 0
  t_check "$model: the GPU follows the CPU's loss curve within 1e-3" same_curve "$model" "$T_DIR/$model-cpu" "$T_DIR/$model-gpu"
  t_run train "$cfg" --run-dir "$T_DIR/$model-gpu2" "${short[@]}" --set device=cuda
  t_check "$model: the GPU run repeats bitwise" \
    test "$(t_json "$T_DIR/$model-gpu2/summary.json" params_crc32)" = "$(t_json "$T_DIR/$model-gpu/summary.json" params_crc32)"
done

# Checkpoints move between devices: preempted on one, resumed on the other (the file
# format is the same); the result is close to, not bitwise, the run that never moved.
# close_end A B: the last epoch's train_loss of A and B within 1e-3.
close_end() {
  python3 -c '
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])][-1]["train_loss"]
b = [json.loads(l) for l in open(sys.argv[2])][-1]["train_loss"]
assert abs(a - b) <= 1e-3, (a, b)
' "$1/metrics.jsonl" "$2/metrics.jsonl"
}
move=(--set data.val_fraction=0.78 --set train.epochs=2 --set checkpoint.every_steps=50 --quiet)
DDPC_FAIL_AT=0:120:term t_run train "$mlp" --run-dir "$T_DIR/g2c" "${move[@]}" --set device=cuda
t_check "GPU run preempted (rc $T_RC: $T_ERR)" test "$T_RC" -eq 5
t_run train "$mlp" --run-dir "$T_DIR/g2c" --resume auto "${move[@]}" --set device=cpu
t_check "its checkpoint resumes on the CPU (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
DDPC_FAIL_AT=0:120:term t_run train "$mlp" --run-dir "$T_DIR/c2g" "${move[@]}"
t_check "CPU run preempted (rc $T_RC: $T_ERR)" test "$T_RC" -eq 5
t_run train "$mlp" --run-dir "$T_DIR/c2g" --resume auto "${move[@]}" --set device=cuda
t_check "its checkpoint resumes on the GPU (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_run train "$mlp" --run-dir "$T_DIR/stay" "${move[@]}"
t_check "the run that stayed on the CPU exits 0 ($T_ERR)" test "$T_RC" -eq 0
t_check "GPU -> CPU ends close to the CPU run" close_end "$T_DIR/g2c" "$T_DIR/stay"
t_check "CPU -> GPU ends close to the CPU run" close_end "$T_DIR/c2g" "$T_DIR/stay"

if command -v mpirun >/dev/null; then
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  if [ "${gpus:-0}" -lt 2 ]; then
    t_mpirun 120 2 train "$mlp" --run-dir "$T_DIR/two" "${short[@]}" --set device=cuda
    t_check "two ranks on one GPU: exit 1 (rc $T_RC)" test "$T_RC" -eq 1
    t_check "two ranks on one GPU: says so ($T_ERR)" grep -q "local rank 1 has no GPU of its own" <<<"$T_ERR"
  else
    t_mpirun 300 2 train "$mlp" --run-dir "$T_DIR/two" "${short[@]}" --set device=cuda
    t_check "two ranks on two GPUs: exit 0 ($T_ERR)" test "$T_RC" -eq 0
    t_check "two ranks on two GPUs: gradients through NCCL" test "$(t_json "$T_DIR/two/summary.json" comm_method)" = nccl
  fi
fi
t_finish
