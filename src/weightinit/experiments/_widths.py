"""The models of the width experiments (``coordcheck`` and ``reproduce mup``), built at any width
and planned under a parametrization against their base width.

========  ===============================================================  ========  ===============
model     at width w                                                       scheme    attention
========  ===============================================================  ========  ===============
``mlp``   784 -> w -> w -> 10, ReLU (MNIST)                                default   -
``vit``   :class:`~weightinit.models.PatchTransformer`, dim w, 2 layers,   default   d_head 16 fixed
          w/16 heads (MNIST)
``gpt``   :class:`~weightinit.models.gpt.GPT`, width w, 2 layers, 4 heads, gpt2      d_head w/4: the
          context 64 (Shakespeare, 84 characters)                                    query absorbs 1/d
========  ===============================================================  ========  ===============

The scheme is each model's standard parametrization (SP): PyTorch's own init for the MLP and
the ViT, GPT-2's N(0, 0.02²) for the GPT. Under ``mup`` the same scheme holds at the base width
(:data:`BASE_WIDTH`) and every other width scales from it (:mod:`weightinit.parametrize`).
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice, check_positive_int
from ..errors import UserError
from ..models.builders import PatchTransformer, mlp
from ..models.gpt import GPT
from ..parametrize import ParamPlan, parametrize

__all__ = ["WIDTH_MODELS", "BASE_WIDTH", "SCHEMES_OF", "HEAD_DIM", "width_model", "planned_model"]

WIDTH_MODELS = ("mlp", "vit", "gpt")
BASE_WIDTH = 64
SCHEMES_OF = {"mlp": "default", "vit": "default", "gpt": "gpt2"}
HEAD_DIM = 16  # the ViT's
GPT_LAYERS, GPT_HEADS, GPT_CONTEXT = 2, 4, 64
VIT_LAYERS = 2


def width_model(kind: str, width: int, n_classes: int) -> nn.Module:
    """The ``kind`` model at ``width`` (module docstring); ``n_classes`` its outputs (the GPT's vocabulary)."""
    check_choice("model", kind, WIDTH_MODELS)
    check_positive_int("width", width)
    if kind == "mlp":
        return mlp([784, width, width, n_classes], "relu")
    if kind == "vit":
        if width % HEAD_DIM:
            raise UserError(f"the ViT keeps heads of {HEAD_DIM} dimensions: width must be a multiple of {HEAD_DIM}, "
                            f"got {width}")
        return PatchTransformer((28, 28), n_classes, dim=width, depth=VIT_LAYERS, heads=width // HEAD_DIM)
    if width % GPT_HEADS:
        raise UserError(f"the GPT has {GPT_HEADS} heads: width must be a multiple of {GPT_HEADS}, got {width}")
    return GPT(n_classes, layers=GPT_LAYERS, width=width, heads=GPT_HEADS, context=GPT_CONTEXT)


def planned_model(kind: str, width: int, n_classes: int, parametrization: str, seed: int,
                  base_width: int = BASE_WIDTH) -> tuple[nn.Module, ParamPlan]:
    """The ``kind`` model at ``width``, initialized under ``parametrization`` from ``seed``, and its plan."""
    model = width_model(kind, width, n_classes)
    base = (lambda: width_model(kind, base_width, n_classes)) if parametrization == "mup" else None
    plan = parametrize(model, parametrization, base=base, scheme=SCHEMES_OF[kind],
                       generator=torch.Generator().manual_seed(seed))
    return model, plan
