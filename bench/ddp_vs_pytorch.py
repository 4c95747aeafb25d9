"""Data-parallel scaling on one machine: ddpc at 1 and 2 ranks (both gradient paths)
against PyTorch DDP with the gloo backend at 2 ranks and PyTorch in one process, on the
Fashion-MNIST MLP (batch 64 per rank, one BLAS thread per rank), measured in one run.
Also the all-reduce bandwidth of ddpc's gradient buckets against plain MPI_Allreduce.

    /usr/bin/python3 bench/ddp_vs_pytorch.py [--build build] [--repeats 2]

ddpc's figure is `samples_per_s` of `ddpc train --set train.epochs=2` (at 2 ranks under
`mpirun --bind-to core`; bench/train_vs_pytorch.py's run_ddpc), training steps only, all
ranks together. PyTorch's is the global samples/s of an eager DDP loop (torch.multiprocessing,
gloo over loopback; bench/torch_models.py's measure), of Debian's PyTorch: this script runs
under it. bench/train_vs_pytorch.py sets both sides, with PyTorch 2.x too, at 1 and 2 ranks on
the MLP and the CNN; this one adds ddpc's other gradient paths and the all-reduce alone."""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from torch_models import measure
from train_vs_pytorch import RUN_ENV, run_ddpc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=2, help="best of N runs of each")
    args = ap.parse_args()
    os.environ.update(RUN_ENV)
    best = lambda f: max(f() for _ in range(args.repeats))
    ddpc = lambda ranks, *sets: run_ddpc(args.build, "mlp", ranks, [a for s in sets for a in ("--set", s)],
                                         epochs=2)["samples_per_s"]
    one = best(lambda: ddpc(1))
    two_shm = best(lambda: ddpc(2, "comm.intra_node=shm"))
    two_mpi = best(lambda: ddpc(2, "comm.intra_node=mpi"))
    two_mpi_flat = best(lambda: ddpc(2, "comm.intra_node=mpi", "comm.overlap=false"))
    t1 = best(lambda: measure("mlp", 1, 400))
    t2 = best(lambda: measure("mlp", 2, 400))
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
