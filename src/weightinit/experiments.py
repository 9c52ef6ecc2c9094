"""Named experiments. ``compare``: the lecture's experiment, one network trained from several
initializations on the same data, everything else equal.

The defaults are the lecture's (Lab 09-2): MNIST, 784-256-256-10 ReLU, Adam lr 1e-3, batch
100, 15 epochs, seed 777, and the inits it discusses (N(0, 1), Xavier, He) plus PyTorch's
default, LeCun and orthogonal. Run ``k`` of ``--seeds N`` uses seed ``seed + k`` for both the
initialization draw and the data order, so every init sees the same batches.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import __version__, distributed
from ._checks import check_positive_int
from .checkpoint import Checkpoint
from .data import Dataset, Split
from .dbn import DBN
from .models import ACTIVATIONS, mlp, parse_arch
from .partition import ais_log_partition, average_log_likelihood
from .rbm import RBM, RBMConfig, train_rbm
from .schemes import check_schemes, init_model
from .train import History, TrainConfig, evaluate, fit, fit_resumable

__all__ = ["LECTURE_INITS", "CompareConfig", "compare", "summarize", "standardize", "rbm_experiment",
           "split_validation", "finetune", "dbn_experiment", "HINTON2006_REFERENCES", "glorot2010", "he2015"]

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


@dataclass
class CompareConfig:
    """What ``compare`` runs: the network, the inits, the seeds and how to train."""

    arch: str = "lecture"  # a spec "784-256-256-10" or a name: "lecture" (in-256-256-out), "deep"
    activation: str = "relu"
    inits: tuple[str, ...] = LECTURE_INITS
    seeds: int = 1  # runs per init; mean ± std over them
    nonlinearity: str = "auto"  # gain rule of init_model: "auto" = from the following activation
    pretrain_epochs: int = 5  # RBM epochs per layer for the data-driven "dbn" init
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        self.inits = check_schemes(self.inits)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not supported; use one of {list(ACTIVATIONS)}")
        check_positive_int("seeds", self.seeds)
        check_positive_int("pretrain_epochs", self.pretrain_epochs)


def _run(dataset: Dataset, sizes: list[int], config: CompareConfig, init: str, seed: int, progress: bool,
         on_init=None, checkpoint: Checkpoint | None = None) -> dict:
    """One init and seed: initialize, train, and the run's entry of ``results["runs"]``.
    With a ``checkpoint``, a finished run is read back and an unfinished one continues."""
    if checkpoint is not None and (done := checkpoint.result()) is not None:
        return done["run"]
    resume = checkpoint.load() if checkpoint is not None else None
    model = mlp(sizes, config.activation)
    if resume is None or on_init is not None:  # a resumed run's weights come from its checkpoint
        start = time.perf_counter()
        # settings of the data-driven schemes; the others take none
        scheme_config = {"dbn": RBMConfig(epochs=config.pretrain_epochs, device=config.train.device)}.get(init)
        init_model(model, init, nonlinearity=config.nonlinearity, generator=torch.Generator().manual_seed(seed),
                   data=dataset.train.x, config=scheme_config)
        init_seconds = time.perf_counter() - start
        if on_init is not None:
            on_init(init, seed, model)
    if resume is not None:
        init_seconds = resume["init_seconds"]
    train = replace(config.train, seed=seed)
    n_batches = math.ceil(len(dataset.train) / train.batch_size)
    save = None if checkpoint is None else (lambda state: checkpoint.save({**state, "init_seconds": init_seconds}))
    with tqdm(total=train.epochs * n_batches, desc=f"{init} (seed {seed})", file=sys.stderr, leave=False,
              disable=None if progress else True, mininterval=0.5) as bar:
        history = fit(model, dataset, train, on_batch=bar.update, checkpoint=save, resume=resume)
    records = history.to_dicts()
    last = records[-1]
    run = {
        "init": init,
        "seed": seed,
        "test_accuracy": last["test_accuracy"],
        "final_train_loss": last["train_loss"],
        "first_epoch_loss": records[0]["train_loss"],
        "seconds_per_epoch": statistics.fmean(r["seconds"] for r in records),
        "init_seconds": init_seconds,
        "diverged": history.diverged,
        "diverged_at": history.diverged_at,
        "history": records,
    }
    if checkpoint is not None and distributed.rank() == 0:  # data parallel (fewer runs than ranks): one writes
        checkpoint.finish({"run": run}, {"model": model.state_dict()})
    return run


def summarize(runs: list[dict]) -> list[dict]:
    """One row per init, mean (and std over seeds) of each measure, best accuracy first."""
    rows = []
    for init in dict.fromkeys(run["init"] for run in runs):
        mine = [run for run in runs if run["init"] == init]
        accuracy = [run["test_accuracy"] for run in mine]
        rows.append({
            "init": init,
            "runs": len(mine),
            "test_accuracy": statistics.fmean(accuracy),
            "test_accuracy_std": statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0,
            "first_epoch_loss": statistics.fmean(run["first_epoch_loss"] for run in mine),
            "final_train_loss": statistics.fmean(run["final_train_loss"] for run in mine),
            "seconds_per_epoch": statistics.fmean(run["seconds_per_epoch"] for run in mine),
            "diverged": sum(run["diverged"] for run in mine),
        })
    return sorted(rows, key=_rank)


def _rank(row: dict) -> tuple[bool, float]:
    """Rows with a diverged run (or a NaN accuracy) last; the rest by accuracy, best first."""
    accuracy = row["test_accuracy"]
    failed = row["diverged"] > 0 or math.isnan(accuracy)
    return failed, 0.0 if math.isnan(accuracy) else -accuracy


def compare(dataset: Dataset, config: CompareConfig | None = None, *, progress: bool = False, on_init=None,
            checkpoint_dir: str | os.PathLike | None = None) -> dict:
    """Train ``config.arch`` from each init in ``config.inits`` (``config.seeds`` times) on
    ``dataset`` and return the results (the ``results.json`` schema).

    A diverged run (NaN/inf or exploding loss) is recorded as such; the others carry on.
    ``on_init(init, seed, model)`` is called with each freshly initialized model (epoch 0).
    With ``checkpoint_dir``, each run checkpoints every epoch into ``<init>-seed<seed>/``
    there and keeps its result and final weights; calling again with the same folder (and
    config) skips the finished runs and continues the unfinished one exactly. Under
    torchrun each process trains every N-th run and all of them return all the results.
    """
    config = config or CompareConfig()
    sizes = parse_arch(config.arch, dataset.n_features, dataset.n_classes)
    plan = [(init, config.train.seed + k) for init in config.inits for k in range(config.seeds)]
    # under torchrun the runs are independent: rank r trains runs r, r + N, ...
    runs = distributed.share_runs(plan, lambda run: _run(dataset, sizes, config, *run, progress, on_init,
                                                         _checkpoint(checkpoint_dir, f"{run[0]}-seed{run[1]}")))
    return {
        "experiment": "compare",
        "dataset": dataset.name,
        "source": dataset.source,
        "arch": "-".join(map(str, sizes)),
        "activation": config.activation,
        "config": {
            "inits": list(config.inits),
            "seeds": config.seeds,
            "nonlinearity": config.nonlinearity,
            "pretrain_epochs": config.pretrain_epochs,
            **asdict(config.train),
        },
        "versions": {"weightinit": __version__, "torch": torch.__version__},
        "summary": summarize(runs),
        "runs": runs,
    }


def standardize(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Scale every feature to mean 0, std 1 with the training set's statistics (constant
    features stay 0): the input a Gaussian-visible RBM with unit variances expects."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return tuple((x - mean) / std for x in (train, *others))


def rbm_experiment(
    dataset: Dataset,
    *,
    hidden: int = 500,
    visible: str = "bernoulli",
    config: RBMConfig | None = None,
    ais_chains: int = 100,
    ais_steps: int = 14_500,
    n_samples: int = 100,
    sample_steps: int = 1000,
    progress: bool = False,
    on_epoch=None,
    checkpoint: Checkpoint | None = None,
) -> tuple[RBM, dict, torch.Tensor]:
    """Train an RBM on ``dataset.train``, then measure it on ``dataset.test``: reconstruction
    error, pseudo-likelihood (Bernoulli), AIS log Z and the average test log-likelihood.
    With a ``checkpoint``, training saves its state every epoch and continues from it.

    Returns the RBM, the results (the ``results.json`` schema) and ``n_samples`` Gibbs
    samples (mean-field visible units after ``sample_steps`` steps from random test images).
    """
    config = config or RBMConfig()
    train_x, test_x = dataset.train.x, dataset.test.x
    if visible == "gaussian":
        train_x, test_x = standardize(train_x, test_x)
    rbm = RBM(dataset.n_features, hidden, visible)
    n_batches = math.ceil(len(train_x) / config.batch_size)
    with tqdm(total=config.epochs * n_batches, desc=f"RBM {dataset.n_features}-{hidden}", file=sys.stderr,
              leave=False, disable=None if progress else True, mininterval=0.5) as bar:
        history = train_rbm(rbm, train_x, config, monitor=test_x, on_batch=bar.update, on_epoch=on_epoch,
                            checkpoint=None if checkpoint is None else checkpoint.save,
                            resume=None if checkpoint is None else checkpoint.load())
    device = rbm.W.device
    test_x = test_x.to(device)
    generator = torch.Generator(device=device).manual_seed(config.seed + 2)
    start = time.perf_counter()
    ais = ais_log_partition(rbm, data=train_x, n_chains=ais_chains, n_steps=ais_steps, generator=generator)
    ais_seconds = time.perf_counter() - start
    pseudo = rbm.pseudo_likelihood(test_x, generator=generator).mean().item() if visible == "bernoulli" else None
    chains = test_x[torch.randperm(len(test_x), generator=torch.Generator().manual_seed(config.seed))[:n_samples]]
    samples = rbm.prob_v(rbm.sample_h(rbm.gibbs(chains, sample_steps, generator), generator))
    results = {
        "experiment": "rbm",
        "dataset": dataset.name,
        "source": dataset.source,
        "model": {"n_visible": rbm.n_visible, "n_hidden": hidden, "visible": visible},
        "config": asdict(config),
        "history": history.to_dicts(),
        "test": {
            "reconstruction_error": rbm.reconstruction_error(test_x),
            "pseudo_likelihood": pseudo,
            "log_likelihood": average_log_likelihood(rbm, test_x, ais.log_z),
            "ais": asdict(ais),
        },
        "seconds": {"train": sum(e.seconds for e in history.epochs), "ais": ais_seconds},
        "versions": {"weightinit": __version__, "torch": torch.__version__},
    }
    return rbm, results, samples.cpu()


# Published MNIST test errors for the 784-500-500-2000 network, for the hinton2006 table.
HINTON2006_REFERENCES = {
    "Hinton, Osindero & Teh 2006 (DBN, up-down fine-tuning)": 1.25,
    "Hinton & Salakhutdinov 2006 (DBN + back-prop fine-tuning)": 1.2,
    "deeplearning.net tutorial DBN": 1.34,
    "plain back-prop of that era": 1.6,
}


def split_validation(dataset: Dataset, n_valid: int = 10_000) -> tuple[Dataset, Split]:
    """Carve the last ``n_valid`` training samples off as a validation set; the returned
    Dataset's ``test`` *is* that validation set, so that training code never sees the test set."""
    if not 0 < n_valid < len(dataset.train):
        raise ValueError(f"n_valid must be in [1, {len(dataset.train) - 1}], got {n_valid}")
    train = Split(dataset.train.x[:-n_valid], dataset.train.y[:-n_valid])
    valid = Split(dataset.train.x[-n_valid:], dataset.train.y[-n_valid:])
    return Dataset(dataset.name, train, valid, dataset.image_shape, dataset.n_classes, dataset.source), dataset.test


