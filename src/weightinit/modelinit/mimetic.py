r"""Mimetic initialization of self-attention (Trockman & Kolter 2023, "Mimetic Initialization of
Self-Attention Layers"): start each attention layer where trained ones end up, with

.. math::
    W_q W_k^\top \approx \alpha_1 Z_1 + \beta_1 I, \qquad W_v W_o \approx \alpha_2 Z_2 - \beta_2 I,

:math:`Z_i` with i.i.d. N(0, 1/d) entries, so that each token attends to itself at the start and
the value-output path subtracts a little of its input. Per head h (width :math:`d_h`), the SVD
:math:`\alpha_1 Z_1 + \beta_1 I = U S V^\top` gives :math:`W_q = U_{:,:d_h} S_{:d_h}^{1/2}` and
:math:`W_k = V_{:,:d_h} S_{:d_h}^{1/2}` (the best rank-:math:`d_h` factors); for the whole layer,
:math:`\alpha_2 Z_2 - \beta_2 I = U S V^\top` gives :math:`W_v = U S^{1/2}`,
:math:`W_o = S^{1/2} V^\top`. In ``nn.Linear`` layout (out, in) the weights are these matrices'
transposes. The paper's values for vision transformers: :math:`\alpha_1 = \beta_1 = 0.7`,
:math:`\alpha_2 = \beta_2 = 0.4` (:data:`ALPHA_BETA`).

q and k are drawn together, and so are v and the output: the first of each pair to be filled
computes both and keeps the second's values for it. A layer whose k has fewer heads than its q
(grouped-query attention, for which the paper has no variant) or whose v or output is not d × d
keeps the preset's plain draw, and its plan rows say so.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .rules import Block, Fill
from .structure import is_attention, linear_shape

__all__ = ["ALPHA_BETA", "apply_mimetic", "heads_of"]

ALPHA_BETA = (0.7, 0.7, 0.4, 0.4)  # α1, β1, α2, β2: the paper's vision-transformer setting


def heads_of(module: nn.Module) -> int | None:
    """The number of heads of an attention module: a head-count attribute, else
    ``config.num_attention_heads``; None if it says none."""
    for attribute in ("num_heads", "n_head", "n_heads", "num_attention_heads"):
        value = getattr(module, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(getattr(module, "config", None), "num_attention_heads", None)
    return value if isinstance(value, int) and value > 0 else None


def _target(d: int, alpha: float, beta: float, generator: torch.Generator | None) -> torch.Tensor:
    z = torch.randn(d, d, generator=generator, dtype=torch.float64) / d ** 0.5
    return alpha * z + beta * torch.eye(d, dtype=torch.float64)


def _qk(d: int, heads: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, k) weights in Linear layout (heads·d_h, d): per head the rank-d_h factors of its target."""
    alpha, beta = ALPHA_BETA[:2]
    d_h = d // heads
    q, k = [], []
    for _ in range(heads):
        u, s, vh = torch.linalg.svd(_target(d, alpha, beta, generator))
        root = s[:d_h].sqrt()
        q.append((u[:, :d_h] * root).T)
        k.append((vh[:d_h].T * root).T)
    return torch.cat(q), torch.cat(k)


