"""``parametrize``: a model initialized under a parametrization (``sp`` or ``mup``, with or without
a depth rule), and the plan that says, parameter by parameter, its kind, its width and depth
multipliers, its init std and its learning-rate, weight-decay and ε multipliers
(:mod:`weightinit.parametrize.rules`). :func:`weightinit.parametrize.param_groups` turns the plan
into torch.optim parameter groups.

The init: the scheme's rules (:func:`weightinit.modelinit.plan_init`) are planned on the base
model and on this one; every block of this model is filled by its base block's formula (the
scheme's std at the base shapes) times the block's ``init`` multiplier. The plan lives here, not
on the tensors: the model keeps ordinary parameters.

Examples:
    >>> from weightinit.models import mlp
    >>> with torch.device("meta"):
    ...     base = mlp([784, 64, 64, 10], "relu")
    >>> model = mlp([784, 1024, 1024, 10], "relu")
    >>> plan = parametrize(model, "mup", base=base, generator=torch.Generator().manual_seed(0))
    >>> [row.kind for row in plan.rows]
    ['input', 'vector', 'hidden', 'vector', 'readout', 'fixed']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._checks import check_choice, check_generator, check_number
from ..errors import UserError
from ..modelinit.depth import layer_roles, linear_io, residual_branches
from ..modelinit.fans import forward_checked
from ..modelinit.plan import InitPlan, plan_init
from ..modelinit.rules import Block
from ..modelinit.schemes import SCHEMES
from .base import StackMap, build_base
from .rules import PARAMETRIZATIONS, Multipliers, absorb, depth_multipliers, kind_of, width_multipliers

__all__ = ["ParamRow", "ParamPlan", "plan_parametrization", "parametrize"]

_HEAD_ATTRIBUTES = ("num_heads", "n_head", "num_attention_heads", "heads", "n_heads")
_QUERY_NORMS = ("q_norm", "q_layernorm", "query_norm", "q_ln")  # OLMo 2, Qwen 3, Gemma 3: a norm after the query
# a norm on a branch's output before the residual addition (OLMo 2, Gemma 2 and 3), by the role of the branch's end;
# the attention's names count only beside the MLP's: Llama's "post_attention_layernorm" is the norm before its MLP
_POST_NORMS = {"attn_out": ("post_attention_layernorm", "post_attention_norm", "post_attn_norm", "attn_post_norm"),
               "mlp_out": ("post_feedforward_layernorm", "post_ffn_norm", "post_mlp_norm", "ffn_post_norm",
                           "mlp_post_norm")}
_NORM_LAYERS = (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm)
_SHOWN = 4  # names a note lists before "and N more"


@dataclass
class ParamRow:
    """One parameter: its kind, shapes, width multipliers (``m_in``, ``m_out``), depth ratio
    ``L / L_b`` (None outside a stack), the multipliers of its settings, what was absorbed
    into it, and the std it was given (once applied)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    base_shape: tuple[int, ...]
    m_in: float
    m_out: float
    multipliers: Multipliers
    depth_ratio: float | None = None
    absorbed: list[str] = field(default_factory=list)  # "readout 1/m_in", "attention 0.5", "branch 0.25"
    std: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape), "base_shape": list(self.base_shape),
                "m_in": self.m_in, "m_out": self.m_out, "depth_ratio": self.depth_ratio, "absorbed": self.absorbed,
                "std": self.std, **{f"mult_{k}": v for k, v in self.multipliers.__dict__.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParamRow:
        mult = Multipliers(**{k[5:]: v for k, v in d.items() if k.startswith("mult_")})
        return cls(d["name"], d["kind"], tuple(d["shape"]), tuple(d["base_shape"]), d["m_in"], d["m_out"], mult,
                   d["depth_ratio"], list(d["absorbed"]), d["std"])


@dataclass
class ParamPlan:
    """A parametrization of one model: a :class:`ParamRow` per parameter (in ``named_parameters``
    order), the init plan that fills them (None for a plan read back with :meth:`from_dict`),
    and notes (what was not absorbed, and why)."""

    parametrization: str
    scheme: str
    rows: list[ParamRow]
    init_plan: InitPlan | None = field(default=None, repr=False)
    depth_alpha: float | None = None
    notes: list[str] = field(default_factory=list)
    parameters: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # the model's, by name

    def apply(self, generator: torch.Generator | None = None) -> ParamPlan:
        """Initialize the model (every draw from ``generator``) and record each parameter's std."""
        if self.init_plan is None:
            raise UserError("this plan was read back from a dict: it holds the multipliers, not the init; "
                            "plan the model again with plan_parametrization to initialize it")
        self.init_plan.apply(generator)
        for row in self.rows:
            tensor = self.parameters.get(row.name)
            if tensor is not None and tensor.numel() > 1:
                row.std = float(tensor.detach().double().std())
        return self

    def row(self, name: str) -> ParamRow:
        """The row of parameter ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise UserError(f"the plan has no parameter {name!r}; it has {[r.name for r in self.rows][:6]}...")

    def table(self, optimizer: str = "adam") -> str:
        """The plan as a text table: each parameter's kind, shapes, width multipliers, std, and the
        learning-rate, weight-decay and ε multipliers under ``optimizer``."""
        from .rules import OPTIMIZER_FAMILIES

        family = OPTIMIZER_FAMILIES[check_choice("optimizer", optimizer, tuple(OPTIMIZER_FAMILIES))]
        header = ("parameter", "kind", "shape", "base", "m_in", "m_out", "init x", "std", "lr x", "wd x", "eps x")
        lines = [header]
        for r in self.rows:
            m = r.multipliers
            lines.append((r.name, r.kind, "x".join(map(str, r.shape)), "x".join(map(str, r.base_shape)),
                          f"{r.m_in:g}", f"{r.m_out:g}", f"{m.init:.4g}", "" if r.std is None else f"{r.std:.3g}",
                          f"{m.lr(family):.4g}", f"{m.weight_decay(family):.4g}",
                          f"{m.eps:.4g}" if family == "adam" else ""))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
                for line in lines]
        absorbed = [f"{r.name}: {', '.join(r.absorbed)}" for r in self.rows if r.absorbed]
        if absorbed:
            text.append("forward multipliers absorbed (init x a, Adam lr x a, SGD lr x a^2, eps / a): "
                        + "; ".join(absorbed))
        return "\n".join(text + self.notes)

    def to_dict(self) -> dict[str, Any]:
        """The plan's rows and notes as plain data (JSON, or beside a checkpoint): enough for
        :func:`~weightinit.parametrize.param_groups` after :meth:`from_dict`."""
        return {"parametrization": self.parametrization, "scheme": self.scheme, "depth_alpha": self.depth_alpha,
                "rows": [r.to_dict() for r in self.rows], "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParamPlan:
        return cls(d["parametrization"], d["scheme"], [ParamRow.from_dict(r) for r in d["rows"]],
                   depth_alpha=d["depth_alpha"], notes=list(d["notes"]))


def _block_key(block: Block) -> tuple[str, str, str]:
    return block.module, block.parameter, block.label


def _fans(block: Block | None, shape: tuple[int, ...]) -> tuple[float, float, bool]:
    """``(fan_in, fan_out, is_vector)`` of a parameter: its first block's fans where its rule
    has them, else read off its shape. A tensor with at most one dimension over 1 is a vector
    over its length (a bias; MultiheadAttention's ``bias_k``/``bias_v`` and a class token, both
    (1, 1, E): read as (out, in) = (1, 1) they would never grow); any other as torch reads a
    Linear's weight, (out, in, ...) (:func:`_assumed_fans_note` says so where no rule knows it)."""
    if block is not None and block.fan_in is not None and block.fan_out is not None:
        return float(block.fan_in), float(block.fan_out), False
    if _is_vector_shape(shape):
        return 1.0, float(math.prod(shape)), True
    return float(shape[1]), float(shape[0]), False


def _is_vector_shape(shape: tuple[int, ...]) -> bool:
    """True for a shape with at most one dimension over 1: (E,), (1, 1, E), a scalar."""
    return sum(size != 1 for size in shape) <= 1


def _scaled(fill: Callable, factor: float) -> Callable:
    if factor == 1.0:
        return fill

    def scaled(t: torch.Tensor, g: torch.Generator | None) -> None:
        fill(t, g)
        t.mul_(factor)

    return scaled


def _zeroed(t: torch.Tensor, g: torch.Generator | None) -> None:
    t.zero_()


def _head_count(model: nn.Module, layer: str) -> int | None:
    """The number of attention heads of ``layer`` (a MultiheadAttention) or of a module above it."""
    modules = dict(model.named_modules())
    names = [layer]
    while names[-1]:
        names.append(names[-1].rpartition(".")[0])
    for name in names:
        module = modules.get(name)
        for attribute in _HEAD_ATTRIBUTES:
            value = getattr(module, attribute, None)
            if isinstance(value, int) and value > 0:
                return value
        config = getattr(module, "config", None)
        value = getattr(config, "num_attention_heads", None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _attention_factors(model: nn.Module, base: nn.Module, stack_map: StackMap,
                       notes: list[str]) -> dict[str, float]:
    """Query module name -> the factor √(d_head_base / d_head) it absorbs (muP's 1/d attention)."""
    factors: dict[str, float] = {}
    base_modules = dict(base.named_modules())
    base_roles = layer_roles(base)
    modules = dict(model.named_modules())
    for name, role in layer_roles(model).items():
        if role.kind not in ("q", "qkv"):
            continue
        heads, base_heads = _head_count(model, name), _head_count(base, stack_map.base_name(name))
        base_module, base_role = base_modules.get(stack_map.base_name(name)), base_roles.get(stack_map.base_name(name))
        if heads is None or base_heads is None or base_module is None or base_role is None:
            notes.append(f"attention at {name}: the head count is not an attribute weightinit knows "
                         f"({', '.join(_HEAD_ATTRIBUTES)}); its logits keep 1/sqrt(d_head)")
            continue
        if role.kind == "qkv":  # q, k and v of width d each, d the residual stream's
            width, base_width = role.width, base_role.width
        else:
            width, base_width = _out_features(modules[name]), _out_features(base_module)
        ratio = (base_width / base_heads) / (width / heads)
        if math.isclose(ratio, 1.0):
            continue
        parent = modules.get(name.rpartition(".")[0])
        norms = [child for child, _ in (parent.named_children() if parent is not None else ())
                 if child in _QUERY_NORMS]
        if norms:
            notes.append(f"attention at {name}: a norm ({norms[0]}) follows the query and would cancel a factor "
                         "absorbed into it; its logits keep 1/sqrt(d_head)")
            continue
        if role.kind == "qkv":
            notes.append(f"attention at {name}: q, k and v are one tensor, so muP's 1/d_head cannot be absorbed "
                         f"into the query alone; its logits keep 1/sqrt(d_head) (d_head {width // heads}, base "
                         f"{base_width // base_heads}): keep d_head fixed as the width grows, or use separate "
                         "projections")
            continue
        factors[name] = math.sqrt(ratio)
    return factors


def _branch_factors(model: nn.Module, stack_map: StackMap, depth_alpha: float, notes: list[str],
                    example_input: torch.Tensor | None) -> dict[str, float]:
    """Branch end (a module name) -> the depth multiplier L_m^-α it absorbs. A branch whose output
    goes through a norm before the residual addition (OLMo 2's post-norm) absorbs none: the norm
    divides any factor on its input out again, as a ``q_norm`` does the query's 1/d, so the
    multiplier (and the learning rate and ε that come with it) would do nothing; the plan says so
    in a note instead. The norm is found by its name (:data:`_POST_NORMS`) and, with an
    ``example_input``, by a forward pass (:func:`_traced_post_norms`: any name)."""
    ends: dict[str, float] = {}
    for branch in residual_branches(model):
        ratio = stack_map.depth_ratio(branch.end)
        if ratio is not None and not math.isclose(ratio, 1.0):
            ends[branch.end] = ratio ** -depth_alpha
    if not ends:
        return ends
    post = _named_post_norms(model, list(ends), stack_map)
    if example_input is not None and not any(p.is_meta for p in model.parameters()):
        post = {**_traced_post_norms(model, list(ends), example_input), **post}
    for end in ends:
        if end in post:
            notes.append(f"residual branch ending at {end}: a norm ({post[end]}) follows it and would cancel the "
                         f"depth multiplier {ends[end]:.4g} absorbed into it; the branch keeps the base's output "
                         "scale (its parameters keep the depth rule's learning rates)")
    return {end: factor for end, factor in ends.items() if end not in post}


def _named_post_norms(model: nn.Module, ends: list[str], stack_map: StackMap) -> dict[str, str]:
    """Branch end -> the norm after it, a child of its block named as in :data:`_POST_NORMS` for
    the end's role (the attention's output or the MLP's)."""
    roles, modules = layer_roles(model), dict(model.named_modules())
    found: dict[str, str] = {}
    for end in ends:
        block, role = stack_map.block_name(end), roles.get(end)
        if block is None or role is None or role.kind not in _POST_NORMS or block not in modules:
            continue
        children = {name for name, _ in modules[block].named_children()}
        if not children & set(_POST_NORMS["mlp_out"]):
            continue  # a post-attention name without a post-MLP norm is Llama's norm before the MLP
        names = [name for name in _POST_NORMS[role.kind] if name in children]
        if names:
            found[end] = f"{block}.{names[0]}"
    return found


def _is_norm(module: nn.Module) -> bool:
    """torch's norm layers, and any class named ``...Norm`` (transformers' ``LlamaRMSNorm``, ``T5LayerNorm``)."""
    return isinstance(module, _NORM_LAYERS) or type(module).__name__.endswith("Norm")


def _traced_post_norms(model: nn.Module, ends: list[str], example_input: torch.Tensor) -> dict[str, str]:
    """Branch end -> the norm whose input is the end's very output in ``model(example_input)``
    (eval mode, no gradients, the global RNG forked; the model is left as it was). A residual
    addition in between makes a new tensor, so a post-LN block (BERT's norm of the sum) is not one."""
    modules = dict(model.named_modules())
    outputs: dict[int, tuple[torch.Tensor, str]] = {}  # id -> (the tensor, kept alive so its id is not reused; end)
    found: dict[str, str] = {}

    def record(end: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                outputs[id(output)] = (output, end)
        return hook

    def check(norm: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple) -> None:
            kept = outputs.get(id(inputs[0])) if inputs else None
            if kept is not None and kept[0] is inputs[0]:
                found.setdefault(kept[1], norm)
        return hook

    hooks = [modules[end].register_forward_hook(record(end)) for end in ends if end in modules]
    hooks += [module.register_forward_pre_hook(check(name)) for name, module in modules.items() if _is_norm(module)]
    was_training = model.training
    try:
        model.eval()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            forward_checked(model, example_input)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return found


def _out_features(module: nn.Module) -> int | None:
    out = getattr(module, "out_features", None)
    if out is None and getattr(module, "weight", None) is not None and module.weight.dim() == 2:
        out = module.weight.shape[0]
    return out


def plan_parametrization(
    model: nn.Module,
    parametrization: str = "mup",
    *,
    base: nn.Module | Callable[[], nn.Module] | None = None,
    scheme: str = "default",
    depth_alpha: float | None = None,
    zero_readout: bool = False,
    zero_query: bool = False,
    **init_options: Any,
) -> ParamPlan:
    """Plan ``model`` under ``parametrization``, changing nothing.

    Args:
        model: any ``nn.Module`` (on any device, the meta device included).
        parametrization: ``"sp"`` (the scheme as it is, every multiplier 1) or ``"mup"``
            (:mod:`weightinit.parametrize.rules`).
        base: the base model (``mup`` only): the same architecture at the base width (and
            depth), best built on the meta device, or a function that builds it (called under
            the meta device). At the base width ``mup`` is ``sp``.
        scheme: the per-layer scheme whose stds (at the base shapes) muP scales: ``default``
            (PyTorch's own, which the ``mup`` package assumes), ``he_normal``, a preset
            (``gpt2``, ``olmo2``, ...) and the rest of :data:`~weightinit.modelinit.SCHEMES`,
            except those that draw layers together (``mimetic``, the mean-field ``critical``)
            or need data.
        depth_alpha: α of the depth rule (0.5: depth-muP; 1: CompleteP), with a base of another
            depth; None: no depth rule.
        zero_readout, zero_query: start the readout (its weight) and the attention queries at 0,
            as Tensor Programs V recommends.
        init_options: the options of :func:`weightinit.init_model` (``nonlinearity``, ``bias``,
            ``example_input``, ...), applied to the model and to the base; ``only=`` (initialize some
            parameters, leave the rest as loaded) applies to the model alone. muP's rules need no
            draw of a parameter, so the ones only= leaves keep their kind and multipliers, read off
            the whole model's plan; a note names them, since their learning rates assume muP's init
            at this width. That is right for a muP checkpoint of this model (resumed, or fine-tuned
            with a new head), wrong for one trained under SP or at another width, and weightinit
            cannot tell which it is: a note, not a refusal.
    """
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    check_choice("scheme", scheme, SCHEMES)
    spec = SCHEMES[scheme]
    if spec.needs_data:
        raise UserError(f"scheme={scheme!r} is data-driven; a parametrization scales a per-layer scheme's stds")
    if depth_alpha is not None:
        depth_alpha = check_number("depth_alpha", depth_alpha, minimum=0)
    if parametrization == "sp":
        if base is not None or depth_alpha is not None or zero_readout or zero_query:
            raise UserError("parametrization='sp' is the scheme as it is: it takes no base=, depth_alpha=, "
                            "zero_readout= or zero_query= (use parametrization='mup')")
        base = model
    else:
        base = build_base(base)
        if getattr(spec.preset, "joint", None) is not None:
            raise UserError(f"scheme={scheme!r} draws layers together (or by its own pass over the model); muP "
                            "scales the std each block gets at the base width: use 'default', 'he_normal', 'gpt2', ...")
    only = init_options.pop("only", None)
    init_plan = plan_init(model, scheme, only=only, **init_options)
    whole_plan = init_plan if only is None else plan_init(model, scheme, **init_options)  # every parameter's rule
    base_plan = whole_plan if base is model else plan_init(base, scheme, **init_options)  # only= names the model's
    stack_map = StackMap(model, base)
    notes: list[str] = []
    if any(b.recipe is not None for b in init_plan.blocks) and parametrization == "mup":
        raise UserError(f"{type(model).__name__}'s own init code fills some parameters under scheme={scheme!r}; "
                        "muP needs each std at the base width: pick a scheme weightinit draws itself "
                        "(a preset such as 'gpt2', or 'normal', 'he_normal')")
    base_blocks = {_block_key(b): b for b in base_plan.blocks}
    shapes = {id(b): row.shape for plan in (init_plan, base_plan) for b, row in zip(plan.blocks, plan.rows)}
    blocks_of, rules_of = _blocks_by_name(init_plan), _blocks_by_name(whole_plan)  # what is filled; every rule
    base_params = dict(base.named_parameters())
    if parametrization == "mup":
        _check_untied(model)
        if depth_alpha is None and any(ours != theirs for ours, theirs in stack_map.depths.values()):
            notes.append("the base has another depth but depth_alpha is None: every block keeps the base's "
                         "depth-dependent draws and rates as they are (give depth_alpha to scale with depth)")

    absorbed: dict[str, list[tuple[str, float]]] = {}  # parameter -> (what, factor)
    if parametrization == "mup":
        for name, factor in _attention_factors(model, base, stack_map, notes).items():
            for parameter in ("weight", "bias"):
                absorbed.setdefault(f"{name}.{parameter}", []).append(("attention 1/d", factor))
        if depth_alpha is not None:
            branches = _branch_factors(model, stack_map, depth_alpha, notes, init_options.get("example_input"))
            for end, factor in branches.items():
                for parameter in ("weight", "bias"):
                    absorbed.setdefault(f"{end}.{parameter}", []).append(("branch", factor))

    readout = _readout_weight(model)  # by role, so that the base width (where no fan grows) is zeroed alike
    queries = {f"{name}.weight" for name, role in layer_roles(model).items() if role.kind == "q"}
    rows: list[ParamRow] = []
    for name, parameter in model.named_parameters():
        base_name = stack_map.base_name(name)
        if base_name not in base_params:
            raise UserError(f"the base model has no parameter {base_name!r} (for {name!r}): the base must be the "
                            "same architecture at another size")
        shape, base_shape = tuple(parameter.shape), tuple(base_params[base_name].shape)
        blocks, rule = blocks_of.get(name, []), (rules_of.get(name) or [None])[0]
        base_block = None if rule is None else base_blocks.get((stack_map.base_name(rule.module), rule.parameter,
                                                                 rule.label))
        fan_in, fan_out, is_vector = _fans(rule, shape)
        base_in, base_out, _ = _fans(base_block, base_shape)
        m_in, m_out = fan_in / base_in, fan_out / base_out
        if parametrization == "sp":
            kind, mult = kind_of(1.0, 1.0, is_vector), Multipliers()
        else:
            kind = kind_of(m_in, m_out, is_vector)
            mult = width_multipliers(kind, m_in, m_out)
            ratio = stack_map.depth_ratio(name)
            if depth_alpha is not None and ratio is not None:
                mult = depth_multipliers(mult, ratio, depth_alpha)
            for _, factor in absorbed.get(name, []):
                mult = absorb(mult, factor)
        what = [f"readout 1/m_in = {1 / m_in:.4g}"] if kind == "readout" else []
        what += [f"{label} {factor:.4g}" for label, factor in absorbed.get(name, [])]
        row = ParamRow(name, kind, shape, base_shape, m_in, m_out, mult,
                       stack_map.depth_ratio(name) if depth_alpha is not None else None, what)
        rows.append(row)
        if parametrization == "mup":
            zero = (zero_readout and name == readout) or (zero_query and name in queries)
            _retarget(blocks, base_blocks, shapes, stack_map, mult.init, zero, name)
    if parametrization == "mup" and zero_query and not queries:
        notes.append("zero_query: no separate query projection was found; nothing zeroed")
    if parametrization == "mup":
        notes += _unfilled_notes(rows, set(blocks_of), set(rules_of)) + _assumed_fans_note(rows, set(rules_of))
    return ParamPlan(parametrization, scheme, rows, init_plan, depth_alpha, notes, dict(model.named_parameters()))


def _blocks_by_name(plan: InitPlan) -> dict[str, list[Block]]:
    """The blocks of ``plan`` by the qualified name of the parameter each fills."""
    found: dict[str, list[Block]] = {}
    for block in plan.blocks:
        found.setdefault(f"{block.module}.{block.parameter}".lstrip("."), []).append(block)
    return found


def _listed(names: list[str]) -> str:
    """``names`` for a note: the first :data:`_SHOWN`, then how many more."""
    more = len(names) - _SHOWN
    return ", ".join(names[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _unfilled_notes(rows: list[ParamRow], filled: set[str], ruled: set[str]) -> list[str]:
    """Notes naming the parameters the plan does not draw although muP's std for them is not the
    scheme's (init multiplier not 1: hidden and readout weights, branch ends): the ones ``only=``
    leaves as loaded, and the ones no rule covers (left as their module made them). Their
    learning-rate, weight-decay and ε multipliers assume muP's init at this width. (A vector's or an
    input layer's muP std is the scheme's: whatever it holds, its multipliers fit as well as SP's would.)"""
    changed = [r for r in rows if r.name not in filled and not math.isclose(r.multipliers.init, 1.0)]
    left = [r.name for r in changed if r.name in ruled]
    unknown = [r.name for r in changed if r.name not in ruled]
    notes = []
    if left:
        notes.append(f"only= leaves {len(left)} parameter(s) as they were ({_listed(left)}), yet gives them muP's "
                     "learning-rate, weight-decay and eps multipliers, which assume muP's init at this width: right "
                     "for a muP checkpoint of this model and base, wrong for one trained under SP or at another width")
    if unknown:
        notes.append(f"no rule initializes {len(unknown)} parameter(s) ({_listed(unknown)}): they keep the values "
                     "their module gave them, not muP's std, yet get muP's learning-rate multipliers, which assume it")
    return notes


def _assumed_fans_note(rows: list[ParamRow], ruled: set[str]) -> list[str]:
    """A note naming the parameters of modules no rule knows whose fans were read off the shape as
    (out, in), torch's Linear layout: a weight used as ``x @ w`` is (in, out), and its kind (input
    against readout) would be the wrong one. Only where a fan grew, so that the guess matters."""
    guessed = [f"{r.name} ({r.kind})" for r in rows if r.name not in ruled and not _is_vector_shape(r.shape)
               and r.shape != r.base_shape]
    if not guessed:
        return []
    return [f"fans read off the shape as (out, in), torch's Linear layout, for {len(guessed)} parameter(s) of modules "
            f"weightinit has no rule for ({_listed(guessed)}): a weight used as x @ w is (in, out) and then has the "
            "wrong kind; hold it in an nn.Linear, or check its row of the table"]


def _check_untied(model: nn.Module) -> None:
    """Refuse a parameter under two names (an embedding tied to the readout): muP gives the two roles
    different multipliers, which one tensor cannot hold absorbed."""
    names: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(parameter), []).append(name)
    tied = [found for found in names.values() if len(found) > 1]
    if tied:
        raise UserError(f"{type(model).__name__} ties {' and '.join(tied[0])} (one tensor): muP gives an "
                        "embedding and a readout different multipliers, so untie them (the mup package needs "
                        "MuSharedReadout, an output multiplier in the forward pass, for this case)")


def _readout_weight(model: nn.Module) -> str | None:
    """The weight of the model's last linear layer (the one that makes its output), by module order."""
    last = None
    for name, module in model.named_modules():
        if linear_io(module) is not None and getattr(module, "weight", None) is not None:
            last = f"{name}.weight"
    return last


def _retarget(blocks: list[Block], base_blocks: dict, shapes: dict[int, tuple[int, ...]], stack_map: StackMap,
              factor: float, zero: bool, name: str) -> None:
    """Fill each of a parameter's blocks with its base block's formula times ``factor`` (or zeros).
    A formula whose std the filled tensor's shape sets (orthogonal) is rescaled from this block's
    shape to the base block's, so that it draws the base std."""
    for block in blocks:
        key = (stack_map.base_name(block.module), block.parameter, block.label)
        if key not in base_blocks:
            raise UserError(f"the base model's {name!r} is planned in other blocks than the model's "
                            f"({block.label or 'whole'}): the base must be the same architecture at another size")
        if zero:
            block.fill, block.rule = _zeroed, f"zeros (muP; was {block.rule})"
            continue
        base = base_blocks[key]
        scale = factor
        if base.shape_std is not None:
            scale *= base.shape_std(shapes[id(base)]) / base.shape_std(shapes[id(block)])
        block.fill = _scaled(base.fill, scale)
        block.rule = base.rule if scale == 1.0 else f"{base.rule} x {scale:.4g} (muP)"
        block.fan_in, block.fan_out = base.fan_in, base.fan_out


def parametrize(
    model: nn.Module,
    parametrization: str = "mup",
    *,
    base: nn.Module | Callable[[], nn.Module] | None = None,
    scheme: str = "default",
    generator: torch.Generator | None = None,
    depth_alpha: float | None = None,
    zero_readout: bool = False,
    zero_query: bool = False,
    verbose: bool = False,
    **init_options: Any,
) -> ParamPlan:
    """Initialize ``model`` under ``parametrization`` and return the plan (for
    :func:`~weightinit.parametrize.param_groups`). Arguments as for :func:`plan_parametrization`;
    every draw comes from ``generator``; ``verbose`` prints the plan's table."""
    check_generator(generator)
    plan = plan_parametrization(model, parametrization, base=base, scheme=scheme, depth_alpha=depth_alpha,
                                zero_readout=zero_readout, zero_query=zero_query, **init_options)
    plan.apply(generator)
    if verbose:
        print(plan.table())
    return plan