def finetune(model: torch.nn.Module, dataset: Dataset, config: TrainConfig, *, n_valid: int, name: str,
             refit: bool = False, progress: bool = False, checkpoint: Checkpoint | None = None) -> dict:
    """Train on the training set less ``n_valid`` samples and choose the epoch with the best
    validation accuracy; then evaluate once on the test set: that epoch's weights, or with
    ``refit`` a network trained again from ``model``'s initial weights on the *whole*
    training set (validation images included) for that many epochs, the usual last step once
    validation has chosen the settings. With a ``checkpoint``, a finished fine-tuning is read
    back (history and weights) and an unfinished one continues from its last epoch (the refit
    in ``<checkpoint>/refit``)."""
    tuning, test = split_validation(dataset, n_valid)
    initial = {key: value.detach().clone() for key, value in model.state_dict().items()} if refit else None
    history = _fit_with_progress(model, tuning, config, checkpoint, name, progress, keep_best=True)
    best = history.epochs[history.best_epoch - 1] if history.best_epoch else None
    refit_history = None
    if refit and best is not None:
        model.load_state_dict(initial)
        # the "test" split fit reports on is the validation one again, now part of the training data
        everything = replace(dataset, test=tuning.test)
        refit_history = _fit_with_progress(model, everything, replace(config, epochs=history.best_epoch),
                                           None if checkpoint is None else Checkpoint(checkpoint.folder / "refit"),
                                           f"{name}, refit", progress)
    device = next(model.parameters()).device
    test_loss, test_accuracy = evaluate(model, Split(test.x.to(device), test.y.to(device)))
    refit_seconds = 0.0 if refit_history is None else sum(r.seconds for r in refit_history.epochs)
    result = {
        "name": name,
        "best_epoch": history.best_epoch,
        "valid_accuracy": best.test_accuracy if best else float("nan"),
        "refit": refit_history is not None,
        "test_accuracy": test_accuracy,
        "test_error_percent": 100 * (1 - test_accuracy),
        "test_loss": test_loss,
        "diverged": history.diverged or (refit_history is not None and refit_history.diverged),
        "seconds": sum(r.seconds for r in history.epochs) + refit_seconds,  # training time, both phases
        "refit_seconds": refit_seconds,
        "history": [{"epoch": r["epoch"], "train_loss": r["train_loss"], "valid_loss": r["test_loss"],
                     "valid_accuracy": r["test_accuracy"], "seconds": r["seconds"]} for r in history.to_dicts()],
    }
    if refit_history is not None:
        result["refit_history"] = [{"epoch": r.epoch, "train_loss": r.train_loss, "seconds": r.seconds}
                                   for r in refit_history.epochs]
    return result


