"""The lecture's experiment: one network trained from several initializations on the same
data, everything else equal.

The defaults are the lecture's (Lab 09-2): MNIST, 784-256-256-10 ReLU, Adam lr 1e-3, batch
100, 15 epochs, seed 777, and the inits it discusses (N(0, 1), Xavier, He) plus PyTorch's
default, LeCun and orthogonal. Run ``k`` of ``--seeds N`` uses seed ``seed + k`` for both the
initialization draw and the data order, so every init sees the same batches. The test set is
evaluated after every epoch, as the lecture does: ``compare`` measures how fast each init
learns, it chooses nothing on the test set. Before the first step each network's loss is
measured on the first :data:`INIT_LOSS_ROWS` training images: a well-scaled init predicts
nearly uniformly, so that loss is close to ln(n_classes) (2.303 for 10 classes); far above it,
the init is confidently wrong before it has learned anything.

``model="gpt"`` trains a small character-level GPT (:mod:`weightinit.models.gpt`) on a text data
set (``shakespeare``) instead: its measures are per character, on the validation windows
(:mod:`weightinit.experiments._text`: the sizes, the training settings, what an epoch is), and
the loss at init is read against ln(vocabulary).
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from .._checks import check_choice
from ..boltzmann.trainer import RBMConfig
from ..data.datasets import Dataset, Split
from ..diagnostics.dynamics import Dynamics
from ..diagnostics.layer_stats import Report, diagnose, layer_labels
from ..errors import UserError
from ..modelinit.activations import ACTIVATIONS
from ..modelinit.plan import init_model
from ..modelinit.schemes import SCHEMES, check_schemes
from ..models.builders import MODELS, build_model, describe_model, parse_arch
from ..runs import distributed
from ..runs.checkpoint import Checkpoint
from ..runs.devices import resolve_device
from ..runs.files import weights_record
from ..training.batched import can_batch, fit_batched
from ..training.history import History
from ..training.loop import TrainConfig, evaluate, fit
from ._common import checkpoint_in, progress_bar, versions
from ._compare_result import INIT_LOSS_ROWS, CompareResult, CompareRun, InitSummary, summarize
from ._config import ConfigError, count, literal, param, quick_epochs
from ._text import GPT_INITS, check_context, eval_windows, evenly, gpt_sizes, gpt_train_config, is_text, windows_for

__all__ = ["INIT_LOSS_ROWS", "LECTURE_INITS", "GPT_INITS", "PRETRAIN_EPOCHS", "CompareConfig", "CompareRun",
           "check_dataset", "InitSummary", "CompareResult", "compare", "summarize", "compare_epochs", "gpt_sizes",
           "gpt_train_config"]

LECTURE_INITS = (
    "normal",
    "default",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "lecun_normal",
    "orthogonal",
)
PRETRAIN_EPOCHS = 5  # RBM epochs per layer of the data-driven "dbn" init, unless pretrain_epochs says otherwise
PROBE_ROWS = 256  # training images of the epoch-0 diagnosis (diagnose=True)


def compare_epochs(dataset: str, epochs: int | None = None, quick: bool = False) -> int:
    """The training epochs of a compare run: ``epochs``, or with ``quick`` 10 (2 on MNIST-sized
    data), else :class:`~weightinit.training.TrainConfig`'s default."""
    return quick_epochs(dataset, epochs, quick, TrainConfig.epochs)


