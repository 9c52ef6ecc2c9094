"""Deep Belief Networks: RBMs stacked and trained greedily, then turned into the initial
weights of a feed-forward network (Hinton, Osindero & Teh 2006; Hinton & Salakhutdinov 2006).

The lecture's recipe: train an RBM on the data x (layer 1 <-> 2), then an RBM on its hidden
activities h¹ (layer 2 <-> 3), then on h², ..., and use the weights as the starting point of
a network fine-tuned by back-propagation. ``DBN.pretrain`` is the first half; ``DBN.to_mlp``
hands the weights to the second. The RBM maths stays in :mod:`weightinit.boltzmann.rbm`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from .._checks import check_choice, check_int, check_number
from ..errors import UserError
from ..init import xavier_uniform_
from ..modelinit.activations import ACTIVATIONS
from ..modelinit.schemes import Scheme, register_scheme
from ..runs import distributed
from ..runs.checkpoint import Checkpoint, require_same_settings
from ..runs.files import read_weights, write_text_atomic, write_weights
from .rbm import RBM, check_visible
from .trainer import RBMConfig, RBMEpoch, RBMHistory, train_rbm

__all__ = ["DBN", "PROPAGATE", "check_layer_sizes"]

PROPAGATE = ("probabilities", "samples")


def check_layer_sizes(layer_sizes: Sequence[int]) -> list[int]:
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise UserError(f"layer_sizes must name at least 2 sizes (visible and one hidden layer), got {sizes}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise UserError(f"layer_sizes must be positive integers, got {sizes}")
    return sizes


class DBN(nn.Module):
    """A stack of RBMs, ``layer_sizes[i] -> layer_sizes[i + 1]``.

    Args:
        layer_sizes: e.g. ``[784, 500, 500, 2000]`` (Hinton et al. 2006).
        visible: the first RBM's visible units, ``"bernoulli"`` (data in [0, 1]) or
            ``"gaussian"`` (standardized data); every higher RBM sees probabilities.

    Examples:
        >>> dbn = DBN([784, 500, 500, 2000])
        >>> dbn.pretrain(x, RBMConfig(epochs=10))  # doctest: +SKIP
        >>> model = dbn.to_mlp(n_classes=10)  # doctest: +SKIP
    """

    def __init__(self, layer_sizes: Sequence[int] = (784, 500, 500, 2000), visible: str = "bernoulli") -> None:
        super().__init__()
        self.layer_sizes = check_layer_sizes(layer_sizes)
        self.visible = check_choice("visible", visible, ("bernoulli", "gaussian"))
        self.rbms = nn.ModuleList(
            RBM(n_in, n_out, visible if i == 0 else "bernoulli")
            for i, (n_in, n_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        )

    @torch.no_grad()
    def transform(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Propagate ``x`` up through the first ``upto`` RBMs (default: all) by p(h | v)."""
        for rbm in list(self.rbms)[:upto]:
            x = rbm.prob_h(x)
        return x

    def pretrain(
        self,
        x: torch.Tensor,
        configs: RBMConfig | Sequence[RBMConfig] | None = None,
        *,
        propagate: str = "probabilities",
        checkpoint_dir: str | Path | None = None,
        on_layer: Callable[[int, RBMHistory | None], None] | None = None,
        on_epoch: Callable[[int, RBMEpoch], None] | None = None,
        on_batch: Callable[[], None] | None = None,
    ) -> list[RBMHistory | None]:
        """Train the RBMs greedily, bottom up; each one's data is the layer below's hidden
        probabilities (or samples of them) on ``x``.

        Args:
            configs: one RBMConfig for every layer, or one per layer.
            propagate: ``"probabilities"`` (Hinton et al. 2006) or ``"samples"``.
            checkpoint_dir: after each layer, its weights (``layer-<i>.pt``) and settings
                (``layer-<i>.json``) are written there; a layer whose files are already there
                with the same settings is loaded instead of trained (its history is None),
                and one with other settings is refused, naming them. The layer in training
                checkpoints every epoch (and on Ctrl-C) in ``layer-<i>-progress/`` and
                continues from there.
            on_layer: called with (layer index, history) after each layer.
        """
        check_choice("propagate", propagate, PROPAGATE)
        configs = self._layer_configs(configs)
        folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        data = check_visible(x, self.layer_sizes[0], self.visible, "x")
        histories: list[RBMHistory | None] = []
        for i, (rbm, config) in enumerate(zip(self.rbms, configs)):
            settings = {"layer": i, "sizes": [rbm.n_visible, rbm.n_hidden], "visible": rbm.visible,
                        "propagate": propagate, "rbm": asdict(config)}
            history = None
            if folder is not None and self._resume_layer(folder, i, rbm, settings):
                rbm.to(data.device)
            else:
                progress = None if folder is None else Checkpoint(folder / f"layer-{i}-progress")
                history = train_rbm(rbm, data, config, on_batch=on_batch,
                                    on_epoch=None if on_epoch is None else lambda e, i=i: on_epoch(i, e),
                                    **self._layer_checkpointing(progress, settings))
                if folder is not None and distributed.rank() == 0:  # data parallel: one rank writes
                    write_weights(folder / f"layer-{i}.pt", {"state_dict": rbm.state_dict()})
                    write_text_atomic(folder / f"layer-{i}.json", json.dumps(settings, indent=2) + "\n")
                    shutil.rmtree(progress.folder, ignore_errors=True)
            histories.append(history)
            if on_layer is not None:
                on_layer(i, history)
            if i < len(self.rbms) - 1:
                data = data.to(rbm.W.device)
                probabilities = rbm.prob_h(data)
                if propagate == "samples":
                    g = torch.Generator(device=probabilities.device).manual_seed(config.seed + 1)
                    probabilities = (torch.rand(probabilities.shape, generator=g, device=probabilities.device)
                                     < probabilities).float()
                data = probabilities
        return histories

    def _layer_configs(self, configs: RBMConfig | Sequence[RBMConfig] | None) -> list[RBMConfig]:
        if configs is None or isinstance(configs, RBMConfig):
            base = configs or RBMConfig()
            # every layer its own seed, so that stacked layers don't share random streams
            return [replace(base, seed=base.seed + i) for i in range(len(self.rbms))]
        configs = list(configs)
        if len(configs) != len(self.rbms) or not all(isinstance(c, RBMConfig) for c in configs):
            raise UserError(f"configs must be one RBMConfig or {len(self.rbms)} of them (one per layer)")
        return configs

    @staticmethod
    def _layer_checkpointing(progress: Checkpoint | None, settings: dict) -> dict:
        """train_rbm's checkpoint/resume arguments for a layer in training (none without a folder)."""
        if progress is None:
            return {}
        resume = progress.load()
        if resume is not None:
            require_same_settings(resume.get("settings"), settings, f"checkpoint {progress.folder} was made")
        return {"checkpoint": lambda state: progress.save({**state, "settings": settings}), "resume": resume}

    @staticmethod
    def _resume_layer(folder: Path, i: int, rbm: RBM, settings: dict) -> bool:
        weights, meta = folder / f"layer-{i}.pt", folder / f"layer-{i}.json"
        if not (weights.is_file() and meta.is_file()):
            return False
        require_same_settings(json.loads(meta.read_text()), settings, f"checkpoint {meta} was made")
        rbm.load_state_dict(read_weights(weights)["state_dict"])
        return True

    @torch.no_grad()
    def down(self, v: torch.Tensor) -> torch.Tensor:
        """One deterministic down pass from the top RBM's visible layer to the data: each lower
        RBM's p(v | h) (Gaussian visible units: E[v | h]) in turn, of shape (B, n_visible)."""
        for rbm in reversed(list(self.rbms)[:-1]):
            v = rbm.prob_v(v)
        return v

    @torch.no_grad()
    def gibbs_chains(self, starts: torch.Tensor, steps: int, frames: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples of the DBN as Hinton et al. 2006 draw them, to look at: a Gibbs chain in
        the top RBM, from each row of ``starts`` (data, of shape (B, n_visible)) carried up by
        p(h | v), then one down pass (:meth:`down`) to show each frame. Returns (B, frames,
        n_visible): frame 0 is the start itself, frame f the down pass of the top RBM's
        visible probabilities after f * ``steps`` Gibbs steps."""
        check_int("steps", steps, 1)
        check_int("frames", frames, 1)
        top = self.rbms[-1]
        v = self.transform(check_visible(starts, self.layer_sizes[0], self.visible, "starts").to(top.W.device),
                           upto=len(self.rbms) - 1)
        v = top.sample_v(top.sample_h(v, generator), generator)  # a state of the top RBM's visible units
        shown = [starts.to(top.W.device)]
        for _ in range(frames - 1):
            v = top.gibbs(v, steps, generator)
            shown.append(self.down(top.prob_v(top.sample_h(v, generator))))
        return torch.stack(shown, 1)

    def to_mlp(
        self,
        n_classes: int,
        activation: str = "sigmoid",
        generator: torch.Generator | None = None,
        *,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ) -> nn.Sequential:
        """A feed-forward classifier whose hidden Linear layers carry the RBMs' weights and
        hidden biases (so that with sigmoid its first layer computes the first RBM's
        p(h | v)), topped by a fresh output layer (Glorot uniform, zero bias).

        ``dropout`` after each hidden layer and ``input_dropout`` on the inputs are the
        fine-tuning of Srivastava et al. (2014), who report 0.92% MNIST test error for this
        DBN fine-tuned with dropout."""
        check_choice("activation", activation, ACTIVATIONS)
        check_int("n_classes", n_classes, 1)
        for name, p in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0 <= check_number(name, p) < 1:
                raise UserError(f"{name} must be in [0, 1), got {p!r}")
        layers: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout else []
        for rbm in self.rbms:
            linear = nn.Linear(rbm.n_visible, rbm.n_hidden)
            with torch.no_grad():
                linear.weight.copy_(rbm.W)
                linear.bias.copy_(rbm.b_h)
            layers += [linear, ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
        output = nn.Linear(self.layer_sizes[-1], n_classes)
        with torch.no_grad():
            xavier_uniform_(output.weight, generator=generator)
            output.bias.zero_()
        return nn.Sequential(*layers, output).to(self.rbms[0].W.device)


# ---------------------------------------------------------------- the "dbn" scheme
def _linear_chain(model: nn.Module) -> list[nn.Linear]:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(layers) < 2 or any(a.out_features != b.in_features for a, b in zip(layers, layers[1:])):
        raise UserError("scheme 'dbn' needs a model whose Linear layers form a chain of at least two "
                         "(in -> hidden ... -> out), such as weightinit.models.mlp")
    return layers


def init_from_dbn(model: nn.Module, data: torch.Tensor, generator: torch.Generator | None,
                  config: RBMConfig | None) -> None:
    """Pre-train a DBN on ``data`` with the sizes of the model's hidden layers and copy it in;
    the output layer gets Glorot uniform weights and zero bias. The pre-training runs where the
    model lives (``config.device="auto"``, the default) or where ``config.device`` says; the
    model itself is never moved."""
    layers = _linear_chain(model)
    sizes = [layers[0].in_features] + [layer.out_features for layer in layers[:-1]]
    seed = (int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
            if generator is not None else 0)
    home = layers[0].weight.device
    config = replace(config or RBMConfig(epochs=5), seed=seed)
    if config.device == "auto" and home.type in ("cpu", "cuda"):
        config = replace(config, device=home.type)
    dbn = DBN(sizes)
    with torch.cuda.device(home) if home.type == "cuda" else nullcontext():  # "cuda" is the model's GPU
        dbn.pretrain(data.to(home), config)
    with torch.no_grad():
        for linear, rbm in zip(layers, dbn.rbms):
            linear.weight.copy_(rbm.W)
            if linear.bias is not None:
                linear.bias.copy_(rbm.b_h)
        xavier_uniform_(layers[-1].weight, generator=generator)
        if layers[-1].bias is not None:
            layers[-1].bias.zero_()


register_scheme(Scheme(
    "dbn",
    "greedy RBM pre-training of the hidden layers on data (Hinton et al. 2006); output layer Glorot uniform",
    init_weight=None,
    uses_gain=False,
    init_model=init_from_dbn,
))
