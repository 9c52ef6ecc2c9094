"""``init_model`` on tiny transformers models (GPT-2, Llama with grouped-query attention, Mistral,
Qwen2, BERT, T5, ViT): every parameter gets a rule under every scheme, GPT-2's ``Conv1D`` and
packed ``c_attn`` get their true fans, norms are exactly 1/0 after ``to_empty()``, ``default``
is the model's own recipe, ``only=`` leaves what was loaded bit for bit. Skipped without
transformers (the ``test`` extra installs it). Device: CPU.
"""

import math
import warnings

import pytest
import torch

import weightinit as wi
from weightinit.errors import UserError
from weightinit.theory.schemes import CRITICAL_SCHEMES

T = pytest.importorskip("transformers")

SCHEMES = [s for s, v in wi.SCHEMES.items() if not v.needs_data]
GQA = {"num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 300,
       "max_position_embeddings": 64}


def build(name: str, d: int = 64):
    """A 2-layer model of width ``d``, built without drawing from the global RNG's stream."""
    configs = {
        "gpt2": lambda: T.GPT2LMHeadModel(T.GPT2Config(n_layer=2, n_embd=d, n_head=4, vocab_size=300, n_positions=64,
                                                        bos_token_id=0, eos_token_id=0)),
        "llama": lambda: T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=2, hidden_size=d, **GQA)),
        "mistral": lambda: T.MistralForCausalLM(T.MistralConfig(num_hidden_layers=2, hidden_size=d, **GQA)),
        "qwen2": lambda: T.Qwen2ForCausalLM(T.Qwen2Config(num_hidden_layers=2, hidden_size=d, **GQA)),
        "bert": lambda: T.BertForMaskedLM(T.BertConfig(num_hidden_layers=2, hidden_size=d, num_attention_heads=4,
                                                       intermediate_size=96, vocab_size=300,
                                                       max_position_embeddings=64)),
        "t5": lambda: T.T5ForConditionalGeneration(T.T5Config(num_layers=2, num_decoder_layers=2, d_model=d, d_kv=16,
                                                              num_heads=4, d_ff=96, vocab_size=300)),
        "vit": lambda: T.ViTForImageClassification(T.ViTConfig(num_hidden_layers=2, hidden_size=d,
                                                               num_attention_heads=4, intermediate_size=96,
                                                               image_size=32, patch_size=8, num_labels=10)),
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return configs[name]()


MODELS = ["gpt2", "llama", "mistral", "qwen2", "bert", "t5", "vit"]


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS)
def test_every_parameter_gets_a_rule_under_every_scheme(name):
    model = build(name, d=32)
    for scheme in set(SCHEMES) - set(CRITICAL_SCHEMES):  # the mean-field schemes take stacks only, by design
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "have no initialization rule"
            plan = wi.plan_init(model, scheme)
            wi.init_model(model, scheme, generator=g(), strict=True)
        assert plan.untouched == [], (scheme, plan.untouched)
        named = {id(p) for p in model.parameters()}
        planned = {id(getattr(model.get_submodule(r.module), r.parameter)) for r in plan.rows}
        assert planned == named, scheme


def test_gpt2_conv1d_and_packed_c_attn_get_their_true_fans():
    d = 256
    model = build("gpt2", d=d)
    for scheme, std in (("he_normal", lambda fi, fo, gain: gain / math.sqrt(fi)),
                        ("xavier_normal", lambda fi, fo, gain: math.sqrt(2 / (fi + fo)))):
        plan = wi.plan_init(model, scheme).apply(g())
        block = model.transformer.h[0]
        expected = {"attn.c_attn": (d, d), "attn.c_proj": (d, d), "mlp.c_fc": (d, 4 * d), "mlp.c_proj": (4 * d, d)}
        for module, fans in expected.items():
            found = [r for r in plan.rows if r.module == f"transformer.h.0.{module}" and r.parameter == "weight"]
            assert {(r.fan_in, r.fan_out) for r in found} == {fans}, module
            weight = block.get_submodule(module).weight
            parts = [weight[:, i * d:(i + 1) * d] for i in range(3)] if module == "attn.c_attn" else [weight]
            assert [r.block for r in found] == (["q", "k", "v"] if module == "attn.c_attn" else [""])
            for part, row in zip(parts, found):
                assert part.std().item() == pytest.approx(std(*fans, row.gain or 1.0), rel=0.05), (scheme, module)
            assert torch.all(block.get_submodule(module).bias == 0)


@pytest.mark.parametrize("name", ["gpt2", "llama", "bert", "t5", "vit"])
def test_norms_are_exactly_one_and_zero_after_to_empty(name):
    model = build(name, d=32).to_empty(device="cpu")
    wi.init_model(model, "xavier_uniform", generator=g())
    norms = [m for m in model.modules() if "Norm" in type(m).__name__]
    assert norms
    for norm in norms:
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        if getattr(norm, "bias", None) is not None:
            assert torch.equal(norm.bias, torch.zeros_like(norm.bias))


