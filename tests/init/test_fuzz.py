"""Property-based fuzzing (hypothesis) of every public entry point a user feeds values to:
the initializers, init_model, the RBM, the file readers and the CLI's argument handling.

The property is the same everywhere: an input either works - and then the result holds no
NaN/inf that the input did not hold - or raises ValueError/TypeError whose message names
the parameter (or the file) at fault. Never another exception type, never a hang.

``make test`` runs the "ci" profile (a bounded number of examples per test); ``make fuzz``
runs the "fuzz" profile, many more. See tests/conftest.py.
"""

from __future__ import annotations

import gzip
import inspect
import io
import math
import pickle
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import weightinit.init as wi
from weightinit import init_model
from weightinit.boltzmann import RBM, RBMConfig, train_rbm
from weightinit.data.readers import DataError, idx_bytes, read_idx, read_npz, read_pkl
from weightinit.modelinit.fans import layer_fans, layer_nonlinearities
from weightinit.modelinit.schemes import SCHEMES

from ..mnist_files import official_arrays

FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ------------------------------------------------------------------ values a user might pass
wild_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 1e300, -1e300, float("nan"), float("inf")]),
)
wild_ints = st.one_of(st.integers(-5, 10), st.sampled_from([0, 1, 2, -1, 2**31, 10**12]))
wild_strings = st.one_of(
    st.sampled_from(["fan_in", "fan_out", "fan_avg", "relu", "leaky_relu", "tanh", "sigmoid", "linear", "selu",
                     "gelu", "elu", "silu", "mish", "softsign", "conv2d", "normal", "uniform", "truncated_normal",
                     "untruncated_normal", "bernoulli", "gaussian", "auto", "zeros", "", "RELU", "fan-in"]),
    st.text(max_size=8),
)
wild_values = st.one_of(wild_floats, wild_ints, wild_strings, st.none(), st.booleans(),
                        st.lists(st.integers(0, 3), max_size=3), st.just(torch.tensor(1.0)))


@st.composite
def tensors(draw, max_dims: int = 5, max_side: int = 5) -> torch.Tensor:
    shape = draw(st.lists(st.integers(0, max_side), max_size=max_dims))
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
                                  torch.bool]))
    return torch.zeros(shape, dtype=dtype)


def _names_a_parameter(message: str, names) -> bool:
    return any(name in message for name in names)


def _finite(value) -> bool:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return bool(torch.isfinite(value).all())
    if isinstance(value, float):
        return math.isfinite(value)
    return True


INITIALIZERS = [getattr(wi, name) for name in wi.__all__ if callable(getattr(wi, name)) and name.endswith("_")]


# ------------------------------------------------------------------ init.py
@pytest.mark.parametrize("initializer", INITIALIZERS, ids=lambda f: f.__name__)
@FUZZ
@given(data=st.data())
@pytest.mark.slow
def test_initializers_work_or_name_the_bad_parameter(initializer, data):
    signature = inspect.signature(initializer)
    tensor = data.draw(tensors(), label="tensor")
    kwargs, changed = {}, ["tensor"]
    for name, parameter in list(signature.parameters.items())[1:]:
        if name == "generator":
            kwargs[name] = data.draw(st.sampled_from([None, torch.Generator().manual_seed(0), "seed", 3]), label=name)
            changed.append(name)
        elif parameter.default is inspect.Parameter.empty or data.draw(st.booleans(), label=f"set {name}"):
            kwargs[name] = data.draw(wild_values, label=name)
            changed.append(name)
    before = tensor.clone()
    try:
        result = initializer(tensor, **kwargs)
    except (ValueError, TypeError) as error:
        assert _names_a_parameter(str(error), changed), f"{initializer.__name__}: {error!r} names none of {changed}"
        assert torch.equal(tensor, before), "a refused call must leave the tensor untouched"
        return
    assert result is tensor
    assert _finite(result), f"{initializer.__name__}({kwargs}) wrote NaN/inf"


@FUZZ
@given(nonlinearity=wild_values, param=st.one_of(st.none(), wild_values))
def test_calculate_gain_works_or_names_the_parameter(nonlinearity, param):
    try:
        gain = wi.calculate_gain(nonlinearity, param)
    except (ValueError, TypeError) as error:
        assert _names_a_parameter(str(error), ["nonlinearity", "param"]), repr(error)
        return
    assert isinstance(gain, float) and math.isfinite(gain) and gain > 0


@FUZZ
@given(tensor=tensors())
def test_fans_work_or_name_the_tensor(tensor):
    try:
        fan_in, fan_out = wi.fans(tensor)
    except (ValueError, TypeError) as error:
        assert "tensor" in str(error), repr(error)
        return
    # (out, in, *kernel): recomputed here from the shape, as torch.nn.init defines the fans
    receptive_field = int(np.prod(tensor.shape[2:], dtype=np.int64))
    assert (fan_in, fan_out) == (tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field)
    assert tensor.dim() >= 2  # a 1-D or 0-D tensor has no fans: it must have been refused above


