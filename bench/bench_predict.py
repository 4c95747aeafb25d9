"""Inference throughput: `ddpc predict` against ONNX Runtime on the same trained model (its
`ddpc export --format onnx`), one thread each, on the Fashion-MNIST test set (10,000 images
as stored in t10k-images-idx3-ubyte.gz), measured in one run, repetitions interleaved.

    $DDPC_PYTHON bench/bench_predict.py [--build build] [--models mlp,cnn] [--reps 9] [--kernels auto,Haswell]
        [--gemm packed,blas]

DDPC_PYTHON is the test environment's interpreter (.venv-tests/bin/python: numpy and
onnxruntime 1.20.1, installed by .ci/setup). Each model is trained for one epoch first
(examples/fashion_mnist_{mlp,cnn}.yaml; the weights do not change the work), exported, and
ONNX Runtime's probabilities are checked against ddpc's (within 1e-5) so that both sides
compute the same thing. Two figures per side, each the median over the repetitions:

- model: raw pixels in memory -> class probabilities in memory, in the batches ddpc chooses
  (167 for the MLP, whose input rows it keeps within half of L2; 13 for the CNN, whose large
  activations it keeps within the cache; ONNX Runtime was also fastest near there, 0.88 s at
  13 against 1.13 s at 256). ddpc: the
  `predict` time `ddpc predict` prints (uint8 -> float and the training preprocessing, the
  forward passes, softmax, predicted class, gathering the rows). ONNX Runtime:
  session.run over the same batches of the uint8 images (its graph casts, scales and
  standardizes, runs the layers and the softmax), the session already made. Both as wall
  time and as the predicting thread's CPU time (ddpc prints it beside the wall time; ONNX
  Runtime runs in the calling thread with one intra-op thread), which other processes on a
  loaded machine inflate far less.
- end to end, what a user's job costs: ddpc: the wall time of the whole `ddpc predict RUN
  --data t10k-images.gz --out FILE` process (start, checkpoint load and CRC check, gunzip
  and parse, predict, write the CSV with %.9g numbers, fsync and rename). ONNX Runtime as a
  program: the wall time of a Python process (this script, --ort-program) that imports
  numpy and onnxruntime, gunzips and parses the IDX file, makes the session, runs every
  batch and writes the same CSV (predicted, p_0..p_9) with numpy.savetxt. ONNX Runtime in
  process, its best case: inside this process, after the imports, gunzip and parse, make
  the session, run every batch, concatenate the probabilities; no CSV. ddpc does strictly
  more than that last one (a process start and a CSV file).

ddpc runs with OPENBLAS_NUM_THREADS=1, on the OpenBLAS kernels DDPC_BLAS_CORETYPE picks
(auto: the best the CPU has, as for training; --kernels runs more settings side by side);
ONNX Runtime with intra_op_num_threads=1 and inter_op_num_threads=1. A model of linear layers
and ReLUs runs as products with weights packed at load (core/gemm.c) unless
DDPC_PREDICT_GEMM=blas; --gemm packed,blas runs both side by side. Prints a Markdown table
for bench/RESULTS.md."""
import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"
IMAGES = f"{DATA}/t10k-images-idx3-ubyte.gz"
EXAMPLES = {"mlp": "examples/fashion_mnist_mlp.yaml", "cnn": "examples/fashion_mnist_cnn.yaml"}


def die(msg):
    print(f"bench_predict: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        die(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def read_idx(path):
    """uint8 (n, rows, cols), the pixels as stored."""
    data = gzip.open(path).read()
    n, rows, cols = (int(v) for v in np.frombuffer(data[4:16], dtype=">u4"))
    return np.frombuffer(data, dtype=np.uint8, count=n * rows * cols, offset=16).reshape(n, rows, cols)


def ort_session(model_path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])


def ort_once(model_path, batch):
    """(model seconds, end-to-end seconds, probabilities, model CPU seconds) of one ONNX Runtime
    pass. With intra_op_num_threads=1 the session runs in the calling thread, so the model CPU
    time is this thread's (time.thread_time)."""
    t0 = time.perf_counter()
    x = read_idx(IMAGES)
    sess = ort_session(model_path)
    t1, c1 = time.perf_counter(), time.thread_time()
    out = [sess.run(["probabilities"], {"input": x[a:a + batch]})[0] for a in range(0, len(x), batch)]
    t2, c2 = time.perf_counter(), time.thread_time()
    probs = np.concatenate(out)
    t3 = time.perf_counter()
    return t2 - t1, t3 - t0, probs, c2 - c1


