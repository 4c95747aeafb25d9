"""The PyTorch side of the benchmarks: Fashion-MNIST in memory and the same MLP and CNN as
examples/fashion_mnist_*.yaml, so every benchmark compares ddpc with the same workload."""
import gzip

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
    import time

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
