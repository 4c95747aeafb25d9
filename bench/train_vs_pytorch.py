"""Training throughput at 1 and 2 ranks: ddpc against PyTorch 2.x from PyPI (what a user
installs today; oneDNN on the CPU) and Debian's python3-torch 1.13, on the Fashion-MNIST MLP
and CNN examples, same model, batch size (64 per rank), optimizer and data, one thread per
rank. For each model, every repeat runs each side once at each rank count, interleaved
(ddpc, PyTorch 2.x, PyTorch 1.13 at 1 rank, the same at 2 ranks, again ...); medians of the
repeats, one table out, with a row "2 / 1 ranks" giving each side's scaling.

    /usr/bin/python3 bench/train_vs_pytorch.py [--build build] [--models mlp,cnn] [--ranks 1,2] [--repeats 3]

PyTorch 2.x lives in a virtual environment under ~/.cache/ddpc-bench that the script makes
when missing (bench/torch_env.py; large: about 5.4 GB with the CUDA libraries of the
default wheel, unused here). ddpc runs `ddpc train EXAMPLE --set train.epochs=1` (at 1 rank
as a user starts it, at N ranks under `mpirun --bind-to core -n N` on its default gradient
path) and reports the throughput of its training steps, all ranks together (data gather +
forward + loss + backward + gradient all-reduce + optimizer; evaluation excluded). PyTorch
runs the tightest eager loop over the same data already in memory as float32 tensors
(index, forward, loss, backward, SGD step; bench/torch_models.py), timed the same way: in
one process at 1 rank, as DistributedDataParallel with gloo over loopback between N
processes at N ranks (each rank its own samples; the slowest rank's rate times N). All use
one thread per rank (OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1, torch.set_num_threads(1))
and the environment's OPENBLAS_CORETYPE for PyTorch 1.13 (ddpc picks its own kernels:
the core in parentheses). Below the table, for the MLP, the fraction of the matrix-product
bound (bench_gemm_bound: the GEMMs of one step alone, ddpc's kernels) that ddpc's 1 rank
reaches.

Before and after each multi-rank run, bench_core_roundtrip times a cache line's round trip
between the first two CPUs. On a virtual machine the hypervisor may place the two vCPUs on
one core complex (about 60 ns) or on two (about 340 ns) and move them at any time; every
exchange between ranks pays that distance, so each run is printed with both times, and the
multi-rank runs are also summed up by placement: near (both under NEAR_NS), far (both
over) or moved."""
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
# One BLAS thread per rank; Open MPI refuses root without the two ALLOW variables.
RUN_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
TORCH_STEPS = {"mlp": 600, "cnn": 150}  # per rank, after 20 warm-up steps
NEAR_NS = 150  # round trips measured: 53-68 ns on one core complex, 318-350 ns across two


def run_ddpc(build, model, ranks, extra=(), epochs=1):
    """The summary.json of `ddpc train` on an example: plain at 1 rank, under mpirun bound
    to cores at more; `extra` adds command-line arguments (e.g. --set overrides)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [os.path.join(build, "bin", "ddpc"), "train", os.path.join(ROOT, EXAMPLES[model]),
               "--set", f"train.epochs={epochs}", "--run-dir", tmp, "--quiet"] + list(extra)
        if ranks > 1:
            cmd = ["mpirun", "--bind-to", "core", "-n", str(ranks)] + cmd
        subprocess.run(cmd, check=True, env=dict(os.environ, **RUN_ENV))
        with open(os.path.join(tmp, "summary.json")) as f:
            return json.load(f)


def core_roundtrip(build):
    """Nanoseconds of a cache line's round trip between the first two CPUs."""
    out = subprocess.run([os.path.join(build, "bench", "bench_core_roundtrip")], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout)["round_trip_ns"]


