"""What a training run records: one :class:`EpochRecord` per epoch, gathered in a
:class:`History` that names the split it was evaluated on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["EpochRecord", "History"]


@dataclass
class EpochRecord:
    """One epoch of a run: its mean training loss, the loss and accuracy on the evaluated split, and
    its training time."""

    epoch: int
    train_loss: float  # mean over the epoch's batches
    eval_loss: float | None  # on the evaluated split (None without one)
    eval_accuracy: float | None
    seconds: float  # training time of the epoch, evaluation excluded


@dataclass
class History:
    """A run's epochs, the split they were evaluated on, and whether (and where) it diverged; its
    records name that split (``valid_accuracy`` or ``test_accuracy``)."""

    epochs: list[EpochRecord] = field(default_factory=list)
    evaluated_on: str | None = None  # the name the evaluated split was given ("valid", "test")
    diverged: bool = False
    diverged_at: dict | None = None  # {"epoch": e, "batch": b, "loss": value}
    best_epoch: int | None = None  # with fit(keep_best=True): the epoch whose weights the model ends with

    @property
    def last(self) -> EpochRecord:
        return self.epochs[-1]

    @property
    def seconds(self) -> float:
        """Training time of all epochs, evaluation excluded."""
        return sum(record.seconds for record in self.epochs)

    def to_dicts(self) -> list[dict]:
        """One dict per epoch, the evaluated split's measures named for it (``valid_loss``,
        ``valid_accuracy``; or ``test_*``); none without an evaluated split."""
        rows = []
        for r in self.epochs:
            row = {"epoch": r.epoch, "train_loss": r.train_loss}
            if self.evaluated_on is not None:
                row[f"{self.evaluated_on}_loss"] = r.eval_loss
                row[f"{self.evaluated_on}_accuracy"] = r.eval_accuracy
            rows.append({**row, "seconds": r.seconds})
        return rows

    def to_dict(self) -> dict:
        return {"epochs": [asdict(r) for r in self.epochs], "evaluated_on": self.evaluated_on,
                "diverged": self.diverged, "diverged_at": self.diverged_at, "best_epoch": self.best_epoch}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls([EpochRecord(**record) for record in data["epochs"]], data["evaluated_on"], data["diverged"],
                   data["diverged_at"], data.get("best_epoch"))
