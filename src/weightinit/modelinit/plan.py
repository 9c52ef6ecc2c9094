"""``init_model``: every parameter of any ``nn.Module`` initialized on purpose, and the plan
that says how.

``plan_init(model, scheme)`` decides, for each parameter (or block of a packed one: an LSTM's
gates, attention's q/k/v), the rule of :mod:`weightinit.modelinit.rules` that fills it, with its fans
and gain, and changes nothing; ``InitPlan.apply(generator)`` writes them all and records the
std each block got. ``init_model`` does both and returns the model. A parameter no rule
covers is named in one warning (an error with ``strict=True``), never skipped silently.

Gains. A layer's gain is that of the activation applied to its output. With an
``example_input`` the forward pass is traced (:mod:`weightinit.modelinit.tracing`) and the gain
is what really follows; without one it is read from module order
(:func:`weightinit.modelinit.fans.layer_nonlinearities`), and the plan marks those gains as guesses.
"""

from __future__ import annotations

import warnings
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import init
from .._checks import check_choice, check_generator, check_number
from ..errors import UserError
from .fans import layer_nonlinearities
from .only import select
from .presets import apply_preset
from .residual import Residual, apply_residual, branch_factors
from .rules import RECURRENT_CHOICES, Block, RuleContext
from .schemes import BIAS_RULES, SCHEMES
from .standins import ShapeStandIns, is_dtensor
from .tracing import traced_nonlinearities
from .walk import buffer_recipes, collect_blocks

__all__ = ["PlanRow", "InitPlan", "plan_init", "init_model", "as_model_input"]


def as_model_input(value: Any, model: nn.Module, name: str, *, labels: bool = False) -> torch.Tensor:
    """``value`` as a tensor ``model`` takes: a tensor as it is; a numpy array converted by
    ``torch.as_tensor`` (features to the model's floating dtype, float32 for most models;
    with ``labels``, integer labels to int64). Anything else is refused, naming ``name``.

    Examples:
        >>> as_model_input(np.zeros((2, 3)), nn.Linear(3, 1), "data").dtype
        torch.float32
    """
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub" and labels:
            return torch.as_tensor(value, dtype=torch.int64)
        if value.dtype.kind not in "iubf":
            raise UserError(f"{name} must hold numbers, got a numpy array of dtype {value.dtype}")
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
        return torch.as_tensor(value, dtype=dtype)
    raise UserError(f"{name} must be a torch.Tensor or a numpy array, got {type(value).__name__}")


@dataclass
class PlanRow:
    """One row of the plan: a parameter or a block of it, its rule, fans, gain and drawn std."""

    module: str
    parameter: str
    block: str
    shape: tuple[int, ...]
    rule: str
    fan_in: float | None
    fan_out: float | None
    gain: float | None
    gain_guessed: bool
    std: float | None = None  # of the values written, once applied


