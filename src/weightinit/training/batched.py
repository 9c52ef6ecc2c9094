"""Several runs of one MLP trained as one stacked model: a sweep at the hardware's speed.

A sweep trains the same small network many times (one per initialization and seed). Trained
one after another, each run pays PyTorch's per-operation overhead on tiny matrices; stacked
(:class:`~weightinit.training.stack.ParameterStack`), a batch is one ``baddbmm`` per layer for
all R runs. The loss is the sum over runs of each run's mean cross-entropy, so each run's gradient
is its own; Adam and SGD are element-wise, so one optimizer over the stacked tensors is R optimizers.

Each run keeps its own data order (its own seeded permutation, gathered per run), its own
divergence verdict (a diverged run is recorded, then frozen at zero so that it cannot poison
the others) and its own state: a :class:`~weightinit.training.FitState` built from its slices of
the stack, the very schema :func:`~weightinit.training.fit` writes, so a run resumes batched or
alone. The states of all runs are handed to the checkpoint together, so that they are written as
one file and a crash never leaves the runs at different points. Results equal the same runs
trained alone up to the rounding of the batched matrix products (``tests/training/test_batched.py``
says how close).

Applies to ``nn.Sequential`` MLPs of Linear layers and activation modules, trained without
dropout or weight averaging; :func:`can_batch` says whether a set of runs qualifies.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..data.datasets import Split
from ..errors import UserError
from ..modelinit.activations import activation_of
from ..runs.devices import resolve_device
from .config import TrainConfig
from .divergence import first_divergence
from .evaluation import evaluate_runs
from .history import EpochRecord, History
from .optimizer import make_optimizer
from .order import EpochOrder, epoch_order
from .precision import autocast, autocast_dtype
from .protocol import Checkpointing, check_resumable
from .schedule import set_learning_rate
from .stack import ParameterStack, run_optimizer_state, stack_optimizer_states
from .state import FIT_KIND, EpochPosition, FitState

__all__ = ["can_batch", "fit_batched"]


def can_batch(models: Sequence[nn.Module], configs: Sequence[TrainConfig]) -> bool:
    """Whether these runs can train as one stacked model: MLPs of one shape (Linear layers and
    stateless activation modules), one training setting but the seed, no dropout, no averaging, whole-split epochs."""
    if len(models) < 2 or len(models) != len(configs):
        return False
    first = configs[0]
    if first.ema or first.epoch_rows is not None or any(replace(c, seed=first.seed) != first for c in configs):
        return False
    shapes = [_shape(m) for m in models]
    return shapes[0] is not None and all(s == shapes[0] for s in shapes)


def _shape(model: nn.Module) -> list | None:
    if not isinstance(model, nn.Sequential):
        return None
    shape = []
    for module in model:
        if isinstance(module, nn.Linear) and type(module) is nn.Linear:
            shape.append(("linear", module.in_features, module.out_features, module.bias is not None))
        elif activation_of(module) is not None and not list(module.parameters()):
            shape.append(("activation", type(module), repr(module)))
        else:
            return None
    return shape


@dataclass
class _Run:
    """One run of the sweep: what it has of its own beside its slices of the stack."""

    config: TrainConfig
    order: torch.Generator  # its data order
    history: History
    alive: bool = True  # False once diverged: frozen at zero
    final: dict[str, torch.Tensor] | None = None  # the weights a diverged run ended with
    position: EpochPosition | None = None  # where a resumed run stopped inside an epoch
    saved: dict | None = None  # its last checkpointed state, which a frozen run goes on writing


def _stacked_groups(groups: list[dict], first: nn.Module, stack: ParameterStack) -> list[dict]:
    """``groups`` of the first run's parameters as groups of the stacked ones (same options)."""
    position = {id(p): i for i, p in enumerate(first.parameters())}
    unknown = [p for g in groups for p in g["params"] if id(p) not in position]
    if unknown:
        raise UserError(f"param_groups must hold the first model's parameters; {len(unknown)} are not its")
    return [{**{k: v for k, v in g.items() if k not in ("params", "param_names")},
             "params": [stack.params[position[id(p)]] for p in g["params"]]} for g in groups]


