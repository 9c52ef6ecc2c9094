"""The field's recipes as schemes (weightinit.modelinit.presets) and the depth they read off a
model's structure (weightinit.modelinit.depth): checked against transformers' own GPT-2 init
parameter by parameter, and against the papers' formulas where the reference code is not
installable (Megatron-LM, OLMo, GPT-NeoX).

Device: CPU.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.modelinit.depth import residual_branches
from weightinit.modelinit.presets import PRESETS

T = pytest.importorskip("transformers")
T.logging.set_verbosity_error()

TRUNCATED_STD = 0.9865881  # std of a unit normal cut at ±3


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gpt2(width: int = 32, layers: int = 2) -> nn.Module:
    return T.GPT2LMHeadModel(T.GPT2Config(n_embd=width, n_layer=layers, n_head=4, vocab_size=1000, n_positions=256,
                                          bos_token_id=0, eos_token_id=0))


def llama(width: int = 32, layers: int = 2) -> nn.Module:
    return T.LlamaForCausalLM(T.LlamaConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
                                            num_attention_heads=4, num_key_value_heads=2, vocab_size=1000))


MODELS = {
    "gpt2": (gpt2, {"attn.c_proj", "mlp.c_proj"}),
    "llama": (llama, {"self_attn.o_proj", "mlp.down_proj"}),
    "bert": (lambda: T.BertModel(T.BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                              num_attention_heads=2, vocab_size=100)),
             {"attention.output.dense", "output.dense"}),
    "t5": (lambda: T.T5ForConditionalGeneration(T.T5Config(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                                           vocab_size=100)),
           {"layer.0.SelfAttention.o", "layer.1.EncDecAttention.o", "layer.1.DenseReluDense.wo",
            "layer.2.DenseReluDense.wo"}),
    "vit": (lambda: T.ViTModel(T.ViTConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=16, patch_size=8)),
            {"attention.o_proj", "mlp.fc2"}),
    "torch": (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 2, 64), 2, enable_nested_tensor=False),
              {"self_attn.out_proj", "linear2"}),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_the_residual_branch_outputs_are_found_by_structure(name):
    build, suffixes = MODELS[name]
    branches = residual_branches(build())
    ends = {b.end.split(".", 3 if name == "t5" else 2)[-1] for b in branches}
    ends = {e.split(".", 1)[1] if e[0].isdigit() else e for e in ends}  # drop the block index
    assert ends == suffixes
    assert all(b.width == 32 and b.depth == 2 and b.block in (0, 1) for b in branches)


def test_a_model_without_a_stack_has_no_branches():
    assert residual_branches(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))) == []


def _tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach() for name, t in model.named_parameters()}


def test_gpt2_reproduces_transformers_own_gpt2_init_parameter_by_parameter():
    """Same family, zeros and ones exact, std within 1% on every tensor of 50,000 values or more."""
    reference = _tensors(wi.init_model(gpt2(256, 4), "default", generator=g(0)))  # the model's own _init_weights
    ours = _tensors(wi.init_model(gpt2(256, 4), "gpt2", generator=g(1)))
    assert ours.keys() == reference.keys()
    checked = 0
    for name, mine in ours.items():
        theirs = reference[name]
        if bool((theirs == theirs.flatten()[0]).all()):  # constant: biases 0, norms 1
            assert torch.equal(mine, theirs), name
        elif theirs.numel() >= 50_000:
            assert mine.std().item() == pytest.approx(theirs.std().item(), rel=0.01), name
            assert abs(mine.mean().item()) < 3 * theirs.std().item() / math.sqrt(theirs.numel()) + 1e-6, name
            checked += 1
    assert checked == 2 + 4 * 4  # wte, wpe; per block c_attn, c_fc and both c_proj (the latter two at 0.02/√8)
    assert ours["transformer.h.0.attn.c_proj.weight"].std().item() == pytest.approx(0.02 / math.sqrt(8), rel=0.01)


def _std_of(model: nn.Module, suffix: str) -> float:
    values = torch.cat([t.detach().flatten() for n, t in model.named_parameters() if n.endswith(suffix)])
    return values.std().item()


@pytest.mark.parametrize("preset", ["megatron", "gpt2"])
def test_megatron_scales_the_output_layers_by_sqrt_2L(preset):
    model = wi.init_model(llama(256, 4), preset, generator=g())
    assert _std_of(model, "o_proj.weight") == pytest.approx(0.02 / math.sqrt(8), rel=0.01)
    assert _std_of(model, "down_proj.weight") == pytest.approx(0.02 / math.sqrt(8), rel=0.01)
    for suffix in ("q_proj.weight", "k_proj.weight", "up_proj.weight", "gate_proj.weight", "embed_tokens.weight"):
        assert _std_of(model, suffix) == pytest.approx(0.02, rel=0.01), suffix
    assert all(bool((t == 1).all()) for n, t in model.named_parameters() if n.endswith("norm.weight"))


def test_olmo2_cuts_every_weight_at_three_std():
    model = wi.init_model(llama(256, 4), "olmo2", generator=g())
    for name, t in model.named_parameters():
        if name.endswith("norm.weight"):
            assert bool((t == 1).all())
            continue
        assert t.abs().max().item() <= 3 * 0.02 + 1e-7, name
        if t.numel() >= 50_000:
            assert t.std().item() == pytest.approx(0.02 * TRUNCATED_STD, rel=0.01), name
            assert t.abs().max().item() > 2.5 * 0.02, name  # cut at 3σ, not earlier


def test_small_init_and_wang_init_follow_gpt_neox():
    d, layers = 256, 4
    small = wi.init_model(llama(d, layers), "small_init", generator=g())
    wang = wi.init_model(llama(d, layers), "wang_init", generator=g())
    for suffix in ("q_proj.weight", "up_proj.weight", "embed_tokens.weight", "o_proj.weight", "down_proj.weight"):
        assert _std_of(small, suffix) == pytest.approx(math.sqrt(2 / (5 * d)), rel=0.01), suffix
    for suffix in ("o_proj.weight", "down_proj.weight"):
        assert _std_of(wang, suffix) == pytest.approx(2 / (layers * math.sqrt(d)), rel=0.01), suffix
    assert _std_of(wang, "q_proj.weight") == pytest.approx(math.sqrt(2 / (5 * d)), rel=0.01)


def test_the_plan_names_each_role():
    table = wi.plan_init(gpt2(), "gpt2").table()
    assert "N(0, 0.01²) (attn_out, block 0 of 2)" in table  # 0.02/√4
    assert "N(0, 0.01²) (mlp_out, block 1 of 2)" in table
    assert "N(0, 0.02²) (embedding)" in table and "N(0, 0.02²) (q, block 0 of 2)" in table


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_covers_an_mlp_with_the_fan_in_as_width(preset):
    model = nn.Sequential(nn.Linear(400, 100), nn.ReLU(), nn.Linear(100, 10))
    plan = wi.plan_init(model, preset)
    assert plan.untouched == [] and " of " not in plan.table()
    wi.init_model(model, preset, generator=g())
    assert torch.equal(model[0].bias, torch.zeros(100))


def test_residual_gpt2_now_finds_the_branches_of_a_transformers_model():
    """Residual(kind) without branches= used to find only torch's Transformer layers."""
    model = wi.init_model(gpt2(64, 2), "xavier_uniform", residual=wi.Residual("zero"), generator=g())
    for block in model.transformer.h:
        assert not block.attn.c_proj.weight.any() and not block.mlp.c_proj.weight.any()
        assert block.attn.c_attn.weight.any()


