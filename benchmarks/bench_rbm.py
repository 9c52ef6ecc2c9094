"""RBM training speed and quality: scikit-learn's BernoulliRBM against weightinit's.

One process, the same MNIST data (60,000 x 784 in [0, 1]), 784 -> 500 hidden units, batch 100,
learning rate 0.1, no momentum (scikit-learn has none), the same number of epochs:

- scikit-learn's BernoulliRBM (PCD-1) given float32 input, which it keeps (its arithmetic is
  then float32): **the anchor** every ratio is taken against, because a user whose data is
  float32 (MNIST as most loaders give it) gets this speed; and given float64 input (float64
  arithmetic), its speed for float64 data;
- weightinit's estimator, ``weightinit.estimators.BernoulliRBM(...).fit(X)`` on the same float32
  array: wall time of the whole ``fit``, fixed costs included (validation, conversion, the pass
  over the data, the initialization), in float32 and with ``precision="bf16"``, each also with
  mean-field reconstructions (``sample_visible=False``);
- weightinit's trainer alone (``RBMTrainer.epoch`` on a tensor): PCD-1 and CD-1 in float32, and
  with --bf16 also bfloat16 matmul inputs; CD-1 also with mean-field reconstructions
  (``sample_visible=False``, Hinton's guide sec. 3.2); with --compile the same rows again with
  the update fused by torch.compile (``compile=True``), whose one-off compile time is printed
  apart and left out of the epoch times (the epochs are timed after a warm-up update).

scikit-learn and the estimators are timed ``--repeats`` times, alternating, and the median is
kept (the machine may be shared); the trainer rows take the median epoch. Prints seconds per
epoch, the ratio to the float32 anchor, the test pseudo-likelihood (scikit-learn's
one-random-unit estimate, the same draws for every model) and, unless ``--ais-steps 0``, the
AIS test log-likelihood of every model (scikit-learn's weights loaded into weightinit's RBM).
The issue's targets are checked with ``--epochs 1``: the estimator's fit at most 0.5x the
anchor in float32 and 0.3x with bf16, with a test pseudo-likelihood at least the anchor's.

Then every row is set against this CPU's matrix-multiply floor, measured in the same run
(``_floor.py``): the five B x 784 x 500 products of a CD-1/PCD-1 update (v0·Wᵀ, h·W, v1·Wᵀ and
the gradient's two outer products h0ᵀv0 − h1ᵀv1, run as one product of inner size 2B:
10·B·V·H = 392 MFLOP per batch of 100, 235 GFLOP per epoch of 600 batches, see
``_floor.cd1_products``) timed alone with plain ``torch.addmm``/``mm`` at the same shapes and
thread count, in float32, in bfloat16 (where the CPU has it) and in float64 (for scikit-learn's
float64 row). Each row has its own floor, the mean of samples taken where it runs, so that it
meets the machine's noise as the row does: an estimator row's, 30 updates' worth just before
and just after each of its fits (``fit`` has no hook inside); a trainer row's, 2 updates' worth
every 20 batches inside its epochs (``RBMTrainer.epoch``'s ``on_batch``; their time is taken
out of the epoch's). One line per row: seconds per epoch, GFLOP/s reached, the products-alone
GFLOP/s of its dtype, the share (floor seconds / its seconds) and a verdict. scikit-learn
multiplies through numpy's BLAS with its own threads; its floor is still torch's at that dtype.

    .venv/bin/python benchmarks/bench_rbm.py [--epochs 3] [--repeats 3] [--ais-steps 14500] [--bf16] [--compile]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.neural_network import BernoulliRBM as SklearnRBM

from _floor import REST, Floor, Interleaved, cd1_products, floor_line  # benchmarks/_floor.py, beside this script
from weightinit.boltzmann import RBM, RBMConfig, RBMTrainer
from weightinit.boltzmann.partition import ais_log_partition, average_log_likelihood
from weightinit.data import load_dataset
from weightinit.estimators import BernoulliRBM
from weightinit.runs.devices import bf16_supported

SETTINGS = dict(n_components=500, learning_rate=0.1, batch_size=100, random_state=0)


def measure(rbm: RBM, train: torch.Tensor, test: torch.Tensor, ais_steps: int) -> tuple[float, float]:
    pl = rbm.pseudo_likelihood(test, generator=torch.Generator().manual_seed(123)).mean().item()
    if not ais_steps:
        return pl, float("nan")
    ais = ais_log_partition(rbm, data=train, n_chains=100, n_steps=ais_steps,
                            generator=torch.Generator().manual_seed(7))
    return pl, average_log_likelihood(rbm, test, ais.log_z)


def as_rbm(estimator) -> RBM:
    """A fitted estimator's (scikit-learn's or ours) weights in weightinit's RBM, to measure alike."""
    rbm = RBM(estimator.components_.shape[1], estimator.components_.shape[0])
    with torch.no_grad():
        rbm.W.copy_(torch.as_tensor(estimator.components_, dtype=torch.float32))
        rbm.b_h.copy_(torch.as_tensor(estimator.intercept_hidden_, dtype=torch.float32))
        rbm.b_v.copy_(torch.as_tensor(estimator.intercept_visible_, dtype=torch.float32))
    return rbm