def _vo(d: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(v, o) weights in Linear layout (d, d): W_v W_o = α2 Z2 - β2 I."""
    alpha, beta = ALPHA_BETA[2:]
    u, s, vh = torch.linalg.svd(_target(d, alpha, -beta, generator))
    root = s.sqrt()
    return (u * root).T, (root[:, None] * vh).T


class _Pair:
    """The two weights of a pair (q, k or v, output), drawn together by whichever is filled first."""

    def __init__(self, draw: Callable[[torch.Generator | None], tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.draw, self.kept, self.written = draw, None, set()

    def fill(self, which: int, transposed: bool) -> Fill:
        def write(t: torch.Tensor, g: torch.Generator | None) -> None:
            if self.kept is None or which in self.written:  # the first of the pair (or a new apply) draws both
                self.kept, self.written = self.draw(g), set()
            values = self.kept[which]
            t.copy_(values.T if transposed else values)
            self.written.add(which)
            if len(self.written) == 2:
                self.kept = None
        return write


def _attention_chain(name: str, modules: dict[str, nn.Module]) -> list[str]:
    """The attention modules among ``name`` and its ancestors, innermost first (BERT's q/k/v sit
    in ``attention.self``, its output in ``attention.output``: both belong to ``attention``)."""
    chain = []
    while True:
        module = modules.get(name)
        if module is not None and (is_attention(module) or isinstance(module, nn.MultiheadAttention)):
            chain.append(name)
        if not name:
            return chain
        name = name.rpartition(".")[0]


def _transposed(block: Block, modules: dict[str, nn.Module]) -> bool:
    """Whether a block's view is stored (in, out): a column block of a packed transposed layer, or
    a transposed linear layer's whole weight (transformers' ``Conv1D``)."""
    return block.cols is not None or (block.parameter == "weight" and linear_shape(modules[block.module]) is not None)


def _shape(block: Block, tensor: torch.Tensor, modules: dict[str, nn.Module]) -> tuple[int, int]:
    """(out, in) of a block's view, whatever the layout."""
    rows, cols = tensor.shape[-2:]
    return (cols, rows) if _transposed(block, modules) else (rows, cols)


def apply_mimetic(blocks: list[Block], kinds: dict[int, str], tensor_of: Callable[[Block], torch.Tensor],
                  modules: dict[str, nn.Module]) -> None:
    """Give the q, k, v and attention-output blocks of every attention layer their mimetic fills
    (module docstring). ``kinds`` maps ``id(block)`` to its role's kind."""
    layers: dict[str, dict[str, Block]] = {}
    heads: dict[str, int | None] = {}
    for block in blocks:
        kind = kinds.get(id(block))
        chain = _attention_chain(block.module, modules) if kind in ("q", "k", "v", "attn_out") else []
        if not chain:
            continue
        owner = chain[-1]  # the outermost attention module: one per layer
        layers.setdefault(owner, {})[kind] = block
        if heads.get(owner) is None:
            heads[owner] = next((h for h in map(heads_of, (modules[n] for n in chain)) if h is not None), None)
    for owner, parts in layers.items():
        count = heads[owner]
        if set(parts) != {"q", "k", "v", "attn_out"}:
            for block in parts.values():
                block.rule += " (mimetic draws q with k and v with the output: not all here, plain draw)"
            continue
        if count is None:
            for block in parts.values():
                block.rule += " (mimetic: no head count on the attention module: plain draw)"
            continue
        shapes = {kind: _shape(block, tensor_of(block), modules) for kind, block in parts.items()}
        q_out, d = shapes["q"]
        if shapes["k"] != (q_out, d) or q_out != d or d % count or shapes["v"] != (d, d) or \
                shapes["attn_out"] != (d, d):
            for block in parts.values():
                block.rule += " (mimetic needs q, k of one shape and a d x d v and output: plain draw)"
            continue
        qk = _Pair(lambda g, d=d, count=count: _qk(d, count, g))
        vo = _Pair(lambda g, d=d: _vo(d, g))
        for kind, pair, which, what in (("q", qk, 0, "Wq Wkᵀ ≈ 0.7 Z + 0.7 I per head"),
                                        ("k", qk, 1, "Wq Wkᵀ ≈ 0.7 Z + 0.7 I per head"),
                                        ("v", vo, 0, "Wv Wo ≈ 0.4 Z - 0.4 I"),
                                        ("attn_out", vo, 1, "Wv Wo ≈ 0.4 Z - 0.4 I")):
            block = parts[kind]
            block.fill = pair.fill(which, _transposed(block, modules))
            block.rule = f"mimetic: {what} ({kind})"