# ------------------------------------------------------------------ schemes.py
@st.composite
def small_models(draw) -> nn.Module:
    kind = draw(st.sampled_from(["mlp", "conv", "convtranspose", "grouped", "empty"]))
    activation = draw(st.sampled_from([nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.LeakyReLU(0.2), nn.SELU(), nn.GELU(),
                                       nn.Identity()]))
    if kind == "mlp":
        return nn.Sequential(nn.Linear(draw(st.integers(1, 6)), 5), activation, nn.Linear(5, 3))
    if kind == "conv":
        return nn.Sequential(nn.Conv2d(2, 4, draw(st.integers(1, 3))), activation, nn.Flatten())
    if kind == "convtranspose":
        return nn.Sequential(nn.ConvTranspose2d(4, 2, 4, stride=draw(st.integers(1, 3))), activation)
    if kind == "grouped":
        return nn.Sequential(nn.Conv1d(4, 8, 3, groups=draw(st.sampled_from([1, 2, 4]))), activation)
    return nn.Sequential(activation)


SCHEME_NAMES = sorted(set(SCHEMES) - {"dbn", "lsuv"})  # the data-driven ones train: see their own tests


@FUZZ
@given(model=small_models(), scheme=st.one_of(st.sampled_from(SCHEME_NAMES), wild_values),
       nonlinearity=st.one_of(st.just("auto"), wild_values), bias=st.one_of(st.just("auto"), wild_values),
       generator=st.sampled_from([None, torch.Generator().manual_seed(1), 5]))
def test_init_model_works_or_names_the_parameter(model, scheme, nonlinearity, bias, generator):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        init_model(model, scheme, nonlinearity=nonlinearity, bias=bias, generator=generator)
    except (ValueError, TypeError) as error:
        assert _names_a_parameter(str(error), ["scheme", "nonlinearity", "bias", "generator", "model", "param"]), \
            repr(error)
        after = model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), "a refused init_model must change nothing"
        return
    assert all(_finite(p) for p in model.parameters()), f"init_model({scheme!r}) wrote NaN/inf"


@FUZZ
@given(model=small_models())
def test_layer_fans_and_nonlinearities_never_fail_on_real_layers(model):
    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            fan_in, fan_out = layer_fans(layer)
            assert fan_in > 0 and fan_out > 0
    layer_nonlinearities(model)


# ------------------------------------------------------------------ rbm.py
@FUZZ
@given(n_visible=wild_values, n_hidden=wild_values, visible=wild_values)
def test_rbm_constructor_works_or_names_the_parameter(n_visible, n_hidden, visible):
    assume(not (isinstance(n_visible, int) and isinstance(n_hidden, int) and n_visible * n_hidden > 10**6))
    try:
        rbm = RBM(n_visible, n_hidden, visible)
    except (ValueError, TypeError) as error:
        assert _names_a_parameter(str(error), ["n_visible", "n_hidden", "visible"]), repr(error)
        return
    assert rbm.W.shape == (n_hidden, n_visible)


@st.composite
def visible_batches(draw, n_visible: int) -> torch.Tensor:
    rows = draw(st.integers(0, 4))
    cols = draw(st.sampled_from([n_visible, n_visible, n_visible + 1, 0]))
    values = draw(st.lists(st.one_of(st.sampled_from([0.0, 1.0, 0.5]), wild_floats), min_size=rows * cols,
                           max_size=rows * cols))
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.int64]))
    tensor = torch.tensor(values, dtype=torch.float64).reshape(rows, cols)
    return tensor.to(dtype) if dtype.is_floating_point else tensor.clamp(-5, 5).nan_to_num(0).to(dtype)


METHODS = ["prob_h", "sample_h", "free_energy", "reconstruct", "gibbs", "pseudo_likelihood", "reconstruction_error"]


@FUZZ
@given(visible=st.sampled_from(["bernoulli", "gaussian"]), method=st.sampled_from(METHODS), data=st.data())
def test_rbm_methods_work_or_name_the_input(visible, method, data):
    rbm = RBM(4, 3, visible)
    v = data.draw(visible_batches(4), label="v")
    kwargs = {"steps": data.draw(wild_values, label="steps")} if method == "gibbs" else {}
    try:
        out = getattr(rbm, method)(v, **kwargs)
    except (ValueError, TypeError) as error:
        assert _names_a_parameter(str(error), ["v", "steps", "visible"]), repr(error)
        return
    assert torch.isfinite(v).all(), f"{method} accepted a non-finite batch"
    assert _finite(out), f"{method} returned NaN/inf for a finite batch"


