"""Seconds per epoch: the lecture's loop (TensorDataset + DataLoader) against weightinit.fit,
and the lecture's sweep (8 initializations) trained as one stacked model.

Both loops train 784-256-256-10 ReLU with Adam (lr 1e-3), batch 100, on the same MNIST tensors,
in one process, alternating epoch by epoch so that machine noise hits both alike. Prints each
loop's median seconds per epoch and their ratio (target: <= 0.6 on 2 CPU cores). With
``--sweep``, it then trains the 8 inits of ``weightinit compare`` for ``--epochs`` epochs as
one batched model (weightinit.training), in float32 and, where the CPU has it, bfloat16
autocast, and prints the time against 8 x epochs x the lecture loop's median epoch measured
above (targets: <= 0.5 in float32, <= 0.25 in bf16) with each run's test accuracy.

Each configuration is also set against this CPU's matrix-multiply floor, measured in the same
run (``_floor.py``): the step's matrix products (forward ``addmm``/``baddbmm``, and backward the
weight gradients and, after the first layer, the input gradients: 2·B·in·out FLOPs each, see
``_floor.mlp_products``) timed alone with plain torch at the same shapes, dtype (bfloat16 for
the bf16 sweep) and thread count, a tenth of the steps' worth (4 every 40 batches; 2 every 20
in the sweep) inside each loop's epochs: each row its own samples, their time taken out of the
row's, the floor their mean, so that it meets the machine's noise as the row does. A "floor"
line per row gives its seconds per epoch, the GFLOP/s it reaches, the products-alone GFLOP/s
and the share (floor seconds / its seconds: 1.0 means the products are all it does) with a
one-line verdict.

    .venv/bin/python benchmarks/bench_train.py [--epochs 3] [--dataset mnist] [--sweep]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from _floor import REST, Floor, Interleaved, floor_line, mlp_products  # benchmarks/_floor.py, beside this script
from weightinit import init_model
from weightinit.data import load_dataset
from weightinit.experiments.compare import LECTURE_INITS
from weightinit.models import mlp
from weightinit.runs.devices import bf16_supported
from weightinit.training import TrainConfig, fit, fit_batched


def lecture_epoch(model, optimizer, loader, on_batch: Callable[[], None] = lambda: None) -> float:
    """The course's mnist_nn loop, verbatim in structure (``on_batch``: the floor's probe)."""
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        on_batch()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per loop")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--sweep", action="store_true", help="also time the 8-init sweep, batched, f32 and bf16")
    args = parser.parse_args()
    began = time.perf_counter()
    data = load_dataset(args.dataset)
    arch = f"{data.n_features}-256-256-10"
    print(f"dataset {data.name} ({data.source}), {arch}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    torch.manual_seed(777)
    lecture_model = init_model(mlp(arch), "xavier_uniform", nonlinearity="linear")
    lecture_opt = torch.optim.Adam(lecture_model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=100, shuffle=True, drop_last=True)
    ours_model = init_model(mlp(arch), "xavier_uniform", nonlinearity="linear")

    # each loop's floor: one step's float32 products, 4 steps' worth timed every 40 batches inside its epochs
    products = mlp_products(widths(arch), 100)
    lecture_floor, ours_floor = (Floor(products, torch.float32, len(loader), sample_steps=4) for _ in range(2))
    lecture_probe, ours_probe = Interleaved(lecture_floor, every=40), Interleaved(ours_floor, every=40)
    lecture_times, ours_times = [], []
    for epoch in range(args.epochs):
        lecture_times.append(lecture_probe.excluded(lecture_epoch, lecture_model, lecture_opt, loader, lecture_probe))
        ours_times.append(ours_probe.excluded(fit_epoch, ours_model, data, epoch, ours_probe))
        print(f"epoch {epoch + 1}: lecture {lecture_times[-1]:.3f} s, weightinit {ours_times[-1]:.3f} s")
    lecture, ours = statistics.median(lecture_times), statistics.median(ours_times)
    print(f"median s/epoch: lecture {lecture:.3f}, weightinit {ours:.3f}, ratio {ours / lecture:.2f} (target <= 0.6)")
    print(f"floor, {ours_floor.flops_per_epoch / 1e9:.1f} GFLOP of matrix products per epoch "
          f"({len(loader)} batches of 100):")
    print("  " + floor_line("lecture loop float32", lecture, lecture_floor))
    print("  " + floor_line("weightinit.fit float32", ours, ours_floor))
    if args.sweep:
        sweep(data, arch, args.epochs, lecture)
    print(f"share: the matrix products' time alone / the row's; the rest is {REST}")
    print(f"the floor measurements took {Floor.spent:.1f} s of this run's {time.perf_counter() - began:.1f} s")


def fit_epoch(model, data, seed: int, on_batch: Callable[[], None]) -> float:
    """One epoch of weightinit.fit; its own measure of the epoch's seconds."""
    return fit(model, data.train, TrainConfig(epochs=1, seed=seed, device="cpu"), on_batch=on_batch).epochs[0].seconds


def widths(arch: str) -> list[int]:
    """"784-256-256-10" -> [784, 256, 256, 10]."""
    return [int(w) for w in arch.split("-")]


def sweep(data, arch: str, epochs: int, lecture_epoch_seconds: float) -> None:
    """The 8 inits x ``epochs`` as one stacked model, against 8 x epochs of the lecture's loop,
    and against the floor of its batched products: 2 steps' worth sampled every 20 batches
    (``fit_batched``'s ``on_batch``), their time taken out of the training time."""
    baseline = len(LECTURE_INITS) * epochs * lecture_epoch_seconds
    steps = -(-len(data.train) // 100)
    for precision, target in (("float32", 0.5), ("bf16", 0.25)):
        if precision == "bf16" and not bf16_supported(torch.device("cpu")):
            print("bf16: this CPU has no avx512_bf16/amx_bf16; skipped")
            continue
        models = [init_model(mlp(arch), init, generator=torch.Generator().manual_seed(777)) for init in LECTURE_INITS]
        configs = [TrainConfig(epochs=epochs, seed=777, device="cpu", precision=precision)] * len(models)
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32  # autocast runs the products in bf16
        floor = Floor(mlp_products(widths(arch), 100, runs=len(models)), dtype, steps, sample_steps=2)
        probe = Interleaved(floor, every=20)
        start = time.perf_counter()
        histories = fit_batched(models, data.train, configs, evaluate_on=("test", data.test), on_batch=probe)
        with_evaluation = time.perf_counter() - start - probe.seconds
        # training time: evaluation excluded, and the floor samples taken inside the epochs
        seconds = sum(r.seconds for r in histories[0].epochs) - probe.seconds
        accuracy = ", ".join(f"{init} {100 * h.last.eval_accuracy:.2f}%" for init, h in zip(LECTURE_INITS, histories))
        print(f"sweep of {len(models)} runs x {epochs} epochs, batched, {precision}: {seconds:.1f} s training "
              f"({with_evaluation:.1f} s with evaluation), {seconds / len(models) / epochs:.3f} s/epoch "
              f"per run; ratio to the lecture loop {seconds / baseline:.2f} (target <= {target})")
        print(f"  test accuracy: {accuracy}")
        print("  " + floor_line(f"floor, sweep {precision} ({floor.flops_per_epoch / 1e9:.0f} GFLOP per epoch of "
                                f"{len(models)} runs)", seconds / epochs, floor))


if __name__ == "__main__":
    main()