@dataclass
class InitPlan:
    """What ``init_model`` does to a model, parameter by parameter."""

    scheme: str
    rows: list[PlanRow]
    untouched: list[str]  # "module.parameter" of every parameter no rule covers
    blocks: list[Block] = field(repr=False, default_factory=list)
    tensors: list[torch.Tensor] = field(repr=False, default_factory=list)  # the view each block fills
    _: KW_ONLY
    recipes: list[Any] = field(repr=False, default_factory=list)  # modules' own recipes, run before the blocks
    notes: list[str] = field(default_factory=list)  # what the table adds in words: what only= left alone, ...

    def apply(self, generator: torch.Generator | None = None) -> InitPlan:
        """Run the modules' own recipes, then fill every block (in plan order, every draw from
        ``generator``) and record its std."""
        for where, test in (("on the meta device", lambda t: t.is_meta), ("sharded (DTensor)", is_dtensor)):
            held = [f"{row.module}.{row.parameter}".lstrip(".") for row, t in zip(self.rows, self.tensors) if test(t)]
            if held:  # one generator in plan order cannot give a shard or a meta tensor its own values
                raise UserError(f"the model has parameters {where} ({', '.join(dict.fromkeys(held[:3]))}"
                                f"{', ...' if len(held) > 3 else ''}); initialize it with "
                                "weightinit.materialize(model, scheme, seed=0, device='cpu'), whose block streams "
                                "give every shard and every meta tensor its values alone, the same on any world size")
        for recipe in self.recipes:
            recipe.run(generator)
        with torch.no_grad():
            for block, tensor, row in zip(self.blocks, self.tensors, self.rows):
                block.fill(tensor, generator)
                row.std = float(tensor.detach().double().std()) if tensor.numel() > 1 else None
        return self

    def to_dicts(self) -> list[dict]:
        return [{**row.__dict__, "shape": list(row.shape)} for row in self.rows]

    def table(self) -> str:
        """The plan as an aligned text table (a ``*`` marks a gain guessed from module order)."""
        header = ("parameter", "block", "shape", "rule", "fan_in", "fan_out", "gain", "std")
        lines = [header]
        for r in self.rows:
            name = f"{r.module}.{r.parameter}" if r.module else r.parameter
            gain = "" if r.gain is None else f"{r.gain:.3g}{'*' if r.gain_guessed else ''}"
            lines.append((name, r.block, "x".join(map(str, r.shape)), r.rule, _number(r.fan_in), _number(r.fan_out),
                          gain, "" if r.std is None else f"{r.std:.3g}"))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
                for line in lines]
        if any(r.gain_guessed for r in self.rows):
            text.append("* gain read from module order; pass example_input= to trace what follows each layer")
        if self.untouched:
            text.append("left as they were (no rule): " + ", ".join(self.untouched))
        text += self.notes
        return "\n".join(text)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _gains(model: nn.Module, nonlinearity: str, example_input: torch.Tensor | None):
    """layer name -> (gain, guessed)."""
    if nonlinearity != "auto":
        gain = init.calculate_gain(nonlinearity)
        return lambda name: (gain, False)
    guessed = layer_nonlinearities(model)
    traced = traced_nonlinearities(model, example_input) if example_input is not None else {}

    def gain_of(name: str) -> tuple[float, bool]:
        if name in traced:
            return init.calculate_gain(*traced[name]), False
        return init.calculate_gain(*guessed.get(name, ("linear", None))), True

    return gain_of