def _fit_with_progress(model: torch.nn.Module, dataset: Dataset, config: TrainConfig, checkpoint: Checkpoint | None,
                       name: str, progress: bool, keep_best: bool = False) -> History:
    """fit_resumable with a progress bar (on stderr, when ``progress``)."""
    n_batches = math.ceil(len(dataset.train) / config.batch_size)
    with tqdm(total=config.epochs * n_batches, desc=name, file=sys.stderr, leave=False,
              disable=None if progress else True, mininterval=0.5) as bar:
        return fit_resumable(model, dataset, config, checkpoint, on_batch=bar.update, keep_best=keep_best)


def dbn_experiment(
    dataset: Dataset,
    *,
    layers: Sequence[int],
    pretrain: RBMConfig,
    train: TrainConfig,
    n_valid: int = 10_000,
    controls: Sequence[tuple[str, str, str]] = (),
    control_train: TrainConfig | None = None,
    checkpoint_dir: str | None = None,
    dropout: float = 0.0,
    input_dropout: float = 0.0,
    refit: bool = False,
    progress: bool = False,
    on_layer=None,
) -> tuple[DBN, torch.nn.Module, dict]:
    """The lecture's pipeline: greedy RBM pre-training of ``layers``, a sigmoid network
    initialized from it and fine-tuned by back-propagation; and, as controls, the same network
    from random initializations ``(name, scheme, activation)``. Model choice uses a validation
    split carved from the training set; the test set is evaluated once per network. The
    controls train with ``control_train`` (default: ``train``), so that each network can get
    settings that suit it (SGD at a high rate suits the pre-trained sigmoid net, not a ReLU one).
    With ``refit`` each network is trained again on the whole training set for the epochs
    validation chose, before its one test evaluation (see :func:`finetune`).

    With ``checkpoint_dir``, every pre-trained layer, every epoch and every finished
    fine-tuning (``finetune-<k>/``) is checkpointed there, and a second call continues.
    """
    layers = list(layers)
    if layers[0] != dataset.n_features:
        raise ValueError(f"layers start with {layers[0]} units but the data has {dataset.n_features} features")
    tuning, _ = split_validation(dataset, n_valid)
    dbn = DBN(layers)
    start = time.perf_counter()
    n_batches = math.ceil(len(tuning.train) / pretrain.batch_size) * pretrain.epochs * (len(layers) - 1)
    with tqdm(total=n_batches, desc="pre-training", file=sys.stderr, leave=False,
              disable=None if progress else True, mininterval=0.5) as bar:
        dbn.pretrain(tuning.train.x, pretrain, checkpoint_dir=checkpoint_dir, on_layer=on_layer, on_batch=bar.update)
    pretrain_seconds = time.perf_counter() - start
    model = dbn.to_mlp(dataset.n_classes, "sigmoid", torch.Generator().manual_seed(train.seed), dropout=dropout,
                       input_dropout=input_dropout)

    def run(k: int) -> dict:
        if k == 0:
            return finetune(model, dataset, train, n_valid=n_valid, name="DBN pre-training + fine-tuning (sigmoid)",
                            refit=refit, progress=progress, checkpoint=_checkpoint(checkpoint_dir, "finetune-0"))
        name, scheme, activation = controls[k - 1]
        control = mlp([*layers, dataset.n_classes], activation, dropout=dropout)
        if input_dropout:
            control.insert(0, torch.nn.Dropout(input_dropout))
        init_model(control, scheme, generator=torch.Generator().manual_seed(train.seed))
        return finetune(control, dataset, control_train or train, n_valid=n_valid, name=name, refit=refit,
                        progress=progress, checkpoint=_checkpoint(checkpoint_dir, f"finetune-{k}"))

    # the fine-tunings are independent: under torchrun they are shared among the processes (the
    # DBN's on rank 0, which writes it), or each is data parallel when they are fewer than the processes
    runs = distributed.share_runs(range(len(controls) + 1), run)
    results = {
        "experiment": "dbn",
        "dataset": dataset.name,
        "source": dataset.source,
        "arch": "-".join(map(str, [*layers, dataset.n_classes])),
        "config": {"pretrain": asdict(pretrain), "finetune": asdict(train),
                   "controls": asdict(control_train or train), "n_valid": n_valid, "dropout": dropout,
                   "input_dropout": input_dropout, "refit": refit},
        "seconds": {"pretrain": pretrain_seconds, "finetune": runs[0]["seconds"], "refit": runs[0]["refit_seconds"],
                    "controls": sum(r["seconds"] for r in runs[1:])},
        "runs": runs,
        "versions": {"weightinit": __version__, "torch": torch.__version__},
    }
    return dbn, model, results