@dataclass
class CompareConfig:
    """What ``compare`` runs: the network, the inits, the seeds and how to train."""

    arch: str = "lecture"  # a spec "784-256-256-10" or a name: "lecture" (in-256-256-out), "deep"
    activation: str = "relu"
    model: str = "mlp"  # or "lstm" (images read row by row), "transformer" (a small ViT); arch is the MLP's
    batched: bool = True  # MLP runs train as one stacked model (weightinit.training.batched); False: one after another
    dynamics_every: int = 0  # record per-layer training dynamics every N steps (diagnostics.dynamics); 0: off
    inits: tuple[str, ...] = LECTURE_INITS
    seeds: int = 1  # runs per init; mean ± std over them
    nonlinearity: str = "auto"  # gain rule of init_model: "auto" = from the following activation
    pretrain_epochs: int | None = None  # RBM epochs per layer for init "dbn" (None: PRETRAIN_EPOCHS); dbn only
    train: TrainConfig = field(default_factory=TrainConfig)
    diagnose: bool = False  # also diagnose each init at epoch 0 (the result's std_by_layer.png)
    gpt_size: tuple[int, ...] = gpt_sizes()  # model "gpt": (layers, width, heads, context)
    eval_rows: int | None = None  # model "gpt": validation windows evaluated per epoch (None: 16,384 characters)

    def __post_init__(self) -> None:
        self.inits = check_schemes(self.inits)
        if self.pretrain_epochs is not None and "dbn" not in self.inits:
            raise ConfigError(f"{param('pretrain_epochs')} {literal(self.pretrain_epochs)} applies to {param('inits')} "
                              f"dbn only, which this run does not have ({param('inits')} "
                              f"{literal(','.join(self.inits))}); drop it")
        if self.activation not in ACTIVATIONS:
            raise UserError(f"activation={self.activation!r} is not supported; use one of {list(ACTIVATIONS)}")
        count("seeds", self.seeds)
        count("pretrain_epochs", self.dbn_pretrain_epochs)
        check_choice("model", self.model, MODELS)
        count("dynamics_every", self.dynamics_every, 0)
        if self.model != "mlp" and (self.arch != "lecture" or self.activation != "relu"):
            raise UserError(f"arch and activation describe the MLP; model={self.model!r} has its own "
                            f"(got arch={self.arch!r}, activation={self.activation!r})")
        if self.model != "mlp" and "dbn" in self.inits:
            raise UserError(f"init 'dbn' pre-trains the layers of an MLP; model={self.model!r} has none to pre-train")
        self.gpt_size = tuple(self.gpt_size)
        if len(self.gpt_size) != 4:
            raise ConfigError(f"{param('gpt_size')} takes layers, width, heads, context; got "
                              f"{literal(list(self.gpt_size))}")
        for name, value in zip(("layers", "width", "heads", "context"), self.gpt_size):
            count(f"gpt_size {name}", value)
        if self.gpt_size[1] % self.gpt_size[2]:
            raise ConfigError(f"{param('gpt_size')}: width {self.gpt_size[1]} must be a multiple of heads "
                              f"{self.gpt_size[2]}")
        if self.eval_rows is not None:
            count("eval_rows", self.eval_rows)

    @classmethod
    def gpt(cls, quick: bool = False, **fields) -> CompareConfig:
        """What ``weightinit compare --model gpt [--quick]`` runs: the GPT of :func:`gpt_sizes`,
        its inits :data:`GPT_INITS` and its training (:func:`gpt_train_config`), ``fields``
        overriding any of them (``train=gpt_train_config(epochs=2)``, ``seeds=3``)."""
        return cls(**{"model": "gpt", "inits": GPT_INITS, "train": gpt_train_config(quick),
                      "gpt_size": gpt_sizes(quick), **fields})

    @property
    def gpt_eval_rows(self) -> int:
        """The validation (and loss-at-init) windows of a GPT run."""
        return eval_windows(self.gpt_size[3]) if self.eval_rows is None else self.eval_rows

    @property
    def dbn_pretrain_epochs(self) -> int:
        """The RBM epochs per layer init "dbn" pre-trains for."""
        return PRETRAIN_EPOCHS if self.pretrain_epochs is None else self.pretrain_epochs


@dataclass
class _Start:
    """What a run knows before its first step, kept in its checkpoints so a resumed run keeps it."""

    init_seconds: float  # the initialization itself (pre-training, for "dbn")
    initial_loss: float  # cross-entropy on the first INIT_LOSS_ROWS training images

    @classmethod
    def of(cls, resume: dict) -> _Start:
        return cls(resume["init_seconds"], resume.get("initial_loss", math.nan))


