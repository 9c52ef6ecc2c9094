"""Model builders from a spec string: ``mlp("784-256-256-10", activation="relu")``.

The models ``compare`` trains (:data:`MODELS`): ``mlp``, ``lstm`` and ``transformer`` read images;
``gpt`` (:mod:`weightinit.models.gpt`) reads text.

Named architectures take their input and output sizes from the data:

========  =========================================================================
name      layers
========  =========================================================================
lecture   in-256-256-out: the lecture's MNIST network (784-256-256-10)
deep      in-512-512-512-512-out, all five layers wired (the course's "deep" model
          declared five layers but its Sequential used three of them)
========  =========================================================================
"""

from __future__ import annotations

from torch import nn

from .._checks import check_choice, check_number
from ..errors import UserError
from ..modelinit.activations import ACTIVATIONS
from .gpt import GPT

__all__ = ["NAMED_ARCHS", "MODELS", "parse_arch", "mlp", "RowLSTM", "PatchTransformer", "build_model",
           "describe_model"]


NAMED_ARCHS: dict[str, tuple[int, ...]] = {"lecture": (256, 256), "deep": (512, 512, 512, 512)}


def parse_arch(spec: str, n_inputs: int | None = None, n_outputs: int | None = None) -> list[int]:
    """Turn ``"784-256-256-10"`` (or a name in :data:`NAMED_ARCHS`) into layer sizes.

    With ``n_inputs``/``n_outputs`` given, an explicit spec must match them and a named one
    takes them as its ends.
    """
    if not isinstance(spec, str):
        raise TypeError(f"arch must be a string such as '784-256-256-10', got {type(spec).__name__}")
    if spec in NAMED_ARCHS:
        if n_inputs is None or n_outputs is None:
            raise UserError(f"arch={spec!r} takes its input and output sizes from the data; "
                            "give n_inputs and n_outputs")
        return [n_inputs, *NAMED_ARCHS[spec], n_outputs]
    parts = spec.split("-")
    if len(parts) < 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(
            f"arch={spec!r} is not a layer spec; use sizes joined by '-' such as '784-256-256-10', "
            f"or one of {list(NAMED_ARCHS)}"
        )
    sizes = [int(p) for p in parts]
    if n_inputs is not None and sizes[0] != n_inputs:
        raise UserError(f"arch={spec!r} starts with {sizes[0]} inputs but the data has {n_inputs} features")
    if n_outputs is not None and sizes[-1] != n_outputs:
        raise UserError(f"arch={spec!r} ends with {sizes[-1]} outputs but the data has {n_outputs} classes")
    return sizes


def mlp(arch: str | list[int], activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """A multi-layer perceptron: Linear, activation (and Dropout) per hidden layer, a Linear
    output layer producing logits. Initialization is left to :func:`weightinit.init_model`.

    Examples:
        >>> mlp("784-256-256-10")
        Sequential(
          (0): Linear(in_features=784, out_features=256, bias=True)
          (1): ReLU()
          (2): Linear(in_features=256, out_features=256, bias=True)
          (3): ReLU()
          (4): Linear(in_features=256, out_features=10, bias=True)
        )
    """
    sizes = parse_arch(arch) if isinstance(arch, str) else list(arch)
    check_choice("activation", activation, ACTIVATIONS)
    dropout = check_number("dropout", dropout, minimum=0)
    if dropout >= 1:
        raise UserError(f"dropout must be in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class RowLSTM(nn.Module):
    """An image read row by row by an LSTM ("sequential MNIST" by rows: 28 steps of 28
    pixels), its last hidden state classified by a Linear layer."""

    def __init__(self, image_shape: tuple[int, int], n_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.rows, self.columns = image_shape
        self.lstm = nn.LSTM(self.columns, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x):  # (B, rows·columns)
        out, _ = self.lstm(x.view(-1, self.rows, self.columns))  # (B, rows, hidden)
        return self.head(out[:, -1])


class PatchTransformer(nn.Module):
    """A small Vision Transformer (Dosovitskiy et al. 2021): the image cut into a 4×4 grid of
    patches, each embedded by a Linear layer plus a learned position embedding, a pre-norm
    Transformer encoder with GELU, mean pooling, a LayerNorm and a Linear head."""

    def __init__(self, image_shape: tuple[int, int], n_classes: int, dim: int = 64, depth: int = 2,
                 heads: int = 4) -> None:
        super().__init__()
        height, width = image_shape
        if height % 4 or width % 4:
            raise UserError(f"the transformer cuts images into a 4x4 grid of patches; {height}x{width} does not divide")
        self.patch = (height // 4, width // 4)
        self.embed = nn.Linear(self.patch[0] * self.patch[1], dim)
        self.position = nn.Embedding(16, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x):  # (B, height·width)
        ph, pw = self.patch
        patches = x.view(-1, 4, ph, 4, pw).permute(0, 1, 3, 2, 4).reshape(-1, 16, ph * pw)  # (B, 16, ph·pw)
        tokens = self.embed(patches) + self.position.weight  # (B, 16, dim)
        return self.head(self.norm(self.encoder(tokens).mean(1)))


MODELS = ("mlp", "lstm", "transformer", "gpt")


def build_model(kind: str, sizes: list[int], activation: str, image_shape: tuple[int, ...],
                n_classes: int) -> nn.Module:
    """The network ``compare`` trains: an MLP of ``sizes`` with ``activation``, a
    :class:`RowLSTM` or a :class:`PatchTransformer` of the images, or a character-level
    :class:`~weightinit.models.gpt.GPT` whose ``sizes`` are ``[layers, width, heads, context]``
    and whose vocabulary is ``n_classes`` (``activation`` and ``image_shape`` unused)."""
    check_choice("model", kind, MODELS)
    if kind == "mlp":
        return mlp(sizes, activation)
    if kind == "gpt":
        if len(sizes) != 4:
            raise UserError(f"model='gpt' takes sizes [layers, width, heads, context], got {list(sizes)}")
        return GPT(n_classes, *sizes)
    if len(image_shape) != 2:
        raise UserError(f"model={kind!r} reads images; this data has feature shape {image_shape}")
    return RowLSTM(image_shape, n_classes) if kind == "lstm" else PatchTransformer(image_shape, n_classes)


def describe_model(kind: str, sizes: list[int], image_shape: tuple[int, ...]) -> str:
    """One line saying what :func:`build_model` builds."""
    if kind == "mlp":
        return "-".join(map(str, sizes))
    if kind == "lstm":
        return f"LSTM over {image_shape[0]} rows of {image_shape[-1]} pixels, 128 units"
    if kind == "gpt":
        layers, width, heads, context = sizes
        return f"GPT: {layers} layers, width {width}, {heads} heads, context {context}"
    return "ViT: 16 patches, dim 64, 2 pre-norm layers, GELU"