def _checkpoint(folder: str | os.PathLike | None, key: str) -> Checkpoint | None:
    return None if folder is None else Checkpoint(Path(folder) / key)


def _layer_summary(report) -> dict:
    layers = report.layers[:-1]  # hidden layers only
    return {
        "post_std": [s.post_std for s in layers],
        "grad_std": [s.grad_std for s in layers],
        "saturated": [s.saturated for s in layers],
        "top_over_bottom_post_std": layers[-1].post_std / layers[0].post_std,
        "top_over_bottom_grad_std": layers[-1].grad_std / layers[0].grad_std,
    }


def glorot2010(dataset: Dataset, *, hidden: Sequence[int] = (1000,) * 5, epochs: int = 5,
               activations: Sequence[str] = ("tanh", "sigmoid", "softsign"), seed: int = 0,
               device: str = "auto", checkpoint_dir: str | os.PathLike | None = None) -> tuple[dict, dict]:
    """Glorot & Bengio (2010): deep nets of ``hidden`` units with tanh / sigmoid / softsign,
    "standard" init U[-1/sqrt(n), 1/sqrt(n)] against normalized init (Xavier, gain 1);
    per-layer activation and gradient std at init and after one epoch, and test error after
    ``epochs`` epochs of SGD (lr 0.1, batch 100; the paper tuned lr and used batch 10). Returns the results and
    the diagnose reports at initialization (for the figure). With ``checkpoint_dir`` every
    training epoch is checkpointed there and a second call continues."""
    from .diagnostics import diagnose

    inits = {"standard": ("default", "zeros"), "normalized": ("xavier_uniform", "zeros")}
    sizes = [dataset.n_features, *hidden, dataset.n_classes]
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(seed))[:256]
    probe = (dataset.train.x[rows], dataset.train.y[rows])

    def run(item: tuple[str, str]) -> tuple[dict, object]:
        activation, label = item
        scheme, bias = inits[label]
        model = mlp(sizes, activation)
        init_model(model, scheme, nonlinearity="linear", bias=bias, generator=torch.Generator().manual_seed(seed))
        at_init = diagnose(model, probe)
        config = TrainConfig(optimizer="sgd", lr=0.1, epochs=1, seed=seed, device=device)
        key = f"{activation}-{label}"
        first = fit_resumable(model, dataset, config, _checkpoint(checkpoint_dir, f"{key}-epoch-1"))
        after_one = diagnose(model.cpu(), probe)
        rest = fit_resumable(model, dataset, replace(config, epochs=max(epochs - 1, 1), seed=seed + 1),
                             _checkpoint(checkpoint_dir, f"{key}-rest")) if epochs > 1 else first
        return {
            "activation": activation, "init": label,
            "at_init": _layer_summary(at_init), "after_1_epoch": _layer_summary(after_one),
            "test_error_percent": 100 * (1 - rest.epochs[-1].test_accuracy),
            "history": first.to_dicts() + (rest.to_dicts() if rest is not first else []),
            "diverged": first.diverged or rest.diverged,
        }, at_init

    # six independent runs: under torchrun they are shared among the processes
    done = distributed.share_runs([(a, label) for a in activations for label in inits], run)
    runs = [r for r, _ in done]
    reports = {f"{r['activation']} {r['init']}": report for r, report in done}
    by = {(r["activation"], r["init"]): r for r in runs}
    findings = []
    if "sigmoid" in activations:
        top = by[("sigmoid", "standard")]["after_1_epoch"]["saturated"][-1]
        findings.append(f"Paper: with sigmoid the top hidden layer saturates (at 0) early in training. Here, after "
                        f"one epoch from the standard init, {100 * top:.0f}% of the top hidden layer's outputs are "
                        "within 0.05 of 0 or 1.")
    for activation in activations:
        s, n = (by[(activation, k)]["at_init"]["top_over_bottom_grad_std"] for k in ("standard", "normalized"))
        findings.append(f"Paper: normalized init keeps the back-propagated gradient std about constant across "
                        f"layers. Here ({activation}, at init), top/bottom gradient std: standard {s:.2f}, "
                        f"normalized {n:.2f}.")
    results = {"experiment": "glorot2010", "dataset": dataset.name, "arch": "-".join(map(str, sizes)),
               "epochs": epochs, "runs": runs, "findings": findings,
               "references": {"Glorot & Bengio 2010, MNIST test error": {"softsign": 1.64, "softsign N": 1.72,
                                                                          "tanh": 1.76, "tanh N": 1.64, "sigmoid": 2.21}},
               "versions": {"weightinit": __version__, "torch": torch.__version__}}
    return results, reports