def _initial_loss(model: nn.Module, dataset: Dataset, config: CompareConfig) -> float:
    """On the CPU, before the model goes anywhere; every process of a data-parallel run computes
    the same value alone (no collective on CPU tensors). A GPT's on ``gpt_eval_rows`` training
    windows spread over the corpus."""
    rows = (evenly(dataset.train, config.gpt_eval_rows) if config.model == "gpt" else
            Split(dataset.train.x[:INIT_LOSS_ROWS], dataset.train.y[:INIT_LOSS_ROWS]))
    with distributed.independent():
        return evaluate(model, rows)[0]


def _initialized(dataset: Dataset, sizes: list[int], config: CompareConfig, init: str, seed: int,
                 on_init: Callable[[str, int, nn.Module], None] | None,
                 resume: dict | None) -> tuple[nn.Module, _Start]:
    """A fresh network initialized by ``init`` from ``seed``, with the seconds that took and its
    loss before training; a resumed run's weights come from its checkpoint (initialized only for
    ``on_init``)."""
    model = build_model(config.model, sizes, config.activation, dataset.image_shape, dataset.n_classes)
    if resume is not None and on_init is None:
        return model, _Start.of(resume)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    if SCHEMES[init].needs_data:  # dbn pre-trains with the sweep's settings, lsuv with its own
        settings = (RBMConfig(epochs=config.dbn_pretrain_epochs, device=resolve_device(config.train.device).type)
                    if init == "dbn" else None)  # pre-trained where the run trains (the model is still on the CPU)
        init_model(model, init, generator=generator, data=dataset.train.x, config=settings)
    else:  # the gains of what really follows each layer, traced on two training images
        init_model(model, init, nonlinearity=config.nonlinearity, generator=generator,
                   example_input=dataset.train.x[:2])
    seconds = time.perf_counter() - start
    if on_init is not None:
        on_init(init, seed, model)
    if resume is not None:
        return model, _Start.of(resume)
    return model, _Start(seconds, _initial_loss(model, dataset, config))


def _result(init: str, seed: int, history: History, start: _Start, dynamics: Dynamics | None = None) -> CompareRun:
    return CompareRun(init=init, seed=seed, test_accuracy=history.last.eval_accuracy, eval_loss=history.last.eval_loss,
                      final_train_loss=history.last.train_loss, first_epoch_loss=history.epochs[0].train_loss,
                      seconds_per_epoch=statistics.fmean(r.seconds for r in history.epochs),
                      init_seconds=start.init_seconds, diverged=history.diverged, diverged_at=history.diverged_at,
                      history=history.to_dicts(), dynamics=None if dynamics is None else dynamics.to_dicts(),
                      initial_loss=start.initial_loss)


def _weights(model: nn.Module, dataset: Dataset, sizes: list[int], config: CompareConfig) -> dict:
    """A finished run's ``weights.pt``, in the versioned format that ``weightinit.load`` rebuilds."""
    return weights_record("model", model.state_dict(), model=config.model, sizes=sizes, activation=config.activation,
                          image_shape=list(dataset.image_shape), n_classes=dataset.n_classes)


def _saver(checkpoint: Checkpoint | None, start: _Start) -> Callable[[dict], None] | None:
    return None if checkpoint is None else (lambda state: checkpoint.save({**state, **asdict(start)}))


def _train_one(dataset: Dataset, sizes: list[int], config: CompareConfig, init: str, seed: int, progress: bool,
               on_init: Callable[[str, int, nn.Module], None] | None, checkpoint: Checkpoint | None,
               on_run: Callable[[CompareRun, Dynamics | None], None] | None = None) -> CompareRun:
    """One init and seed: initialize, train, measure. With a ``checkpoint``, a finished run is
    read back and an unfinished one continues."""
    if checkpoint is not None and (done := checkpoint.result()) is not None:
        return CompareRun(**done["run"])
    resume = checkpoint.load() if checkpoint is not None else None
    model, start = _initialized(dataset, sizes, config, init, seed, on_init, resume)
    train = replace(config.train, seed=seed)
    dynamics = Dynamics(model, config.dynamics_every) if config.dynamics_every else None
    rows = min(len(dataset.train), train.epoch_rows or len(dataset.train))
    with progress_bar(train.epochs * math.ceil(rows / train.batch_size), f"{init} (seed {seed})", progress) as bar:
        held_out = ("valid" if config.model == "gpt" else "test", dataset.test)
        history = fit(model, dataset.train, train, evaluate_on=held_out, on_batch=bar.update,
                      checkpoint=_saver(checkpoint, start), resume=resume, dynamics=dynamics)
    if dynamics is not None:
        dynamics.remove()
    run = _result(init, seed, history, start, dynamics)
    if on_run is not None and distributed.rank() == 0:  # data parallel (fewer runs than ranks): one reports
        on_run(run, dynamics)
    if checkpoint is not None and distributed.rank() == 0:  # data parallel (fewer runs than ranks): one writes
        checkpoint.finish({"run": asdict(run)}, _weights(model, dataset, sizes, config))
    return run


