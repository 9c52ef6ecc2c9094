"""``materialize``: a model built on the meta device equals the same model built on the CPU,
weight for weight, buffer for buffer and output for output (transformers' GPT-2, Llama, BERT and
ViT, weightinit's GPT and MLP); a weight depends on its name, not on what else the model holds,
the plan's order or the thread count; tied weights stay tied; the refusals come before anything
is allocated. Device: CPU."""

import math
import warnings

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.errors import UserError
from weightinit.models.gpt import GPT
from weightinit.scale import fill_streams, materialize
from weightinit.theory.schemes import CRITICAL_SCHEMES

T = pytest.importorskip("transformers")

GQA = {"num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 300,
       "max_position_embeddings": 64}
MODELS = {
    "gpt2": lambda: T.GPT2LMHeadModel(T.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=300, n_positions=64,
                                                    bos_token_id=0, eos_token_id=0)),
    "llama": lambda: T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=2, hidden_size=32, **GQA)),
    "bert": lambda: T.BertForMaskedLM(T.BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                   intermediate_size=96, vocab_size=300, max_position_embeddings=64)),
    "vit": lambda: T.ViTForImageClassification(T.ViTConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                           intermediate_size=96, image_size=32, patch_size=8,
                                                           num_labels=10)),
    "gpt": lambda: GPT(50, layers=2, width=32, heads=4, context=16),
    "mlp": lambda: wi.mlp("20-30-10"),
}
INPUTS = {"vit": lambda: torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)),
          "mlp": lambda: torch.randn(4, 20, generator=torch.Generator().manual_seed(0))}
PER_LAYER = [s for s, v in wi.SCHEMES.items() if not v.needs_data and s not in CRITICAL_SCHEMES]


def build(name: str, meta: bool = False) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if meta:
            with torch.device("meta"):
                return MODELS[name]()
        return MODELS[name]()


def output(name: str, model: nn.Module) -> torch.Tensor:
    x = INPUTS.get(name, lambda: torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(0)))()
    with torch.no_grad():
        out = model.eval()(x)
    return out if isinstance(out, torch.Tensor) else out.logits


def assert_same(a: nn.Module, b: nn.Module) -> None:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert pa.keys() == pb.keys()
    assert [k for k in pa if not torch.equal(pa[k], pb[k])] == []
    ba, bb = dict(a.named_buffers()), dict(b.named_buffers())
    assert ba.keys() == bb.keys()
    assert [k for k in ba if not torch.equal(ba[k], bb[k])] == []


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("scheme", ["he_normal", "default", "olmo2", "orthogonal"])
@pytest.mark.parametrize("name", list(MODELS))
def test_meta_built_equals_cpu_built(name, scheme):
    cpu = materialize(build(name), scheme, seed=3, block_size=64)
    meta = materialize(build(name, meta=True), scheme, seed=3, block_size=64)
    assert not any(t.is_meta for t in [*meta.parameters(), *meta.buffers()])
    assert_same(cpu, meta)
    assert torch.equal(output(name, cpu), output(name, meta))
    assert torch.isfinite(output(name, meta)).all()


@pytest.mark.parametrize("scheme", PER_LAYER)
@pytest.mark.parametrize("name", ["gpt2", "llama", "bert", "vit"])
def test_transformers_models_on_meta_under_every_scheme(name, scheme):
    assert_same(materialize(build(name), scheme, seed=1), materialize(build(name, meta=True), scheme, seed=1))


def test_computed_buffers_are_the_models_own():
    for name in ("llama", "bert"):
        fresh = dict(build(name).named_buffers())  # as the model computes them when built on the CPU
        meta = dict(materialize(build(name, meta=True), "he_normal").named_buffers())
        assert fresh.keys() == meta.keys() and fresh
        assert all(torch.equal(fresh[k], meta[k]) for k in fresh), name


def test_tied_weights_stay_tied():
    model = materialize(build("gpt2", meta=True), "gpt2", seed=0)
    assert model.lm_head.weight is model.transformer.wte.weight


def test_a_weight_depends_on_its_name_not_on_the_rest_of_the_model():
    small = materialize(GPT(50, layers=2, width=32, heads=4, context=16), "he_normal", seed=5)
    deep = materialize(GPT(50, layers=3, width=32, heads=4, context=16), "he_normal", seed=5)
    for name, p in small.named_parameters():
        assert torch.equal(p, dict(deep.named_parameters())[name]), name
    other = materialize(GPT(50, layers=2, width=32, heads=4, context=16), "he_normal", seed=6)
    assert not torch.equal(other.blocks[0].attention.query.weight, small.blocks[0].attention.query.weight)


