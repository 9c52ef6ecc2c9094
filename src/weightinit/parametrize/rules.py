r"""The rules of the parametrizations: how a parameter's init std, learning rate, weight decay and
Adam ε change with the model's width and depth, relative to a *base* model on which every
parametrization is the standard one (SP).

A parameter's **kind** says which of its two fans grow with the width (``m_in``, ``m_out``: this
model's fan over the base model's; the names and classes are those of the ``mup`` package,
Yang et al. 2022, "Tensor Programs V", Table 3):

==========  ==============================  ==========  ==========  ==================  ===========
kind        fans that grow                  init std ×  Adam lr ×   SGD lr ×            Adam ε ×
==========  ==============================  ==========  ==========  ==================  ===========
``input``   fan_out only (embeddings, the   1           1           m_out               1
            first layer)
``vector``  its length (biases, norms)      1           1           m                   1
``hidden``  both                            m_in^-1/2   1/m_in      m_out/m_in          1
``readout`` fan_in only (the output layer)  1/m_in      1/m_in      1/m_in              m_in
``fixed``   none                            1           1           1                   1
==========  ==============================  ==========  ==========  ==================  ===========

"init std ×" multiplies the std the scheme gives *at the base shapes* (so that at the base width
muP is exactly the scheme: the hyperparameters tuned there mean the same). Weight decay is divided
by the learning-rate multiplier, so that the decay per step, lr × wd, is the base model's
(``mup``'s ``MuAdamW`` and ``MuSGD`` do the same).

**Multipliers are absorbed, not added to the model.** muP multiplies the readout's output by
1/m_in (``mup.MuReadout``) and the attention logits by 1/d_head instead of 1/√d_head. A forward
multiplier ``a`` on a weight ``w`` (output ``a·w x``) is equivalent to a weight ``w' = a·w``
with no multiplier, initialized ``a`` times smaller, trained with Adam at ``a`` times the
learning rate and ε divided by ``a`` (SGD: ``a²`` times the learning rate): the same function
and, step for step, the same updates (the "abc-symmetry" of Tensor Programs V, §J). The readout
row above is that, with ``a = 1/m_in`` (before absorbing: init 1, Adam 1, SGD m_in, as ``mup``
has it). So the model stays an ordinary model: ``state_dict``, ``torch.compile``, DDP and FSDP
see plain parameters, and nothing is lost when it is saved.

- **attention** (muP): the query projection absorbs ``a = √(d_head_base / d_head)``, which
  turns 1/√d_head into √d_head_base / d_head: 1/d_head, equal to SP at the base width.
- **depth** (``depth_alpha`` = α; Yang et al. 2023, "Tensor Programs VI", α = 1/2; Bordelon et
  al. 2023 and Dey et al. 2025, "CompleteP", α = 1): each residual branch's output is multiplied
  by ``L_m^-α`` (L_m: this model's blocks over the base's), absorbed into the layer that ends the
  branch (weight and bias); every parameter inside a block trains with Adam at ``L_m^(α-1)`` times
  the learning rate (SGD: ``L_m^(2α-1)``) and ε × ``L_m^-α``, as its gradient shrinks by the
  branch multiplier. Weight decay is not rescaled for depth (CompleteP's reference does not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = ["PARAMETRIZATIONS", "KINDS", "OPTIMIZER_FAMILIES", "Multipliers", "width_multipliers", "absorb",
           "depth_multipliers", "kind_of"]

PARAMETRIZATIONS = ("sp", "mup")
KINDS = ("input", "vector", "hidden", "readout", "fixed")
OPTIMIZER_FAMILIES = {"adam": "adam", "adamw": "adam", "sgd": "sgd"}  # optimizer -> the rule it follows


@dataclass(frozen=True)
class Multipliers:
    """What a parameter's settings are multiplied by: ``init`` (its std), ``adam`` and ``sgd``
    (the learning rate under each optimizer family), ``eps`` (Adam's ε), and ``depth_adam``,
    ``depth_sgd`` (the part of the learning rate that is depth's, which weight decay does not follow)."""

    init: float = 1.0
    adam: float = 1.0
    sgd: float = 1.0
    eps: float = 1.0
    depth_adam: float = 1.0
    depth_sgd: float = 1.0
    absorbed: float = 1.0  # the product of the forward multipliers absorbed into the weight

    def lr(self, family: str) -> float:
        """The learning-rate multiplier under ``family`` ("adam" or "sgd"), depth's part included."""
        return self.adam * self.depth_adam if family == "adam" else self.sgd * self.depth_sgd

    def weight_decay(self, family: str, coupled: bool = False) -> float:
        """The weight-decay multiplier: 1 over the width part of the learning rate's. With Adam's
        coupled L2 decay (``torch.optim.Adam``'s ``weight_decay``, which Adam normalizes with the
        gradient), an absorbed multiplier a counts twice: 1/(lr x a); AdamW's decoupled decay and
        SGD's are multiplied by the rate itself."""
        if family == "adam":
            return 1.0 / (self.adam * (self.absorbed if coupled else 1.0))
        return 1.0 / self.sgd


def kind_of(m_in: float, m_out: float, is_vector: bool) -> str:
    """The kind of a parameter whose fans grew by ``m_in`` and ``m_out`` (module docstring)."""
    grew_in, grew_out = not math.isclose(m_in, 1.0), not math.isclose(m_out, 1.0)
    if grew_in and grew_out:
        return "hidden"
    if grew_in:
        return "readout"
    if grew_out:
        return "vector" if is_vector else "input"
    return "fixed"


def width_multipliers(kind: str, m_in: float, m_out: float) -> Multipliers:
    """muP's multipliers of a parameter of ``kind`` (the table of the module docstring)."""
    if kind in ("input", "vector"):
        return Multipliers(sgd=m_out)
    if kind == "hidden":
        return Multipliers(init=m_in ** -0.5, adam=1.0 / m_in, sgd=m_out / m_in)
    if kind == "readout":  # mup's (1, 1, m_in) with its forward multiplier 1/m_in absorbed
        return absorb(Multipliers(sgd=m_in), 1.0 / m_in)
    return Multipliers()


def absorb(multipliers: Multipliers, a: float) -> Multipliers:
    """``multipliers`` of a weight whose forward multiplier ``a`` is absorbed into it: init × a,
    Adam lr × a, SGD lr × a², ε / a (module docstring)."""
    m = multipliers
    return replace(m, init=m.init * a, adam=m.adam * a, sgd=m.sgd * a * a, eps=m.eps / a, absorbed=m.absorbed * a)


def depth_multipliers(multipliers: Multipliers, depth_ratio: float, alpha: float) -> Multipliers:
    """``multipliers`` of a parameter inside a block of a stack ``depth_ratio`` times as deep as the
    base's: Adam lr × L_m^(α-1), SGD lr × L_m^(2α-1), ε × L_m^-α (module docstring)."""
    m = multipliers
    return replace(m, depth_adam=depth_ratio ** (alpha - 1.0), depth_sgd=depth_ratio ** (2.0 * alpha - 1.0),
                   eps=m.eps * depth_ratio ** -alpha)