@FUZZ
@given(field=st.sampled_from(["epochs", "batch_size", "lr", "k", "persistent", "momentum", "final_momentum",
                              "momentum_epochs", "weight_decay", "seed", "device", "precision"]),
       value=wild_values)
def test_rbm_config_works_or_names_the_field(field, value):
    try:
        config = RBMConfig(**{"device": "cpu", field: value})  # device: cpu, unless the field fuzzed is device
    except (ValueError, TypeError) as error:
        assert field in str(error), repr(error)
        return
    if field in ("epochs", "batch_size", "k") and value <= 3:  # a cheap valid config: it must train
        history = train_rbm(RBM(4, 3), torch.rand(12, 4).round(), config)
        assert all(math.isfinite(e.reconstruction_error) for e in history.epochs)


# ------------------------------------------------------------------ readers
def _real_idx_prefix() -> bytes:
    images = official_arrays()[2]  # the official test images, re-encoded as their IDX file
    return idx_bytes(images[:3])


@FUZZ
@given(data=st.binary(max_size=300), compress=st.booleans())
def test_read_idx_on_random_bytes_is_a_data_error(tmp_path, data, compress):
    path = tmp_path / "f"
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        array = read_idx(path, expect_ndim=3)
    except DataError as error:
        assert str(path) in str(error)
        return
    assert array.dtype == np.uint8 and array.ndim == 3


@FUZZ
@given(cut=st.integers(0, 16 + 3 * 784 - 1), compress=st.booleans(), flip=st.one_of(st.none(), st.integers(0, 15)))
def test_truncated_or_altered_real_idx_headers_are_data_errors(tmp_path, cut, compress, flip):
    data = bytearray(_real_idx_prefix())
    if flip is not None:
        data[flip] ^= 0xFF
    data = bytes(data[:cut]) if flip is None else bytes(data)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(gzip.compress(data)[: max(len(data) // 2, 1)] if compress else data)
    try:
        array = read_idx(path, expect_ndim=3)
    except DataError as error:
        assert str(path) in str(error)
        return
    assert flip is not None and array.ndim == 3  # only a flip that yields another valid header may load


@FUZZ
@given(data=st.binary(max_size=400), kind=st.sampled_from(["raw", "gzip", "zip"]))
def test_read_npz_and_read_pkl_on_random_bytes_are_data_errors(tmp_path, data, kind):
    if kind == "gzip":
        data = gzip.compress(data)
    elif kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("x_train.npy", data)
        data = buffer.getvalue()
    for reader, name in ((read_npz, "mnist.npz"), (read_pkl, "mnist.pkl.gz")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError) as caught:
            reader(path)
        assert str(path) in str(caught.value)


@FUZZ
@given(payload=st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats()),
                            lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner)),
                            max_leaves=8))
def test_read_pkl_on_random_pickled_structures_is_a_data_error(tmp_path, payload):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(payload)))
    with pytest.raises(DataError):
        read_pkl(path)


# ------------------------------------------------------------------ the CLI's arguments
class _Reached(BaseException):
    """Raised in place of loading data: the arguments were accepted."""


TOKENS = ["compare", "rbm", "dbn", "reproduce", "diagnose", "schemes", "data", "fetch", "mnist", "hinton2006",
          "he2015", "glorot2010", "--epochs", "--lr", "--seeds", "--inits", "--arch", "--activation", "--k",
          "--hidden", "--visible", "--batch-size", "--momentum", "--optimizer", "--device", "--precision",
          "--nonlinearity", "--layers", "--pretrain-epochs", "--n-valid", "--dropout", "--batch", "--resume",
          "--quick", "--pcd", "--json", "--seed", "--ais-steps", "--weight-decay", "--ema", "--refit", "--no-refit",
          "--compile", "--lr-decay", "0.999", "-1", "0", "1", "2.5", "nan",
          "inf", "-inf", "1e309", "relu", "xavier_uniform,he_normal", "normal,,bogus", "784-256-10", "64-16",
          "0-5", "lecture", "bf16", "cuda", "gaussian", "sgd", "adam", "x", ""]