class _Sweep:
    """The stacked model, its one optimizer, and one :class:`_Run` per run."""

    def __init__(self, models: Sequence[nn.Sequential], configs: Sequence[TrainConfig], device: torch.device,
                 evaluated_on: str | None, param_groups: list[dict] | None = None) -> None:
        self.device = device
        self.stack = ParameterStack(models, device)
        self.optimizer = make_optimizer(self.stack.params if param_groups is None else
                                        _stacked_groups(param_groups, models[0], self.stack), configs[0])
        self.runs = [_Run(c, torch.Generator().manual_seed(c.seed), History(evaluated_on=evaluated_on))
                     for c in configs]
        self.mask = torch.ones(len(configs), dtype=torch.bool, device=device)  # the runs still training

    def resume(self, states: Sequence[FitState], raw: Sequence[dict]) -> None:
        """Continue from the runs' states (their weights are in the stack already)."""
        lead = next((r for r, state in enumerate(states) if not state.history.diverged), 0)
        stack_optimizer_states(self.optimizer, [state.optimizer for state in states], lead)
        for run, state, saved in zip(self.runs, states, raw):
            run.order.set_state(state.order)
            run.history, run.position, run.saved = state.history, state.position, saved
        for r, run in enumerate(self.runs):
            if run.history.diverged:  # it stopped where it diverged: keep what it ended with, frozen at 0
                self._freeze(r)

    def first_epoch(self) -> int:
        """The epoch the training runs are at (1 for a fresh sweep)."""
        alive = [len(run.history.epochs) for run in self.runs if run.alive]
        return 1 + max(alive) if alive else 1

    def any_alive(self) -> bool:
        return any(run.alive for run in self.runs)

    def begin_epoch(self, n: int, n_batches: int) -> tuple[EpochOrder, torch.Tensor]:
        """The runs' orders stacked, (R, n), and their per-batch losses, (R, n_batches): fresh, or
        the epoch a resumed sweep stopped in (a frozen run takes a placeholder order there)."""
        losses = torch.zeros(len(self.runs), n_batches, device=self.device)
        where = next((run.position for run in self.runs if run.position is not None), None)
        if where is None:
            orders = [epoch_order(n, run.order, "cpu") for run in self.runs]
            return EpochOrder(torch.stack([o.permutation for o in orders]).to(self.device)), losses
        positions = [run.position or EpochPosition(torch.arange(n), where.batch, torch.zeros(where.batch), 0.0)
                     for run in self.runs]
        for run in self.runs:
            run.position = None
        losses[:, : where.batch] = torch.stack([p.losses.to(self.device) for p in positions])
        permutations = torch.stack([p.permutation.to(self.device) for p in positions])
        return EpochOrder(permutations, where.batch, where.seconds), losses

    def train_batch(self, train: Split, rows: torch.Tensor, losses: torch.Tensor, b: int, dtype: torch.dtype) -> None:
        """One optimizer step of every run on its batch ``rows`` (R, B); the runs' losses go to ``losses[:, b]``."""
        x, y = train.x[rows], train.y[rows]  # (R, B, in), (R, B)
        with autocast(dtype, self.device):
            logits = self.stack.forward(x)
        per_run = F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none").mean(1)  # (R,)
        losses[:, b] = per_run.detach()
        self.optimizer.zero_grad(set_to_none=True)
        torch.where(self.mask, per_run, torch.zeros_like(per_run)).sum().backward()
        self.optimizer.step()

    def record_epoch(self, epoch: int, losses: torch.Tensor, seconds: float, held_out: Split | None) -> None:
        """Each training run's record of ``epoch`` and its divergence verdict (the losses read once)."""
        runs = len(self.runs)
        eval_losses, accuracies = (evaluate_runs(self.stack.forward, runs, held_out) if held_out is not None
                                   else ([None] * runs,) * 2)
        means = torch.stack([row.mean() for row in losses]).tolist()  # each run's mean, taken as fit takes it
        per_batch = losses.cpu()
        for r, run in enumerate(self.runs):
            if not run.alive:
                continue
            if (where := first_divergence(per_batch[r], epoch)) is not None:
                run.history.diverged, run.history.diverged_at = True, where
            run.history.epochs.append(EpochRecord(epoch, means[r], eval_losses[r], accuracies[r], seconds))

    def freeze_diverged(self) -> None:
        """Freeze the runs this epoch's verdict found diverged (after their state was written)."""
        for r, run in enumerate(self.runs):
            if run.alive and run.history.diverged:
                self._freeze(r)

    def _freeze(self, r: int) -> None:
        """Keep run ``r``'s weights as it ends with them, then zero its slices."""
        self.runs[r].final, self.runs[r].alive = self.stack.run_state(r), False
        self.mask[r] = False
        self.stack.freeze(r, self.optimizer)

    def state(self, r: int, epoch: int, position: EpochPosition | None) -> FitState:
        """Run ``r``'s state, as :func:`~weightinit.training.fit` training it alone would hold it."""
        run = self.runs[r]
        return FitState(config=asdict(run.config), epoch=epoch, position=position, model=self.stack.run_state(r),
                        optimizer=run_optimizer_state(self.optimizer, r), order=run.order.get_state(),
                        torch_rng=torch.get_rng_state(), cuda_rng=None, history=run.history, best=None,
                        average=None)

    def states(self, epoch: int, positions: Sequence[EpochPosition] | None = None) -> list[dict]:
        """Every run's checkpoint: a training run's state now, a frozen one's last."""
        for r, run in enumerate(self.runs):
            if run.alive:
                run.saved = self.state(r, epoch, None if positions is None else positions[r]).to_dict()
        return [run.saved for run in self.runs]

    def finish(self, models: Sequence[nn.Module]) -> list[History]:
        """Put each run's weights (a diverged one's as it ended) into its model, on the device."""
        for r, (run, model) in enumerate(zip(self.runs, models)):
            model.load_state_dict(run.final if run.final is not None else self.stack.run_state(r))
            model.to(self.device)
        return [run.history for run in self.runs]


