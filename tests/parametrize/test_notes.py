"""What a muP plan says instead of guessing: a norm after a residual branch (OLMo 2's post-norm),
the parameters only= leaves as loaded, MultiheadAttention's bias_k/bias_v (vectors over the
width), and the fans of a raw parameter of a module weightinit has no rule for. CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from weightinit.models.gpt import GPT, MLP, CausalSelfAttention
from weightinit.parametrize import parametrize, plan_parametrization

NORMS = {"olmo2": ("post_attention_layernorm", "post_feedforward_layernorm"),  # on each branch's output
         "llama": ("input_layernorm", "post_attention_layernorm"),  # pre-norm: before attention, before the MLP
         "custom": ("norm_a", "norm_b")}  # on each branch's output, under names weightinit does not know


class NormedBlock(nn.Module):
    """A block whose two norms stand where ``style`` puts them: after each branch (OLMo 2:
    ``h + norm(attention(h))``) or before it (Llama: ``h + attention(norm(h))``)."""

    def __init__(self, width: int, style: str) -> None:
        super().__init__()
        self.style = style
        self.attention, self.mlp = CausalSelfAttention(width, 4), MLP(width)
        for name in NORMS[style]:
            self.add_module(name, nn.RMSNorm(width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        first, second = (getattr(self, name) for name in NORMS[self.style])
        if self.style == "llama":
            h = h + self.attention(first(h))
            return h + self.mlp(second(h))
        h = h + first(self.attention(h))
        return h + second(self.mlp(h))


class Decoder(nn.Module):
    def __init__(self, width: int, layers: int, style: str) -> None:
        super().__init__()
        self.token = nn.Embedding(30, width)
        self.blocks = nn.ModuleList(NormedBlock(width, style) for _ in range(layers))
        self.head = nn.Linear(width, 30)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.token(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)


ENDS = ("blocks.3.attention.proj", "blocks.3.mlp.down")


@pytest.mark.parametrize("style, traced", [("olmo2", False), ("custom", True)])
def test_a_norm_after_a_branch_cancels_its_depth_multiplier_and_the_plan_says_so(style, traced):
    """OLMo 2 normalizes each branch's output before the residual addition: a factor L^-alpha
    absorbed into the branch's last layer would be divided out again (as q_norm does the query's
    1/d). Found by name, or under any name by a forward pass of example_input."""
    options = {"example_input": torch.randint(0, 30, (2, 8))} if traced else {}
    plan = plan_parametrization(Decoder(32, 4, style), "mup", base=lambda: Decoder(32, 2, style), depth_alpha=1.0,
                                **options)
    for end in ENDS:
        row = plan.row(f"{end}.weight")
        assert row.absorbed == [] and row.multipliers.init == 1 and row.multipliers.eps == pytest.approx(0.5)
        assert any(f"ending at {end}: a norm" in note for note in plan.notes), plan.notes
    assert "would cancel the depth multiplier 0.5" in plan.table()


def test_a_pre_norm_block_still_absorbs_the_depth_multiplier():
    """Llama's ``post_attention_layernorm`` is the norm before its MLP, not after a branch."""
    plan = plan_parametrization(Decoder(32, 4, "llama"), "mup", base=lambda: Decoder(32, 2, "llama"),
                                depth_alpha=1.0, example_input=torch.randint(0, 30, (2, 8)))
    for end in ENDS:
        assert plan.row(f"{end}.weight").absorbed == ["branch 0.5"]
    assert not any("ending at" in note for note in plan.notes), plan.notes


def gpt(width: int, layers: int = 2) -> GPT:
    return GPT(30, layers=layers, width=width, heads=4, context=16)


def test_only_keeps_every_kind_and_names_the_parameters_it_leaves():
    """only= (a new head on a loaded body) fills the head alone; the others keep their kinds and
    multipliers (an embedding is still an input layer, not a readout read off its shape) and a
    note names those whose muP std is not the scheme's. The base is planned whole: a state dict of
    the deeper model names blocks the base does not have."""
    whole = plan_parametrization(gpt(64, layers=4), "mup", base=lambda: gpt(32), scheme="gpt2", depth_alpha=1.0)
    model = gpt(64, layers=4)
    loaded = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    plan = parametrize(model, "mup", base=lambda: gpt(32), scheme="gpt2", depth_alpha=1.0, only=loaded,
                       generator=torch.Generator().manual_seed(0))
    assert [(r.name, r.kind, r.multipliers) for r in plan.rows] == [(r.name, r.kind, r.multipliers)
                                                                     for r in whole.rows]
    assert plan.row("token.weight").kind == "input"
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) != name.startswith("head."), name
    [note] = [n for n in plan.notes if n.startswith("only= leaves")]
    assert "blocks.0.attention.query.weight" in note and "token.weight" not in note  # an input layer's std is SP's
    assert "assume muP's init at this width" in note


class RawAndBiasKV(nn.Module):
    """nn.MultiheadAttention with bias_k and bias_v (1, 1, E), and a raw (E, E) parameter of a
    module that has no rule."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(width, 4, add_bias_kv=True, batch_first=True)
        self.mix = nn.Parameter(torch.randn(width, width) / width ** 0.5)
        self.head = nn.Linear(width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.attention(x, x, x)[0] @ self.mix)


def test_bias_k_and_bias_v_are_vectors_over_the_width():
    plan = plan_parametrization(RawAndBiasKV(128), "mup", base=lambda: RawAndBiasKV(32))
    for name in ("attention.bias_k", "attention.bias_v"):
        row = plan.row(name)
        assert (row.kind, row.m_out) == ("vector", 4) and row.multipliers.lr("sgd") == 4, name


def test_a_raw_parameter_of_an_unknown_module_has_its_assumed_fans_and_its_init_said():
    plan = plan_parametrization(RawAndBiasKV(128), "mup", base=lambda: RawAndBiasKV(32))
    assert plan.row("mix").kind == "hidden"
    assert any(n.startswith("fans read off the shape as (out, in)") and "mix (hidden)" in n for n in plan.notes)
    assert any(n.startswith("no rule initializes 1 parameter(s) (mix)") for n in plan.notes)
    assert not any("attention." in n for n in plan.notes)  # torch's own layouts are known