def test_buffers_are_recomputed_never_drawn():
    llama, bert = build("llama", 32), build("bert", 32)
    inv_freq, position_ids = llama.model.rotary_emb.inv_freq.clone(), bert.bert.embeddings.position_ids.clone()
    for scheme in ("he_normal", "default"):
        llama.to_empty(device="cpu")
        bert.to_empty(device="cpu")
        wi.init_model(llama, scheme, generator=g())
        wi.init_model(bert, scheme, generator=g())
        assert torch.equal(llama.model.rotary_emb.inv_freq, inv_freq)
        assert torch.equal(llama.model.rotary_emb.original_inv_freq, inv_freq)
        assert torch.equal(bert.bert.embeddings.position_ids, position_ids)


def _same_distribution(ours: torch.Tensor, theirs: torch.Tensor, where: str) -> None:
    """Constant tensors equal exactly; large ones: mean ≈ 0 and std within 5%."""
    if torch.all(theirs == theirs.flatten()[0]):
        assert torch.equal(ours, theirs), where
    elif theirs.numel() >= 2000:
        assert ours.std().item() == pytest.approx(theirs.std().item(), rel=0.05), where
        assert abs(ours.mean().item()) < 0.1 * theirs.std().item(), where


@pytest.mark.parametrize("name", MODELS)
def test_default_is_the_models_own_recipe_even_after_to_empty(name):
    reference = build(name)  # transformers' own init, run by its constructor
    model = build(name).to_empty(device="cpu")
    state = torch.get_rng_state()
    wi.init_model(model, "default", generator=g(1))
    assert torch.equal(torch.get_rng_state(), state)  # drawn from the generator, the global RNG untouched
    theirs = dict(reference.named_parameters(remove_duplicate=False))
    for key, ours in model.named_parameters(remove_duplicate=False):
        _same_distribution(ours.detach(), theirs[key].detach(), f"{name}: {key}")
    for key, buffer in reference.named_buffers():
        assert torch.equal(model.get_buffer(key), buffer), key
    again = build(name)
    wi.init_model(again, "default", generator=g(1))
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), model.parameters()))  # same seed, same draws


def test_default_on_gpt2_gives_c_proj_its_depth_scaled_std_and_ties_the_head():
    model = build("gpt2", d=256)
    wi.init_model(model, "default", generator=g())
    assert model.lm_head.weight is model.transformer.wte.weight
    for block in model.transformer.h:
        assert block.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert block.mlp.c_proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(4), rel=0.05)
    plan = wi.plan_init(model, "default")
    assert plan.rows[0].rule == "GPT2LMHeadModel._init_weights (the model's own)"


def test_tied_weights_get_one_row_and_stay_tied():
    model = build("gpt2", d=32)
    plan = wi.plan_init(model, "xavier_uniform").apply(g())
    assert [r.module for r in plan.rows if r.module in ("transformer.wte", "lm_head")] == ["transformer.wte"]
    assert model.lm_head.weight is model.transformer.wte.weight


@pytest.mark.parametrize("scheme", ["xavier_uniform", "default"])
def test_only_a_state_dict_initializes_just_the_new_head(scheme):
    backbone = build("gpt2", d=32).transformer  # "pretrained": its state dict lacks the prefix and the head
    model = T.GPT2ForSequenceClassification(backbone.config)
    model.transformer.load_state_dict(backbone.state_dict())
    before = snapshot(model)
    plan = wi.plan_init(model, scheme, only=backbone.state_dict())
    assert {r.module for r in plan.rows} == {"score"}
    assert f"left as loaded: {len(list(backbone.parameters()))} parameters (in the state dict given to only=)" \
        in plan.table()
    wi.init_model(model, scheme, generator=g(), only=backbone.state_dict())
    for key, value in model.state_dict().items():
        if key.startswith("score."):
            assert not torch.equal(value, before[key])
        else:
            assert torch.equal(value, before[key]), key  # bit for bit


def test_only_a_state_dict_of_a_model_missing_its_head_on_llama_after_to_empty():
    pretrained = build("llama", 32)
    loaded = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("lm_head.")}
    model = build("llama", 32).to_empty(device="cpu")
    model.load_state_dict(loaded, strict=False)
    before = snapshot(model)
    wi.init_model(model, "default", generator=g(), only=loaded)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"lm_head.weight"}
    assert model.lm_head.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_only_refuses_unknown_names_and_keys():
    model = build("bert", 32)
    with pytest.raises(UserError, match="'classifier.\\*'"):
        wi.init_model(model, "he_normal", only=["cls.*", "classifier.*"])
    with pytest.raises(UserError, match="'encoder.layer.0.weight'"):
        wi.init_model(model, "he_normal", only={"encoder.layer.0.weight": torch.zeros(1)})
    plan = wi.plan_init(model, "he_normal", only="cls.predictions.transform.*")
    assert {r.module for r in plan.rows} == {"cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm"}