def ort_program(model_path, out_csv, batch):
    """The ONNX Runtime counterpart of `ddpc predict` as a program of its own (--ort-program)."""
    probs = ort_once(model_path, batch)[2]
    table = np.column_stack([probs.argmax(axis=1), probs])
    header = "predicted," + ",".join(f"p_{k}" for k in range(probs.shape[1]))
    np.savetxt(out_csv, table, fmt=["%d"] + ["%.9g"] * probs.shape[1], delimiter=",", header=header, comments="")


def ort_program_once(model_path, out_csv, batch):
    """Wall seconds of the ONNX Runtime program, interpreter start and imports included."""
    t0 = time.perf_counter()
    run([sys.executable, os.path.abspath(__file__), "--ort-program", model_path, out_csv, str(batch)], os.environ)
    return time.perf_counter() - t0


def ddpc_once(ddpc, run_dir, out_csv, env, n):
    """(model seconds, end-to-end seconds, read seconds, write seconds, batch, model CPU seconds) of
    one ddpc predict."""
    t0 = time.perf_counter()
    r = run([ddpc, "predict", run_dir, "--data", IMAGES, "--out", out_csv], env)
    wall = time.perf_counter() - t0
    m = re.search(r"read ([0-9.]+) s, predict [0-9.]+ s \((\d+) samples/s, batch (\d+); cpu ([0-9.]+) s\), "
                  r"write ([0-9.]+) s", r.stderr)
    if not m:
        die(f"no timing line in ddpc predict's stderr: {r.stderr}")
    # The model time from the rate, which has more digits than the seconds printed beside it.
    return n / float(m.group(2)), wall, float(m.group(1)), float(m.group(5)), int(m.group(3)), float(m.group(4))


def prepare(ddpc, work, name, env):
    """Trains the example for one epoch (once) and exports it to ONNX."""
    run_dir = os.path.join(work, name)
    if not os.path.isdir(os.path.join(run_dir, "checkpoints")):
        print(f"# training {name} for one epoch ...", file=sys.stderr, flush=True)
        run([ddpc, "train", os.path.join(ROOT, EXAMPLES[name]), "--set", "train.epochs=1", "--run-dir", run_dir,
             "--quiet"], env)
    onnx_path = os.path.join(work, f"{name}.onnx")
    run([ddpc, "export", run_dir, "--format", "onnx", "--out", onnx_path], env)
    return run_dir, onnx_path


