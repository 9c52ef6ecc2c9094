"""``materialize``: a model built on the meta device, sharded over ranks, or plain, initialized
so that every weight depends only on the seed, its name, its shape and the scheme.

The plan is :func:`weightinit.plan_init`'s (the same rules, fans, gains and presets as
:func:`weightinit.init_model`); only where the random numbers come from differs. ``init_model``
draws every block from one generator in plan order, so a weight depends on everything drawn
before it; ``materialize`` draws each block from its own counter-based streams
(:mod:`.streams`, through :mod:`.elementwise`), so a rank fills its shard alone, in any order,
on any number of threads, and 1, 2 or 4 ranks hold the same model. The two give different
numbers from the same distributions; ``init_model(..., generator=g)`` is unchanged.

What happens, in order:

1. the plan, :func:`~weightinit.plan_init`'s (a meta or sharded parameter stands in as an
   untouched CPU tensor of its global shape while it is made: no shard is gathered); a model with
   a parameter no rule covers, or a meta buffer nothing recomputes, is refused here, before any
   allocation;
2. meta tensors get storage on ``device`` (``to_empty``: untouched memory, no values), tied
   weights tied again;
3. the modules' own recipes run with the global RNG forked and seeded from ``seed``: a
   transformers model's ``init_weights()`` recomputes its buffers (rotary ``inv_freq``, BERT's
   ``position_ids``), and under ``default`` draws its own weights; norms' running statistics are
   reset. Recipes that draw weights do so over whole tensors in their own order, so a sharded
   model refuses them (use a per-layer scheme there; recomputing buffers is fine);
4. every block of the plan is filled on the piece this process holds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._checks import check_choice, check_int
from ..errors import UserError
from ..modelinit import SCHEMES, InitPlan, plan_init
from .elementwise import streamed_fill
from .shards import block_piece, is_sharded, local_piece
from .streams import BLOCK_SIZE, stream_seed

__all__ = ["FillRecord", "materialize", "fill_streams", "block_key"]


@dataclass
class FillRecord:
    """How one block was filled on this process: ``kind`` is ``"streams"`` (elementwise, from its
    own streams), ``"deterministic"`` (a constant, or nothing local to fill), ``"whole"`` (the
    whole block drawn on this process: ``reason`` names the operation that needs it) or
    ``"recipe"`` (the module's own code)."""

    name: str
    block: str
    shape: tuple[int, ...]
    kind: str
    draws: int = 0
    reason: str = ""


def block_key(module: str, parameter: str, rows: slice | None = None, cols: slice | None = None) -> str:
    """The name a block's streams are seeded by: the parameter's qualified name, and its rows
    and columns when it is a block of it (``"h.0.attn.c_attn.weight[:, 0:64]"``)."""
    key = f"{module}.{parameter}" if module else parameter
    if rows is not None:
        key += f"[{rows.start}:{rows.stop}]"
    if cols is not None:
        key += f"[:, {cols.start}:{cols.stop}]"
    return key


def fill_streams(model: nn.Module, plan: InitPlan, *, seed: int = 0, block_size: int = BLOCK_SIZE,
                 threads: int = 1) -> list[FillRecord]:
    """Fill every block of ``plan`` (made by :func:`~weightinit.plan_init` on ``model``, or on a
    model of the same names and shapes) on the piece of its parameter this process holds, from
    the streams of ``seed``; blocks a recipe fills are left to it. Returns a record per block."""
    modules = dict(model.named_modules())
    records = []
    for block, row in zip(plan.blocks, plan.rows):
        key = block_key(block.module, block.parameter, block.rows, block.cols)
        if block.recipe is not None:
            records.append(FillRecord(key, row.block, row.shape, "recipe"))
            continue
        parameter = getattr(modules[block.module], block.parameter)
        view, shape, box = block_piece(block, local_piece(parameter, key))
        result = streamed_fill(block.fill, view, stream_seed(seed, key), shape, box, block_size=block_size,
                               threads=threads)
        records.append(FillRecord(key, row.block, shape, result.kind, result.draws, result.reason))
    return records


def _on_meta(tensor: torch.Tensor) -> bool:
    return tensor.device.type == "meta"


def _recomputed_buffers(model: nn.Module, plan: InitPlan) -> set[int]:
    """ids of the buffers something recomputes: a transformers model's recipe (its whole
    subtree), a norm's ``reset_running_stats``."""
    ids: set[int] = set()
    for recipe in plan.recipes:
        root = getattr(recipe, "model", None)  # TransformersRecipe: init_weights() recomputes its buffers
        if root is not None:
            ids |= {id(b) for b in root.buffers()}
    for module in model.modules():
        if callable(getattr(module, "reset_running_stats", None)):
            ids |= {id(b) for b in module.buffers(recurse=False)}
    return ids


def _allocate(model: nn.Module, device: torch.device) -> None:
    """``to_empty`` (storage, no values), then the tied parameters and buffers tied again."""
    groups: dict[int, list[tuple[nn.Module, str, str]]] = {}
    for module in model.modules():
        for kind in ("_parameters", "_buffers"):
            for name, t in getattr(module, kind).items():
                if t is not None:
                    groups.setdefault(id(t), []).append((module, kind, name))
    model.to_empty(device=device)
    for places in groups.values():
        first_module, kind, first = places[0]
        tensor = getattr(first_module, kind)[first]
        for module, kind, name in places[1:]:
            getattr(module, kind)[name] = tensor


def materialize(
    model: nn.Module,
    scheme: str,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    block_size: int = BLOCK_SIZE,
    threads: int | None = None,
    strict: bool = False,
    **options: Any,
) -> nn.Module:
    """Initialize ``model`` by ``scheme`` so that each weight depends only on ``seed``, its
    name, its shape and the scheme; a model on the meta device gets its storage on ``device``
    first. Returns the model.

    Works on a model built under ``torch.device("meta")`` (one tensor at a time: memory is
    never written twice, and no second copy is made), on one sharded by FSDP2's
    ``fully_shard`` or holding ``DTensor`` parameters (each rank fills its own shard only, with
    no communication: the gathered model is bit-identical for any number of ranks), and on a
    plain model (filled where it lives). A meta-built model equals the same model built on the
    CPU and materialized with the same seed, weight for weight and buffer for buffer.

    Args:
        model: any ``nn.Module``.
        scheme: a per-layer scheme of :data:`~weightinit.modelinit.schemes.SCHEMES`; the
            data-driven ones (``lsuv``, ``dbn``) run forward passes on the whole model and are
            refused: materialize with their starting scheme, then ``init_model(..., data=x)``.
        seed: the one seed every stream derives from (an integer >= 0).
        device: where a meta model's tensors are created (default ``"cpu"``); for a model with
            storage it must be None or its device (the model is never moved).
        block_size: elements per stream block; part of what the values depend on (keep the
            default to reproduce them).
        threads: stream blocks drawn at once (default: ``torch.get_num_threads()``); the
            values do not depend on it.
        strict: raise instead of warning when a parameter has no rule (a meta parameter with
            no rule is always refused: it would hold uninitialized memory).
        **options: the keyword arguments of :func:`~weightinit.plan_init` (``nonlinearity``,
            ``bias``, ``recurrent``, ``forget_bias``, ``residual``, ``only``, ``example_input``).

    Examples:
        >>> with torch.device("meta"):  # doctest: +SKIP
        ...     model = LlamaForCausalLM(config)
        >>> materialize(model, "olmo2", seed=0, device="cpu")  # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_choice("scheme", scheme, SCHEMES)
    if SCHEMES[scheme].needs_data:
        raise UserError(f"scheme={scheme!r} is data-driven: it runs the whole model forward as it decides; "
                        "materialize(model, <its starting scheme>, ...) first, then init_model(model, "
                        f"{scheme!r}, data=x)")
    seed = check_int("seed", seed, 0)
    block_size = check_int("block_size", block_size, 1)
    threads = torch.get_num_threads() if threads is None else check_int("threads", threads, 1)
    tensors = [*model.parameters(), *model.buffers()]
    meta = any(_on_meta(t) for t in tensors)
    sharded = any(is_sharded(p) for p in model.parameters())
    if meta:
        device = torch.device("cpu" if device is None else device)
    elif device is not None:
        held = {t.device for t in tensors}
        if held and held != {torch.device(device)}:
            raise UserError(f"device={str(device)!r}, but the model's tensors are on "
                            f"{', '.join(sorted(map(str, held)))}; materialize never moves a model "
                            "(device= is for a model on the meta device)")
    plan = plan_init(model, scheme, **options)  # on CPU stand-ins of the meta and sharded parameters
    _check(model, plan, meta=meta, sharded=sharded, strict=strict)
    if meta:
        _allocate(model, device)
    modules = dict(model.named_modules())
    for index, recipe in enumerate(plan.recipes):  # the ids the plan saw are gone after to_empty: again
        recipe.targets = {id(getattr(modules[b.module], b.parameter)) for b in plan.blocks if b.recipe is recipe}
        recipe.run(torch.Generator().manual_seed(stream_seed(seed, "recipe", index)))
    if meta:
        for module in model.modules():
            if callable(getattr(module, "reset_running_stats", None)):
                module.reset_running_stats()
    records = fill_streams(model, plan, seed=seed, block_size=block_size, threads=threads)
    if sharded:
        _say_what_whole_blocks_cost(records)
    return model


def _say_what_whole_blocks_cost(records: list[FillRecord]) -> None:
    """On a sharded model, warn (once, in one line) about the blocks each rank drew whole because
    their fill needs the whole matrix: their full size in memory and their full draw on every
    rank that holds a piece of them."""
    whole = [r for r in records if r.kind == "whole"]
    if not whole:
        return
    values = sum(math.prod(r.shape) for r in whole)
    reasons = sorted({r.reason for r in whole})
    warnings.warn(f"materialize: {len(whole)} block(s) ({values / 1e6:,.1f} M values) need the whole matrix "
                  f"({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''}): this rank drew each of them "
                  f"whole and kept its shard, e.g. {whole[0].name} {tuple(whole[0].shape)}", stacklevel=3)


def _check(model: nn.Module, plan: InitPlan, *, meta: bool, sharded: bool, strict: bool) -> None:
    """Everything that would refuse the call, before anything is allocated or written."""
    drawing = [r for r in plan.recipes if any(b.recipe is r for b in plan.blocks)]  # not a buffers-only one
    if sharded and drawing:
        own = sorted({type(getattr(r, "model", getattr(r, "module", model))).__name__ for r in drawing})
        raise UserError(f"a sharded model with a module's own recipe ({', '.join(own)}: its own init code, which "
                        "draws over whole tensors in its own order) cannot be filled shard by shard; use a "
                        "per-layer scheme (not 'default') for a transformers model")
    if plan.untouched:
        names = ", ".join(plan.untouched)
        if meta:
            raise UserError(f"{len(plan.untouched)} parameter(s) of {type(model).__name__} have no initialization "
                            f"rule ({names}); on the meta device they would hold uninitialized memory "
                            "(weightinit.register_rule adds one)")
        message = (f"{len(plan.untouched)} parameter(s) of {type(model).__name__} have no initialization rule and "
                   f"were left as they were: {names} (weightinit.register_rule adds one)")
        if strict:
            raise UserError(message)
        warnings.warn(message, stacklevel=3)
    if meta:
        recomputed = _recomputed_buffers(model, plan)
        lost = [name for name, b in model.named_buffers() if _on_meta(b) and id(b) not in recomputed]
        if lost:
            raise UserError(f"buffer(s) {', '.join(lost[:3])}{', ...' if len(lost) > 3 else ''} of "
                            f"{type(model).__name__} were built on the meta device and nothing recomputes them "
                            "(only a transformers model's init_weights() and a norm's reset_running_stats() do); "
                            "build the model with its buffers on the CPU, or set them after materialize")
