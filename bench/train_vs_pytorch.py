"""Single-thread training throughput: ddpc against PyTorch (Debian's python3-torch) on the
Fashion-MNIST MLP and CNN examples, same model, batch size, optimizer and data, measured in
one run. Prints samples/s of both and the ratio ddpc / PyTorch.

    /usr/bin/python3 bench/train_vs_pytorch.py [--build build] [--models mlp,cnn]

ddpc runs `ddpc train EXAMPLE --set train.epochs=1` and reports the throughput of its training
steps (data gather + forward + loss + backward + optimizer; evaluation excluded). PyTorch runs
the tightest eager loop over the same data already in memory as float32 tensors (index,
forward, loss, backward, SGD step), timed the same way. Both use one thread
(OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)). PyTorch runs twice: with the
environment's OPENBLAS_CORETYPE (what a user gets) and with the kernels ddpc picked, so the
ratio can be read both ways; ddpc also runs once more on the environment's kernels
(DDPC_BLAS_CORETYPE=env). For the MLP it also prints the fraction of the matrix-product
bound (bench_gemm_bound: the GEMMs of one step alone, same kernels)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"
EXAMPLES = {"mlp": "examples/fashion_mnist_mlp.yaml", "cnn": "examples/fashion_mnist_cnn.yaml"}


def run_ddpc(build, model, env):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [os.path.join(build, "bin", "ddpc"), "train", os.path.join(ROOT, EXAMPLES[model]),
               "--set", "train.epochs=1", "--run-dir", tmp, "--quiet"]
        subprocess.run(cmd, check=True, env=env)
        with open(os.path.join(tmp, "summary.json")) as f:
            return json.load(f)


TORCH_WORKER = r"""
import json, sys
import torch
sys.path.insert(0, sys.argv[4])
from torch_models import build, load_fashion_mnist, time_steps
torch.set_num_threads(1)
model_name, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x, y = load_fashion_mnist(model_name)
print(json.dumps({"samples_per_s": time_steps(build(model_name), x, y, model_name, steps, batch)}))
"""


def run_torch(model, steps, env):
    out = subprocess.run(["/usr/bin/python3", "-c", TORCH_WORKER, model, str(steps), "64", os.path.join(ROOT, "bench")],
                         check=True, env=env, capture_output=True, text=True)
    return json.loads(out.stdout)["samples_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--repeats", type=int, default=2, help="best of N runs of each side")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        sys.exit("bench: needs Debian's dataset-fashion-mnist")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env_core = env.get("OPENBLAS_CORETYPE", "(OpenBLAS detection)")
    print(f"environment OPENBLAS_CORETYPE: {env_core}; DDPC_BLAS_CORETYPE: {env.get('DDPC_BLAS_CORETYPE', 'auto')}")
    for model in args.models.split(","):
        steps = 600 if model == "mlp" else 150
        ddpc = [run_ddpc(args.build, model, env) for _ in range(args.repeats)]
        ddpc_sps = max(s["samples_per_s"] for s in ddpc)
        core = ddpc[0]["blas_core"]
        env_kernels = dict(env, DDPC_BLAS_CORETYPE="env")
        ddpc_env = max(run_ddpc(args.build, model, env_kernels)["samples_per_s"] for _ in range(args.repeats))
        torch_env = max(run_torch(model, steps, env) for _ in range(args.repeats))
        same_env = dict(env, OPENBLAS_CORETYPE=core)
        torch_same = max(run_torch(model, steps, same_env) for _ in range(args.repeats))
        print(f"{model}: batch 64, 1 thread")
        print(f"  ddpc     {ddpc_sps:10.0f} samples/s  (OpenBLAS core {core})")
        print(f"  pytorch  {torch_env:10.0f} samples/s  (OpenBLAS core {env_core})   ratio ddpc/pytorch {ddpc_sps / torch_env:.2f}")
        print(f"  pytorch  {torch_same:10.0f} samples/s  (OpenBLAS core {core})   ratio ddpc/pytorch {ddpc_sps / torch_same:.2f}")
        print(f"  both on the environment's kernels ({env_core}): ddpc {ddpc_env:.0f} samples/s, "
              f"ratio ddpc/pytorch {ddpc_env / torch_env:.2f}")
        if model == "mlp":
            out = subprocess.run([os.path.join(args.build, "bench", "bench_gemm_bound"), "64", "784", "256", "128", "10"],
                                 check=True, env=same_env, capture_output=True, text=True)
            bound = json.loads(out.stdout)
            print(f"  matrix-product bound {bound['bound_samples_per_s']:.0f} samples/s "
                  f"({bound['gemm_ms_per_step']:.3f} ms/step, core {bound['core']}): ddpc reaches "
                  f"{ddpc_sps / bound['bound_samples_per_s']:.0%} of it")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
