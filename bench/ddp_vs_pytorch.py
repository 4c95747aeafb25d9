"""Data-parallel scaling on one machine: ddpc at 1 and 2 ranks (both gradient paths)
against PyTorch DDP with the gloo backend at 2 ranks and PyTorch in one process, on the
Fashion-MNIST MLP (batch 64 per rank, one BLAS thread per rank), measured in one run.
Also the all-reduce bandwidth of ddpc's gradient buckets against plain MPI_Allreduce.

    /usr/bin/python3 bench/ddp_vs_pytorch.py [--build build] [--repeats 2]

ddpc's figure is `samples_per_s` of `ddpc train --set train.epochs=2` under
`mpirun --bind-to core` (training steps only, all ranks together). PyTorch's is the global
samples/s of an eager DDP loop (torch.multiprocessing, gloo over loopback)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1"}


def ddpc_run(build, ranks, extra):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["mpirun", "--bind-to", "core", "-n", str(ranks), os.path.join(build, "bin", "ddpc"), "train",
               os.path.join(ROOT, "examples/fashion_mnist_mlp.yaml"), "--set", "train.epochs=2",
               "--run-dir", tmp, "--quiet"] + extra
        subprocess.run(cmd, check=True, env=dict(os.environ, **MPI_ENV))
        with open(os.path.join(tmp, "summary.json")) as f:
            return json.load(f)


def torch_worker(rank, world, steps, port, queue):
    import torch
    import torch.distributed as dist
    from torch_models import build, load_fashion_mnist, time_steps
    torch.set_num_threads(1)
    x, y = load_fashion_mnist("mlp")
    net = build("mlp")
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        net = torch.nn.parallel.DistributedDataParallel(net)
    rate = time_steps(net, x, y, "mlp", steps, 64, offset=rank, stride=world)
    if world > 1:
        dist.destroy_process_group()
    queue.put(rate)


def torch_run(world, steps=400):
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=torch_worker, args=(r, world, steps, port, queue)) for r in range(world)]
    for p in procs:
        p.start()
    rates = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return min(rates) * world  # the slowest rank sets the pace of a synchronous job


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=2, help="best of N runs of each")
    args = ap.parse_args()
    os.environ.update(MPI_ENV)
    best = lambda f: max(f() for _ in range(args.repeats))
    one = best(lambda: ddpc_run(args.build, 1, [])["samples_per_s"])
    two_shm = best(lambda: ddpc_run(args.build, 2, ["--set", "comm.intra_node=shm"])["samples_per_s"])
    two_mpi = best(lambda: ddpc_run(args.build, 2, ["--set", "comm.intra_node=mpi"])["samples_per_s"])
    two_mpi_flat = best(lambda: ddpc_run(args.build, 2, ["--set", "comm.intra_node=mpi", "--set",
                                                         "comm.overlap=false"])["samples_per_s"])
    t1 = best(lambda: torch_run(1))
    t2 = best(lambda: torch_run(2))
    print("MLP 784-256-128-10, batch 64 per rank, 1 BLAS thread per rank, samples/s (all ranks)")
    print(f"  ddpc 1 rank                      {one:10.0f}")
    print(f"  ddpc 2 ranks, shm (default)      {two_shm:10.0f}   {two_shm / one:.2f}x ddpc 1 rank, "
          f"{two_shm / t2:.2f}x PyTorch DDP")
    print(f"  ddpc 2 ranks, mpi buckets        {two_mpi:10.0f}   {two_mpi / one:.2f}x ddpc 1 rank")
    print(f"  ddpc 2 ranks, mpi, no overlap    {two_mpi_flat:10.0f}   {two_mpi_flat / one:.2f}x ddpc 1 rank")
    print(f"  PyTorch 1 process                {t1:10.0f}")
    print(f"  PyTorch DDP gloo 2 ranks         {t2:10.0f}   {t2 / t1:.2f}x PyTorch 1 process")
    sys.stdout.flush()
    bench = os.path.join(args.build, "bench", "bench_allreduce")
    if os.path.exists(bench):
        print("all-reduce bandwidth at 2 ranks (bench_allreduce):")
        sys.stdout.flush()
        subprocess.run(["mpirun", "--bind-to", "core", "-n", "2", bench], check=True)


if __name__ == "__main__":
    main()
