"""Seconds per epoch: the lecture's loop (TensorDataset + DataLoader) against weightinit.fit,
and the lecture's sweep (8 initializations) trained as one stacked model.

Both loops train 784-256-256-10 ReLU with Adam (lr 1e-3), batch 100, on the same MNIST tensors,
in one process, alternating epoch by epoch so that machine noise hits both alike. Prints each
loop's median seconds per epoch and their ratio (target: <= 0.6 on 2 CPU cores). With
``--sweep``, it then trains the 8 inits of ``weightinit compare`` for ``--epochs`` epochs as
one batched model (weightinit.training), in float32 and, where the CPU has it, bfloat16
autocast, and prints the time against 8 x epochs x the lecture loop's median epoch measured
above (targets: <= 0.5 in float32, <= 0.25 in bf16) with each run's test accuracy.

    .venv/bin/python benchmarks/bench_train.py [--epochs 3] [--dataset mnist] [--sweep]
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
from weightinit.experiments.compare import LECTURE_INITS
from weightinit.models import mlp
from weightinit.runs.devices import bf16_supported
from weightinit.training import TrainConfig, fit, fit_batched


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
    parser.add_argument("--sweep", action="store_true", help="also time the 8-init sweep, batched, f32 and bf16")
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
    if args.sweep:
        sweep(data, arch, args.epochs, lecture)


def sweep(data, arch: str, epochs: int, lecture_epoch_seconds: float) -> None:
    """The 8 inits x ``epochs`` as one stacked model, against 8 x epochs of the lecture's loop."""
    baseline = len(LECTURE_INITS) * epochs * lecture_epoch_seconds
    for precision, target in (("float32", 0.5), ("bf16", 0.25)):
        if precision == "bf16" and not bf16_supported(torch.device("cpu")):
            print("bf16: this CPU has no avx512_bf16/amx_bf16; skipped")
            continue
        models = [init_model(mlp(arch), init, generator=torch.Generator().manual_seed(777)) for init in LECTURE_INITS]
        configs = [TrainConfig(epochs=epochs, seed=777, device="cpu", precision=precision)] * len(models)
        start = time.perf_counter()
        histories = fit_batched(models, data.train, configs, evaluate_on=("test", data.test))
        seconds = sum(r.seconds for r in histories[0].epochs)  # training time, evaluation excluded
        accuracy = ", ".join(f"{init} {100 * h.last.eval_accuracy:.2f}%" for init, h in zip(LECTURE_INITS, histories))
        print(f"sweep of {len(models)} runs x {epochs} epochs, batched, {precision}: {seconds:.1f} s training "
              f"({time.perf_counter() - start:.1f} s with evaluation), {seconds / len(models) / epochs:.3f} s/epoch "
              f"per run; ratio to the lecture loop {seconds / baseline:.2f} (target <= {target})")
        print(f"  test accuracy: {accuracy}")


if __name__ == "__main__":
    main()
