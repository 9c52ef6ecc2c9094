"""The small GPT: its shapes, its causality, and a rule of init_model for every parameter.

Device: CPU.
"""

from __future__ import annotations

import pytest
import torch

from weightinit.modelinit import SCHEMES, init_model, plan_init
from weightinit.models import GPT, build_model, describe_model
from weightinit.models.gpt import GPT_SIZES, QUICK_GPT_SIZES
from weightinit.theory.schemes import CRITICAL_SCHEMES


def small() -> GPT:
    torch.manual_seed(0)
    return GPT(20, layers=2, width=32, heads=4, context=16)


def test_logits_per_position():
    x = torch.randint(0, 20, (3, 16))
    assert small()(x).shape == (3, 16, 20)
    assert small()(x[:, :5]).shape == (3, 5, 20)  # shorter than the context
    with pytest.raises(ValueError, match="context is 16"):
        small()(torch.zeros(1, 17, dtype=torch.int64))


def test_a_future_token_does_not_change_earlier_logits():
    model = small().eval()
    x = torch.randint(0, 20, (2, 16))
    changed = x.clone()
    changed[:, 9] = (changed[:, 9] + 1) % 20
    with torch.no_grad():
        before, after = model(x), model(changed)
    torch.testing.assert_close(before[:, :9], after[:, :9], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 9:], after[:, 9:])


@pytest.mark.parametrize("scheme", [name for name, s in SCHEMES.items()
                                    if not s.needs_data and name not in CRITICAL_SCHEMES])  # stacks only, by design
def test_every_parameter_has_a_rule(scheme):
    model = small()
    plan = plan_init(model, scheme, example_input=torch.randint(0, 20, (2, 16)))
    assert plan.untouched == []
    init_model(model, scheme, generator=torch.Generator().manual_seed(0), example_input=torch.randint(0, 20, (2, 16)))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_build_model_builds_it_from_sizes():
    model = build_model("gpt", [2, 32, 4, 16], "relu", (16,), 20)
    assert isinstance(model, GPT) and model.context == 16 and len(model.blocks) == 2
    assert describe_model("gpt", [2, 32, 4, 16], (16,)) == "GPT: 2 layers, width 32, 4 heads, context 16"
    with pytest.raises(ValueError, match="multiple of heads"):
        GPT(20, width=30, heads=4)
    assert GPT_SIZES == {"layers": 6, "width": 256, "heads": 8, "context": 256}
    assert sum(p.numel() for p in GPT(84, **QUICK_GPT_SIZES).parameters()) == 115_028
