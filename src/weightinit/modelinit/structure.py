"""Modules weightinit does not know by type, recognized by their structure: what their
parameters look like and, where the shapes leave a doubt, what their forward pass computes.

==========================  ==============================================================  ====================
kind                        recognized by                                                   examples
==========================  ==============================================================  ====================
norm                        its only parameters are a 1-D ``weight`` (the scale) and        ``LlamaRMSNorm``,
                            optionally a 1-D ``bias`` (the shift) of the same size, and     ``T5LayerNorm``, any
                            it is no layer weightinit knows by type. A probe tells the      ``*LayerNorm`` /
                            usual y = w·x̂ (+ b) from the offset form y = (1 + w)·x̂         ``*RMSNorm``;
                            (Gemma): with w = b = 0 the first returns 0, the second x̂.     ``GemmaRMSNorm``
transposed linear           a 2-D ``weight`` of shape (in, out) and a 1-D ``bias`` of       transformers'
                            size out = weight.shape[1], computing y = x @ W + b. Shapes     ``Conv1D`` (GPT-2,
                            settle it when in ≠ out (a Linear's bias has weight.shape[0]    GPT-1)
                            entries); when in = out, the ``nx``/``nf`` attributes or a
                            probe of the forward pass do
packed q/k/v                a linear layer (``nn.Linear`` or a transposed one) with         GPT-2's ``c_attn``
                            out = 3·in inside an attention module: its parent has a         (d, 3d); timm's
                            ``num_heads``/``n_head``/``n_heads``/``num_attention_heads``/   ``attn.qkv`` (3d, d)
                            ``head_dim`` attribute or a class name containing "Attention"
learned vectors             a 3-D parameter of shape (1, n, d) of a module no rule covers:  ViT's ``cls_token``,
                            n vectors broadcast over the batch and added to (or put         ``position_embeddings``,
                            beside) a sequence of d-vectors                                 ``mask_token``
transformers model          ``_init_weights``, ``init_weights`` and ``config`` attributes   ``PreTrainedModel``
                            (duck typing: transformers is never imported here)
==========================  ==============================================================  ====================

Probes run the module once on a tiny input drawn from a private generator, under
``torch.no_grad`` and in eval mode, with the parameters temporarily set to known values and
put back bit for bit afterwards; a probe that fails answers "not recognized".
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

import torch
from torch import nn

__all__ = ["ATTENTION_ATTRIBUTES", "Packed", "norm_parameters", "norm_has_offset", "is_transposed_linear",
           "is_attention", "packed_qkv", "learned_vectors", "is_pretrained_model", "linear_shape"]

ATTENTION_ATTRIBUTES = ("num_heads", "n_head", "n_heads", "num_attention_heads", "head_dim")
_PROBE_ERRORS = (RuntimeError, TypeError, ValueError, IndexError, AttributeError, NotImplementedError)


def _own(module: nn.Module) -> dict[str, nn.Parameter]:
    return dict(module.named_parameters(recurse=False))


def norm_parameters(module: nn.Module) -> bool:
    """True if ``module``'s only parameters are a 1-D ``weight`` and optionally a 1-D ``bias``
    of the same size: the scale and shift of a norm (the caller has checked that the module is
    no layer weightinit knows by type)."""
    own = _own(module)
    weight, bias = own.get("weight"), own.get("bias")
    if weight is None or set(own) - {"weight", "bias"} or weight.dim() != 1:
        return False
    return bias is None or (bias.dim() == 1 and bias.numel() == weight.numel())


@torch.no_grad()
def _probe(module: nn.Module, values: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor | None:
    """``module(x)`` with its parameters set to ``values`` for the call, then put back; None if it fails."""
    saved = {name: getattr(module, name).detach().clone() for name in values}
    was_training = module.training
    try:
        module.eval()
        for name, value in values.items():
            getattr(module, name).copy_(value)
        out = module(x)
        return out if isinstance(out, torch.Tensor) else None
    except _PROBE_ERRORS:
        return None
    finally:
        for name, value in saved.items():
            getattr(module, name).copy_(value)
        module.train(was_training)


def _probe_input(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A fixed standard-normal input from a private generator (the global RNG is not touched)."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=g).to(device=like.device, dtype=like.dtype)


def norm_has_offset(module: nn.Module) -> bool:
    """True for a norm that computes (1 + w)·x̂ (Gemma's RMSNorm; its scale starts at 0): with
    w = 0 (and b = 0) it still returns x̂ ≠ 0, where the usual w·x̂ + b returns 0."""
    weight = module.weight
    d = weight.numel()
    values = {name: torch.zeros_like(t) for name, t in _own(module).items()}
    for shape in ((2, 3, d), (2, d, 3, 3)):  # (batch, tokens, d); channels first (a 2-D LayerNorm)
        out = _probe(module, values, _probe_input(shape, weight))
        if out is not None:
            return bool(torch.isfinite(out).all() and out.abs().amax() > 0)
    return False


def linear_shape(module: nn.Module) -> tuple[int, int] | None:
    """``(in, out)`` of a transposed linear layer (weight (in, out), bias of size out,
    y = x @ W + b), None if ``module`` is not one; see the module docstring."""
    own = _own(module)
    weight, bias = own.get("weight"), own.get("bias")
    if weight is None or bias is None or set(own) != {"weight", "bias"} or weight.dim() != 2 or bias.dim() != 1:
        return None
    n_in, n_out = weight.shape
    if bias.numel() != n_out:
        return None
    if n_in != n_out:
        return n_in, n_out
    if getattr(module, "nx", None) == n_in and getattr(module, "nf", None) == n_out:
        return n_in, n_out
    # square: x @ W or x @ Wᵀ? Ask the forward pass with a non-symmetric W
    w = _probe_input((n_in, n_out), weight)
    x = _probe_input((3, n_in), weight)
    out = _probe(module, {"weight": w, "bias": torch.zeros_like(bias)}, x)
    if out is None or out.shape != (3, n_out):
        return None
    return (n_in, n_out) if torch.allclose(out, x @ w, rtol=1e-3, atol=1e-4) else None


def is_transposed_linear(module: nn.Module) -> bool:
    """True for a linear layer that stores its weight transposed (transformers' ``Conv1D``)."""
    return linear_shape(module) is not None


def is_attention(module: nn.Module | None) -> bool:
    """True for an attention module: it has a head-count or head-size attribute
    (:data:`ATTENTION_ATTRIBUTES`) or its class name contains "Attention"."""
    if module is None or isinstance(module, nn.MultiheadAttention):
        return False  # torch's has its own rule (and no Linear q/k/v)
    return "Attention" in type(module).__name__ or any(hasattr(module, a) for a in ATTENTION_ATTRIBUTES)


@dataclass(frozen=True)
class Packed:
    """The q, k, v blocks of a packed projection: ``d`` rows (nn.Linear, weight (3d, d)) or
    columns (transposed, weight (d, 3d)) each."""

    d: int
    _: KW_ONLY
    transposed: bool

    def blocks(self) -> list[tuple[str, slice]]:
        return [(label, slice(i * self.d, (i + 1) * self.d)) for i, label in enumerate("qkv")]


def packed_qkv(module: nn.Module, parent: nn.Module | None) -> Packed | None:
    """The q/k/v packing of a linear layer whose output is 3 times its input inside an
    attention module (GPT-2's ``c_attn``), None for any other layer. Each of q, k, v is then
    a d × d layer of its own, with fans (d, d), as for ``nn.MultiheadAttention``'s ``in_proj``
    (the packed matrix's fans (d, 3d) would give xavier a std √2 too small)."""
    if not is_attention(parent):
        return None
    if isinstance(module, nn.Linear):
        n_in, n_out, transposed = module.in_features, module.out_features, False
    else:
        shape = linear_shape(module)
        if shape is None:
            return None
        (n_in, n_out), transposed = shape, True
    return Packed(n_in, transposed=transposed) if n_out == 3 * n_in else None


def learned_vectors(module: nn.Module) -> list[str]:
    """The names of ``module``'s own parameters of shape (1, n, d): learned vectors broadcast
    over the batch (a class token, learned positions, a mask token)."""
    return [name for name, t in _own(module).items() if t.dim() == 3 and t.shape[0] == 1]


def is_pretrained_model(module: nn.Module) -> bool:
    """True for a transformers ``PreTrainedModel`` (by duck typing: it has its own
    ``_init_weights`` recipe, ``init_weights`` to run it, and a ``config``)."""
    return all(callable(getattr(module, a, None)) for a in ("_init_weights", "init_weights")) and \
        hasattr(module, "config")
