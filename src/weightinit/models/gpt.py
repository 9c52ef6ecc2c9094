"""A small GPT-2-style decoder (Radford et al. 2019) built from torch.nn layers only.

``logits = head(LN_f(h_L))``, ``h_0 = tok(x) + pos(t)``, and per block (pre-LayerNorm, as GPT-2)::

    h = h + proj(attention(q(LN_1 h), k(LN_1 h), v(LN_1 h)))     # causal, softmax(q kᵀ / √d_head) v
    h = h + down(GELU(up(LN_2 h)))                                # 4x wide MLP

Every parameter lives in an ``nn.Embedding``, ``nn.Linear`` or ``nn.LayerNorm``, so
:func:`weightinit.init_model` has a rule for each of them. Queries, keys and values are three
``nn.Linear(d, d)``, not one packed ``Linear(d, 3d)``: each then has its true fans (d, d), where a
packed layer would be read as fan_out 3d. The attention itself is
``F.scaled_dot_product_attention(is_causal=True)``.

The head is a separate ``nn.Linear(d, vocab)``, not tied to the token embedding: with tying,
one tensor would get two rules (the embedding's N(0, 1/d) and the head's fan-based one), and
the experiment compares what each scheme does to every layer; an untied head costs
d·vocab parameters, about 2% of the default model. No dropout: the runs are short and the
comparison is about initialization.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_positive_int
from ..errors import UserError

__all__ = ["GPT", "CausalSelfAttention", "Block", "GPT_SIZES", "QUICK_GPT_SIZES"]

GPT_SIZES = {"layers": 6, "width": 256, "heads": 8, "context": 256}  # the default of compare --model gpt
QUICK_GPT_SIZES = {"layers": 2, "width": 64, "heads": 4, "context": 64}  # compare --model gpt --quick


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with separate query, key, value and output projections."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise UserError(f"width {width} must be a multiple of heads {heads}")
        self.num_heads = heads
        self.query, self.key, self.value = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)
        self.proj = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, d)
        b, t, d = h.shape

        def split(z: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, heads, T, d / heads)
            return z.view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.query(h)), split(self.key(h)), split(self.value(h)),
                                             is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    """The block's feed-forward branch: width -> 4·width, GELU, -> width."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.up = nn.Linear(width, 4 * width)
        self.gelu = nn.GELU()
        self.down = nn.Linear(4 * width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.down(self.gelu(self.up(h)))


class Block(nn.Module):
    """A pre-LayerNorm Transformer block: attention and a 4x GELU MLP, each on a residual branch
    (each its own submodule, so that a branch's layers sit together, as depth-aware inits find them)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attention(self.ln_1(h))
        return h + self.mlp(self.ln_2(h))


class GPT(nn.Module):
    """A decoder-only language model: ``forward(x)`` maps token ids (B, T), T <= ``context``, to
    next-token logits (B, T, vocab).

    Args:
        vocab: the number of tokens.
        layers, width, heads: the blocks, the residual stream's width, the attention heads
            (``width`` a multiple of ``heads``).
        context: the longest sequence (the position embedding's length).
    """

    def __init__(self, vocab: int, layers: int = 6, width: int = 256, heads: int = 8, context: int = 256) -> None:
        super().__init__()
        for name, value in (("vocab", vocab), ("layers", layers), ("width", width), ("heads", heads),
                            ("context", context)):
            check_positive_int(name, value)
        self.context = context
        self.token = nn.Embedding(vocab, width)
        self.position = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T) int64
        t = x.shape[1]
        if t > self.context:
            raise UserError(f"the sequence has {t} tokens; this GPT's context is {self.context}")
        h = self.token(x) + self.position(torch.arange(t, device=x.device))  # (B, T, d)
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h))  # (B, T, vocab)