def timed_fits(makers: dict[str, Callable[[], object]], data: dict[str, np.ndarray], repeats: int,
               floors: dict[str, Floor]):
    """Fit every estimator ``repeats`` times, alternating, its floor sampled just before and
    just after each fit; (median seconds, last fitted) per name."""
    seconds: dict[str, list[float]] = {name: [] for name in makers}
    fitted = {}
    for _ in range(repeats):
        for name, make in makers.items():
            gc.collect()
            floors[name].sample()  # the last fit's threads slept before its own sample
            time.sleep(0.5)  # let the other library's idle threads go to sleep
            estimator = make()
            start = time.perf_counter()
            estimator.fit(data[name])
            seconds[name].append(time.perf_counter() - start)
            fitted[name] = estimator
            quiet_sample(floors[name])
            floors[name].close_group()  # the fit's two samples, against its time
    return {name: (statistics.median(s), fitted[name]) for name, s in seconds.items()}


def quiet_sample(floor: Floor, pause: float = 0.2) -> None:
    """A floor sample once the last fit's idle BLAS/OpenMP threads have gone to sleep; the pause
    counts as floor time (``Floor.spent``)."""
    time.sleep(pause)
    Floor.spent += pause
    floor.sample()


DTYPES = {"float32": torch.float32, "float64": torch.float64, "bf16": torch.bfloat16}


