"""How to train an RBM: :class:`RBMConfig`, the settings :class:`~weightinit.boltzmann.RBMTrainer`
and :func:`~weightinit.boltzmann.train_rbm` read, with the schedules that are functions of the
epoch (``k_at``) and of the run's progress (``lr_at``), so that a resumed run continues exactly.
(Also importable from :mod:`weightinit.boltzmann.trainer`, where it used to live.)"""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import check_choice, check_int, check_number, check_positive_int
from ..errors import UserError
from ..runs.devices import DEVICES, PRECISIONS
from ..training.config import INT64_MAX, SEED_MAX

__all__ = ["RBMConfig", "LR_SCHEDULES"]

LR_SCHEDULES = ("constant", "linear")


@dataclass
class RBMConfig:
    """How to train an RBM. Defaults follow Hinton's practical guide for MNIST."""

    epochs: int = 10
    batch_size: int = 100
    lr: float = 0.1  # for Gaussian visible units use about 0.001-0.01
    k: int = 1  # Gibbs steps in the negative phase
    persistent: bool = False  # PCD (Tieleman 2008): chains carried across updates
    momentum: float = 0.5  # for the first `momentum_epochs` epochs ...
    final_momentum: float = 0.9  # ... and this afterwards (the guide's 0.5 -> 0.9)
    momentum_epochs: int = 5
    weight_decay: float = 0.0  # L2 on W (the guide suggests 1e-4 .. 1e-5)
    seed: int = 0
    device: str = "auto"
    precision: str = "float32"  # or "bf16": bfloat16 matmul inputs where the CPU/GPU has them
    # False: the negative phase uses the visible units' probabilities (Bernoulli) or means
    # (Gaussian) instead of samples, as Hinton's guide (2010, sec. 3.2) recommends for the
    # reconstruction: less sampling noise, and no random draws for the visible layer
    sample_visible: bool = True
    # fuse the update's element-wise operations with torch.compile (weightinit.boltzmann.cd): faster
    # epochs after a one-off compile of some seconds; needs a C++ compiler on the CPU
    compile: bool = False
    # "constant", or "linear": lr decays linearly to 0 over the run (Tieleman 2008)
    lr_schedule: str = "constant"
    # CD-k with k growing linearly from `k` (first epoch) to `k_final` (last epoch); None: k fixed.
    # Salakhutdinov & Murray 2008's CD-25 recipe: k=1, k_final=25
    k_final: int | None = None
    # decay d of the exponential moving average of the parameters that the trained RBM holds
    # (evaluation weights); 0: off, the last parameters. 0.999 averages over about 1,000 updates
    average: float = 0.0
    # sparsity (Hinton's guide, sec. 11): push each hidden unit's running mean activation q_j
    # (q <- decay q + (1 - decay) mean p(h_j|v)) towards `sparsity_target`, with cost `sparsity_cost`
    # (0: off; the guide's 0.01-0.1 targets, decay 0.9-0.99)
    sparsity_cost: float = 0.0
    sparsity_target: float = 0.05
    sparsity_decay: float = 0.95

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_number("lr", self.lr, minimum=0, strictly=True)
        check_positive_int("k", self.k)
        for name in ("persistent", "sample_visible", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("momentum", "final_momentum"):
            value = check_number(name, getattr(self, name), minimum=0)
            if value >= 1:
                raise UserError(f"{name} must be in [0, 1), got {value!r}")
        check_int("momentum_epochs", self.momentum_epochs, 0)
        check_number("weight_decay", self.weight_decay, minimum=0)
        check_int("seed", self.seed, 0)
        for name in ("epochs", "batch_size", "k", "k_final", "momentum_epochs", "seed"):
            value, maximum = getattr(self, name), SEED_MAX if name == "seed" else INT64_MAX
            if value is not None and value > maximum:
                low = 1 if name in ("epochs", "batch_size", "k", "k_final") else 0
                raise UserError(f"{name} must be in [{low}, {maximum}], got {value!r}")
        check_choice("device", self.device, DEVICES)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.k_final is not None:
            check_positive_int("k_final", self.k_final)
        for name in ("average", "sparsity_decay"):
            value = check_number(name, getattr(self, name), minimum=0)
            if value >= 1:
                raise UserError(f"{name} must be in [0, 1), got {value!r}")
        check_number("sparsity_cost", self.sparsity_cost, minimum=0)
        target = check_number("sparsity_target", self.sparsity_target, minimum=0, strictly=True)
        if target >= 1:
            raise UserError(f"sparsity_target must be in (0, 1), got {target!r}")

    def k_at(self, epoch: int) -> int:
        """Gibbs steps of the negative phase in ``epoch`` (0-based): ``k``, or with ``k_final``
        the linear interpolation from ``k`` at the first epoch to ``k_final`` at the last."""
        if self.k_final is None or self.epochs == 1:
            return self.k
        return round(self.k + (self.k_final - self.k) * min(epoch, self.epochs - 1) / (self.epochs - 1))

    def lr_at(self, progress: float) -> float:
        """The learning rate when ``progress`` (updates done / all updates, in [0, 1)) of the
        run is done: ``lr``, or ``lr * (1 - progress)`` with ``lr_schedule="linear"`` (0 past
        the end: epochs beyond ``epochs``, as ``partial_fit`` may run, change nothing)."""
        return self.lr if self.lr_schedule == "constant" else self.lr * max(0.0, 1.0 - progress)