def test_mitchell_follows_olmo1_per_block():
    d, layers = 256, 4
    model = wi.init_model(llama(d, layers), "mitchell", generator=g())
    cut = TRUNCATED_STD  # the std of N(0, σ²) cut at ±3σ, over σ
    assert _std_of(model, "embed_tokens.weight") == pytest.approx(cut / math.sqrt(d), rel=0.01)
    assert _std_of(model, "q_proj.weight") == pytest.approx(cut / math.sqrt(d), rel=0.01)
    for block in range(layers):
        layer = model.model.layers[block]
        assert layer.self_attn.o_proj.weight.std().item() == \
            pytest.approx(cut / math.sqrt(2 * d * (block + 1)), rel=0.02)
        assert layer.mlp.down_proj.weight.std().item() == \
            pytest.approx(cut / math.sqrt(2 * 2 * d * (block + 1)), rel=0.02)  # fan_in of down_proj: 2d
        assert layer.mlp.down_proj.weight.abs().max().item() <= 3 / math.sqrt(2 * 2 * d * (block + 1)) + 1e-7


def test_deepnet_scales_v_the_attention_output_and_the_mlp_by_beta():
    d, layers = 256, 4
    model = wi.init_model(T.BertModel(T.BertConfig(hidden_size=d, intermediate_size=4 * d, num_hidden_layers=layers,
                                                   num_attention_heads=4, vocab_size=1000)), "deepnet", generator=g())
    beta = (8 * layers) ** -0.25
    xavier = math.sqrt(2 / (d + d))
    assert _std_of(model, "attention.self.query.weight") == pytest.approx(xavier, rel=0.01)
    assert _std_of(model, "attention.self.value.weight") == pytest.approx(beta * xavier, rel=0.01)
    assert _std_of(model, "attention.output.dense.weight") == pytest.approx(beta * xavier, rel=0.01)
    assert _std_of(model, "intermediate.dense.weight") == pytest.approx(beta * math.sqrt(2 / (5 * d)), rel=0.01)


