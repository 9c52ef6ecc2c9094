r"""timm's Vision Transformer initializations (``VisionTransformer.init_weights(mode)`` in
``timm/models/vision_transformer.py``) as presets, for any ViT: timm's own, transformers' ViT,
weightinit's ``PatchTransformer`` and yours. The roles come from the model's structure
(:mod:`weightinit.modelinit.depth` and :func:`weightinit.modelinit.presets.apply_preset`): the
patch embedding is a convolution outside the stack, the class token a learned (1, 1, d) vector,
the positions a learned (1, n, d) vector or an embedding table, the head the last linear layer.

================  ===============================================================================
preset            what timm's mode gives
================  ===============================================================================
``vit_timm``      mode "": every linear layer N(0, 0.02²) (timm's ``trunc_normal_(std=.02)`` cuts
                  at ±2 in absolute terms, 100σ: a normal), biases 0; positions N(0, 0.02²); the
                  class token N(0, 1e-6²); the patch convolution keeps PyTorch's own
                  U(±1/√fan_in) (timm does not touch it)
``vit_jax``       mode "jax" (the big_vision/JAX recipe): linear layers Xavier uniform (a packed
                  q/k/v as one (3d, d) matrix); the MLP's biases N(0, 1e-6²), others 0; the head 0
                  (weight and bias); the patch convolution LeCun normal (cut at ±2σ, std
                  1/√fan_in); positions N(0, 0.02²); the class token N(0, 1e-6²)
``vit_jax_nlhb``  "jax_nlhb": as ``vit_jax``, with the head's bias -log(classes) ("negative log
                  head bias": the first predictions uniform and confident-free)
``vit_moco``      "moco" (MoCo v3, Chen et al. 2021): every linear layer Xavier uniform, q, k and v
                  each as its own d × d matrix; biases 0; the patch convolution PyTorch's own
================  ===============================================================================

Norms are 1 and 0 under every mode. timm itself does not import on this project's machines (its
torchvision needs a CUDA build of torch), so the modes are checked against these formulas, read
from timm's source, in tests/modelinit/test_presets.py.
"""

from __future__ import annotations

import math

from .depth import MLP_IN
from .presets import PRESETS, Draw, Preset, Role, register_preset

__all__ = ["VIT_MODES", "LECUN_TRUNCATED_STD"]

LECUN_TRUNCATED_STD = 0.87962566103423978  # std of a unit normal cut at ±2: timm's lecun_normal_ divides by it
TIMM_STD = 0.02  # timm's trunc_normal_(std=.02)
TOKEN_STD = 1e-6  # timm's class and register tokens


def _torch_default(role: Role) -> Draw:
    return Draw(1.0 / math.sqrt(3.0 * role.fan_in), uniform=True)  # U(±1/√fan_in): reset_parameters


def _vectors(role: Role) -> Draw | None:
    if role.kind == "token":
        return Draw(TOKEN_STD)
    if role.kind in ("position", "embedding"):
        return Draw(TIMM_STD)
    return None


def _timm(role: Role) -> Draw:
    vectors = _vectors(role)
    if vectors is not None:
        return vectors
    return _torch_default(role) if role.kind == "patch" else Draw(TIMM_STD)


def _xavier(role: Role) -> Draw:
    fan_out = 3 * role.fan_out if role.packed else role.fan_out
    return Draw(math.sqrt(2.0 / (role.fan_in + fan_out)), uniform=True)


def _jax(role: Role) -> Draw:
    vectors = _vectors(role)
    if vectors is not None:
        return vectors
    if role.kind == "head":
        return Draw(0.0)
    if role.kind == "patch":
        return Draw(1.0 / math.sqrt(role.fan_in) / LECUN_TRUNCATED_STD, cut=2.0)
    return _xavier(role)


def _jax_bias(role: Role) -> Draw | None:
    return Draw(TOKEN_STD) if role.kind in (*MLP_IN, "mlp_out") else None


def _moco(role: Role) -> Draw:
    vectors = _vectors(role)
    if vectors is not None:
        return vectors
    return _torch_default(role) if role.kind == "patch" else Draw(role.xavier(), uniform=True)


def _patch_bias(role: Role) -> Draw | None:
    return _torch_default(role) if role.kind == "patch" else None


VIT_MODES: dict[str, Preset] = {p.name: p for p in (
    Preset("vit_timm", "timm's ViT mode '': linear layers and positions N(0, 0.02²), class token N(0, 1e-6²), "
           "the patch convolution torch's own", _timm, bias=_patch_bias),
    Preset("vit_jax", "timm's ViT mode 'jax': Xavier uniform (packed q/k/v as one matrix), MLP biases "
           "N(0, 1e-6²), head 0, patch convolution LeCun normal", _jax, bias=_jax_bias),
    Preset("vit_jax_nlhb", "timm's ViT mode 'jax_nlhb': as vit_jax, head bias -log(classes)", _jax,
           bias=lambda role: -math.log(role.fan_out) if role.kind == "head" else _jax_bias(role)),
    Preset("vit_moco", "timm's ViT mode 'moco' (MoCo v3): Xavier uniform, q, k, v each its own matrix, "
           "patch convolution torch's own", _moco, bias=_patch_bias),
)}

for _mode in VIT_MODES.values():
    register_preset(_mode)
PRESETS.update(VIT_MODES)
