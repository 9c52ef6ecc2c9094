"""Signal propagation plots: the statistics against a direct computation, the blocks found by
structure, the residual stream of a pre-norm stack growing, and the refusals."""

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.diagnostics.signal_propagation import channel_statistics, signal_propagation
from weightinit.errors import UserError
from weightinit.models import PatchTransformer


def test_channel_statistics_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # channels (last axis): means 2, 4; variances 1, 4
    assert channel_statistics(x) == pytest.approx(((4 + 16) / 2, (1 + 4) / 2))
    images = torch.zeros(2, 3, 2, 2)
    images[:, 1] = 5.0  # channel 1 constant 5: squared mean 25, variance 0
    assert channel_statistics(images) == pytest.approx((25 / 3, 0.0))
    assert channel_statistics(images, channel_dim=-1)[0] == pytest.approx((5 / 3) ** 2)  # the last axis as channels
    with pytest.raises(UserError, match="batch and a channel"):
        channel_statistics(torch.ones(3))


class Block(nn.Module):
    def __init__(self, width: int, scale: float) -> None:
        super().__init__()
        self.fc1, self.fc2, self.scale = nn.Linear(width, width), nn.Linear(width, width), scale

    def forward(self, x):
        return x + self.scale * self.fc2(torch.relu(self.fc1(x)))


class Net(nn.Module):
    def __init__(self, depth: int, scale: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(32, scale) for _ in range(depth))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_rows_are_each_blocks_output():
    torch.manual_seed(0)
    net, x = Net(5, 1.0), torch.randn(64, 32)
    signal = signal_propagation(net, x)
    assert [r.block for r in signal.rows] == ["input", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4"]
    assert [r.depth for r in signal.rows] == list(range(6))
    with torch.no_grad():
        h = x
        for k, block in enumerate(net.blocks, start=1):
            out = block(h)
            assert (signal.rows[k].squared_mean, signal.rows[k].variance) == pytest.approx(channel_statistics(out))
            assert signal.rows[k].residual_variance == pytest.approx(channel_statistics(out - h)[1])
            h = out
    assert signal.rows[0].residual_variance is None and "avg channel variance" in signal.table()
    variances = [r.variance for r in signal.rows]
    assert variances[-1] > 1.1 * variances[0]  # every unscaled branch adds its own signal
    quiet = signal_propagation(Net(5, 0.0), x)  # branches scaled to zero: the stream is the input throughout
    assert [r.variance for r in quiet.rows] == pytest.approx([quiet.rows[0].variance] * 6)


def test_transformer_stack_and_scaled_residuals():
    x = torch.rand(32, 64)
    stats = {}
    for init in ("default", "gpt2"):
        model = PatchTransformer((8, 8), 10, dim=32, depth=8)
        wi.init_model(model, init, generator=torch.Generator().manual_seed(0))
        stats[init] = signal_propagation(model, x)
        assert len(stats[init].rows) == 9 and stats[init].rows[1].block == "encoder.layers.0"
    growth = {k: s.rows[-1].variance / s.rows[1].variance for k, s in stats.items()}
    assert growth["gpt2"] < growth["default"]  # gpt2 scales each branch's last layer by 1/sqrt(2 L)


def test_refusals():
    with pytest.raises(UserError, match="no stack of residual blocks"):
        signal_propagation(wi.mlp("4-8-8-2", "relu"), torch.randn(2, 4))
    net = Net(2, 1.0)
    with pytest.raises(UserError, match="did not run"):
        signal_propagation(net, torch.randn(2, 32), blocks=[("extra", nn.Linear(3, 3))])