def check_same(csv_path, probs):
    got = np.loadtxt(csv_path, delimiter=",", skiprows=1, dtype=np.float64)
    if got.shape != (probs.shape[0], probs.shape[1] + 1):
        die(f"{csv_path}: shape {got.shape}, ONNX Runtime gave {probs.shape}")
    diff = float(np.max(np.abs(got[:, 1:] - probs)))
    if diff > 1e-5:
        die(f"ddpc and ONNX Runtime disagree by {diff} on a probability: not the same model?")
    return diff


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = re.search(r"Model name:\s*(.+)", out).group(1).strip()
        flags = re.search(r"Flags:\s*(.+)", out).group(1).split()
        simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
        return f"{name} ({', '.join(simd)}), {os.cpu_count()} CPUs"
    except (OSError, AttributeError):
        return "unknown CPU"


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--ort-program":
        ort_program(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--work", help="keep the runs and exports here (default: a temporary folder)")
    ap.add_argument("--kernels", default="auto",
                    help="DDPC_BLAS_CORETYPE values to run ddpc with, comma-separated (e.g. auto,Haswell)")
    ap.add_argument("--gemm", default="packed",
                    help="DDPC_PREDICT_GEMM values to run ddpc with, comma-separated: packed (default), blas")
    args = ap.parse_args()
    kernels = [f"{k}/{g}" for k in args.kernels.split(",") for g in args.gemm.split(",")]
    ddpc = os.path.join(args.build, "bin", "ddpc")
    if not os.access(ddpc, os.X_OK):
        die(f"{ddpc} missing: build first (cmake --build {args.build})")
    if not os.path.exists(IMAGES):
        die(f"{IMAGES} missing (Debian's dataset-fashion-mnist)")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = args.work or tmp.name
    os.makedirs(work, exist_ok=True)
    n = len(read_idx(IMAGES))
    print(f"# {cpu_model()}; ddpc {run([ddpc, '--version'], env).stdout.strip()}, onnxruntime {ort.__version__}, "
          f"numpy {np.__version__}; {n} images, 1 thread each, {args.reps} interleaved repetitions, "
          f"medians")
    rows = []
    for name in args.models.split(","):
        if name not in EXAMPLES:
            die(f"unknown model '{name}' (mlp, cnn)")
        run_dir, onnx_path = prepare(ddpc, work, name, env)
        out_csv = os.path.join(work, f"{name}.csv")
        batch = ddpc_once(ddpc, run_dir, out_csv, env, n)[4]  # also warms the page cache for both
        probs = ort_once(onnx_path, batch)[2]
        diff = check_same(out_csv, probs)
        ort_csv = os.path.join(work, f"{name}_ort.csv")
        # One ddpc side per kernel setting (DDPC_BLAS_CORETYPE), then ONNX Runtime in process
        # and as a program; the order rotates every repetition, so none always follows another.
        sides = [f"ddpc:{k}" for k in kernels] + ["ort", "program"]
        times = {side: [] for side in sides}
        for rep in range(args.reps):
            for side in sides[rep % len(sides):] + sides[:rep % len(sides)]:
                if side == "ort":
                    m, w, _, c = ort_once(onnx_path, batch)
                    times[side].append((m, w, c))
                elif side == "program":
                    times[side].append(ort_program_once(onnx_path, ort_csv, batch))
                else:
                    core, gemm = side.split(":")[1].split("/")
                    kenv = dict(env, DDPC_BLAS_CORETYPE=core, DDPC_PREDICT_GEMM=gemm)
                    m, w, r, wr, _, c = ddpc_once(ddpc, run_dir, out_csv, kenv, n)
                    times[side].append((m, w, r, wr, c))
        med = statistics.median
        ort_model, ort_wall = med(t[0] for t in times["ort"]), med(t[1] for t in times["ort"])
        for k in kernels:
            t = times[f"ddpc:{k}"]
            # Each repetition's ratio, ddpc's model time against ONNX Runtime's in the same round.
            paired = sorted(o[0] / v[0] for v, o in zip(t, times["ort"]))
            paired_cpu = sorted(o[2] / v[4] for v, o in zip(t, times["ort"]))
            cpu_ratio = med(o[2] for o in times["ort"]) / med(v[4] for v in t)
            rows.append((name, k, batch, n / med(v[0] for v in t), n / ort_model, med(v[1] for v in t),
                         med(times["program"]), ort_wall, med(v[2] for v in t), med(v[3] for v in t), diff,
                         paired, cpu_ratio, paired_cpu))
            print(f"# {name}, ddpc kernels {k}: model {sorted(round(v[0], 4) for v in t)}, "
                  f"cpu {sorted(round(v[4], 4) for v in t)}", file=sys.stderr)
        print(f"# {name}, ONNX Runtime: model {sorted(round(v[0], 4) for v in times['ort'])}, "
              f"cpu {sorted(round(v[2], 4) for v in times['ort'])}", file=sys.stderr)
    print()
    print("Model (raw pixels in memory to probabilities in memory), samples/s:")
    print()
    print("| model | ddpc kernels / product | batch | ddpc | ONNX Runtime | ddpc / ONNX Runtime | "
          "per round, min-max | in CPU time | per round, min-max | max difference of a probability |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, k, batch, dm, om, dw, op, ow, dr, dwr, diff, paired, cr, pc in rows:
        print(f"| {name.upper()} | {k} | {batch} | {dm:,.0f} | {om:,.0f} | **{dm / om:.2f}** | "
              f"{paired[0]:.2f}-{paired[-1]:.2f} | **{cr:.2f}** | {pc[0]:.2f}-{pc[-1]:.2f} | {diff:.1e} |")
    print()
    print("End to end (the IDX file to predictions), seconds (lower is better):")
    print()
    print("| model | ddpc kernels / product | `ddpc predict` to CSV | ONNX Runtime program to CSV | ratio | ONNX Runtime in "
          "process, no CSV | ratio | ddpc's read / predict / write |")
    print("|---|---|---|---|---|---|---|---|")
    for name, k, batch, dm, om, dw, op, ow, dr, dwr, diff, paired, cr, pc in rows:
        print(f"| {name.upper()} | {k} | {dw:.3f} | {op:.3f} | **{op / dw:.2f}** | {ow:.3f} | **{ow / dw:.2f}** | "
              f"{dr:.3f} / {n / dm:.3f} / {dwr:.3f} |")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