def run_torch(python, model, ranks):
    """Samples/s of all ranks of PyTorch under `python` (bench/torch_models.py's measure)."""
    out = subprocess.run([python, os.path.join(ROOT, "bench", "torch_models.py"), model, str(TORCH_STEPS[model]),
                          "64", str(ranks)], check=True, env=dict(os.environ, **RUN_ENV), capture_output=True,
                         text=True)
    return json.loads(out.stdout)["samples_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--ranks", default="1,2", help="rank counts, comma-separated")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs of each side; medians are shown")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        sys.exit("bench: needs Debian's dataset-fashion-mnist")
    rank_counts = [int(r) for r in args.ranks.split(",")]
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from torch_env import DEBIAN_PYTHON, torch2_python, torch_version
    pythons = {"2": torch2_python(), "1": DEBIAN_PYTHON}
    versions = {k: torch_version(p) for k, p in pythons.items()}
    print(f"CPU: {cpu_model()}; one thread per rank, batch 64 per rank; PyTorch {versions['2']} and "
          f"{versions['1']} (DDP gloo past 1 rank); samples/s of all ranks, medians of {args.repeats} interleaved runs")
    print(f"| model | ranks | ddpc | PyTorch {versions['2']} | ratio | PyTorch {versions['1']} | ratio |")
    print("|---|---|---|---|---|---|---|")
    notes = []
    for model in args.models.split(","):
        runs = {(side, r): [] for r in rank_counts for side in ("ddpc", "2", "1")}
        apart = {key: [] for key in runs}  # the CPUs' round trips (ns) before and after each multi-rank run
        for _ in range(args.repeats):
            for r in rank_counts:
                for side in runs_order(pythons):
                    before = core_roundtrip(args.build) if r > 1 else None
                    if side == "ddpc":
                        summary = run_ddpc(args.build, model, r)
                        runs[side, r].append(summary["samples_per_s"])
                        core = summary["blas_core"]
                    else:
                        runs[side, r].append(run_torch(pythons[side], model, r))
                    if r > 1:
                        apart[side, r].append((before, core_roundtrip(args.build)))
        # Every run, so a median drawn from scattered runs can be seen as such.
        for (side, r), v in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            name = "ddpc" if side == "ddpc" else f"PyTorch {versions[side]}"
            shown = [f"{x:,.0f}" + (f" ({ns[0]:.0f}/{ns[1]:.0f} ns)" if ns else "")
                     for x, ns in zip(v, apart[side, r] or [None] * len(v))]
            print(f"{model}, {r} rank(s), {name}: " + ", ".join(shown), file=sys.stderr)
        med = {key: statistics.median(v) for key, v in runs.items()}
        for r in rank_counts:
            d, t2, t1 = (med[side, r] for side in ("ddpc", "2", "1"))
            print(f"| {model} ({core}) | {r} | {d:,.0f} | {t2:,.0f} | **{d / t2:.2f}** | {t1:,.0f} | {d / t1:.2f} |")
        if 1 in rank_counts:
            for r in (r for r in rank_counts if r > 1):
                d, t2, t1 = (med[side, r] / med[side, 1] for side in ("ddpc", "2", "1"))
                print(f"| {model} | {r} / 1 ranks | **{d:.2f}x** | {t2:.2f}x | | {t1:.2f}x | |")
        for r in (r for r in rank_counts if r > 1):
            notes.append(f"{model}, {r} ranks, by where the first two CPUs sat (round trips before and after): " +
                         "; ".join(placement_line(runs, apart, med, side, r, versions) for side in runs_order(pythons)))
        sys.stdout.flush()
        if model == "mlp" and 1 in rank_counts:
            out = subprocess.run([os.path.join(args.build, "bench", "bench_gemm_bound"), "64", "784", "256", "128", "10"],
                                 check=True, env=dict(os.environ, **RUN_ENV, OPENBLAS_CORETYPE=core),
                                 capture_output=True, text=True)
            bound = json.loads(out.stdout)
            notes.append(f"mlp: matrix-product bound {bound['bound_samples_per_s']:,.0f} samples/s "
                         f"({bound['gemm_ms_per_step']:.3f} ms/step, core {bound['core']}): ddpc's 1 rank reaches "
                         f"{med['ddpc', 1] / bound['bound_samples_per_s']:.0%} of it")
    for note in notes:
        print(note)


def runs_order(pythons):
    """The sides in the order each repeat runs them: ddpc, then each PyTorch."""
    return ["ddpc"] + list(pythons)


def placement(round_trips):
    """near or far when both round trips agree, moved when the CPUs moved during the run."""
    near = [ns < NEAR_NS for ns in round_trips]
    return "near" if all(near) else "far" if not any(near) else "moved"


def placement_line(runs, apart, med, side, r, versions):
    """One side's multi-rank runs split by placement: count, median and its ratio to 1 rank."""
    name = "ddpc" if side == "ddpc" else f"PyTorch {versions[side]}"
    parts = []
    for label in ("near", "far", "moved"):
        v = [x for x, ns in zip(runs[side, r], apart[side, r]) if placement(ns) == label]
        if v:
            m = statistics.median(v)
            ratio = f", {m / med[side, 1]:.2f}x 1 rank" if (side, 1) in med else ""
            parts.append(f"{label} {len(v)} run(s) {m:,.0f}{ratio}")
    return f"{name} " + ", ".join(parts)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")


if __name__ == "__main__":
    main()