@pytest.mark.auto_device  # the arguments are only checked (resolve_device validates --device); nothing runs
@FUZZ
@given(argv=st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)), max_size=7))
def test_cli_arguments_give_one_line_and_exit_2_or_reach_the_work(argv, monkeypatch, capsys, tmp_path):
    from weightinit import cli
    from weightinit.cli import compare, data, dbn, diagnose, rbm, reproduce

    def reached(*args, **kwargs):
        raise _Reached

    for command in (compare, dbn, diagnose, rbm, reproduce):  # the commands that load data
        monkeypatch.setattr(command, "load_dataset", reached)
    monkeypatch.setattr(data, "fetch_mnist", reached)
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(argv)
    except SystemExit as exit:  # argparse: --help/--version exit 0, errors exit 2
        code = exit.code
    except _Reached:
        return
    err = capsys.readouterr().err
    if code == 2:
        lines = [line for line in err.strip().splitlines() if line]
        assert len(lines) == 1 and "error" in lines[0], err
        assert "Traceback" not in err
    else:
        assert code == 0, (code, err)
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ whole runs
# Past argument parsing: whole commands on tiny data (digits, one epoch, small networks) with
# drawn options. Each either finishes (exit 0) with strict-JSON results whose numbers are finite
# wherever the run did not diverge and figures that are not blank, or is refused: exit 2, one
# line, and then nothing was trained (the tripwire is the run folder: no checkpoints in it).
# A handful of examples in `make test`, many more in `make fuzz`.
WHOLE_RUNS = max(4, settings.default.max_examples // 8)
FLOATS = ["0.001", "0.1", "1", "1e30", "0", "-1", "nan"]


@st.composite
def whole_commands(draw) -> list[str]:
    command = draw(st.sampled_from(["compare", "rbm", "dbn", "diagnose"]))
    argv = [command, "--dataset", "digits", "--no-progress"] + (["--device", "cpu"] if command != "diagnose" else [])

    def option(name, values):
        if draw(st.booleans()):
            argv.extend([name, draw(st.sampled_from(values))])

    if command == "compare":
        argv += ["--epochs", "1", "--arch", draw(st.sampled_from(["64-8-10", "64-10", "lecture", "64-8-5"])),
                 "--inits", draw(st.sampled_from(["he_normal", "normal,xavier_uniform", "lsuv", "dbn", "bogus"]))]
        option("--optimizer", ["sgd", "adam", "rmsprop"])
        option("--momentum", ["0", "0.9", "1"])
        option("--lr", FLOATS)
        option("--batch-size", ["1000", "500", "0"])
        option("--seeds", ["1", "2", "0"])
        option("--activation", ["tanh", "sigmoid", "swish"])
        option("--nonlinearity", ["linear", "bogus"])
        option("--pretrain-epochs", ["1", "0"])
    elif command == "rbm":
        argv += ["--epochs", "1", "--ais-chains", "2", "--ais-steps", draw(st.sampled_from(["5", "0"])),
                 "--sample-steps", "3", "--hidden", draw(st.sampled_from(["1", "8", "0"]))]
        option("--lr", FLOATS)
        option("--k", ["1", "2", "0"])
        option("--visible", ["gaussian", "poisson"])
        option("--batch-size", ["1000", "0"])
        option("--momentum", ["0", "0.99", "1"])
        if draw(st.booleans()):
            argv.append("--pcd")
    elif command == "dbn":
        argv += ["--pretrain-epochs", "1", "--finetune-epochs", "1",
                 "--layers", draw(st.sampled_from(["64-8", "64-8-8", "784-8", "64"]))]
        option("--n-valid", ["100", "1436", "1437", "0"])
        option("--dropout", ["0.5", "1.0"])
        option("--optimizer", ["adam", "sgd"])
        option("--momentum", ["0.5", "1"])
        option("--lr", FLOATS)
        option("--batch-size", ["1000", "0"])
        if draw(st.booleans()):
            argv.append("--refit")
    else:
        argv += ["--arch", draw(st.sampled_from(["64-8-8-10", "784-8-10", "lecture"])),
                 "--inits", draw(st.sampled_from(["normal,he_normal", "lsuv", "zeros", "nope"]))]
        option("--batch", ["2", "1", "5000"])
        option("--activation", ["relu", "sigmoid", "swish"])
    return argv


def _all_finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return True


@settings(max_examples=WHOLE_RUNS, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=whole_commands())
@pytest.mark.slow
def test_whole_runs_finish_with_finite_results_or_are_refused_before_work(argv, tmp_path_factory, capsys):
    import json

    from matplotlib.image import imread

    from weightinit.cli import main

    out = tmp_path_factory.mktemp("run") / "out"
    code = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err, (argv, err)
    if code == 2:
        lines = [line for line in err.strip().splitlines() if line.startswith("weightinit")]
        assert len(lines) == 1 and lines[0].startswith("weightinit: error:"), (argv, err)
        assert not (out.exists() and any(out.rglob("*.pt"))), f"{argv}: refused after training began"
        return
    assert code == 0, (argv, err)
    results = json.loads((out / "results.json").read_text())  # strict JSON: no NaN tokens
    runs = results.get("runs") or []
    if not any(run.get("diverged") for run in runs if isinstance(run, dict)):
        assert _all_finite(results), f"{argv}: non-finite numbers in a run that did not diverge"
    for figure in out.glob("*.png"):
        pixels = imread(figure)[..., :3]
        assert pixels.std() > 0.02, f"{argv}: {figure.name} is blank"
