"""What ``compare`` measured: each run, each init over its seeds, and the result that writes
the run's files (``results.json``, ``results.csv``, ``report.md``, ``curves.png``, and with
their options ``std_by_layer.png`` and ``dynamics.png``)."""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass

from ..diagnostics.layer_stats import Report
from ..reporting.plots import plot_curves, plot_dynamics, plot_std_by_layer
from ._compare_files import chance_note, format_table, report_markdown, runs_csv, timing_note
from ._result import ResultBase, artifact, group_by, output_folder, plain_fields, write_json, write_texts
from ._text import init_loss_note

__all__ = ["INIT_LOSS_ROWS", "CompareRun", "InitSummary", "CompareResult", "summarize"]

INIT_LOSS_ROWS = 10_000  # training images on which the loss at initialization is measured


@dataclass
class CompareRun:
    """One init and seed, trained."""

    init: str
    seed: int
    test_accuracy: float  # after the last epoch
    final_train_loss: float
    first_epoch_loss: float  # mean training loss of epoch 1
    seconds_per_epoch: float
    init_seconds: float  # the initialization itself (pre-training, for "dbn")
    diverged: bool
    diverged_at: dict | None
    history: list[dict]  # per epoch: epoch, train_loss, test_loss, test_accuracy, seconds
    dynamics: list[dict] | None = None  # per recorded step and layer (weightinit.diagnostics.dynamics.DynamicsRecord)
    initial_loss: float | None = None  # cross-entropy before the first step (None: a run from an older version)
    batched: bool = False  # trained in the batched sweep: seconds_per_epoch is the sweep's, shared by all its runs
    eval_loss: float | None = None  # loss on the evaluated split after the last epoch (None: an older version)


@dataclass
class InitSummary:
    """One init over its seeds: means (and the std of the accuracy)."""

    init: str
    runs: int
    test_accuracy: float
    test_accuracy_std: float
    initial_loss: float  # before the first step; chance level is ln(n_classes)
    first_epoch_loss: float
    final_train_loss: float
    seconds_per_epoch: float  # of a batched run: the whole sweep's time per epoch, shared by all its runs
    diverged: int  # how many of its runs diverged
    batched: int = 0  # how many of its runs trained in the batched sweep
    eval_loss: float = math.nan  # mean loss on the evaluated split after the last epoch
    eval_loss_std: float = 0.0  # its std over the runs (0 for one run)