def he2015(dataset: Dataset, *, depths: Sequence[int] = (22, 30), width: int = 256, epochs: int = 5,
           seed: int = 0, device: str = "auto", checkpoint_dir: str | os.PathLike | None = None) -> dict:
    """He et al. (2015, fig. 3): plain ReLU networks of ``depths`` layers, Xavier (gain 1)
    against He init, SGD lr 0.01 with momentum 0.9: training loss per epoch. The paper: at
    30 layers Xavier stalls while He converges. With ``checkpoint_dir`` every epoch is
    checkpointed there and a second call continues."""

    def run(item: tuple[int, str, str]) -> dict:
        depth, label, scheme = item
        sizes = [dataset.n_features, *([width] * (depth - 1)), dataset.n_classes]
        model = mlp(sizes, "relu")
        init_model(model, scheme, generator=torch.Generator().manual_seed(seed),
                   nonlinearity="linear" if scheme == "xavier_normal" else "auto")
        history = fit_resumable(model, dataset, TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9, epochs=epochs,
                                                            seed=seed, device=device),
                                _checkpoint(checkpoint_dir, f"{label}-depth-{depth}"))
        losses = [r.train_loss for r in history.epochs]
        return {"init": f"{label} depth {depth}", "depth": depth, "scheme": scheme,
                "history": history.to_dicts(), "final_train_loss": losses[-1],
                "test_accuracy": history.epochs[-1].test_accuracy, "diverged": history.diverged,
                # converged: the final training loss is below half of chance level's ln(n_classes)
                "converged": losses[-1] < 0.5 * math.log(dataset.n_classes)}

    runs = distributed.share_runs([(depth, label, scheme) for depth in depths
                                   for label, scheme in (("xavier", "xavier_normal"), ("he", "he_normal"))], run)
    deepest = max(depths)
    last = {r["scheme"]: r for r in runs if r["depth"] == deepest}
    xavier, he = last["xavier_normal"], last["he_normal"]
    holds = not xavier["converged"] and he["converged"]

    def describe(run: dict) -> str:
        first, final = run["history"][0]["train_loss"], run["final_train_loss"]
        return (f"{'converges' if run['converged'] else 'does not converge'} (train loss {first:.3f} after epoch 1, "
                f"{final:.3f} after {len(run['history'])}; test accuracy {100 * run['test_accuracy']:.1f}%)")

    finding = (f"Paper: at 30 layers Xavier stalls while He converges. Here at {deepest} layers, Xavier "
               f"{describe(xavier)} and He {describe(he)}; converged means a final loss below half of "
               f"ln({dataset.n_classes}). The finding {'holds' if holds else 'does not hold'} in this run.")
    return {"experiment": "he2015", "dataset": dataset.name, "width": width, "depths": list(depths), "epochs": epochs,
            "runs": runs, "findings": [finding],
            "versions": {"weightinit": __version__, "torch": torch.__version__}}