def _train_batched(dataset: Dataset, sizes: list[int], config: CompareConfig, plan: list[tuple[str, int]],
                   progress: bool, on_init: Callable[[str, int, nn.Module], None] | None,
                   on_run: Callable[[CompareRun, Dynamics | None], None] | None,
                   checkpoint_dir: str | os.PathLike | None) -> list[CompareRun] | None:
    """The runs of ``plan`` trained as one stacked model (:mod:`weightinit.training.batched`), or None
    when they cannot be (then each trains alone). Their states are checkpointed together in
    ``<checkpoint_dir>/batched``; each finished run is recorded in its own folder."""
    checkpoints = [checkpoint_in(checkpoint_dir, f"{init}-seed{seed}") for init, seed in plan]
    done = {i: CompareRun(**d["run"]) for i, c in enumerate(checkpoints) if c is not None and (d := c.result())}
    todo = [i for i in range(len(plan)) if i not in done]
    sweep = checkpoint_in(checkpoint_dir, "batched")
    saved = sweep.load() if sweep is not None else None
    keys = [f"{init}-seed{seed}" for init, seed in plan]
    if saved is not None and not set(keys[i] for i in todo) <= set(saved["runs"]):
        return None  # a folder written one run at a time: it continues that way
    resumes = None if saved is None else [saved["states"][saved["runs"].index(keys[i])] for i in todo]
    configs = [replace(config.train, seed=plan[i][1]) for i in todo]
    with torch.device("meta"):  # the shapes alone, before any run is initialized (no draw, no pre-training)
        shapes = [build_model(config.model, sizes, config.activation, dataset.image_shape, dataset.n_classes)
                  for _ in todo]
    if not can_batch(shapes, configs):
        return None
    models, starts = [], []
    for k, i in enumerate(todo):
        resume = None if resumes is None else resumes[k]
        model, start = _initialized(dataset, sizes, config, *plan[i], on_init, resume)
        models.append(model)
        starts.append(start)

    def save(states: list[dict]) -> None:
        sweep.save({"runs": [keys[i] for i in todo],
                    "states": [{**state, **asdict(start)} for state, start in zip(states, starts)]})

    n_batches = math.ceil(len(dataset.train) / config.train.batch_size)
    with progress_bar(config.train.epochs * n_batches, f"{len(todo)} runs, batched", progress) as bar:
        histories = fit_batched(models, dataset.train, configs, evaluate_on=("test", dataset.test),
                                on_batch=bar.update, checkpoint=save if sweep is not None else None, resume=resumes)
    for i, model, history, start in zip(todo, models, histories, starts):
        done[i] = replace(_result(*plan[i], history, start), batched=True)  # its seconds: the sweep's
        if on_run is not None:
            on_run(done[i], None)
        if checkpoints[i] is not None:
            checkpoints[i].finish({"run": asdict(done[i])}, _weights(model, dataset, sizes, config))
    if sweep is not None:  # every run is recorded in its own folder now: the shared state has served
        shutil.rmtree(sweep.folder, ignore_errors=True)
    return [done[i] for i in range(len(plan))]


def check_dataset(config: CompareConfig, dataset: Dataset) -> None:
    """Refuse a data set ``config``'s model cannot read (text for the GPT, images for the
    others), or windows its context does not divide: before any run starts (the command line
    calls it right after loading the data, before it makes the run folder)."""
    if (config.model == "gpt") != is_text(dataset):
        raise UserError(f"model {config.model!r} cannot read data set {dataset.name!r}: model 'gpt' reads text "
                        "(--dataset shakespeare), the other models read images")
    if config.model == "gpt":
        check_context(dataset, config.gpt_size[3])


