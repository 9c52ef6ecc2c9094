"""How to fine-tune a pre-trained DBN: a validation-only study of the fine-tuning settings.

Loads the pre-trained stack a ``weightinit dbn`` or ``reproduce hinton2006`` run wrote
(``dbn.pt``), builds its sigmoid network as the run does, and fine-tunes it with each setting
below on 50,000 training images, printing the error on the 10,000 held-out validation images
(never the test set) after every ``--every`` epochs and the best over the run. This is how
``reproduce hinton2006``'s fine-tuning defaults were chosen.

    .venv/bin/python benchmarks/dbn_finetune_study.py RUN_FOLDER [--epochs 30] [--settings old,new]
"""

from __future__ import annotations

import argparse
import time

import torch

from weightinit.boltzmann import DBN
from weightinit.data import load_dataset, split_validation
from weightinit.runs.files import read_weights
from weightinit.training import TrainConfig, fit

# name: (lr, lr_decay, hidden dropout, input dropout, ema)
SETTINGS = {
    "old": (0.1, 1.0, 0.5, 0.2, 0.0),  # the previous defaults (Srivastava et al. 2014's dropout rates)
    "lr0.3": (0.3, 1.0, 0.5, 0.2, 0.0),
    "lr0.3-drop0.3": (0.3, 1.0, 0.3, 0.1, 0.0),
    "lr0.3-drop0.2": (0.3, 1.0, 0.2, 0.0, 0.0),
    "lr0.3-drop0.3-decay": (0.3, 0.97, 0.3, 0.1, 0.0),
    "new": (0.3, 0.97, 0.3, 0.1, 0.999),  # reproduce hinton2006's defaults
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a dbn / reproduce hinton2006 run folder (its dbn.pt)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--every", type=int, default=10, help="print the validation error every N epochs")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of {list(SETTINGS)}")
    args = parser.parse_args()
    saved = read_weights(f"{args.run}/dbn.pt")
    train, valid = split_validation(load_dataset("mnist"), 10_000)
    print(f"pre-trained {'-'.join(map(str, saved['layer_sizes']))} from {args.run}; SGD momentum 0.9, batch 100, "
          f"{len(train)} training / {len(valid)} validation images; validation error %")
    print(f"{'setting':20s} {'lr':>5s} {'decay':>5s} {'drop':>5s} {'in':>4s} {'ema':>6s} "
          + " ".join(f"{'ep ' + str(e):>6s}" for e in range(args.every, args.epochs + 1, args.every))
          + f" {'best (epoch)':>13s} {'s/epoch':>7s}")
    for name in args.settings.split(","):
        lr, decay, dropout, input_dropout, ema = SETTINGS[name]
        dbn = DBN(saved["layer_sizes"])
        dbn.load_state_dict(saved["state_dict"])
        model = dbn.to_mlp(10, "sigmoid", torch.Generator().manual_seed(0), dropout=dropout,
                           input_dropout=input_dropout)
        config = TrainConfig(optimizer="sgd", lr=lr, momentum=0.9, lr_decay=decay, epochs=args.epochs,
                             batch_size=100, seed=0, device="cpu", ema=ema)
        start = time.perf_counter()
        history = fit(model, train, config, evaluate_on=("valid", valid))
        errors = [100 * (1 - r.eval_accuracy) for r in history.epochs]
        best = min(range(len(errors)), key=errors.__getitem__)
        seconds = (time.perf_counter() - start) / args.epochs
        print(f"{name:20s} {lr:5g} {decay:5g} {dropout:5g} {input_dropout:4g} {ema:6g} "
              + " ".join(f"{errors[e - 1]:6.2f}" for e in range(args.every, args.epochs + 1, args.every))
              + f" {errors[best]:6.2f} ({best + 1:3d}) {seconds:7.2f}", flush=True)


if __name__ == "__main__":
    main()
