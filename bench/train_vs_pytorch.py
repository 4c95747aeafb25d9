"""Single-thread training throughput: ddpc against PyTorch 2.x from PyPI (what a user installs
today; oneDNN on the CPU) and Debian's python3-torch 1.13, on the Fashion-MNIST MLP and CNN
examples, same model, batch size, optimizer and data. The three run interleaved (ddpc,
PyTorch 2.x, PyTorch 1.13, again ...), medians of the repeats; one table out.

    /usr/bin/python3 bench/train_vs_pytorch.py [--build build] [--models mlp,cnn] [--repeats 3]

PyTorch 2.x lives in a virtual environment under ~/.cache/ddpc-bench that the script makes
when missing (bench/torch_env.py; large: about 5.4 GB with the CUDA libraries of the
default wheel, unused here). ddpc runs `ddpc train EXAMPLE --set train.epochs=1` and
reports the throughput of its training steps (data gather + forward + loss + backward +
optimizer; evaluation excluded). PyTorch runs the tightest eager loop over the same data
already in memory as float32 tensors (index, forward, loss, backward, SGD step), timed the
same way. All use one thread (OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1,
torch.set_num_threads(1)) and the environment's OPENBLAS_CORETYPE for PyTorch 1.13 (ddpc
picks its own kernels: `blas_core` below). For the MLP it also prints the fraction of the
matrix-product bound (bench_gemm_bound: the GEMMs of one step alone, ddpc's kernels)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

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


def run_torch(python, model, steps, env):
    out = subprocess.run([python, "-c", TORCH_WORKER, model, str(steps), "64", os.path.join(ROOT, "bench")],
                         check=True, env=env, capture_output=True, text=True)
    return json.loads(out.stdout)["samples_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs of each side; medians are shown")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        sys.exit("bench: needs Debian's dataset-fashion-mnist")
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from torch_env import DEBIAN_PYTHON, torch2_python, torch_version
    pythons = {"2": torch2_python(), "1": DEBIAN_PYTHON}
    versions = {k: torch_version(p) for k, p in pythons.items()}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    print(f"CPU: {cpu_model()}; one thread each; PyTorch {versions['2']} and {versions['1']}; "
          f"medians of {args.repeats} interleaved runs")
    print(f"| model | ddpc | PyTorch {versions['2']} | ratio | PyTorch {versions['1']} | ratio |")
    print("|---|---|---|---|---|---|")
    for model in args.models.split(","):
        steps = 600 if model == "mlp" else 150
        runs = {"ddpc": [], "2": [], "1": []}
        for _ in range(args.repeats):
            summary = run_ddpc(args.build, model, env)
            runs["ddpc"].append(summary["samples_per_s"])
            core = summary["blas_core"]
            for k, python in pythons.items():
                runs[k].append(run_torch(python, model, steps, env))
        d, t2, t1 = (statistics.median(runs[k]) for k in ("ddpc", "2", "1"))
        print(f"| {model} ({core}) | {d:,.0f} | {t2:,.0f} | **{d / t2:.2f}** | {t1:,.0f} | {d / t1:.2f} |", flush=True)
        if model == "mlp":
            out = subprocess.run([os.path.join(args.build, "bench", "bench_gemm_bound"), "64", "784", "256", "128", "10"],
                                 check=True, env=dict(env, OPENBLAS_CORETYPE=core), capture_output=True, text=True)
            bound = json.loads(out.stdout)
            print(f"  matrix-product bound {bound['bound_samples_per_s']:,.0f} samples/s "
                  f"({bound['gemm_ms_per_step']:.3f} ms/step, core {bound['core']}): ddpc reaches "
                  f"{d / bound['bound_samples_per_s']:.0%} of it", flush=True)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")


if __name__ == "__main__":
    main()