def compare(dataset: Dataset, config: CompareConfig | None = None, *, progress: bool = False,
            on_init: Callable[[str, int, nn.Module], None] | None = None,
            on_run: Callable[[CompareRun, Dynamics | None], None] | None = None,
            checkpoint_dir: str | os.PathLike | None = None) -> CompareResult:
    """Train ``config.arch`` from each init in ``config.inits`` (``config.seeds`` times) on
    ``dataset`` and return what was measured.

    A diverged run (NaN/inf or exploding loss) is recorded as such; the others carry on.
    ``on_init(init, seed, model)`` is called with each freshly initialized model (epoch 0),
    ``on_run(run, dynamics)`` with each run trained here (not one read back from a checkpoint)
    and its :class:`~weightinit.diagnostics.dynamics.Dynamics` (with ``config.dynamics_every``).
    With ``checkpoint_dir``, each run checkpoints every epoch into ``<init>-seed<seed>/``
    there and keeps its result and final weights; calling again with the same folder (and
    config) skips the finished runs and continues the unfinished one exactly. Under
    torchrun each process trains every N-th run and all of them return all the results.
    """
    config = config or CompareConfig()
    check_dataset(config, dataset)
    if config.model == "gpt":
        dataset = windows_for(dataset, config.gpt_size[3], config.gpt_eval_rows)
    sizes = list(config.gpt_size) if config.model == "gpt" else parse_arch(config.arch, dataset.n_features,
                                                                            dataset.n_classes)
    reports: dict[str, Report] = {}
    if config.diagnose:  # the per-layer picture at epoch 0, on training data
        probe = (dataset.train.x[:PROBE_ROWS], dataset.train.y[:PROBE_ROWS])
        user_on_init = on_init

        def on_init(init: str, seed: int, model: nn.Module) -> None:
            if seed == config.train.seed:
                reports[init] = diagnose(model, probe)
            if user_on_init is not None:
                user_on_init(init, seed, model)
    plan = [(init, config.train.seed + k) for init in config.inits for k in range(config.seeds)]
    runs = None
    if config.batched and not config.dynamics_every and not distributed.launched() and config.model == "mlp":
        runs = _train_batched(dataset, sizes, config, plan, progress, on_init, on_run, checkpoint_dir)
    if runs is None:  # one after another; under torchrun rank r trains runs r, r + N, ...
        runs = distributed.share_runs(plan, lambda run: _train_one(
            dataset, sizes, config, *run, progress, on_init, checkpoint_in(checkpoint_dir, f"{run[0]}-seed{run[1]}"),
            on_run))
    if config.diagnose and distributed.launched():  # each process diagnosed the inits it ran
        for share in distributed.all_gather_objects(reports):
            reports.update(share)
    labels = None
    if config.dynamics_every:  # the names std_by_layer.png and dynamics.png give the layers
        labels = layer_labels(build_model(config.model, sizes, config.activation, dataset.image_shape,
                                          dataset.n_classes))
    return CompareResult(
        dataset=dataset.name,
        source=dataset.source,
        arch=describe_model(config.model, sizes, dataset.image_shape),
        activation=config.activation,
        config={"model": config.model, "inits": list(config.inits), "seeds": config.seeds,
                "nonlinearity": config.nonlinearity, "pretrain_epochs": config.dbn_pretrain_epochs,
                "batched": config.batched, "dynamics_every": config.dynamics_every, **asdict(config.train),
                **({"gpt_size": list(config.gpt_size), "eval_rows": config.gpt_eval_rows} if config.model == "gpt"
                   else {})},
        versions=versions(),
        summary=summarize(runs, by_loss=config.model == "gpt"),
        runs=runs,
        n_classes=dataset.n_classes,
        diagnostics={init: r.to_dict() for init, r in reports.items()} if reports else None,
        reports=reports or None,
        layer_labels=labels,
    )
