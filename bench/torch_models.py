"""The PyTorch side of the benchmarks: Fashion-MNIST in memory and the same MLP and CNN as
examples/fashion_mnist_*.yaml, so every benchmark compares ddpc with the same workload, in
one process or as DistributedDataParallel (gloo) over several. Imported by the benchmarks
that run under the PyTorch being measured, or run by those that pick an interpreter:

    PYTHON bench/torch_models.py MODEL STEPS BATCH WORLD   ->  {"samples_per_s": ...}"""
import gzip
import json
import queue as queue_errors
import socket
import sys
import time

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"
LEARNING_RATES = {"mlp": 0.05, "cnn": 0.02}


def load_fashion_mnist(model_name, samples=54000):
    """Training images as float32 in [0, 1] (N,784 for the MLP, N,1,28,28 for the CNN) and labels."""
    with gzip.open(f"{DATA}/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    with gzip.open(f"{DATA}/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    x, y = torch.from_numpy(x[:samples].copy()), torch.from_numpy(y[:samples].copy())
    return (x.reshape(-1, 784) if model_name == "mlp" else x), y


def build(model_name):
    nn = torch.nn
    if model_name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def time_steps(net, x, y, model_name, steps, batch, warmup=20, offset=0, stride=1):
    """Samples per second of `steps` SGD steps (index, forward, loss, backward, step) on this
    process's batches; `offset`/`stride` give each data-parallel rank its own samples."""
    opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATES[model_name], momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[offset::stride].to(x.device)

    def sync():  # a GPU queues work: the clock must wait for it
        if x.is_cuda:
            torch.cuda.synchronize()

    def step(i):
        idx = perm[(i * batch) % (perm.shape[0] - batch):][:batch]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x[idx]), y[idx]).backward()
        opt.step()

    for i in range(warmup):
        step(i)
    sync()
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    sync()
    return steps * batch / (time.perf_counter() - t0)


def ddp_worker(rank, world, model_name, steps, batch, port, queue):
    """One rank of a gloo DDP job on one thread; puts its samples/s on the queue."""
    import torch.distributed as dist
    torch.set_num_threads(1)
    x, y = load_fashion_mnist(model_name)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    net = torch.nn.parallel.DistributedDataParallel(build(model_name))
    rate = time_steps(net, x, y, model_name, steps, batch, offset=rank, stride=world)
    dist.destroy_process_group()
    queue.put(rate)


def measure(model_name, world, steps, batch=64):
    """Samples/s of all ranks together, `batch` per rank and one thread each: plain eager
    training in this process at world 1, DDP with gloo over loopback between `world`
    spawned processes otherwise (the slowest rank sets the pace of a synchronous job)."""
    if world == 1:
        torch.set_num_threads(1)
        x, y = load_fashion_mnist(model_name)
        return time_steps(build(model_name), x, y, model_name, steps, batch)
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=ddp_worker, args=(r, world, model_name, steps, batch, port, queue))
             for r in range(world)]
    for p in procs:
        p.start()
    rates = []
    while len(rates) < world:  # a rank that fails must not leave the others waiting forever
        try:
            rates.append(queue.get(timeout=5))
        except queue_errors.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                raise RuntimeError(f"a DDP rank of {model_name} failed")
    for p in procs:
        p.join()
    return min(rates) * world


if __name__ == "__main__":
    name, n_steps, n_batch, n_world = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps({"samples_per_s": measure(name, n_world, n_steps, n_batch)}))
