"""Tensor initializers: everything in ``torch.nn.init`` and Keras, with the formulas right.

Each function fills ``tensor`` in place under ``torch.no_grad()`` and returns it, like
``torch.nn.init``. Random ones take ``generator: torch.Generator | None`` so a draw can be
reproduced without touching the global RNG. Nothing is modified when an argument is
refused; a zero-element tensor only warns.

Fans. A weight is read in PyTorch's layout ``(out_features, in_features, *kernel)``
(Linear, ConvNd), so ``fan_in = in·∏kernel`` and ``fan_out = out·∏kernel`` (:func:`fans`).
That is right for Linear and ungrouped ConvNd only. Every fan-based function also takes
explicit ``fan_in=``/``fan_out=``; :func:`weightinit.modelinit.fans.layer_fans` passes the correct
fans of grouped and transposed convolutions, which ``torch.nn.init`` gets wrong
(pytorch#23854, pytorch#30079).

One general scheme, :func:`variance_scaling_` (Keras' VarianceScaling), and presets over it:

=================  ===============================  ==========================
function           variance of the weights          preset of variance_scaling_
=================  ===============================  ==========================
xavier_uniform_    gain²·2/(fan_in+fan_out)         scale=gain², fan_avg, uniform
xavier_normal_     gain²·2/(fan_in+fan_out)         scale=gain², fan_avg, normal
he_uniform_        gain²/fan   (gain=√2 for ReLU)   scale=gain², mode, uniform
he_normal_         gain²/fan                        scale=gain², mode, normal
lecun_uniform_     1/fan_in                         scale=1, fan_in, uniform
lecun_normal_      1/fan_in                         scale=1, fan_in, normal
=================  ===============================  ==========================

``*_normal_`` draw from a plain normal, as ``torch.nn.init`` does. Keras' ``glorot_normal``,
``he_normal`` and ``lecun_normal`` draw from a normal truncated at ±2 std instead: get them
with ``variance_scaling_(t, scale, mode, "truncated_normal")``.

This module is longer than the others on purpose: it is a drop-in for ``torch.nn.init``
(``from weightinit import init``), one module as torch's is, each initializer with its formula,
paper and examples in its docstring.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

from ._checks import check_choice, check_generator, check_number, check_positive_int, check_tensor
from .errors import UserError

__all__ = [
    "calculate_gain",
    "fans",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "zeros_",
    "ones_",
    "eye_",
    "dirac_",
    "sparse_",
    "orthogonal_",
    "delta_orthogonal_",
    "variance_scaling_",
    "xavier_uniform_",
    "xavier_normal_",
    "glorot_uniform_",
    "glorot_normal_",
    "he_uniform_",
    "he_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "lecun_uniform_",
    "lecun_normal_",
    "MODES",
    "DISTRIBUTIONS",
    "NONLINEARITIES",
]

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")

# Std of a standard normal truncated to (-2, 2): sqrt(1 - 4·φ(2)/(Φ(2) - Φ(-2))).
# Keras divides by it so that a normal truncated at ±2 std keeps the intended variance.
TRUNCATED_NORMAL_STD = 0.87962566103423978

# Gains of the nonlinearities PyTorch does not define, by the second-moment rule of
# He et al. (2015, eq. 7-10) at unit pre-activation variance:
#     gain = 1 / sqrt(E[f(z)²]),  z ~ N(0, 1)
# which gives ReLU's sqrt(2) and leaky ReLU's sqrt(2 / (1 + slope²)) exactly.
# The values were integrated numerically (scipy.integrate.quad, 1e-13) and are re-derived
# in tests/init/test_init.py.
_SECOND_MOMENT_GAINS = {
    "gelu": 1.5335304411955353,  # f(z) = z·Φ(z) (exact, erf-based GELU)
    "silu": 1.6765324703310909,  # f(z) = z·sigmoid(z), a.k.a. swish
    "mish": 1.4868475812732080,  # f(z) = z·tanh(softplus(z))
    "softsign": 2.3375333631085398,  # f(z) = z / (1 + |z|)
}

_UNIT_GAIN = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)
NONLINEARITIES = (*_UNIT_GAIN, "tanh", "relu", "leaky_relu", "selu", "elu", "swish", *_SECOND_MOMENT_GAINS)


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""Return the recommended gain for a nonlinearity: the factor on the weights' std that
    keeps the signal's second moment constant through ``f(W x)``.

    ================= ====================================================================
    nonlinearity      gain
    ================= ====================================================================
    linear, identity, :math:`1`
    conv*, sigmoid
    tanh              :math:`5/3` (PyTorch's value; the second-moment rule gives 1.5925)
    relu              :math:`\sqrt{2}` (He et al. 2015)
    leaky_relu        :math:`\sqrt{2 / (1 + \text{slope}^2)}`, ``param`` = slope, default 0.01
    selu              :math:`3/4` (PyTorch's value; for self-normalizing nets use
                      ``lecun_normal_``, i.e. gain 1, as Klambauer et al. 2017 do)
    elu               :math:`1/\sqrt{1/2 + \alpha^2 (e^2\Phi(-2) - 2\sqrt{e}\,\Phi(-1) + 1/2)}`,
                      ``param`` = alpha, default 1 (gives 1.2452)
    gelu              1.5335
    silu, swish       1.6765
    mish              1.4868
    softsign          2.3375
    ================= ====================================================================

    The gains PyTorch does not define follow the second-moment rule of He et al. (2015,
    eq. 7-10) at unit pre-activation variance, :math:`1/\sqrt{E[f(z)^2]}` with
    :math:`z \sim N(0, 1)`, which is exact for ReLU and leaky ReLU.

    Args:
        nonlinearity: the name of the nonlinear function (see :data:`NONLINEARITIES`).
        param: the negative slope of ``leaky_relu`` or the alpha of ``elu``.

    Examples:
        >>> calculate_gain("leaky_relu", 0.2)
        1.3867504905630728
    """
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    if param is not None and nonlinearity not in ("leaky_relu", "elu"):
        raise UserError(
            f"param={param!r} is not used by nonlinearity={nonlinearity!r}; "
            "only 'leaky_relu' (negative slope) and 'elu' (alpha) take a param"
        )
    if nonlinearity in _UNIT_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _check_param(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    if nonlinearity == "selu":
        return 0.75
    if nonlinearity == "elu":
        alpha = 1.0 if param is None else _check_param(param)
        # E[elu(z)²] = 1/2 + α²·E[(e^z - 1)²; z < 0], in closed form with Φ the normal CDF.
        negative_part = math.e**2 * _normal_cdf(-2.0) - 2.0 * math.sqrt(math.e) * _normal_cdf(-1.0) + 0.5
        return 1.0 / math.sqrt(0.5 + alpha * alpha * negative_part)
    if nonlinearity == "swish":
        return _SECOND_MOMENT_GAINS["silu"]
    return _SECOND_MOMENT_GAINS[nonlinearity]


def _check_param(param: float) -> float:
    """A leaky-ReLU slope or ELU alpha: finite, and small enough that its gain is not 0 by overflow.
    Anything but a real number is a ValueError here, as ``torch.nn.init.calculate_gain`` raises."""
    if isinstance(param, bool) or not isinstance(param, (int, float)):
        raise UserError(f"param={param!r} is not a valid number (a slope or alpha), got {type(param).__name__}")
    param = check_number("param", param)
    if abs(param) > 1e150:
        raise UserError(f"param must be within ±1e150 (a slope or alpha), got {param!r}")
    return param


def _squared_gain(gain: float) -> float:
    """``gain²``, the ``scale`` of the presets, refusing a gain whose square overflows."""
    gain = check_number("gain", gain, minimum=0)
    if gain > 1e150:
        raise UserError(f"gain must be <= 1e150 (its square is the variance scale), got {gain!r}")
    return gain * gain


def fans(tensor: torch.Tensor) -> tuple[int, int]:
    r"""Return ``(fan_in, fan_out)`` of a weight in PyTorch's ``(out, in, *kernel)`` layout.

    .. math::
        \text{fan\_in} = \text{in} \cdot \prod \text{kernel}, \quad
        \text{fan\_out} = \text{out} \cdot \prod \text{kernel}

    Right for Linear and ungrouped ConvNd. For grouped or transposed convolutions use
    :func:`weightinit.modelinit.fans.layer_fans`, which knows the layer.

    Examples:
        >>> fans(torch.empty(16, 3, 5, 5))
        (75, 400)
    """
    check_tensor(tensor)
    if tensor.dim() < 2:
        raise UserError(
            f"tensor must have at least 2 dimensions to compute fans, got shape {tuple(tensor.shape)}; "
            "pass fan_in= and fan_out= explicitly"
        )
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _check_fans(fan_in: float | None, fan_out: float | None) -> tuple[float | None, float | None]:
    if fan_in is not None:
        fan_in = check_number("fan_in", fan_in, minimum=0, strictly=True)
    if fan_out is not None:
        fan_out = check_number("fan_out", fan_out, minimum=0, strictly=True)
    return fan_in, fan_out


def _fan(tensor: torch.Tensor, mode: str, fan_in: float | None, fan_out: float | None) -> float:
    """The fan that ``mode`` asks for; explicit (checked) fans win over the tensor's shape."""
    needs_in = mode in ("fan_in", "fan_avg") and fan_in is None
    needs_out = mode in ("fan_out", "fan_avg") and fan_out is None
    if needs_in or needs_out:
        shape_in, shape_out = fans(tensor)
        fan_in = shape_in if fan_in is None else fan_in
        fan_out = shape_out if fan_out is None else fan_out
    if mode == "fan_in":
        fan = fan_in
    elif mode == "fan_out":
        fan = fan_out
    else:
        fan = (fan_in + fan_out) / 2.0
    return float(fan)


def _check_fits(tensor: torch.Tensor, largest: float, what: str) -> None:
    """Refuse arguments whose values would overflow the tensor's dtype (to inf), before any write."""
    limit = torch.finfo(tensor.dtype).max
    if not largest <= limit:  # also refuses NaN and inf
        raise UserError(f"{what} would give values up to {largest:.3g}, beyond what {tensor.dtype} holds "
                         f"({limit:.3g})")


def _is_empty(tensor: torch.Tensor) -> bool:
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)  # torch's words
        return True
    return False