@dataclass
class CompareResult(ResultBase):
    """What ``compare`` measured: ``to_dict()`` is the ``results.json`` schema; ``write(folder)``
    writes the files of ``weightinit compare``."""

    dataset: str
    source: str
    arch: str
    activation: str
    config: dict
    versions: dict
    summary: list[InitSummary]  # best accuracy first, inits with a diverged run last
    runs: list[CompareRun]
    diagnostics: dict[str, dict] | None = None  # init -> diagnose's report at epoch 0 (Report.to_dict)
    n_classes: int | None = None  # the loss at initialization is read against ln(n_classes)

    reports: dict[str, Report] | None = artifact()  # init -> diagnose's report at epoch 0 (std_by_layer.png)
    layer_labels: list[str] | None = artifact()  # the layers' names in dynamics.png, as diagnose names them

    def to_dict(self) -> dict:
        result = {"experiment": "compare", **plain_fields(self)}
        if self.diagnostics is None:
            del result["diagnostics"]
        return result

    @property
    def is_text(self) -> bool:
        """A language model's run (``compare --model gpt``): per-character losses, lowest valid loss first."""
        return self.config.get("model") == "gpt"

    def table(self) -> str:
        """The terminal table, best accuracy (a GPT's: lowest valid loss) first (``report.md`` has it in markdown)."""
        return format_table(self.summary, self.is_text)

    def findings(self) -> list[str]:
        """How to read the loss at init and the s/epoch columns."""
        if self.is_text and self.n_classes is not None:
            notes = [init_loss_note(self.n_classes, self.config["eval_rows"], self.config["gpt_size"][3],
                                    self.summary)]
        else:
            notes = [] if self.n_classes is None else [chance_note(self.n_classes, INIT_LOSS_ROWS)]
        return [*notes, *filter(None, [timing_note(self.summary)])]

    def text(self) -> str:
        return "\n".join([self.table(), *self.findings()])

    def _network(self) -> str:
        return f"{self.dataset} {self.arch}" + (f" {self.activation}" if self.config.get("model", "mlp") == "mlp"
                                                else "")

    def write(self, folder: str | os.PathLike) -> list[str]:
        """results.json, results.csv, curves.png, report.md; std_by_layer.png with the epoch-0
        diagnosis, dynamics.png with recorded dynamics. Returns the names written."""
        folder = output_folder(folder)
        written = []
        if self.reports:
            plot_std_by_layer(self.reports, folder / "std_by_layer.png", f"{self.arch}: epoch 0")
        written.append(write_json(folder, self))
        written += write_texts(folder, {"results.csv": runs_csv(self.runs, self.is_text)})
        n = len(self.config["inits"])
        title = f"{self._network()}: {n} initialization{'s' if n > 1 else ''} compared"
        if self.is_text:  # a language model: epoch 0 is the loss at init, against a uniform guess; validation loss
            plot_curves([(r.init, [{"epoch": 0, "train_loss": r.initial_loss}, *r.history]) for r in self.runs],
                        folder / "curves.png", f"{title}\n(an epoch: {self.config['epoch_rows']} windows of "
                        f"{self.config['gpt_size'][3]} characters; epoch 0: the loss at init)", evaluated_on="valid",
                        diverged=[r.diverged for r in self.runs], measure="loss",
                        chance=None if self.n_classes is None else math.log(self.n_classes))
        else:
            plot_curves([(r.init, r.history) for r in self.runs], folder / "curves.png", title,
                        diverged=[r.diverged for r in self.runs])
        written.append("curves.png")
        written += write_texts(folder, {"report.md": report_markdown(self, "curves.png", self.is_text)})
        every = self.config.get("dynamics_every")
        if every:
            plot_dynamics([(r.init, r.dynamics or []) for r in self.runs], folder / "dynamics.png",
                          f"{self._network()}: layers while training (recorded every {every} steps)",
                          labels=self.layer_labels)
            written.append("dynamics.png")
        if self.reports:
            written.append("std_by_layer.png")
        return written




def summarize(runs: list[CompareRun], by_loss: bool = False) -> list[InitSummary]:
    """One row per init, mean (and std over seeds) of each measure, best accuracy first (with
    ``by_loss``, as for a language model: lowest evaluated loss first)."""
    rows = []
    for init, mine in group_by(runs, lambda run: run.init).items():
        accuracy = [run.test_accuracy for run in mine]
        rows.append(InitSummary(
            init=init,
            runs=len(mine),
            test_accuracy=statistics.fmean(accuracy),
            test_accuracy_std=statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0,
            initial_loss=statistics.fmean(math.nan if run.initial_loss is None else run.initial_loss for run in mine),
            first_epoch_loss=statistics.fmean(run.first_epoch_loss for run in mine),
            final_train_loss=statistics.fmean(run.final_train_loss for run in mine),
            seconds_per_epoch=statistics.fmean(run.seconds_per_epoch for run in mine),
            diverged=sum(run.diverged for run in mine),
            batched=sum(run.batched for run in mine),
            eval_loss=statistics.fmean(losses := [math.nan if run.eval_loss is None else run.eval_loss
                                                  for run in mine]),
            eval_loss_std=statistics.stdev(losses) if len(losses) > 1 else 0.0,
        ))
    return sorted(rows, key=_rank_by_loss if by_loss else _rank)


def _rank(row: InitSummary) -> tuple[bool, float]:
    """Rows with a diverged run (or a NaN accuracy) last; the rest by accuracy, best first."""
    failed = row.diverged > 0 or math.isnan(row.test_accuracy)
    return failed, 0.0 if math.isnan(row.test_accuracy) else -row.test_accuracy


def _rank_by_loss(row: InitSummary) -> tuple[bool, float]:
    """Rows with a diverged run (or a NaN loss) last; the rest by evaluated loss, lowest first."""
    failed = row.diverged > 0 or math.isnan(row.eval_loss)
    return failed, 0.0 if failed else row.eval_loss


