"""``weightinit.load(path)``: a weights file a run wrote, back as the object a user needs.

=================  ====================================================================
file               ``load`` returns
=================  ====================================================================
``classifier.pt``  the fine-tuned network, an ``nn.Sequential`` (``dbn``, ``reproduce
                   hinton2006``)
``weights.pt``     a finished run's network (``checkpoints/<run>/weights.pt``)
``rbm.pt``         a :class:`~weightinit.boltzmann.RBM` (``rbm``)
``dbn.pt``         a :class:`~weightinit.boltzmann.DBN` (``dbn``, ``reproduce hinton2006``)
=================  ====================================================================

The file's sha256 is checked against the ``.sha256`` written beside it (when it is there)
and the file is unpickled with ``weights_only=True``: a corrupted file is refused with its
name, a crafted one runs nothing. Networks come back in eval mode (dropout off), on the CPU.

The format (:data:`weightinit.runs.files.WEIGHTS_FORMAT`) is a plain dict, so
``torch.load(path, weights_only=True)`` reads it too::

    {"format": "weightinit.weights/1", "kind": "mlp" | "model" | "rbm" | "dbn",
     "state_dict": {...}, ...the values that rebuild the module (sizes, activation, ...)}

Files of earlier versions (``{"state_dict": ..., "n_visible": ...}``, ``{"model": ...}``) are
read too, as far as they say what to rebuild.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from .boltzmann.dbn import DBN
from .boltzmann.rbm import RBM
from .errors import CorruptFileError
from .models.builders import build_model, mlp
from .runs.files import WEIGHTS_FORMAT, read_weights

__all__ = ["load"]


def load(path: str | os.PathLike, *, sha256: str | None = None) -> nn.Module:
    """Load a weights file written by a weightinit run and return the module it holds.

    Args:
        path: ``classifier.pt``, ``weights.pt``, ``rbm.pt`` or ``dbn.pt`` of a run folder.
        sha256: the expected hash (default: the ``<path>.sha256`` beside the file, if any).

    Returns:
        An ``nn.Module`` in eval mode: the network (an ``nn.Sequential`` MLP, or the model
        ``compare --model`` trained), an :class:`~weightinit.boltzmann.RBM` or a
        :class:`~weightinit.boltzmann.DBN`.

    Raises:
        CorruptFileError: the file is missing, fails its sha256, cannot be loaded safely, or
            does not say what it holds.

    Examples:
        >>> net = weightinit.load("runs/20250101-120000-dbn/classifier.pt")  # doctest: +SKIP
        >>> net(torch.rand(5, 784)).argmax(1)  # doctest: +SKIP
    """
    path = Path(path)
    record = read_weights(path, sha256=sha256)
    try:
        module = _build(record, path)
        module.load_state_dict(record["state_dict"])
    except CorruptFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise CorruptFileError(f"{path}: its contents do not rebuild a {record.get('kind', 'module')} "
                               f"({type(error).__name__}: {reason})") from None
    return module.eval()


def _build(record: dict, path: Path) -> nn.Module:
    """The empty module a record's ``state_dict`` fits."""
    if "format" in record and record["format"] != WEIGHTS_FORMAT:
        raise CorruptFileError(f"{path}: format {record['format']!r} is not one this weightinit reads "
                               f"({WEIGHTS_FORMAT!r}); load it with the version that wrote it")
    kind = record.get("kind") or _legacy_kind(record, path)
    if kind == "rbm":
        return RBM(record["n_visible"], record["n_hidden"], record.get("visible", "bernoulli"))
    if kind == "dbn":
        return DBN(record["layer_sizes"], record.get("visible", "bernoulli"))
    if kind == "mlp":
        return _mlp(record["sizes"], record["activation"], record.get("dropout", 0.0),
                    record.get("input_dropout", 0.0))
    if kind == "model":
        return build_model(record["model"], record["sizes"], record["activation"], tuple(record["image_shape"]),
                           record["n_classes"])
    raise CorruptFileError(f"{path}: kind {kind!r} is not one of 'mlp', 'model', 'rbm', 'dbn'")


def _mlp(sizes: list[int], activation: str, dropout: float, input_dropout: float) -> nn.Sequential:
    net = mlp(list(sizes), activation, dropout=dropout)
    if input_dropout:
        net.insert(0, nn.Dropout(input_dropout))
    return net


def _legacy_kind(record: dict, path: Path) -> str:
    """What a file written before the format was versioned holds, from its keys (and, for a
    compare run's ``weights.pt``, the run's ``settings.json``); the record is completed."""
    if "n_visible" in record and "n_hidden" in record:
        return "rbm"
    if "layer_sizes" in record:
        return "dbn"
    if "arch" in record and "state_dict" in record:  # dbn's classifier.pt: a sigmoid MLP, dropout from results.json
        config = _json_beside(path, "results.json").get("config", {})
        record.update(sizes=[int(n) for n in str(record["arch"]).split("-")], activation="sigmoid",
                      dropout=config.get("dropout", 0.0), input_dropout=config.get("input_dropout", 0.0))
        return "mlp"
    if "model" in record and isinstance(record["model"], dict):  # compare: checkpoints/<run>/weights.pt
        record["state_dict"] = record["model"]
        settings = _json_beside(path, "../../settings.json")
        if settings.get("model", "mlp") == "mlp":
            record["sizes"] = _linear_sizes(record["state_dict"], path)
            record["activation"] = settings.get("activation", "relu")
            return "mlp"
    raise CorruptFileError(f"{path}: written by an earlier weightinit without what rebuilds its module; "
                           "torch.load(path, weights_only=True) it and load_state_dict() into the module yourself")


def _json_beside(path: Path, name: str) -> dict:
    """A JSON file of the run folder that holds ``path`` (``name`` relative to its folder)."""
    other = path.parent / name
    try:
        return json.loads(other.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise CorruptFileError(f"{path}: an earlier weightinit wrote it without its network's description, and "
                               f"{other.resolve()} (which has it) cannot be read") from None


def _linear_sizes(state_dict: dict, path: Path) -> list[int]:
    """The layer sizes of an ``mlp`` from its Linear weights ``<i>.weight`` in order."""
    weights = sorted((int(key.split(".")[0]), value) for key, value in state_dict.items()
                     if key.endswith(".weight") and key.split(".")[0].isdigit())
    if not weights or any(not isinstance(w, torch.Tensor) or w.dim() != 2 for _, w in weights):
        raise CorruptFileError(f"{path}: not the weights of an MLP")
    return [weights[0][1].shape[1], *(w.shape[0] for _, w in weights)]