def test_order_and_threads_change_nothing():
    model = build("gpt2")
    plan = wi.plan_init(model, "olmo2")
    forward = {k: v.clone() for k, v in materialize(model, "olmo2", seed=2, threads=1, block_size=50)
               .state_dict().items()}
    plan.blocks.reverse()
    plan.rows.reverse()
    fill_streams(model, plan, seed=2, threads=3, block_size=50)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in forward.items())


def test_what_each_block_needed():
    model = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 4))
    plan = wi.plan_init(model, "orthogonal")
    kinds = {(r.name, r.kind) for r in fill_streams(model, plan, seed=0)}
    assert ("0.weight", "whole") in kinds and ("1.weight", "deterministic") in kinds
    kinds = {(r.name, r.kind) for r in fill_streams(model, wi.plan_init(model, "he_uniform"), seed=0)}
    assert ("0.weight", "streams") in kinds and ("2.bias", "deterministic") in kinds


def test_the_scheme_draws_its_std():
    model = materialize(nn.Linear(512, 256), "he_normal", seed=0, nonlinearity="relu")  # options reach the plan
    assert float(model.weight.std()) == pytest.approx(math.sqrt(2 / 512), rel=0.02)
    assert float(model.bias.abs().max()) == 0.0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("scheme", ["he_normal", "xavier_uniform", "gpt2"])
def test_a_16_bit_model_holds_the_float32_draws_rounded(scheme, dtype):
    # (a truncated normal decides its rejections in the tensor's own dtype: not this rule)
    wide = materialize(build("llama"), scheme, seed=4, block_size=100)
    narrow = materialize(build("llama").to(dtype), scheme, seed=4, block_size=100)
    rounded = {k: v.to(dtype) for k, v in wide.state_dict().items()}
    assert [k for k, v in narrow.state_dict().items() if not torch.equal(v, rounded[k])] == []


def test_batchnorm_running_statistics_are_reset_on_meta():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    materialize(model, "he_normal")
    assert torch.equal(model[1].running_mean, torch.zeros(8)) and torch.equal(model[1].running_var, torch.ones(8))


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.register_buffer("mask", torch.tril(torch.ones(4, 4)))


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3, 3, 3))


def test_refusals_come_before_anything_is_allocated():
    with torch.device("meta"):
        masked, scaled = Masked(), Scale()
    with pytest.raises(UserError, match="mask.*built on the meta device and nothing recomputes"):
        materialize(masked, "he_normal")
    assert masked.linear.weight.is_meta
    with pytest.raises(UserError, match="no initialization rule.*uninitialized memory"):
        materialize(scaled, "he_normal")
    with pytest.raises(UserError, match="data-driven"):
        materialize(wi.mlp("4-4"), "lsuv")
    with pytest.raises(UserError, match="never moves a model"):
        materialize(wi.mlp("4-4"), "he_normal", device="meta")
    with pytest.raises(TypeError, match="seed must be an integer"):
        materialize(wi.mlp("4-4"), "he_normal", seed=1.5)
    with pytest.warns(UserWarning, match="no initialization rule"):
        materialize(Scale(), "he_normal")


# ---------------------------------------------------------------- other CPUs' kernels
DIGEST = """
import hashlib, json, sys, warnings
import torch
from tests.scale.test_materialize import PER_LAYER, build
from weightinit.scale import materialize
warnings.simplefilter("ignore")
out = {}
for scheme in PER_LAYER:
    digest = hashlib.blake2b(digest_size=8)
    for name, t in sorted(materialize(build("llama", meta=True), scheme, seed=9, block_size=100).state_dict().items()):
        digest.update(name.encode() + t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    out[scheme] = digest.hexdigest()
print(torch.backends.cpu.get_cpu_capability().lower(), json.dumps(out))
"""


def _vector_capabilities() -> list[str]:
    """The vectorized kernel families (AVX2, AVX-512) this CPU can run besides the one in use: every
    x86 CPU of the last decade runs one of them. (The scalar ``default`` kernels round a fused
    multiply-add and a logarithm otherwise, so they, and other architectures, draw other bits.)"""
    best = torch.backends.cpu.get_cpu_capability().lower()
    usable = {"avx2": ["avx2"], "avx512": ["avx2", "avx512"]}.get(best, [])
    return [c for c in usable if c != best]


@pytest.mark.slow
@pytest.mark.parametrize("capability", _vector_capabilities())
def test_the_weights_are_the_same_on_an_avx2_and_an_avx512_cpu(capability):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    runs = {}
    for family in (capability, torch.backends.cpu.get_cpu_capability().lower()):
        env = {**os.environ, "ATEN_CPU_CAPABILITY": family, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(root), str(root / "src"), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-c", DIGEST], capture_output=True, text=True, env=env, cwd=root,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        used, digests = done.stdout.strip().splitlines()[-1].split(" ", 1)
        assert used == family  # the run really took that family's kernels
        runs[family] = json.loads(digests)
    first, second = runs.values()
    assert [s for s in first if first[s] != second[s]] == []