def test_deepnet_tells_the_encoder_from_the_decoder_of_t5():
    d, n = 256, 4
    model = wi.init_model(T.T5ForConditionalGeneration(T.T5Config(d_model=d, d_kv=64, d_ff=4 * d, num_layers=n,
                                                                  num_heads=4, vocab_size=1000)),
                          "deepnet", generator=g())
    xavier = math.sqrt(2 / (d + d))
    encoder = _std_of(model.encoder, "SelfAttention.v.weight")
    decoder = _std_of(model.decoder, "SelfAttention.v.weight")
    assert encoder == pytest.approx(0.87 * (n ** 4 * n) ** (-1 / 16) * xavier, rel=0.01)
    assert decoder == pytest.approx((12 * n) ** -0.25 * xavier, rel=0.01)
    assert _std_of(model.decoder, "EncDecAttention.q.weight") == pytest.approx(xavier, rel=0.01)


def test_t_fixup_scales_the_branches_and_the_embeddings():
    d, layers = 256, 4
    model = wi.init_model(llama(d, layers), "t_fixup", generator=g())
    scale = 0.67 * layers ** -0.25
    assert _std_of(model, "v_proj.weight") == pytest.approx(scale * math.sqrt(2 / (d + d // 2)), rel=0.01)  # GQA v
    assert _std_of(model, "down_proj.weight") == pytest.approx(scale * math.sqrt(2 / (3 * d)), rel=0.01)
    assert _std_of(model, "q_proj.weight") == pytest.approx(math.sqrt(2 / (2 * d)), rel=0.01)
    assert _std_of(model, "embed_tokens.weight") == pytest.approx((9 * layers) ** -0.25 / math.sqrt(d), rel=0.01)
    bound = scale * math.sqrt(2 / (3 * d)) * math.sqrt(3)
    assert model.model.layers[0].mlp.down_proj.weight.abs().max().item() <= bound + 1e-7  # uniform, as Xavier's


def _mimetic_products(layout: str):
    """(Wq Wkᵀ of head 0, Wv Wo, d, d_h) in the paper's x @ W layout, after init_model(..., "mimetic")."""
    d, heads = 64, 4
    if layout == "gpt2":
        model = T.GPT2Model(T.GPT2Config(n_embd=d, n_layer=1, n_head=heads, vocab_size=100, n_positions=32))
        attn = model.h[0].attn
        get = lambda: (attn.c_attn.weight[:, :d], attn.c_attn.weight[:, d:2 * d], attn.c_attn.weight[:, 2 * d:],  # noqa: E731
                       attn.c_proj.weight)
    elif layout == "llama":
        model = T.LlamaModel(T.LlamaConfig(hidden_size=d, intermediate_size=2 * d, num_hidden_layers=1,
                                           num_attention_heads=heads, num_key_value_heads=heads, vocab_size=50))
        attn = model.layers[0].self_attn
        get = lambda: tuple(w.T for w in (attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight,  # noqa: E731
                                          attn.o_proj.weight))
    else:
        model = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, 2 * d, batch_first=True), 1,
                                      enable_nested_tensor=False)
        attn = model.layers[0].self_attn
        get = lambda: tuple(w.T for w in (attn.in_proj_weight[:d], attn.in_proj_weight[d:2 * d],  # noqa: E731
                                          attn.in_proj_weight[2 * d:], attn.out_proj.weight))
    wi.init_model(model, "mimetic", generator=g())
    q, k, v, o = (w.detach().double() for w in get())
    d_h = d // heads
    return q[:, :d_h] @ k[:, :d_h].T, v @ o, d, d_h


@pytest.mark.parametrize("layout", ["gpt2", "llama", "torch"])
def test_mimetic_gives_attention_the_structure_of_trained_layers(layout):
    """Trockman & Kolter 2023: Wq Wkᵀ ≈ 0.7 Z + 0.7 I per head (rank d_h), Wv Wo = 0.4 Z - 0.4 I,
    Z ~ N(0, 1/d): in packed transposed (GPT-2), separate (Llama) and torch's in_proj layouts."""
    qk, vo, d, d_h = _mimetic_products(layout)
    assert torch.linalg.matrix_rank(qk).item() == d_h
    assert qk.diag().mean().item() > 0.2  # the identity part: each token attends to itself
    assert vo.diag().mean().item() == pytest.approx(-0.4, abs=0.05)
    off = vo - torch.diag(vo.diag())
    assert off.std().item() == pytest.approx(0.4 / math.sqrt(d), rel=0.15)


def test_mimetic_leaves_grouped_query_attention_to_the_plain_draw_and_says_so():
    model = llama(64, 1)  # 4 query heads, 2 key-value heads: the paper has no variant for it
    rules = [row.rule for row in wi.plan_init(model, "mimetic").rows if "self_attn" in row.module]
    assert rules and all("plain draw" in rule for rule in rules if "weight" in rule or "N(0" in rule)
    wi.init_model(model, "mimetic", generator=g())


def _vit(width: int = 256, classes: int = 1000) -> nn.Module:
    return T.ViTForImageClassification(T.ViTConfig(hidden_size=width, intermediate_size=4 * width,
                                                   num_hidden_layers=2, num_attention_heads=4, image_size=64,
                                                   patch_size=16, num_labels=classes))


def test_vit_jax_follows_timms_jax_mode():
    """timm's init_weights('jax'), formulas read from timm's source (timm does not import here)."""
    d, classes = 256, 1000
    model = wi.init_model(_vit(d, classes), "vit_jax_nlhb", generator=g())
    assert not model.classifier.weight.any()
    assert torch.equal(model.classifier.bias, torch.full((classes,), -math.log(classes)))
    assert _std_of(model, "q_proj.weight") == pytest.approx(math.sqrt(2 / (2 * d)), rel=0.02)  # Xavier uniform
    assert _std_of(model, "fc1.weight") == pytest.approx(math.sqrt(2 / (5 * d)), rel=0.02)
    assert _std_of(model, "fc1.bias") == pytest.approx(1e-6, rel=0.1) and not _std_of(model, "q_proj.bias")
    patch = model.vit.embeddings.patch_embeddings.projection.weight  # LeCun normal: std 1/√fan_in, cut at ±2σ
    fan_in = 3 * 16 * 16
    assert patch.std().item() == pytest.approx(1 / math.sqrt(fan_in), rel=0.03)
    assert patch.abs().max().item() <= 2 / math.sqrt(fan_in) / 0.87962566 + 1e-7
    assert model.vit.embeddings.cls_token.std().item() < 1e-5
    assert model.vit.embeddings.position_embeddings.std().item() == pytest.approx(0.02, rel=0.2)


def test_vit_jax_draws_a_packed_qkv_as_one_matrix_and_moco_as_three():
    from weightinit.models import PatchTransformer
    d = 64
    jax = wi.init_model(PatchTransformer((28, 28), 10, dim=d), "vit_jax", generator=g())
    moco = wi.init_model(PatchTransformer((28, 28), 10, dim=d), "vit_moco", generator=g())
    bound = lambda model: model.encoder.layers[0].self_attn.in_proj_weight.abs().max().item()  # noqa: E731
    assert bound(jax) == pytest.approx(math.sqrt(6 / (d + 3 * d)), rel=0.02)
    assert bound(moco) == pytest.approx(math.sqrt(6 / (d + d)), rel=0.02)
    assert not jax.head.weight.any() and moco.head.weight.any()


def test_vit_timm_keeps_torchs_patch_convolution():
    model = wi.init_model(_vit(), "vit_timm", generator=g())
    patch = model.vit.embeddings.patch_embeddings.projection
    assert patch.weight.abs().max().item() <= 1 / math.sqrt(3 * 16 * 16) + 1e-7
    assert patch.bias.any()  # torch's own U(±1/√fan_in), as timm leaves it
    assert _std_of(model, "o_proj.weight") == pytest.approx(0.02, rel=0.02)
    assert model.vit.embeddings.cls_token.std().item() < 1e-5


def test_a_gated_mlp_tells_its_gate_from_its_up_projection_even_after_to_empty():
    from weightinit.modelinit.depth import layer_roles
    with torch.device("meta"):
        model = llama(32, 2)
    model = model.to_empty(device="cpu")  # garbage weights: the probe uses its own
    state = torch.random.get_rng_state()
    kinds = {n.rsplit(".", 1)[-1]: r.kind for n, r in layer_roles(model).items() if ".0.mlp." in n}
    assert kinds == {"gate_proj": "mlp_gate", "up_proj": "mlp_up", "down_proj": "mlp_out"}
    assert torch.equal(state, torch.random.get_rng_state())


def test_identical_mlps_are_probed_once_and_a_different_one_again(monkeypatch):
    from weightinit.modelinit import depth
    calls = []
    probe = depth._probe_gate_and_up
    monkeypatch.setattr(depth, "_probe_gate_and_up", lambda *args: calls.append(args[1]) or probe(*args))
    model = llama(32, 3)
    kinds = {n: r.kind for n, r in depth.layer_roles(model).items() if r.kind in ("mlp_gate", "mlp_up")}
    assert calls == ["model.layers.0.mlp"]
    assert kinds == {f"model.layers.{i}.mlp.{p}_proj": f"mlp_{p}" for i in range(3) for p in ("gate", "up")}
    model.model.layers[2].mlp.act_fn = nn.GELU()  # another activation: another signature, another probe
    depth.layer_roles(model)
    assert calls[1:] == ["model.layers.0.mlp", "model.layers.2.mlp"]


def test_torchtitan_scales_the_output_down_and_up_projections_by_block():
    d, layers = 256, 4
    model = wi.init_model(llama(d, layers), "torchtitan", generator=g())
    for block in range(layers):
        layer = model.model.layers[block]
        std = 0.02 / math.sqrt(2 * (block + 1))
        for linear in (layer.self_attn.o_proj, layer.mlp.down_proj, layer.mlp.up_proj):
            assert linear.weight.std().item() == pytest.approx(std, rel=0.02)
        assert layer.mlp.gate_proj.weight.std().item() == pytest.approx(0.02, rel=0.02)
        assert layer.self_attn.q_proj.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert _std_of(model, "embed_tokens.weight") == pytest.approx(1.0, rel=0.01)
    head = model.lm_head.weight
    assert head.std().item() == pytest.approx(TRUNCATED_STD / math.sqrt(d), rel=0.01)
    assert head.abs().max().item() <= 3 / math.sqrt(d) + 1e-7


@pytest.mark.parametrize("preset", ["gpt2", "olmo2", "mitchell", "t_fixup", "vit_timm"])
def test_a_preset_keeps_the_padding_row_of_an_embedding_at_zero(preset):
    model = wi.init_model(nn.Sequential(nn.Embedding(50, 16, padding_idx=3), nn.Linear(16, 4)), preset, generator=g())
    assert not model[0].weight[3].any() and model[0].weight[4].any()


def test_two_stacks_that_are_not_an_encoder_and_a_decoder_each_keep_their_own_depth():
    def encoder(layers):
        return nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 2, 64), layers, enable_nested_tensor=False)
    model = nn.ModuleDict({"a": encoder(2), "b": encoder(4)})
    for preset in ("deepnet", "t_fixup"):
        wi.init_model(model, preset, generator=g())  # no encoder-decoder formulas with two encoders
    table = wi.plan_init(model, "gpt2").table()
    assert "(attn_out, block 0 of 2)" in table and "(attn_out, block 0 of 4)" in table


def test_a_preset_refuses_residual_scaling_on_top_of_its_own():
    with pytest.raises(wi.UserError, match="residual= would scale them a second time"):
        wi.init_model(gpt2(), "gpt2", residual=wi.Residual("gpt2"))


def test_a_mimetic_pair_is_one_draw_whichever_member_is_filled_first():
    from weightinit.modelinit.mimetic import _Pair
    pair = _Pair(lambda gen: (torch.randn(4, 4, generator=gen), torch.randn(4, 4, generator=gen)))
    second, first = torch.empty(4, 4), torch.empty(4, 4)
    pair.fill(1, False)(second, g(5))
    pair.fill(0, False)(first, g(6))  # another generator: the pair must not draw again
    reference = torch.Generator().manual_seed(5)
    assert torch.equal(first, torch.randn(4, 4, generator=reference))
    assert torch.equal(second, torch.randn(4, 4, generator=reference))