def uniform_(
    tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Fill ``tensor`` with draws from :math:`U(a, b)`.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> uniform_(w, -0.1, 0.1)  # doctest: +SKIP
    """
    check_tensor(tensor)
    a, b = check_number("a", a), check_number("b", b)
    if not a <= b:
        raise UserError(f"a must be <= b, got a={a!r}, b={b!r}")
    check_generator(generator)
    _check_fits(tensor, max(abs(a), abs(b), b - a), f"a={a!r}, b={b!r}")
    if _is_empty(tensor):
        return tensor
    with torch.no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(
    tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Fill ``tensor`` with draws from :math:`N(\text{mean}, \text{std}^2)`.

    ``normal_(w)`` is the lecture's N(0, 1) initialization: with 784 inputs the first layer's
    pre-activations have std 28, which is why it trains so badly.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> normal_(w, 0.0, 0.01)  # doctest: +SKIP
    """
    check_tensor(tensor)
    mean, std = check_number("mean", mean), check_number("std", std, minimum=0)
    check_generator(generator)
    _check_fits(tensor, abs(mean) + 10 * std, f"mean={mean!r}, std={std!r}")  # draws reach about ±6 std
    if _is_empty(tensor):
        return tensor
    with torch.no_grad():
        return tensor.normal_(mean, std, generator=generator)


def _truncated_standard_normal(
    tensor: torch.Tensor, low: float, high: float, generator: torch.Generator | None
) -> torch.Tensor:
    """z ~ N(0, 1) restricted to [low, high] in ``tensor``'s shape, by the inverse CDF, as float64.

    An interval wholly above 0 is mirrored below it first: there Φ is tiny rather than
    close to 1, so far tails (up to about -37 std) keep their precision where
    ``torch.nn.init.trunc_normal_`` returns inf or values outside [a, b].
    """
    mirrored = low > 0
    lo, hi = (-high, -low) if mirrored else (low, high)
    cdf_lo, cdf_hi = _normal_cdf(lo), _normal_cdf(hi)
    u = torch.empty(tensor.shape, dtype=torch.float64, device=tensor.device)
    u.uniform_(cdf_lo, cdf_hi, generator=generator)
    z = torch.special.ndtri(u)
    if mirrored:
        z.neg_()
    return z.clamp_(low, high)


# trunc_normal_ draws by rejection, as torch.nn.init does, when [a, b] holds more than this
# share of the normal's mass (then a draw is kept with probability > 0.3 and the draws equal
# torch's for the same generator); below it, by the inverse CDF (exact far in the tails).
_REJECTION_MASS = 0.3


def _rejection_normal_(tensor: torch.Tensor, mean: float, std: float, a: float, b: float,
                       generator: torch.Generator | None) -> torch.Tensor:
    """``torch.nn.init.trunc_normal_``'s sampler for a likely interval: draw N(mean, std²) in
    the tensor's dtype, redraw (all positions, keeping the accepted) until every value is in
    [a, b]. The same generator gives the same numbers as torch's."""
    low, high = tensor.new_tensor(a, device="cpu").item(), tensor.new_tensor(b, device="cpu").item()
    result = tensor.normal_(mean, std, generator=generator)
    while True:
        rejected = (result < low) | (result > high)
        if not rejected.any():
            break
        result = torch.where(rejected, torch.empty_like(result).normal_(mean, std, generator=generator), result)
    if result is not tensor:
        tensor.copy_(result)
    return tensor


def trunc_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` with draws from :math:`N(\text{mean}, \text{std}^2)` truncated to
    :math:`[a, b]`.

    ``a`` and ``b`` are **absolute** bounds, as in ``torch.nn.init.trunc_normal_``, not
    multiples of ``std`` (Keras' TruncatedNormal cuts at ±2 std: use
    ``a=mean - 2*std, b=mean + 2*std``). The result's std is smaller than ``std``; see
    :func:`variance_scaling_` for the corrected version.

    Sampling: when [a, b] holds more than 30% of the normal's mass (the usual case, ±2 std
    included) by rejection, as ``torch.nn.init.trunc_normal_`` does, so that a seeded
    ``generator`` gives torch's numbers; otherwise by the inverse CDF in float64, which stays
    exact far in the tails where torch's sampler slows down or fails.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> trunc_normal_(w, std=0.02, a=-0.04, b=0.04)  # doctest: +SKIP
    """
    check_tensor(tensor)
    mean = check_number("mean", mean)
    std = check_number("std", std, minimum=0, strictly=True)
    a, b = check_number("a", a), check_number("b", b)
    if not a < b:
        raise UserError(f"a must be < b, got a={a!r}, b={b!r}")
    check_generator(generator)
    _check_fits(tensor, max(abs(a), abs(b), abs(mean), b - a), f"mean={mean!r}, a={a!r}, b={b!r}")
    if _is_empty(tensor):
        return tensor
    low, high = (a - mean) / std, (b - mean) / std
    with torch.no_grad():
        mass = (math.erf(high / math.sqrt(2.0)) - math.erf(low / math.sqrt(2.0))) / 2.0  # torch's formula
        if mass > _REJECTION_MASS and std * 8 <= torch.finfo(tensor.dtype).max:  # draws to ±8 std stay finite
            return _rejection_normal_(tensor, mean, std, a, b, generator)
        # scaled in float64: a huge std times a tiny z must not round through 0 · inf
        z = _truncated_standard_normal(tensor, low, high, generator)
        return tensor.copy_(z.mul_(std).add_(mean).clamp_(a, b))


def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """Fill ``tensor`` with ``val``.

    Examples:
        >>> constant_(torch.empty(3, 5), 0.3)  # doctest: +SKIP
    """
    check_tensor(tensor)
    val = check_number("val", val)
    _check_fits(tensor, abs(val), f"val={val!r}")
    if _is_empty(tensor):
        return tensor
    with torch.no_grad():
        return tensor.fill_(val)


def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with 0. As a weight init it fails: every unit of a layer gets the same
    gradient, so the units never differ (and with ReLU nothing moves at all).
    """
    return constant_(tensor, 0.0)


def ones_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with 1."""
    return constant_(tensor, 1.0)


def eye_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill a 2-D ``tensor`` with the identity matrix (Keras' Identity), keeping the inputs
    of a Linear layer in as many outputs as possible.
    """
    check_tensor(tensor)
    if tensor.dim() != 2:
        raise UserError(f"tensor must be 2-D for eye_, got shape {tuple(tensor.shape)}")
    if _is_empty(tensor):
        return tensor
    with torch.no_grad():
        return tensor.copy_(torch.eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))


def dirac_(tensor: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """Fill a 3-, 4- or 5-D conv weight with the Dirac delta: the convolution is the
    identity on as many channels as possible (in each of ``groups`` groups).
    """
    check_tensor(tensor)
    if tensor.dim() not in (3, 4, 5):
        raise UserError(f"tensor must be 3-, 4- or 5-D for dirac_, got shape {tuple(tensor.shape)}")
    groups = check_positive_int("groups", groups)
    if tensor.shape[0] % groups != 0:
        raise UserError(f"groups={groups} must divide the output channels, got {tensor.shape[0]}")
    if _is_empty(tensor):
        return tensor
    out_per_group = tensor.shape[0] // groups
    centre = tuple(k // 2 for k in tensor.shape[2:])
    with torch.no_grad():
        tensor.zero_()
        for g in range(groups):
            for d in range(min(out_per_group, tensor.shape[1])):
                tensor[(g * out_per_group + d, d, *centre)] = 1.0
        return tensor


def sparse_(
    tensor: torch.Tensor, sparsity: float, std: float = 0.01, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Fill a 2-D ``tensor`` with :math:`N(0, \text{std}^2)` and set ``ceil(sparsity·rows)``
    entries of every column to 0 (Martens 2010, "Deep learning via Hessian-free optimization").

    Examples:
        >>> sparse_(torch.empty(3, 5), sparsity=0.1)  # doctest: +SKIP
    """
    check_tensor(tensor)
    if tensor.dim() != 2:
        raise UserError(f"tensor must be 2-D for sparse_, got shape {tuple(tensor.shape)}")
    sparsity = check_number("sparsity", sparsity, minimum=0)
    if sparsity > 1:
        raise UserError(f"sparsity must be in [0, 1], got {sparsity!r}")
    std = check_number("std", std, minimum=0)
    check_generator(generator)
    _check_fits(tensor, 10 * std, f"std={std!r}")
    if _is_empty(tensor):
        return tensor
    rows = tensor.shape[0]
    n_zeros = math.ceil(sparsity * rows)
    with torch.no_grad():
        tensor.normal_(0.0, std, generator=generator)
        # A random set of n_zeros rows per column: the first n_zeros of a random permutation.
        keys = torch.empty(tensor.shape, device=tensor.device).uniform_(generator=generator)
        zero_rows = keys.argsort(dim=0)[:n_zeros]
        return tensor.scatter_(0, zero_rows, 0.0)


def orthogonal_(tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill ``tensor`` with a (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014,
    "Exact solutions to the nonlinear dynamics of learning in deep linear neural networks").

    The tensor is viewed as ``(shape[0], numel / shape[0])``; rows (or columns, whichever are
    fewer) are orthonormal: :math:`W W^\top = \text{gain}^2 I`. Drawn as the Q of a QR
    decomposition of a standard normal matrix, computed in float64, with the signs of R's
    diagonal folded into Q so that Q is uniform (Haar) over the orthogonal group
    (Mezzadri 2007).

    Examples:
        >>> w = torch.empty(3, 5)
        >>> orthogonal_(w)  # doctest: +SKIP
    """
    check_tensor(tensor)
    if tensor.dim() < 2:
        raise UserError(f"tensor must have at least 2 dimensions for orthogonal_, got shape {tuple(tensor.shape)}")
    gain = check_number("gain", gain, minimum=0)
    check_generator(generator)
    _check_fits(tensor, gain, f"gain={gain!r}")
    if _is_empty(tensor):
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    # Draw in float32 (float64 for float64 tensors), as torch does, so a seeded generator gives
    # torch's matrix; factorize in float64 so that W Wᵀ = gain² I holds to rounding.
    draw_dtype = torch.float64 if tensor.dtype == torch.float64 else torch.float32
    flat = torch.empty(rows, cols, dtype=draw_dtype, device=tensor.device).normal_(generator=generator).double()
    if rows < cols:
        flat = flat.T
    q, r = torch.linalg.qr(flat)  # (max, min) with orthonormal columns
    signs = torch.sign(torch.diagonal(r))
    q = q * torch.where(signs == 0, torch.ones_like(signs), signs)
    if rows < cols:
        q = q.T
    with torch.no_grad():
        return tensor.copy_(q.reshape(tensor.shape)).mul_(gain)


def delta_orthogonal_(
    tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Fill a convolution weight with the delta-orthogonal kernel (Xiao et al. 2018, "Dynamical
    isometry and a mean field theory of CNNs: how to train 10,000-layer vanilla convolutional
    neural networks", Algorithm 1).

    Every tap of the kernel is 0 except the centre one, which is a (semi-)orthogonal
    ``(out_channels, in_channels)`` matrix times ``gain``:

    .. math::
        W[:, :, k_c] = \text{gain} \cdot H, \quad H H^\top = I \ (\text{or } H^\top H = I),
        \quad W[:, :, k] = 0 \ (k \ne k_c)

    so that the convolution maps the centre pixel of its receptive field by an orthogonal
    matrix: its input-output Jacobian is orthogonal (all singular values ``gain``) at any depth,
    Xiao et al.'s dynamical isometry for CNNs. With ``out_channels >= in_channels`` the map is an
    isometry of the input channels (the paper's requirement); with fewer output channels it is
    a projection. A 2-D tensor (a Linear weight, a 1x1 convolution) gets :func:`orthogonal_`.
    The centre of an even kernel size k is tap k // 2, as in :func:`dirac_`.

    Also known as: ``ConvolutionDeltaOrthogonal`` (TensorFlow).

    Args:
        tensor: a 2-, 3-, 4- or 5-D weight ``(out, in, *kernel)``.
        gain: the scale of the orthogonal centre (the critical sigma_w of the activation after it).
        generator: the torch.Generator the orthogonal matrix is drawn from.

    Examples:
        >>> w = torch.empty(16, 8, 3, 3)
        >>> delta_orthogonal_(w, generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    """
    check_tensor(tensor)
    if tensor.dim() not in (2, 3, 4, 5):
        raise UserError(f"tensor must be 2-, 3-, 4- or 5-D (out, in, *kernel) for delta_orthogonal_, "
                        f"got shape {tuple(tensor.shape)}")
    gain = check_number("gain", gain, minimum=0)
    check_generator(generator)
    if tensor.dim() == 2:
        return orthogonal_(tensor, gain, generator)
    _check_fits(tensor, gain, f"gain={gain!r}")
    if _is_empty(tensor):
        return tensor
    centre = tuple(k // 2 for k in tensor.shape[2:])
    middle = torch.empty(tensor.shape[0], tensor.shape[1], dtype=tensor.dtype, device=tensor.device)
    orthogonal_(middle, gain, generator)
    with torch.no_grad():
        tensor.zero_()
        tensor[(slice(None), slice(None), *centre)] = middle
        return tensor


def variance_scaling_(
    tensor: torch.Tensor,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` with zero-mean draws of variance ``scale / n`` (Keras' VarianceScaling).

    .. math::
        \sigma = \sqrt{\text{scale} / n}, \quad
        n = \text{fan\_in},\ \text{fan\_out}\ \text{or}\ (\text{fan\_in} + \text{fan\_out}) / 2

    - ``"normal"``: :math:`N(0, \sigma^2)`;
    - ``"truncated_normal"``: :math:`N(0, (\sigma/0.8796)^2)` truncated at ±2 of its std,
      whose std is then exactly :math:`\sigma` (0.87962566103423978 is the std of a standard
      normal truncated to (-2, 2));
    - ``"uniform"``: :math:`U(-\sqrt{3}\sigma, \sqrt{3}\sigma)`.

    Xavier/Glorot, He/Kaiming and LeCun are presets of this function.

    Args:
        tensor: an n-dimensional tensor (n >= 2 unless the fans are given).
        scale: the variance times the fan; ``gain**2`` of the presets.
        mode: ``"fan_in"`` (keeps the forward signal), ``"fan_out"`` (keeps the backward
            gradient) or ``"fan_avg"`` (Glorot's compromise).
        distribution: ``"truncated_normal"``, ``"normal"`` or ``"uniform"``.
        generator: the torch.Generator to sample from.
        fan_in: an explicit fan_in, overriding the one read off the tensor's shape.
        fan_out: an explicit fan_out, overriding the one read off the tensor's shape.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> variance_scaling_(w, scale=2.0, mode="fan_in", distribution="truncated_normal")  # doctest: +SKIP
    """
    check_tensor(tensor)
    scale = check_number("scale", scale, minimum=0)
    check_choice("mode", mode, MODES)
    check_choice("distribution", distribution, DISTRIBUTIONS)
    check_generator(generator)
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    if _is_empty(tensor):
        return tensor
    fan = _fan(tensor, mode, fan_in, fan_out)
    std = math.sqrt(scale / fan)
    fan_name = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "(fan_in + fan_out) / 2"}[mode]
    _check_fits(tensor, 10 * std, f"std=sqrt(scale / {fan_name})={std:.3g} (scale={scale!r}, i.e. gain², "
                f"{fan_name}={fan!r})")
    with torch.no_grad():
        if distribution == "uniform":
            bound = math.sqrt(3.0) * std
            return tensor.uniform_(-bound, bound, generator=generator)
        if distribution == "normal":
            return tensor.normal_(0.0, std, generator=generator)
        z = _truncated_standard_normal(tensor, -2.0, 2.0, generator)
        return tensor.copy_(z.mul_(std / TRUNCATED_NORMAL_STD))


def xavier_uniform_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` with :math:`U(-a, a)` (Glorot & Bengio 2010, "Understanding the
    difficulty of training deep feedforward neural networks").

    .. math::
        a = \text{gain} \times \sqrt{\frac{6}{\text{fan\_in} + \text{fan\_out}}}

    Also known as Glorot uniform initialization. (The lecture's slide has a stray minus
    sign under the square root.)

    Examples:
        >>> w = torch.empty(3, 5)
        >>> xavier_uniform_(w, gain=calculate_gain("relu"))  # doctest: +SKIP
    """
    return variance_scaling_(tensor, _squared_gain(gain), "fan_avg", "uniform", generator,
                             fan_in=fan_in, fan_out=fan_out)


def xavier_normal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` with :math:`N(0, \sigma^2)` (Glorot & Bengio 2010).

    .. math::
        \sigma = \text{gain} \times \sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}

    Also known as Glorot normal initialization. (The lecture's slide writes this std as the
    variance.) Keras' glorot_normal truncates at ±2 std: ``variance_scaling_(t, 1,
    "fan_avg", "truncated_normal")``.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> xavier_normal_(w)  # doctest: +SKIP
    """
    return variance_scaling_(tensor, _squared_gain(gain), "fan_avg", "normal", generator,
                             fan_in=fan_in, fan_out=fan_out)


def _he(
    distribution: str,
    tensor: torch.Tensor,
    a: float,
    mode: str,
    nonlinearity: str,
    generator: torch.Generator | None,
    fan_in: float | None,
    fan_out: float | None,
) -> torch.Tensor:
    check_choice("mode", mode, ("fan_in", "fan_out"))
    a = check_number("a", a)
    # `a` is the negative slope of leaky_relu (or elu's alpha); like torch, ignored otherwise.
    gain = calculate_gain(nonlinearity, a if nonlinearity in ("leaky_relu", "elu") else None)
    return variance_scaling_(tensor, _squared_gain(gain), mode, distribution, generator, fan_in=fan_in, fan_out=fan_out)


def he_uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` with :math:`U(-b, b)` (He et al. 2015, "Delving deep into rectifiers").

    .. math::
        b = \sqrt{3} \times \frac{\text{gain}}{\sqrt{\text{fan\_mode}}}, \quad
        \text{gain} = \text{calculate\_gain}(\text{nonlinearity}, a)

    For ReLU, :math:`b = \sqrt{6 / \text{fan\_in}}`. Also known as Kaiming uniform.
    ``mode="fan_in"`` preserves the forward signal's variance, ``"fan_out"`` the backward one.

    Args:
        a: negative slope of ``leaky_relu`` (alpha of ``elu``); ignored otherwise.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> he_uniform_(w, mode="fan_in", nonlinearity="relu")  # doctest: +SKIP
    """
    return _he("uniform", tensor, a, mode, nonlinearity, generator, fan_in, fan_out)


def he_normal_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` with :math:`N(0, \sigma^2)` (He et al. 2015).

    .. math::
        \sigma = \frac{\text{gain}}{\sqrt{\text{fan\_mode}}}, \quad
        \text{gain} = \text{calculate\_gain}(\text{nonlinearity}, a)

    For ReLU, :math:`\sigma = \sqrt{2 / \text{fan\_in}}`. Also known as Kaiming normal.

    Examples:
        >>> w = torch.empty(3, 5)
        >>> he_normal_(w, mode="fan_out", nonlinearity="relu")  # doctest: +SKIP
    """
    return _he("normal", tensor, a, mode, nonlinearity, generator, fan_in, fan_out)


def kaiming_uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    """:func:`he_uniform_` with ``torch.nn.init.kaiming_uniform_``'s defaults
    (``nonlinearity="leaky_relu"``, ``a=0``: gain √2), so code written for torch behaves the same.
    """
    return _he("uniform", tensor, a, mode, nonlinearity, generator, fan_in, fan_out)


def kaiming_normal_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    """:func:`he_normal_` with ``torch.nn.init.kaiming_normal_``'s defaults
    (``nonlinearity="leaky_relu"``, ``a=0``: gain √2).
    """
    return _he("normal", tensor, a, mode, nonlinearity, generator, fan_in, fan_out)


def lecun_uniform_(
    tensor: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` with :math:`U(-\sqrt{3/\text{fan\_in}}, \sqrt{3/\text{fan\_in}})`
    (LeCun et al. 1998, "Efficient BackProp"): variance :math:`1/\text{fan\_in}`.

    Examples:
        >>> lecun_uniform_(torch.empty(3, 5))  # doctest: +SKIP
    """
    return variance_scaling_(tensor, 1.0, "fan_in", "uniform", generator, fan_in=fan_in, fan_out=fan_out)


def lecun_normal_(
    tensor: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` with :math:`N(0, 1/\text{fan\_in})` (LeCun et al. 1998; the init of
    self-normalizing SELU networks, Klambauer et al. 2017). Keras' lecun_normal truncates
    at ±2 std: ``variance_scaling_(t, 1, "fan_in", "truncated_normal")``.

    Examples:
        >>> lecun_normal_(torch.empty(3, 5))  # doctest: +SKIP
    """
    return variance_scaling_(tensor, 1.0, "fan_in", "normal", generator, fan_in=fan_in, fan_out=fan_out)


glorot_uniform_: Callable[..., torch.Tensor] = xavier_uniform_
glorot_normal_: Callable[..., torch.Tensor] = xavier_normal_


def _deprecated(method: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``torch.nn.init``'s names without the trailing underscore: they still work there, with a
    FutureWarning in torch's words; here too, so that code written for torch keeps running."""
    new, old = method.__name__, method.__name__[:-1]

    def deprecated_init(*args, **kwargs) -> torch.Tensor:
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new}`.", FutureWarning,
                      stacklevel=2)
        return method(*args, **kwargs)

    deprecated_init.__name__ = deprecated_init.__qualname__ = old
    deprecated_init.__doc__ = f"Deprecated, as in ``torch.nn.init``: use :func:`{new}`."
    return deprecated_init


# the deprecated aliases torch.nn.init keeps (not in __all__)
uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
