"""Seconds per epoch on a GPU, every row as a ratio to the lecture's loop measured in the same run.

On one CUDA device (named in the first line), MNIST, batch 100, 784-256-256-10 ReLU, Adam lr 1e-3:

- the lecture's loop (the anchor): TensorDataset + DataLoader over CPU tensors, each batch
  copied to the GPU, as the course's mnist_nn notebook does with ``device = "cuda"``;
- ``weightinit.fit``, one run: the data resident on the GPU, no host synchronization per batch;
- ``weightinit.training.fit_batched``: the 8 initializations of ``weightinit compare`` as one
  stacked model, in float32 and bf16 (seconds of all 8 runs per epoch, and per run), with the
  training time of the default sweep (8 inits x 15 epochs) it implies (issue #15's target:
  <= 15 s on an H200);
- an RBM 784-500 CD-1 epoch (``RBMTrainer.epoch``, lr 0.1), float32 and bf16 (target <= 0.05 s).

Every epoch is timed between two ``torch.cuda.synchronize()`` calls after a warm-up, and the
median over ``--epochs`` is kept. Without CUDA it prints one line and exits with status 0.

    .venv/bin/python benchmarks/bench_gpu.py [--epochs 3] [--dataset mnist]
    .venv/bin/python benchmarks/bench_gpu.py --device cpu --dataset digits --epochs 1   # smoke run of the code
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from weightinit import init_model
from weightinit.boltzmann import RBM, RBMConfig, RBMTrainer
from weightinit.data import load_dataset
from weightinit.experiments.compare import LECTURE_INITS
from weightinit.models import mlp
from weightinit.runs.devices import bf16_supported
from weightinit.training import TrainConfig, fit, fit_batched

SWEEP_EPOCHS = 15  # the default compare sweep: 8 inits x 15 epochs


def timed(step, device: torch.device) -> float:
    """Seconds of ``step()``, the GPU's queued work included."""
    wait = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    wait()
    start = time.perf_counter()
    step()
    wait()
    return time.perf_counter() - start


def lecture_epoch(model, optimizer, loader, device) -> None:
    """The course's mnist_nn loop on a GPU, verbatim in structure."""
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per row (median kept)")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cpu: a smoke run of this script's code (--dataset digits --epochs 1), no benchmark")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: torch sees no CUDA device; nothing to measure here (run it on a machine with a GPU)")
        return 0
    device = torch.device("cuda", torch.cuda.current_device()) if args.device == "cuda" else torch.device("cpu")
    data = load_dataset(args.dataset)
    arch = f"{data.n_features}-256-256-10"
    bf16 = bf16_supported(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "none (CPU smoke run)"
    print(f"GPU {name}; torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"dataset {data.name} ({len(data.train)} training samples), {arch}, batch 100, median of {args.epochs}")
    rows: list[tuple[str, float]] = []

    torch.manual_seed(777)
    model = init_model(mlp(arch), "xavier_uniform", nonlinearity="linear").to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=100, shuffle=True, drop_last=True)
    lecture_epoch(model, optimizer, [next(iter(loader))], device)  # warm-up: CUDA context, cuBLAS
    lecture = statistics.median(timed(lambda: lecture_epoch(model, optimizer, loader, device), device)
                                for _ in range(args.epochs))
    rows.append(("lecture loop (DataLoader, batches copied to the GPU)", lecture))

    ours = init_model(mlp(arch), "xavier_uniform", nonlinearity="linear")
    fit(ours, data.train, TrainConfig(epochs=1, device=device.type))  # warm-up
    rows.append(("weightinit.fit, one run (data on the GPU)", statistics.median(  # fit's epoch clock waits for the GPU
        fit(ours, data.train, TrainConfig(epochs=1, seed=e, device=device.type)).epochs[0].seconds
        for e in range(args.epochs))))

    for precision in ("float32", "bf16") if bf16 else ("float32",):
        models = [init_model(mlp(arch), init, generator=torch.Generator().manual_seed(777)) for init in LECTURE_INITS]
        configs = [TrainConfig(epochs=args.epochs + 1, seed=777, device=device.type, precision=precision)] * len(models)
        histories = fit_batched(models, data.train, configs)
        epoch = statistics.median(r.seconds for r in histories[0].epochs[1:])  # the first epoch is the warm-up
        runs = len(models)
        rows.append((f"fit_batched, {runs} runs stacked, {precision}: all {runs} runs", epoch))
        rows.append((f"fit_batched, {runs} runs stacked, {precision}: per run", epoch / runs))
        print(f"  the default compare sweep ({runs} inits x {SWEEP_EPOCHS} epochs) batched in {precision}: "
              f"{epoch * SWEEP_EPOCHS:.1f} s of training (target <= 15 s)")
    if not bf16:
        print("  this GPU has no native bfloat16: bf16 rows skipped")

    x = data.train.x.to(device)
    for precision in ("float32", "bf16") if bf16 else ("float32",):
        rbm = RBM(data.n_features, 500).reset_parameters(data.train.x, torch.Generator().manual_seed(0)).to(device)
        trainer = RBMTrainer(rbm, RBMConfig(lr=0.1, momentum=0.0, final_momentum=0.0, device=device.type,
                                            precision=precision))
        trainer.step(x[:100])  # warm-up
        rows.append((f"RBM {data.n_features}-500 CD-1 epoch, {precision}",
                     statistics.median(timed(lambda t=trainer: t.epoch(x), device) for _ in range(args.epochs))))

    print(f"{'row':62s} {'s/epoch':>8s} {'ratio':>6s}")
    for name, seconds in rows:
        print(f"{name:62s} {seconds:8.3f} {seconds / lecture:6.3f}")
    print("ratio: seconds per epoch / the lecture loop's, measured above on the same GPU "
          "(RBM target: <= 0.05 s per epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
