"""A module's own recipe: what the ``default`` scheme means for a module that defines one.

* A module no rule covers by type, with its own ``reset_parameters()``: that method
  (:class:`OwnReset`).
* A transformers ``PreTrainedModel`` (found by duck typing,
  :func:`weightinit.modelinit.structure.is_pretrained_model`; transformers is never imported):
  its own ``_init_weights``, run over the whole model the way transformers runs it
  (:class:`TransformersRecipe`): every ``_is_hf_initialized`` flag cleared (a model carries
  them from its construction, and ``init_weights()`` skips what carries one), then
  ``model.init_weights()``, which initializes every module children first, each by
  ``_init_weights``, recomputes buffers such as rotary ``inv_freq`` and BERT's
  ``position_ids`` from the config (never drawn at random) and ties the tied weights again.
  Parameters to leave alone (``init_model(..., only=...)``) are flagged ``_is_hf_initialized``
  for the call, as ``from_pretrained`` flags what it loaded; a module whose own tensors are all
  left alone is flagged too, so its ``_init_weights`` does not run at all.

Both run with the global RNG forked and seeded from the generator (:func:`seeded`): their
code draws from the global RNG, and the caller's stays as it was. The draws then differ
from transformers' own order; the distributions are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field

import torch
from torch import nn

__all__ = ["seeded", "OwnReset", "TransformersRecipe"]

_FLAG = "_is_hf_initialized"


@contextmanager
def seeded(generator: torch.Generator | None, tensors: Iterable[torch.Tensor]) -> Iterator[None]:
    """Run the block with the global RNG (CPU, and the CUDA devices of ``tensors``) forked and
    seeded by one draw from ``generator``; with no generator, on the global RNG itself, as the
    module's own code would."""
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    devices = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)  # not torch.manual_seed: it reseeds every CUDA device, forked or not
        for device in devices:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


@dataclass(eq=False)
class OwnReset:
    """``module.reset_parameters()``; only the parameters in ``targets`` (ids) may change: the
    others in its subtree (and, when ``keep_buffers``, its buffers) are put back after it."""

    module: nn.Module
    _: KW_ONLY
    targets: set[int] = field(default_factory=set)
    keep_buffers: bool = False

    def run(self, generator: torch.Generator | None) -> None:
        with torch.no_grad():
            saved = [(p, p.detach().clone()) for p in self.module.parameters() if id(p) not in self.targets]
            if self.keep_buffers:
                saved += [(b, b.clone()) for b in self.module.buffers()]
            with seeded(generator, self.module.parameters()):
                self.module.reset_parameters()
            for tensor, value in saved:
                tensor.copy_(value)


@dataclass(eq=False)
class TransformersRecipe:
    """A transformers model's own ``_init_weights``, through ``init_weights()``; only the
    parameters in ``targets`` (ids) and the buffers outside its state dict (recomputed from the
    config) may change when ``keep_buffers``."""

    model: nn.Module
    _: KW_ONLY
    targets: set[int] = field(default_factory=set)
    keep_buffers: bool = False

    def _kept(self) -> set[int]:
        kept = {id(p) for p in self.model.parameters() if id(p) not in self.targets}
        if self.keep_buffers:  # the persistent buffers (in its state dict); not inv_freq, position_ids
            persistent = set(self.model.state_dict(keep_vars=True))
            kept |= {id(b) for name, b in self.model.named_buffers() if name in persistent}
        return kept

    def run(self, generator: torch.Generator | None) -> None:
        model = self.model
        tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
        for item in [*model.modules(), *tensors.values()]:
            if hasattr(item, _FLAG):
                delattr(item, _FLAG)
        kept = self._kept()
        flagged = [tensors[i] for i in kept]
        for tensor in flagged:
            setattr(tensor, _FLAG, True)
        for module in model.modules():  # a module whose own tensors are all kept is not visited
            own = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
            if own and all(id(t) in kept for t in own):
                setattr(module, _FLAG, True)
        try:
            with seeded(generator, model.parameters()):
                model.init_weights()
        finally:
            for tensor in flagged:
                if hasattr(tensor, _FLAG):
                    delattr(tensor, _FLAG)
