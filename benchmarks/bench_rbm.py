"""RBM training speed and quality: scikit-learn's BernoulliRBM against weightinit's RBM.

One process, the same MNIST data (60,000 x 784 in [0, 1]), 784 -> 500 hidden units, batch 100,
learning rate 0.1, no momentum (scikit-learn has none), the same number of epochs:

- scikit-learn's BernoulliRBM: PCD-1 in float64 (numpy/BLAS);
- weightinit: PCD-1 and CD-1 in float32, and with --bf16 also bfloat16 matmul inputs; CD-1 also
  with mean-field reconstructions (``sample_visible=False``, Hinton's guide sec. 3.2); with
  --compile the same rows again with the update fused by torch.compile (``compile=True``), whose
  one-off compile time is printed apart and left out of the epoch times (the epochs are timed
  after a warm-up update).

Prints seconds per epoch, the ratio to scikit-learn, the test pseudo-likelihood (scikit-learn's
one-random-unit estimate, same draws for every model) and the AIS test log-likelihood of
every model, scikit-learn's included (its weights loaded into weightinit's RBM).

    .venv/bin/python benchmarks/bench_rbm.py [--epochs 3] [--ais-steps 14500] [--bf16] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from sklearn.neural_network import BernoulliRBM as SklearnRBM

from weightinit.boltzmann import RBM, RBMConfig, RBMTrainer
from weightinit.boltzmann.partition import ais_log_partition, average_log_likelihood
from weightinit.data import load_dataset
from weightinit.runs.devices import bf16_supported


def measure(rbm: RBM, train: torch.Tensor, test: torch.Tensor, ais_steps: int) -> tuple[float, float]:
    pl = rbm.pseudo_likelihood(test, generator=torch.Generator().manual_seed(123)).mean().item()
    ais = ais_log_partition(rbm, data=train, n_chains=100, n_steps=ais_steps,
                            generator=torch.Generator().manual_seed(7))
    return pl, average_log_likelihood(rbm, test, ais.log_z)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--ais-steps", type=int, default=14_500)
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16 matmul inputs")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile-fused update")
    args = parser.parse_args()
    data = load_dataset("mnist")
    train, test = data.train.x, data.test.x
    print(f"MNIST {tuple(train.shape)} from {data.source}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; "
          f"784-500, batch 100, lr 0.1, no momentum, {args.epochs} epochs")

    rows = []
    sk = SklearnRBM(n_components=500, learning_rate=0.1, batch_size=100, n_iter=args.epochs, random_state=0)
    start = time.perf_counter()
    sk.fit(train.double().numpy())
    sk_epoch = (time.perf_counter() - start) / args.epochs
    as_ours = RBM(784, 500)
    with torch.no_grad():
        as_ours.W.copy_(torch.from_numpy(sk.components_))
        as_ours.b_h.copy_(torch.from_numpy(sk.intercept_hidden_))
        as_ours.b_v.copy_(torch.from_numpy(sk.intercept_visible_))
    rows.append(("scikit-learn PCD-1 float64", sk_epoch, *measure(as_ours, train, test, args.ais_steps)))

    # (precision, persistent, sample_visible): the mean-field rows use probabilities for the reconstructions
    variants = [("float32", True, True), ("float32", False, True), ("float32", False, False)]
    if args.bf16:
        if not bf16_supported(torch.device("cpu")):
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
            name = (f"weightinit {'PCD' if persistent else 'CD'}-1 {precision}"
                    f"{'' if sample_visible else ' mean-field v'}"
                    f"{' compiled' if compiled else ''}")
            if compiled:  # the one-off compile, on a copy so that the timed run starts where the others do
                warm = RBMTrainer(RBM(784, 500).reset_parameters(train, torch.Generator().manual_seed(0)), config)
                start = time.perf_counter()
                warm.step(train[:100])
                warm.step(train[:100])  # PCD: the second update has chains (another graph)
                print(f"{name}: compiled in {time.perf_counter() - start:.1f} s")
            seconds = [trainer.epoch(train) for _ in range(args.epochs)]
            rows.append((name, statistics.median(seconds), *measure(rbm, train, test, args.ais_steps)))

    print(f"{'model':44s} {'s/epoch':>8s} {'ratio':>6s} {'test PL':>8s} {'test LL (AIS)':>14s}")
    for name, seconds, pl, ll in rows:
        print(f"{name:44s} {seconds:8.2f} {seconds / sk_epoch:6.2f} {pl:8.2f} {ll:14.2f}")


if __name__ == "__main__":
    main()
