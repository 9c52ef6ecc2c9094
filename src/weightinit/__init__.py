"""weightinit: initialize neural networks well, and see why it matters.

>>> import torch, weightinit as wi
>>> w = wi.xavier_uniform_(torch.empty(256, 784), generator=torch.Generator().manual_seed(0))
>>> model = wi.init_model(torch.nn.Sequential(torch.nn.Linear(784, 10)), "he_normal")
"""

from ._load import load
from ._version import __version__
from .boltzmann import dbn as _dbn  # noqa: F401  registers the "dbn" scheme
from .data.datasets import load_dataset
from .diagnostics import diagnose
from .errors import CorruptFileError, DataError, UserError
from .init import (
    DISTRIBUTIONS,
    MODES,
    NONLINEARITIES,
    calculate_gain,
    constant_,
    dirac_,
    eye_,
    fans,
    glorot_normal_,
    glorot_uniform_,
    he_normal_,
    he_uniform_,
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_uniform_,
    normal_,
    ones_,
    orthogonal_,
    sparse_,
    trunc_normal_,
    uniform_,
    variance_scaling_,
    xavier_normal_,
    xavier_uniform_,
    zeros_,
)
from .modelinit import (
    SCHEMES,
    Block,
    InitPlan,
    Residual,
    Scheme,
    init_model,
    layer_fans,
    layer_nonlinearities,
    plan_init,
    register_rule,
    register_scheme,
)
from .models import mlp
from .parametrize import param_groups, parametrize
from .scale import materialize
from .theory import schemes as _theory_schemes  # noqa: F401  registers "critical", "critical_orthogonal", "delta_orthogonal"
from .training import TrainConfig, fit

__all__ = [
    "__version__",
    "parametrize",
    "param_groups",
    "diagnose",
    "load_dataset",
    "mlp",
    "fit",
    "TrainConfig",
    "CorruptFileError",
    "DataError",
    "UserError",
    "DISTRIBUTIONS",
    "MODES",
    "NONLINEARITIES",
    "SCHEMES",
    "Scheme",
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "fans",
    "glorot_normal_",
    "glorot_uniform_",
    "he_normal_",
    "he_uniform_",
    "init_model",
    "materialize",
    "plan_init",
    "InitPlan",
    "Residual",
    "Block",
    "register_rule",
    "kaiming_normal_",
    "kaiming_uniform_",
    "layer_fans",
    "layer_nonlinearities",
    "load",
    "lecun_normal_",
    "lecun_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "register_scheme",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "variance_scaling_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
