"""GPU training throughput: ddpc (`device: cuda`) against PyTorch on the same GPU, the
Fashion-MNIST MLP and CNN examples at several batch sizes, one rank, interleaved repeats
(ddpc, PyTorch, ddpc, ...), medians. Prints samples/s of both and the ratio ddpc / PyTorch.

    python3 bench/gpu_vs_pytorch.py [--build build] [--repeats 3]

ddpc reports the throughput of its training steps (summary.json `samples_per_s`:
evaluation excluded). PyTorch runs the tightest eager loop over the same data already on
the GPU (index, forward, loss, backward, SGD step; bench/torch_models.py), timed between
two torch.cuda.synchronize(). Both in float32 without TF32 (ddpc's cuBLAS runs in pedantic
float32; PyTorch's matmul and cuDNN TF32 are turned off here to match)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = {"mlp": "examples/fashion_mnist_mlp.yaml", "cnn": "examples/fashion_mnist_cnn.yaml"}
CASES = [("mlp", 64, 3), ("mlp", 1024, 6), ("cnn", 64, 2), ("cnn", 256, 3)]  # model, batch, ddpc epochs

TORCH_WORKER = r"""
import json, sys
import torch
sys.path.insert(0, sys.argv[4])
from torch_models import build, load_fashion_mnist, time_steps
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
model_name, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x, y = load_fashion_mnist(model_name)
x, y = x.cuda(), y.cuda()
print(json.dumps({"samples_per_s": time_steps(build(model_name).cuda(), x, y, model_name, steps, batch, warmup=50)}))
"""


def run_ddpc(build, model, batch, epochs):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([os.path.join(build, "bin", "ddpc"), "train", os.path.join(ROOT, EXAMPLES[model]),
                        "--set", "device=cuda", "--set", f"train.batch_size={batch}", "--set", f"train.epochs={epochs}",
                        "--run-dir", tmp, "--quiet"], check=True)
        with open(os.path.join(tmp, "summary.json")) as f:
            return json.load(f)["samples_per_s"]


def run_torch(model, batch):
    steps = max(200, 160000 // batch)
    out = subprocess.run([sys.executable, "-c", TORCH_WORKER, model, str(steps), str(batch), os.path.join(ROOT, "bench")],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["samples_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import torch
    if not torch.cuda.is_available():
        sys.exit("bench: needs a GPU and a PyTorch built with CUDA")
    print(f"GPU: {torch.cuda.get_device_name(0)}; PyTorch {torch.__version__}")
    print(f"{'model':5} {'batch':>5} {'ddpc samples/s':>15} {'pytorch':>12} {'ratio':>6}")
    for model, batch, epochs in CASES:
        d, t = [], []
        for _ in range(args.repeats):
            d.append(run_ddpc(args.build, model, batch, epochs))
            t.append(run_torch(model, batch))
        dm, tm = statistics.median(d), statistics.median(t)
        print(f"{model:5} {batch:5d} {dm:15.0f} {tm:12.0f} {dm / tm:6.2f}", flush=True)


if __name__ == "__main__":
    main()
