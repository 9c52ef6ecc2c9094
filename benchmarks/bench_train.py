"""Seconds per epoch: the lecture's loop (TensorDataset + DataLoader) against weightinit.fit.

Both train 784-256-256-10 ReLU with Adam (lr 1e-3), batch 100, on the same MNIST tensors, in
one process, alternating epoch by epoch so that machine noise hits both alike. Prints each
loop's median seconds per epoch and their ratio (target: <= 0.6 on 2 CPU cores).

    .venv/bin/python benchmarks/bench_train.py [--epochs 3] [--dataset mnist]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from weightinit import init_model
from weightinit.data import load_dataset
from weightinit.models import mlp
from weightinit.train import TrainConfig, fit


def lecture_epoch(model, optimizer, loader) -> float:
    """The course's mnist_nn loop, verbatim in structure."""
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per loop")
    parser.add_argument("--dataset", default="mnist")
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    arch = f"{data.n_features}-256-256-10"
    print(f"dataset {data.name} ({data.source}), {arch}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    torch.manual_seed(777)
    lecture_model = init_model(mlp(arch), "xavier_uniform", nonlinearity="linear")
    lecture_opt = torch.optim.Adam(lecture_model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=100, shuffle=True, drop_last=True)
    ours_model = init_model(mlp(arch), "xavier_uniform", nonlinearity="linear")

    lecture_times, ours_times = [], []
    for epoch in range(args.epochs):
        lecture_times.append(lecture_epoch(lecture_model, lecture_opt, loader))
        history = fit(ours_model, data.train, TrainConfig(epochs=1, seed=epoch, device="cpu"))
        ours_times.append(history.epochs[0].seconds)
        print(f"epoch {epoch + 1}: lecture {lecture_times[-1]:.3f} s, weightinit {ours_times[-1]:.3f} s")
    lecture, ours = statistics.median(lecture_times), statistics.median(ours_times)
    print(f"median s/epoch: lecture {lecture:.3f}, weightinit {ours:.3f}, ratio {ours / lecture:.2f} (target <= 0.6)")


if __name__ == "__main__":
    main()