def cd1_floor(precision: str, n_train: int, sample_steps: int) -> Floor:
    """The CD-1 update's products (784 -> 500, batch 100) in ``precision``, to be timed alone;
    an epoch is ceil(n_train / 100) updates."""
    batch = SETTINGS["batch_size"]
    return Floor(cd1_products(784, 500, batch), DTYPES[precision], -(-n_train // batch), sample_steps)


def timed_epochs(trainer: RBMTrainer, train: torch.Tensor, epochs: int, floor: Floor) -> list[float]:
    """Seconds of each of ``epochs`` epochs, ``floor`` sampled inside them and its time taken out."""
    probe = Interleaved(floor, every=20)
    return [probe.excluded(trainer.epoch, train, on_batch=probe) for _ in range(epochs)]


def precision_of(name: str) -> str:
    """The dtype an estimator row's products run in: float64 for scikit-learn's float64 input, bf16, else float32."""
    return next((key for key in ("float64", "bf16") if key in name), "float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="fits of each estimator (median kept)")
    parser.add_argument("--ais-steps", type=int, default=14_500, help="0: no AIS")
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16 matmul inputs (trainer rows)")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile-fused update")
    args = parser.parse_args()
    began = time.perf_counter()
    data = load_dataset("mnist")
    train, test = data.train.x, data.test.x
    x32 = np.ascontiguousarray(train.numpy(), dtype=np.float32)
    x64 = x32.astype(np.float64)
    print(f"MNIST {tuple(train.shape)} from {data.source}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; 784-500, batch 100, lr 0.1, no momentum, {args.epochs} epochs, "
          f"{args.repeats} repeats")

    bf16 = bf16_supported(torch.device("cpu"))
    makers = {
        "scikit-learn PCD-1 float32 input (anchor)": lambda: SklearnRBM(n_iter=args.epochs, **SETTINGS),
        "scikit-learn PCD-1 float64 input": lambda: SklearnRBM(n_iter=args.epochs, **SETTINGS),
        "weightinit BernoulliRBM.fit float32": lambda: BernoulliRBM(n_iter=args.epochs, **SETTINGS),
    }
    makers["weightinit BernoulliRBM.fit float32 mean-field v"] = lambda: BernoulliRBM(
        n_iter=args.epochs, sample_visible=False, **SETTINGS)
    if bf16:
        makers["weightinit BernoulliRBM.fit bf16"] = lambda: BernoulliRBM(n_iter=args.epochs, precision="bf16",
                                                                         **SETTINGS)
        makers["weightinit BernoulliRBM.fit bf16 mean-field v"] = lambda: BernoulliRBM(
            n_iter=args.epochs, precision="bf16", sample_visible=False, **SETTINGS)
    inputs = {name: x64 if "float64" in name else x32 for name in makers}
    floors = {name: cd1_floor(precision_of(name), len(train), sample_steps=30) for name in makers}  # each row its own
    fits = timed_fits(makers, inputs, args.repeats, floors)
    rows = [(name, seconds / args.epochs, *measure(as_rbm(est), train, test, args.ais_steps))
            for name, (seconds, est) in fits.items()]
    anchor = rows[0][1]

    # (precision, persistent, sample_visible): the mean-field rows use probabilities for the reconstructions
    variants = [("float32", True, True), ("float32", False, True), ("float32", False, False)]
    if args.bf16:
        if not bf16:
            print("this CPU has no native bfloat16 (avx512_bf16/amx_bf16): bf16 rows skipped")
        else:
            variants += [("bf16", True, True), ("bf16", False, True), ("bf16", False, False)]
    compiles = [False, True] if args.compile else [False]
    for compiled in compiles:
        for precision, persistent, sample_visible in variants:
            rbm = RBM(784, 500).reset_parameters(train, torch.Generator().manual_seed(0))
            config = RBMConfig(lr=0.1, momentum=0.0, final_momentum=0.0, persistent=persistent, precision=precision,
                               sample_visible=sample_visible, device="cpu", compile=compiled)
            trainer = RBMTrainer(rbm, config)
            name = (f"trainer {'PCD' if persistent else 'CD'}-1 {precision}"
                    f"{'' if sample_visible else ' mean-field v'}"
                    f"{' compiled' if compiled else ''}")
            if compiled:  # the one-off compile, on a copy so that the timed run starts where the others do
                warm = RBMTrainer(RBM(784, 500).reset_parameters(train, torch.Generator().manual_seed(0)), config)
                start = time.perf_counter()
                warm.step(train[:100])
                warm.step(train[:100])  # PCD: the second update has chains (another graph)
                print(f"{name}: compiled in {time.perf_counter() - start:.1f} s")
            floors[name] = cd1_floor(precision, len(train), sample_steps=2)
            seconds = timed_epochs(trainer, train, args.epochs, floors[name])
            rows.append((name, statistics.median(seconds), *measure(rbm, train, test, args.ais_steps)))

    print(f"{'model':50s} {'s/epoch':>8s} {'ratio':>6s} {'test PL':>8s} {'test LL (AIS)':>14s}")
    for name, seconds, pl, ll in rows:
        print(f"{name:50s} {seconds:8.2f} {seconds / anchor:6.2f} {pl:8.2f} {ll:14.2f}")
    print("ratio: seconds per epoch / the float32 anchor's; estimator rows are whole fits (wall time / epochs)")
    any_floor = next(iter(floors.values()))
    print(f"floor: {any_floor.flops_per_epoch / 1e9:.0f} GFLOP of matrix products per epoch "
          f"({any_floor.steps_per_epoch} updates of 10 x 100 x 784 x 500); each row against its dtype's:")
    for name, seconds, _, _ in rows:
        print("  " + floor_line(name, seconds, floors[name]))
    print(f"share: the matrix products' time alone / the row's; the rest is {REST}; estimator rows include "
          "the fit's fixed costs")
    print(f"the floor measurements took {Floor.spent:.1f} s of this run's {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
