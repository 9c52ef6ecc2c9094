"""R runs of one MLP as one stacked model: their parameters stacked along a leading run
dimension, the forward pass over all of them at once, and each run's slice of the parameters and
of the optimizer's state, as its own model and optimizer would hold them.

The R runs' weights of layer l form one (R, out, in) tensor, and a batch is one ``baddbmm`` per
layer for all runs:

.. math::
    h^{(l)}_r = \\phi\\big(x^{(l-1)}_r W^{(l)\\top}_r + b^{(l)}_r\\big), \\quad r = 1..R

Adam and SGD are element-wise, so one optimizer over the stacked tensors is R optimizers: run r's
state is the r-th slice of each moment (the step count is shared).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ParameterStack", "run_optimizer_state", "stack_optimizer_states"]


class ParameterStack:
    """The runs' parameters stacked along a leading run dimension, in ``model.parameters()``
    order (weight, bias of each Linear), and the forward pass over them.

    Args:
        models: ``nn.Sequential`` MLPs of one shape (Linear layers and stateless activations,
            :func:`~weightinit.training.can_batch`); their parameters are copied, not shared.
        device: where the stacked parameters live.
    """

    def __init__(self, models: Sequence[nn.Sequential], device: torch.device) -> None:
        self.template = models[0]
        self.params = [nn.Parameter(torch.stack([p.detach() for p in group]).to(device))
                       for group in zip(*(list(m.parameters()) for m in models))]

    @property
    def runs(self) -> int:
        """How many runs are stacked (R)."""
        return self.params[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (R, B, in), or (B, in) shared by every run -> logits (R, B, classes)."""
        params = iter(self.params)
        for module in self.template:
            if not isinstance(module, nn.Linear):
                x = module(x)
                continue
            weight = next(params).transpose(1, 2)  # (R, in, out)
            if module.bias is None:
                x = torch.matmul(x, weight)  # (R, B, out); a shared (B, in) broadcasts over the runs
            elif x.dim() == 3:
                x = torch.baddbmm(next(params).unsqueeze(1), x, weight)
            else:
                x = torch.matmul(x, weight) + next(params).unsqueeze(1)
        return x

    def run_state(self, r: int) -> dict[str, torch.Tensor]:
        """Run ``r``'s parameters as its model's ``state_dict`` (copies)."""
        names = [name for name, _ in self.template.named_parameters()]
        return {name: p[r].detach().clone() for name, p in zip(names, self.params)}

    @torch.no_grad()
    def freeze(self, r: int, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Zero run ``r``'s parameters (and its slice of ``optimizer``'s moments): a diverged run
        then computes zeros and cannot poison the others' shared operations."""
        for p in self.params:
            p[r].zero_()
        if optimizer is not None:
            for state in optimizer.state.values():
                for key, value in state.items():
                    if key != "step":
                        value[r].zero_()


def run_optimizer_state(optimizer: torch.optim.Optimizer, r: int) -> dict:
    """Run ``r``'s slice of the stacked optimizer's state, as its own optimizer would save it."""
    state = optimizer.state_dict()
    return {"state": {i: {k: (v if k == "step" else v[r]).clone() for k, v in s.items()}
                      for i, s in state["state"].items()},
            "param_groups": state["param_groups"]}


def stack_optimizer_states(optimizer: torch.optim.Optimizer, states: Sequence[dict], lead: int = 0) -> None:
    """Load the runs' own optimizer states (``run_optimizer_state``'s format) into the stacked optimizer.

    The step count (Adam's bias correction) is one for all runs: run ``lead``'s, which must be a
    run still training (a diverged run's state is the one it stopped with, steps ago)."""
    first = states[lead]
    stacked = {"state": {i: {k: (v if k == "step" else torch.stack([s["state"][i][k] for s in states]))
                             for k, v in first["state"][i].items()} for i in first["state"]},
               "param_groups": first["param_groups"]}
    optimizer.load_state_dict(stacked)
