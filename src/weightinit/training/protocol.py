"""The stop/checkpoint/resume protocol of a resumable training loop, shared by
:func:`~weightinit.training.fit`, :func:`~weightinit.training.fit_batched` and
:func:`~weightinit.boltzmann.train_rbm`.

Resume: :func:`check_resumable` refuses a state of another kind of run, or of a run with another
config (``device`` aside: where a run computes is not what it computes).

Checkpoint and stop: a loop given a ``checkpoint`` callback runs inside
:meth:`Checkpointing.running` (so the first Ctrl-C only requests a stop,
:mod:`weightinit.runs.interrupt`), hands its state to the callback after every epoch
(:meth:`Checkpointing.save`), and asks after each batch whether a stop was requested on any rank
(:meth:`Checkpointing.stop_requested`); if so it writes the state with its place in the epoch and
raises :class:`~weightinit.runs.interrupt.Interrupted` (:meth:`Checkpointing.stop`). After an
epoch, :meth:`Checkpointing.after_epoch` does both: write, then stop if asked to.

Under torch.distributed every rank runs the same protocol in step: the stop request is reduced
over the ranks (one collective per check), every rank builds the state (building it may be a
collective itself: the RBM gathers its chains), and rank 0 alone writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import MISSING, asdict, fields, is_dataclass
from typing import Any, Generic, NoReturn, TypeVar

from ..errors import UserError
from ..runs import distributed
from ..runs.checkpoint import differing_keys
from ..runs.interrupt import Interrupted, checkpointable, stop_requested

__all__ = ["check_resumable", "Checkpointing", "stop_requested_on_any_rank"]

S = TypeVar("S")


def check_resumable(state: Mapping[str, Any], kind: str, config: Any, ignore: Iterable[str] = ("device",)) -> None:
    """Refuse to resume from ``state`` unless it is a ``kind`` run's (``state["kind"]``) with ``config``.

    Args:
        state: a checkpoint's dict, with ``"kind"`` and ``"config"`` (the run's config as a dict).
        kind: the kind of run resuming (``"fit"``, ``"rbm"``).
        config: the resuming run's config, a dataclass (or a dict). A field that the saved config
            lacks (a checkpoint written before the field existed) is read as the field's default.
        ignore: fields that may differ (``device``: a state moves to any device).

    Raises:
        UserError: naming the differing fields, or the state's kind.
    """
    if not isinstance(state, Mapping) or state.get("kind") != kind:
        got = state.get("kind") if isinstance(state, Mapping) else type(state).__name__
        raise UserError(f"resume must be a state written by {kind}'s checkpoint, got kind={got!r}")
    ignored = set(ignore)
    current = asdict(config) if is_dataclass(config) else dict(config)
    saved = state.get("config")
    if isinstance(saved, Mapping) and is_dataclass(config):
        defaults = {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(config)
                    if f.default is not MISSING or f.default_factory is not MISSING}
        saved = {**defaults, **saved}
    if isinstance(saved, Mapping):
        saved = {key: value for key, value in saved.items() if key not in ignored}
    differing = differing_keys(saved, {key: value for key, value in current.items() if key not in ignored})
    if differing:
        raise UserError(f"resume holds a run with another config ({', '.join(differing)} differ)")


def stop_requested_on_any_rank() -> bool:
    """Whether a stop was requested (:func:`~weightinit.runs.interrupt.stop_requested`) on any rank:
    the same answer on every rank, a collective under torch.distributed."""
    return distributed.any_rank(stop_requested())


class Checkpointing(Generic[S]):
    """How a training loop checkpoints and stops (see the module docstring).

    Args:
        checkpoint: called with the state to write, on rank 0; None: a loop that neither
            checkpoints nor stops early (every method is then a no-op).
        state: builds the state to write, ``state(*args)`` with the arguments given to
            :meth:`save`, :meth:`stop` or :meth:`after_epoch`; called on every rank.
        what: names the loop in the messages (``"training"``, ``"RBM training"``).
    """

    def __init__(self, checkpoint: Callable[[S], None] | None, state: Callable[..., S], what: str = "training") -> None:
        self.checkpoint, self.state, self.what = checkpoint, state, what

    @property
    def enabled(self) -> bool:
        """Whether the loop checkpoints (and so may stop at a user's request)."""
        return self.checkpoint is not None

    def running(self) -> AbstractContextManager[None]:
        """Wrap the loop: while it runs, Ctrl-C requests a stop (:func:`~weightinit.runs.interrupt.checkpointable`)."""
        return checkpointable() if self.enabled else nullcontext()

    def stop_requested(self) -> bool:
        """A stop was requested on any rank (False when not checkpointing); call it on every rank."""
        return self.enabled and stop_requested_on_any_rank()

    def save(self, *args: Any) -> None:
        """Build ``state(*args)`` on every rank and hand it to ``checkpoint`` on rank 0."""
        if not self.enabled:
            return
        saved = self.state(*args)
        if distributed.rank() == 0:
            self.checkpoint(saved)

    def stop(self, message: str, *args: Any) -> NoReturn:
        """Stop where a stop request found the loop: :meth:`save` ``state(*args)``, then raise
        :class:`~weightinit.runs.interrupt.Interrupted` with ``message``."""
        self.save(*args)
        raise Interrupted(message)

    def stop_after(self, epoch: int, epochs: int, more: bool = True) -> None:
        """After ``epoch`` of ``epochs`` (its state written): raise
        :class:`~weightinit.runs.interrupt.Interrupted` if a stop was requested on any rank and
        training would go on (``epoch < epochs`` and ``more``)."""
        if self.stop_requested() and epoch < epochs and more:
            raise Interrupted(f"{self.what} stopped after epoch {epoch} of {epochs}")

    def after_epoch(self, epoch: int, epochs: int, *args: Any, more: bool = True) -> None:
        """The end of ``epoch``: :meth:`save` ``state(*args)``, then :meth:`stop_after`."""
        self.save(*args)
        self.stop_after(epoch, epochs, more)
