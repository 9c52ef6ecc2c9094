"""What ``compare --model gpt`` does with text: the GPT's sizes and training settings, the
windows it reads, and the rows its loss is measured on.

A character-level GPT on 2 CPU cores trains a few thousand characters per second, so a run
cannot see the whole corpus (4.5 M training characters) even once in minutes. An "epoch" here
is therefore :data:`GPT_TRAIN` ``epoch_rows`` windows sampled afresh from all the training
windows (:attr:`~weightinit.training.TrainConfig.epoch_rows`), and the validation loss after
each epoch is measured on :data:`EVAL_CHARACTERS` characters of windows spread evenly over the
validation text (every play's last tenth), the same windows for every init; the loss at init on
as many training characters, spread the same way.

Measured on this project's 2 cores (idle): the default GPT (4.8 M parameters) trains a step of
16 x 256 characters in 0.57 s alone, an epoch of 32 steps in 21-24 s inside ``compare`` (with
its evaluation on 64 windows, 0.9 s), so a run of the default 8 epochs takes about 3.3 minutes
and the 5 default inits about 16-17; the quick GPT (115 k parameters) trains a step of
16 x 64 characters in 0.012 s: ``compare --model gpt --quick`` takes about 15 s in all.
"""

from __future__ import annotations

import math

import torch

from ..data.datasets import Dataset, Split
from ..data.text import shorter_windows
from ..errors import UserError
from ..models.gpt import GPT_SIZES, QUICK_GPT_SIZES
from ..training.config import TrainConfig

__all__ = ["GPT_INITS", "GPT_TRAIN", "QUICK_GPT_TRAIN", "EVAL_CHARACTERS", "eval_windows", "gpt_sizes",
           "gpt_train_config", "evenly", "check_context", "windows_for", "is_text", "init_loss_note"]

# the inits compared by default on the GPT: torch's default, Glorot's, and three of the field's recipes (presets)
GPT_INITS = ("default", "xavier_uniform", "gpt2", "small_init", "mimetic")
# Adam lr 1e-3 (nanoGPT's char-level Shakespeare setting), 16 windows of 256 characters per step,
# an epoch of 512 windows (32 steps); 8 epochs fit the 5 default inits into 20 minutes on 2 cores
GPT_TRAIN = {"lr": 1e-3, "batch_size": 16, "epoch_rows": 512, "epochs": 8}
QUICK_GPT_TRAIN = {"lr": 3e-3, "batch_size": 16, "epoch_rows": 512, "epochs": 8}  # 32 steps of 16 x 64
EVAL_CHARACTERS = 16_384  # evaluated after every epoch (64 windows at context 256), and at init


def eval_windows(context: int) -> int:
    """Windows of ``context`` characters that hold :data:`EVAL_CHARACTERS`."""
    return max(1, EVAL_CHARACTERS // context)


def gpt_sizes(quick: bool = False) -> tuple[int, int, int, int]:
    """(layers, width, heads, context) of the default GPT, or of the ``quick`` one."""
    sizes = QUICK_GPT_SIZES if quick else GPT_SIZES
    return sizes["layers"], sizes["width"], sizes["heads"], sizes["context"]


def gpt_train_config(quick: bool = False, **fields) -> TrainConfig:
    """The :class:`TrainConfig` of ``compare --model gpt`` (``--quick``: shorter), ``fields`` overriding it."""
    return TrainConfig(**{**(QUICK_GPT_TRAIN if quick else GPT_TRAIN), **fields})


def is_text(dataset: Dataset) -> bool:
    """Whether ``dataset`` holds token windows (a vocabulary) rather than images."""
    return dataset.vocabulary is not None


def evenly(split: Split, rows: int | None) -> Split:
    """``rows`` rows of ``split`` spread evenly over it (all of them when None or more than it has)."""
    if rows is None or rows >= len(split):
        return split
    index = torch.linspace(0, len(split) - 1, rows).round().long()
    return Split(split.x[index], split.y[index])


def check_context(dataset: Dataset, context: int) -> int:
    """The data's window length, once ``context`` is known to divide it (else a UserError)."""
    window = dataset.image_shape[0]
    if context > window or window % context:
        raise UserError(f"the GPT's context {context} must divide the data's windows of {window} characters")
    return window


def windows_for(dataset: Dataset, context: int, eval_rows: int | None) -> Dataset:
    """``dataset`` as a GPT of ``context`` reads it: windows cut to ``context`` characters, and
    its test split reduced to ``eval_rows`` windows spread evenly over it."""
    window = check_context(dataset, context)
    train, test = (Split(*shorter_windows(s.x, s.y, context)) for s in (dataset.train, dataset.test))
    return Dataset(dataset.name, train, evenly(test, eval_rows), (context,), dataset.n_classes,
                   dataset.source + (f"; cut to windows of {context}" if context < window else ""),
                   dataset.vocabulary)


def init_loss_note(n_classes: int, rows: int, context: int, summary: list) -> str:
    """How to read "loss at init" for a language model, and how far each init starts from ln(vocab)."""
    chance = math.log(n_classes)
    gaps = ", ".join(f"{r.init} {r.initial_loss - chance:+.2f}" for r in sorted(summary, key=lambda r: r.initial_loss))
    return (f"loss at init: cross-entropy per character before the first step, on {rows:,} training windows "
            f"({rows * context:,} characters); a uniform guess over the {n_classes} characters scores "
            f"ln({n_classes}) = {chance:.3f}; each init's loss at init minus that: {gaps}")