def plan_init(
    model: nn.Module,
    scheme: str,
    *,
    nonlinearity: str = "auto",
    bias: str | float = "auto",
    example_input: torch.Tensor | None = None,
    recurrent: str = "orthogonal",
    forget_bias: float | None | str = "auto",
    residual: Residual | None = None,
    only: Any = None,
) -> InitPlan:
    """Decide how :func:`init_model` initializes each parameter of ``model``, changing nothing.
    Arguments as for :func:`init_model`; ``scheme`` must be a per-layer scheme (not ``dbn``/``lsuv``).
    ``model`` may be on the meta device or sharded (DTensor, FSDP2): the plan reads shapes, on CPU
    stand-ins (:mod:`.standins`); :meth:`InitPlan.apply` needs values (``weightinit.materialize``
    fills such a model)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_choice("scheme", scheme, SCHEMES)
    spec = SCHEMES[scheme]
    if spec.needs_data:
        raise UserError(f"scheme={scheme!r} is data-driven: it decides as it runs; use init_model(..., data=x)")
    if nonlinearity != "auto":
        check_choice("nonlinearity", nonlinearity, ("auto", *init.NONLINEARITIES))
    if isinstance(bias, str):
        check_choice("bias", bias, BIAS_RULES)
    else:
        bias = check_number("bias", bias)
    check_choice("recurrent", recurrent, RECURRENT_CHOICES)
    if forget_bias == "auto":
        forget_bias = None if scheme == "default" else 1.0  # the default scheme is torch's own init
    elif forget_bias is not None:
        forget_bias = check_number("forget_bias", forget_bias)
    if residual is not None and not isinstance(residual, Residual):
        raise TypeError(f"residual must be a weightinit.Residual or None, got {type(residual).__name__}")
    if residual is not None and spec.preset is not None:
        raise UserError(f"scheme={scheme!r} is a preset that gives each residual branch's layers their own draw "
                        "already; residual= would scale them a second time (drop it, or use a per-layer scheme)")
    if example_input is not None and not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a torch.Tensor, got {type(example_input).__name__}")
    if nonlinearity == "auto" and not spec.auto_gain:
        nonlinearity = "linear"  # Glorot's schemes as defined (gain 1), unless a nonlinearity is named
    with ShapeStandIns(model) as real:  # a meta or sharded parameter: planned on a CPU stand-in of its shape
        plan = _plan(model, scheme, spec, nonlinearity=nonlinearity, bias=bias, example_input=example_input,
                     recurrent=recurrent, forget_bias=forget_bias, residual=residual, only=only)
    if real:
        _point_at_the_model(plan, model, real)
    return plan


def _plan(model: nn.Module, scheme: str, spec: Any, *, nonlinearity: str, bias: str | float,
          example_input: torch.Tensor | None, recurrent: str, forget_bias: float | None, residual: Residual | None,
          only: Any) -> InitPlan:
    """:func:`plan_init` once its arguments are checked."""
    context = RuleContext(
        scheme=spec, gain_of=_gains(model, nonlinearity, example_input), bias=spec.bias if bias == "auto" else bias,
        recurrent=recurrent, forget_bias=forget_bias,
        gains_fixed=None if nonlinearity == "auto" else init.calculate_gain(nonlinearity),
        modules=dict(model.named_modules()))

    blocks, missing = collect_blocks(model, context)
    modules = context.modules

    def tensor_of(block: Block) -> torch.Tensor:
        return getattr(modules[block.module], block.parameter)

    selection = select(model, only)
    notes: list[str] = []
    if selection is not None:
        chosen, kept_line = selection
        notes.append(kept_line)
        blocks = [b for b in blocks if id(tensor_of(b)) in chosen]
        missing = [(n, i) for n, i in missing if i in chosen]
    if spec.preset is not None:
        apply_preset(spec.preset, blocks, model, modules)
    if residual is not None:
        apply_residual(blocks, branch_factors(model, residual))
    recipes = list({id(b.recipe): b.recipe for b in blocks if b.recipe is not None}.values())
    if scheme != "default":
        for recipe in buffer_recipes(model):
            recipes.insert(0, recipe)
            notes.append(f"buffers of {type(recipe.model).__name__}: recomputed by its own init_weights(), "
                         "every parameter left to the rows above")
    for recipe in recipes:  # what each recipe may change: its rows' parameters, no other
        recipe.targets = {id(tensor_of(b)) for b in blocks if b.recipe is recipe}  # none for buffer recipes
        recipe.keep_buffers = selection is not None

    rows, tensors = [], []
    for block in blocks:
        parameter = tensor_of(block)
        tensor = parameter if block.rows is None else parameter[block.rows]
        tensor = tensor if block.cols is None else tensor[:, block.cols]
        if isinstance(context.bias, float) and "bias" in block.parameter and \
                abs(context.bias) > torch.finfo(parameter.dtype).max:
            raise UserError(f"bias={context.bias!r} is beyond what {block.module!r}'s {parameter.dtype} "
                            f"{block.parameter} holds")
        tensors.append(tensor)
        rows.append(PlanRow(block.module, block.parameter, block.label, tuple(tensor.shape), block.rule, block.fan_in,
                            block.fan_out, block.gain, block.gain_guessed))
    return InitPlan(scheme, rows, [n for n, _ in missing], blocks, tensors, recipes=recipes, notes=notes)


def _point_at_the_model(plan: InitPlan, model: nn.Module, real: dict[int, nn.Parameter]) -> None:
    """After planning on stand-ins (:class:`~.standins.ShapeStandIns`): each block's tensor and
    each recipe's targets are the model's own parameters again (a meta block is its meta view; a
    DTensor, which is never sliced here, the whole parameter)."""
    modules = dict(model.named_modules())
    for i, block in enumerate(plan.blocks):
        parameter = getattr(modules[block.module], block.parameter)
        if is_dtensor(parameter):
            plan.tensors[i] = parameter
        elif parameter.is_meta:
            tensor = parameter if block.rows is None else parameter[block.rows]
            plan.tensors[i] = tensor if block.cols is None else tensor[:, block.cols]
    for recipe in plan.recipes:
        recipe.targets = {id(real[i]) if i in real else i for i in recipe.targets}


def init_model(
    model: nn.Module,
    scheme: str,
    *,
    nonlinearity: str = "auto",
    bias: str | float = "auto",
    generator: torch.Generator | None = None,
    data: torch.Tensor | None = None,
    config: Any = None,
    example_input: torch.Tensor | None = None,
    recurrent: str = "orthogonal",
    forget_bias: float | None | str = "auto",
    residual: Residual | None = None,
    only: Any = None,
    strict: bool = False,
    verbose: bool = False,
) -> nn.Module:
    """Initialize every parameter of ``model`` in place, each by the rule for its module
    (:mod:`weightinit.modelinit.rules`), and return the model.

    The model is never moved: every parameter is filled on its own device, and a data-driven
    scheme copies ``data`` to the model's device and runs there (``dbn`` pre-trains elsewhere
    only if its ``config.device`` says so, then copies the weights in).

    Args:
        model: any ``nn.Module``.
        scheme: a name in :data:`~weightinit.modelinit.schemes.SCHEMES` (``weightinit schemes`` lists them).
        nonlinearity: ``"auto"`` takes each layer's gain from the activation after it (traced
            with ``example_input``, else read from module order) for the schemes derived for
            that activation (``he_*``, ``orthogonal``), and gain 1 for ``xavier_*``, as Glorot &
            Bengio, ``torch.nn.init`` and Keras define them; a name from
            :data:`weightinit.init.NONLINEARITIES` uses that gain for every layer, under any scheme
            with a gain (``nonlinearity="relu"`` makes ``xavier_uniform`` torch's
            ``xavier_uniform_(w, gain=calculate_gain("relu"))``). Ignored by schemes without a
            gain (``default``, ``zeros``, ``normal``, ``lecun_*``).
        bias: ``"auto"`` (zeros, or PyTorch's own for the ``default`` scheme), ``"zeros"``,
            ``"default"``, ``"keep"`` or a number to fill with. Norms' shifts stay 0.
        generator: the torch.Generator every draw comes from, on the parameters' device (as in torch).
        data: training inputs, a tensor or a numpy array (converted by :func:`as_model_input`:
            float32 for most models), for the schemes that need data (``dbn``, ``lsuv``);
            refused by the others.
        config: settings of a data-driven scheme (an ``RBMConfig`` for ``dbn``, ``LSUVConfig`` for ``lsuv``).
        example_input: a batch the model takes; its forward pass is traced to find the
            activation that really follows each layer.
        recurrent: ``"orthogonal"`` (default) or ``"scheme"``: the hidden-to-hidden weights of
            RNN/LSTM/GRU, per gate block.
        forget_bias: an LSTM's forget-gate bias (``"auto"``: 1, or torch's own under ``default``;
            None: the bias rule).
        residual: a :class:`~weightinit.modelinit.residual.Residual` rule for residual branches.
        only: initialize only some parameters (:mod:`weightinit.modelinit.only`): a state dict
            (the parameters missing from it: a new head on a loaded backbone), or parameter
            names, glob patterns (``"classifier.*"``) or module names. The others are left
            exactly as they are, and the plan's table says how many.
        strict: raise instead of warning when a parameter has no rule.
        verbose: print the plan (:meth:`InitPlan.table`) after applying it.

    Examples:
        >>> model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        >>> init_model(model, "he_normal", generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_choice("scheme", scheme, SCHEMES)
    check_generator(generator)
    spec = SCHEMES[scheme]
    if spec.needs_data:
        if only is not None:
            raise UserError(f"scheme={scheme!r} is data-driven and initializes the whole model; only= works with "
                            "the per-layer schemes")
        if data is None:
            raise UserError(f"scheme={scheme!r} needs data=: training inputs (a tensor or a numpy array)")
        spec.init_model(model, as_model_input(data, model, "data"), generator, config)
        return model
    if data is not None or config is not None:
        raise UserError(f"scheme={scheme!r} takes no data= or config= (only the data-driven schemes "
                        f"{[s for s, v in SCHEMES.items() if v.needs_data]} do); to trace the activations "
                        "after each layer, pass example_input=")
    plan = plan_init(model, scheme, nonlinearity=nonlinearity, bias=bias, example_input=example_input,
                     recurrent=recurrent, forget_bias=forget_bias, residual=residual, only=only)
    if plan.untouched:
        message = (f"{len(plan.untouched)} parameter(s) of {type(model).__name__} have no initialization rule and "
                   f"were left as they were: {', '.join(plan.untouched)} (weightinit.register_rule adds one)")
        if strict:
            raise UserError(message)
        if plan.rows:
            warnings.warn(message, stacklevel=2)
    if not plan.rows and only is None:
        warnings.warn(f"{type(model).__name__} has no parameters weightinit knows how to initialize; "
                      "nothing was initialized", stacklevel=2)
    plan.apply(generator)
    if verbose:
        print(plan.table())
    return model