def _positions(order: EpochOrder, batch: int, losses: torch.Tensor, seconds: float) -> list[EpochPosition]:
    """Each run's place in the epoch when a stop request finds the sweep before ``batch``."""
    return [EpochPosition(order.permutation[r].cpu(), batch, losses[r, :batch].cpu(), seconds)
            for r in range(len(losses))]


def _resumed_states(started: Sequence[dict], configs: Sequence[TrainConfig]) -> list[FitState]:
    """The runs' states to continue from, checked: one per run, each of its run's config, all
    at one point of training (a diverged run stopped where it diverged)."""
    ongoing = [s for s in started if not s["history"]["diverged"]]
    if len(started) != len(configs) or len({(s["epoch"], (s["position"] or {}).get("batch")) for s in ongoing}) > 1:
        raise UserError(f"resume must hold one state per run ({len(configs)}), all at one point of training")
    for state, config in zip(started, configs):
        check_resumable(state, FIT_KIND, config)
    states = [FitState.from_dict(state) for state in started]
    for state in states:
        state.check_keep_best(False)
    return states


def fit_batched(
    models: Sequence[nn.Sequential],
    train: Split,
    configs: Sequence[TrainConfig],
    *,
    evaluate_on: tuple[str, Split] | None = None,
    on_batch: Callable[[], None] | None = None,
    checkpoint: Callable[[list[dict]], None] | None = None,
    resume: Sequence[dict] | None = None,
    param_groups: list[dict] | None = None,
) -> list[History]:
    """Train ``models`` (run r with ``configs[r]``) as one stacked model; each ends with its
    weights and the list holds each one's history, as :func:`~weightinit.training.fit` would
    return them one by one. ``checkpoint`` receives the list of the runs' states, each a
    :class:`~weightinit.training.FitState` dict (``fit``'s format), after every epoch (and on
    Ctrl-C, then :class:`~weightinit.runs.interrupt.Interrupted` is raised); ``resume`` continues
    from such a list (the runs advance in lockstep). ``param_groups``: the first model's parameter
    groups (:func:`weightinit.parametrize.param_groups`: every run has the same shapes, so the
    same multipliers), given to the stacked parameters. Devices as in ``fit``: the models end on the
    configs' device, the splits are copied there once, and on CUDA the losses and divergence
    verdicts are read once per epoch."""
    if not can_batch(models, configs):
        raise UserError("these runs cannot train as one stacked model (see weightinit.training.can_batch)")
    config = replace(configs[0], seed=0)  # what the runs share
    device = resolve_device(config.device)
    dtype = autocast_dtype(config, device)
    name, held_out = evaluate_on if evaluate_on is not None else (None, None)
    train = Split(train.x.to(device), train.y.to(device))
    held_out = None if held_out is None else Split(held_out.x.to(device), held_out.y.to(device))
    n, batch = len(train), config.batch_size
    n_batches = math.ceil(n / batch)
    started = [state for state in resume or () if state is not None]
    states = _resumed_states(started, configs) if started else []
    for model, state in zip(models, states):
        model.load_state_dict(state.model)
    sweep = _Sweep(models, configs, device, name, param_groups)
    if states:
        sweep.resume(states, started)
    stops = Checkpointing(checkpoint, sweep.states)
    with stops.running():
        for epoch in range(sweep.first_epoch(), config.epochs + 1):
            if not sweep.any_alive():
                break
            set_learning_rate(sweep.optimizer, config, epoch)
            order, losses = sweep.begin_epoch(n, n_batches)
            start = time.perf_counter()
            for b, rows in order.batches(batch):
                sweep.train_batch(train, rows, losses, b, dtype)
                if on_batch is not None:
                    on_batch()
                if stops.stop_requested() and b + 1 < n_batches:
                    here = _positions(order, b + 1, losses, order.elapsed + time.perf_counter() - start)
                    stops.stop(f"training stopped at epoch {epoch}, batch {b + 1} of {n_batches}", epoch - 1, here)
            if device.type == "cuda":  # the epoch's one wait for the GPU, so that its seconds count the queued work
                torch.cuda.synchronize(device)
            sweep.record_epoch(epoch, losses, order.elapsed + time.perf_counter() - start, held_out)
            stops.save(epoch)  # every run's state; a run that diverged before this epoch keeps its last one
            sweep.freeze_diverged()
            stops.stop_after(epoch, config.epochs, more=sweep.any_alive())  # as fit: no stop with nothing left
    return sweep.finish(models)
