"""Training an RBM by contrastive divergence: CD-k (Hinton 2002) or persistent CD (Tieleman 2008).

Following Hinton's "A Practical Guide to Training Restricted Boltzmann Machines" (2010):
momentum 0.5 then 0.9, L2 weight decay (sec. 10), a sparsity target (sec. 11), minibatches
of 100. What reaches the likelihood frontier on MNIST (Salakhutdinov & Murray 2008;
Tieleman 2008) is here too, each off by default:

- ``lr_schedule="linear"``: the learning rate decays linearly to 0 over the run,
  :math:`\\eta_t = \\eta (1 - t/T)` for update t of T (Tieleman 2008);
- ``k_final``: CD-k with k growing linearly from ``k`` to ``k_final`` over the epochs
  (Salakhutdinov & Murray 2008's CD-25: k from 1 to 25);
- ``average``: an exponential moving average of the parameters,
  :math:`\\bar\\theta \\leftarrow d\\,\\bar\\theta + (1-d)\\,\\theta` after every update
  (Polyak & Juditsky 1992 in its EMA form), which the RBM holds when training ends and is
  evaluated with; the raw parameters go on training (and are what a checkpoint resumes from).

:class:`RBMTrainer` applies one
update per minibatch (its random numbers drawn first from a seeded generator, then
:func:`weightinit.boltzmann.cd.cd_update`); :func:`train_rbm` runs the epochs, monitors a
held-out set and checkpoints every epoch so that a run resumes bit-identically. The data
order (:func:`weightinit.training.epoch_order`) and the stop/checkpoint/resume protocol
(:mod:`weightinit.training.protocol`) are the training engine's, as ``fit``'s are; the settings,
:class:`RBMConfig`, live in :mod:`weightinit.boltzmann.config` (and are importable from here).

Divergence: after every epoch :meth:`RBMTrainer.epoch` checks that the parameters are finite
and below ``DIVERGENCE_WEIGHT`` in absolute value, and that the free energy of the epoch's
last batch is finite; otherwise it raises :class:`RBMDivergedError` (a
:class:`~weightinit.errors.UserError`) naming the learning rate, the usual cause, instead of
training on NaNs. The check reads the parameters and one batch: no random draws, so results
are unchanged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from ..errors import UserError
from ..runs import distributed
from ..runs.devices import resolve_device, resolve_precision
from ..runs.interrupt import Interrupted
from ..training.order import EpochOrder, epoch_order
from ..training.protocol import Checkpointing, check_resumable, stop_requested_on_any_rank
from .cd import cd_statistics, cd_update, fused, momentum_update, noise_shapes
from .config import RBMConfig
from .rbm import RBM, check_visible

__all__ = ["RBMConfig", "RBMEpoch", "RBMHistory", "RBMTrainer", "RBMDivergedError", "train_rbm",
           "DIVERGENCE_WEIGHT"]

# A parameter beyond this in absolute value means a run that blew up: trained RBMs keep their
# weights and biases within a few tens (the visible biases start within ±6.9 = logit(0.999)).
DIVERGENCE_WEIGHT = 1e4


class RBMDivergedError(UserError):
    """RBM training blew up (NaN/inf or huge parameters or free energy); ``epoch``, ``what``
    and ``lr`` say where, what and with which learning rate."""

    def __init__(self, epoch: int, what: str, lr: float) -> None:
        self.epoch, self.what, self.lr = epoch, what, lr
        super().__init__(f"RBM training diverged in epoch {epoch} ({what}); the learning rate lr={lr:g} is the "
                         f"likely cause: try a smaller one, such as lr={lr / 10:g}")


def divergence(rbm: RBM, batch: torch.Tensor | None) -> str | None:
    """What shows that ``rbm`` diverged (non-finite or huge parameters, a non-finite free
    energy on ``batch``), or None when nothing does."""
    for name, param in (("W", rbm.W), ("b_v", rbm.b_v), ("b_h", rbm.b_h)):
        largest = float(param.detach().abs().max()) if param.numel() else 0.0
        if not math.isfinite(largest):
            return f"{name} holds NaN or inf"
        if largest > DIVERGENCE_WEIGHT:
            return f"max |{name}| = {largest:.3g} > {DIVERGENCE_WEIGHT:g}"
    if batch is not None:
        energy = rbm.free_energy(batch.float())
        if not bool(torch.isfinite(energy).all()):
            return "the free energy of the last batch is NaN or inf"
    return None


def _draw(fill, shape, dtype, device, generator, shard: tuple[int, int] | None) -> torch.Tensor:
    """Random numbers of ``shape`` by ``fill`` (uniform_ or normal_). With ``shard=(offset,
    total)`` the draw is made for all ``total`` rows of the global batch and rows ``offset``..
    returned: every rank of a data-parallel run consumes the generator exactly as one process
    would, so the result does not depend on the number of processes."""
    if shard is None:
        return fill(torch.empty(shape, dtype=dtype, device=device), generator=generator)
    offset, total = shard
    return fill(torch.empty((total, *shape[1:]), dtype=dtype, device=device),
                generator=generator)[offset : offset + shape[0]]


@dataclass
class RBMEpoch:
    epoch: int
    reconstruction_error: float  # on the monitoring set
    pseudo_likelihood: float | None  # mean per sample on the monitoring set (Bernoulli only)
    seconds: float  # training time of the epoch, monitoring excluded


@dataclass
class RBMHistory:
    epochs: list[RBMEpoch] = field(default_factory=list)

    def to_dicts(self) -> list[dict]:
        return [asdict(e) for e in self.epochs]


class RBMTrainer:
    """Applies CD-k / PCD-k updates to an RBM, one minibatch at a time.

    The update (mean over the batch of B samples, lr η, momentum μ, weight decay λ):

    .. math::
        \\Delta W \\leftarrow \\mu \\Delta W + \\eta\\Big(\\frac{p(h|v_0)^\\top v_0
        - p(h|v_k)^\\top v_k}{B} - \\lambda W\\Big)

    where :math:`v_k` is the end of a k-step Gibbs chain started at the data (CD) or carried
    over from the previous update (PCD, whose chains are kept as hidden samples, as
    scikit-learn does); with ``sample_visible=False`` its visible steps are mean-field
    (probabilities), the hidden ones still sampled. Biases likewise, without decay.
    """

    def __init__(self, rbm: RBM, config: RBMConfig, generator: torch.Generator | None = None) -> None:
        self.rbm = rbm
        self.config = config
        self.device = rbm.W.device
        self.dtype = resolve_precision(config.precision, self.device)
        self.generator = generator or torch.Generator(device=self.device).manual_seed(config.seed)
        self.epochs_done = 0
        self.chain_h: torch.Tensor | None = None  # PCD: persistent hidden samples (n_chains, H)
        self._velocity = [torch.zeros_like(p) for p in (rbm.W, rbm.b_v, rbm.b_h)]
        # an epoch stopped part-way: {"order": permutation, "batch": next batch, "seconds": so far}
        self.position: dict | None = None
        # data parallel (torch.distributed): this rank's rows of each batch, set by epoch()
        self.world, self.rank = distributed.world_size(), distributed.rank()
        if self.world > 1 and config.batch_size % self.world:
            raise UserError(f"batch_size={config.batch_size} must be a multiple of the {self.world} processes")
        self._shard: tuple[int, int] | None = None
        self._update = fused(cd_update, config.compile)  # one process; data parallel runs uncompiled
        self.lr = config.lr  # this update's learning rate: set by epoch() from the schedule
        self.averaged: list[torch.Tensor] | None = None  # config.average: the moving average of W, b_v, b_h
        self.mean_hidden: torch.Tensor | None = None  # config.sparsity_cost: the running mean q of p(h|v)

    def state_dict(self) -> dict:
        """Everything beyond the RBM's parameters that the next update depends on."""
        chain = None if self.chain_h is None else self.chain_h.detach()
        if chain is not None and self.world > 1:  # every rank's chains (a collective: call on all ranks)
            chain = torch.cat(distributed.all_gather_objects(chain.cpu()))
        return {
            "generator": self.generator.get_state(),
            "epochs_done": self.epochs_done,
            "chain_h": None if chain is None else chain.cpu().clone(),
            "velocity": [v.detach().cpu().clone() for v in self._velocity],
            "position": self.position,
            "averaged": None if self.averaged is None else [a.detach().cpu().clone() for a in self.averaged],
            "mean_hidden": None if self.mean_hidden is None else self.mean_hidden.detach().cpu().clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.epochs_done = int(state["epochs_done"])
        chain = state["chain_h"]
        if chain is not None and self.world > 1:  # this rank's share of the saved chains
            chain = chain.tensor_split(self.world)[self.rank]
        self.chain_h = None if chain is None else chain.to(self.device, copy=True)
        self._velocity = [v.to(self.device, copy=True) for v in state["velocity"]]
        self.position = state.get("position")
        averaged, mean_hidden = state.get("averaged"), state.get("mean_hidden")
        self.averaged = None if averaged is None else [a.to(self.device, copy=True) for a in averaged]
        self.mean_hidden = None if mean_hidden is None else mean_hidden.to(self.device, copy=True)

    @property
    def k(self) -> int:
        """Gibbs steps of this epoch's negative phase (:meth:`RBMConfig.k_at`)."""
        return self.config.k_at(self.epochs_done)

    @torch.no_grad()
    def use_average(self) -> None:
        """Put the moving average of the parameters (``config.average``) into the RBM: the
        weights to evaluate. Nothing happens without averaging or before the first update."""
        if self.averaged is not None:
            for param, average in zip((self.rbm.W, self.rbm.b_v, self.rbm.b_h), self.averaged):
                param.copy_(average)

    @property
    def momentum(self) -> float:
        c = self.config
        return c.momentum if self.epochs_done < c.momentum_epochs else c.final_momentum

    @torch.no_grad()
    def step(self, v0: torch.Tensor) -> None:
        """One CD-k / PCD-k update on the batch ``v0`` of shape (B, n_visible): the update's
        random numbers are drawn (:func:`~weightinit.boltzmann.cd.noise_shapes` order), then
        :func:`~weightinit.boltzmann.cd.cd_statistics` and :func:`~weightinit.boltzmann.cd.momentum_update` run,
        fused by torch.compile with ``config.compile``."""
        rbm, c, dt = self.rbm, self.config, self.dtype
        # Everything that feeds a matmul is kept in the working precision (float32, or
        # bfloat16 for precision="bf16"); parameters and their updates stay float32.
        v0 = v0.to(dt)
        chain = self.chain_h if c.persistent and self.chain_h is not None and len(self.chain_h) == len(v0) else None
        gaussian = rbm.visible == "gaussian"

        def draw(kind: str, shape: tuple[int, int]) -> torch.Tensor:  # Gaussian visible noise, else float32 uniforms
            if kind == "visible" and gaussian:
                return _draw(torch.Tensor.normal_, shape, dt, v0.device, self.generator, self._shard)
            return _draw(torch.Tensor.uniform_, shape, torch.float32, v0.device, self.generator, self._shard)

        k, lr = self.k, self.lr
        noise = [draw(kind, shape) for kind, shape in noise_shapes(
            len(v0), rbm.n_visible, rbm.n_hidden, k=k, persistent=c.persistent, chain_ready=chain is not None,
            sample_visible=c.sample_visible)]
        statistics = dict(k=k, persistent=c.persistent, sample_visible=c.sample_visible, gaussian=gaussian, dtype=dt)
        mu = self.momentum
        batch = len(v0) if self._shard is None else self._shard[1]
        update = dict(scale=torch.tensor(lr / batch, device=self.device),
                      momentum=torch.tensor(mu, device=self.device),
                      use_velocity=mu != 0 or c.weight_decay != 0,  # neither momentum nor decay: skip the velocity
                      decay=torch.tensor(-lr * c.weight_decay, device=self.device) if c.weight_decay else None)
        params = (rbm.W, rbm.b_v, rbm.b_h)
        sparsity = self._sparsity_statistics(v0) if c.sparsity_cost else None  # before the update: p(h|v0)
        if self.world == 1:
            chain = self._update(params, self._velocity, v0, chain, noise, **update, **statistics)
        else:  # data parallel: the statistics of the whole batch, summed over the ranks, then the update
            *grads, chain = cd_statistics(*params, v0, chain, noise, **statistics)
            grads = [grads[0].float(), *grads[1:]]
            distributed.all_reduce_sum(grads)
            momentum_update(params, self._velocity, grads, **update)
        if c.persistent:
            self.chain_h = chain
        if sparsity is not None:
            self._sparsity_update(*sparsity, batch, lr)
        if c.average:
            if self.averaged is None:
                self.averaged = [p.detach().clone() for p in params]
            else:
                for average, param in zip(self.averaged, params):
                    average.lerp_(param, 1.0 - c.average)

    def _sparsity_statistics(self, v0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sums over the batch (all ranks) of p(h|v0), (H,), and of v0, (D,)."""
        sums = [torch.sigmoid(self.rbm.hidden_input(v0.float())).sum(0), v0.float().sum(0)]
        if self.world > 1:
            distributed.all_reduce_sum(sums)
        return sums[0], sums[1]

    def _sparsity_update(self, hidden_sum: torch.Tensor, visible_sum: torch.Tensor, batch: int, lr: float) -> None:
        """Hinton's guide, sec. 11: :math:`q \\leftarrow \\lambda q + (1-\\lambda)\\,\\overline{p(h|v)}`,
        then the penalty's gradient :math:`(q_j - p)` (the cross-entropy between the target p
        and q, by each hidden unit's total input) scaled by the cost moves the hidden bias,
        :math:`c_j \\mathrel{-}= \\eta\\,\\text{cost}\\,(q_j - p)`, and the unit's incoming weights,
        :math:`W_{ji} \\mathrel{-}= \\eta\\,\\text{cost}\\,(q_j - p)\\,\\bar v_i`."""
        c = self.config
        mean = hidden_sum / batch
        if self.mean_hidden is None:
            self.mean_hidden = mean
        else:
            self.mean_hidden.mul_(c.sparsity_decay).add_(mean, alpha=1.0 - c.sparsity_decay)
        excess = (self.mean_hidden - c.sparsity_target) * (lr * c.sparsity_cost)  # (H,)
        self.rbm.b_h.sub_(excess)
        self.rbm.W.sub_(torch.outer(excess, visible_sum / batch))

    def epoch(self, x: torch.Tensor, on_batch: Callable[[], None] | None = None, *, stoppable: bool = False) -> float:
        """One pass over ``x`` in a random order (batches are index slices of a permutation);
        returns its seconds.

        With ``stoppable``, a stop request (:mod:`weightinit.runs.interrupt`) ends the epoch after
        the current batch: the position is kept in :attr:`position` (and the state dict), the
        next call continues from it, and :class:`~weightinit.runs.interrupt.Interrupted` is raised.
        An epoch that leaves the RBM diverged (:func:`divergence`) raises :class:`RBMDivergedError`.
        """
        start = time.perf_counter()
        batch = self.config.batch_size
        n_batches = math.ceil(len(x) / batch)
        where, self.position = self.position, None
        resumed = None if where is None else EpochOrder(where["order"], where["batch"], where["seconds"])
        order = epoch_order(len(x), self.generator, self.device, resumed)  # (the position's order is on the CPU)
        v0 = None
        for b, index in order.batches(batch):
            if self.world > 1:  # this rank's rows; the draws are made for the whole batch (see _draw)
                sizes = [len(part) for part in index.tensor_split(self.world)]
                self._shard = (sum(sizes[: self.rank]), len(index))
                index = index.tensor_split(self.world)[self.rank]
            v0 = x.index_select(0, index)
            self.lr = self.config.lr_at((self.epochs_done * n_batches + b) / (self.config.epochs * n_batches))
            self.step(v0)
            if on_batch is not None:
                on_batch()
            if stoppable and stop_requested_on_any_rank() and b + 1 < n_batches:
                self.position = {"order": order.permutation.cpu(), "batch": b + 1,
                                 "seconds": order.elapsed + time.perf_counter() - start}
                raise Interrupted(f"RBM training stopped in epoch {self.epochs_done + 1}, batch {b + 1} of {n_batches}")
        if (what := divergence(self.rbm, v0)) is not None:
            raise RBMDivergedError(self.epochs_done + 1, what, self.config.lr)
        self.epochs_done += 1
        return order.elapsed + time.perf_counter() - start


def train_rbm(
    rbm: RBM,
    x: torch.Tensor,
    config: RBMConfig | None = None,
    *,
    monitor: torch.Tensor | None = None,
    on_batch: Callable[[], None] | None = None,
    on_epoch: Callable[[RBMEpoch], None] | None = None,
    initialize: bool = True,
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
) -> RBMHistory:
    """Train ``rbm`` on ``x`` of shape (N, n_visible); after each epoch measure the
    reconstruction error and pseudo-likelihood on ``monitor`` (default: up to 10,000
    training samples).

    Args:
        initialize: reset the parameters from ``x`` first (Hinton's guide); set False to
            continue training an RBM.
        checkpoint: called with the whole training state (RBM, trainer, generators, history)
            after every epoch, and after the current batch on a stop request (Ctrl-C), which
            then raises :class:`~weightinit.runs.interrupt.Interrupted`.
        resume: such a state; training continues exactly where it stopped. Its config must
            equal ``config``.

    With ``config.average``, the RBM holds the moving average of its parameters at the end
    (the checkpoints hold the raw ones, which training continues from).
    """
    config = config or RBMConfig()
    device = resolve_device(config.device)
    rbm.to(device)
    x = check_visible(x, rbm.n_visible, rbm.visible, "x").to(device)
    monitor = (x[:10_000] if monitor is None
               else check_visible(monitor, rbm.n_visible, rbm.visible, "monitor").to(device))
    generator = torch.Generator(device=device).manual_seed(config.seed)
    if initialize and resume is None:
        rbm.reset_parameters(x, generator)
    trainer = RBMTrainer(rbm, config, generator)
    measure = torch.Generator(device=device).manual_seed(config.seed + 1)  # PL's random units, not the training stream
    history = RBMHistory()
    if resume is not None:
        check_resumable(resume, "rbm", config)
        rbm.load_state_dict(resume["rbm"])
        trainer.load_state_dict(resume["trainer"])
        measure.set_state(resume["measure"])
        history = RBMHistory([RBMEpoch(**e) for e in resume["history"]])

    def state() -> dict:  # built on every rank (it gathers the PCD chains); rank 0 writes it
        return {"kind": "rbm", "config": asdict(config), "rbm": rbm.state_dict(), "trainer": trainer.state_dict(),
                "measure": measure.get_state(), "history": history.to_dicts()}

    stops = Checkpointing(checkpoint, state, what="RBM training")
    with stops.running():
        for epoch in range(len(history.epochs) + 1, config.epochs + 1):
            try:
                seconds = trainer.epoch(x, on_batch, stoppable=stops.enabled)
            except Interrupted:  # a stop request mid-epoch: the trainer kept its place, which the state holds
                stops.save()
                raise
            pl = rbm.pseudo_likelihood(monitor, generator=measure).mean().item() if rbm.visible == "bernoulli" else None
            record = RBMEpoch(epoch, rbm.reconstruction_error(monitor), pl, seconds)
            history.epochs.append(record)
            if on_epoch is not None:
                on_epoch(record)
            stops.after_epoch(epoch, config.epochs)
    trainer.use_average()  # config.average: the trained RBM holds the averaged parameters
    return history
