"""The experiment contract (issue #24): every experiment takes one config, refuses a bad value
naming it, and returns a result whose ``to_dict()`` is JSON and whose ``write(folder)`` writes
the files the command line writes. Device: CPU."""

from __future__ import annotations

import json

import pytest

from weightinit.boltzmann.trainer import RBMConfig
from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.errors import UserError
from weightinit.experiments._config import ConfigError
from weightinit.experiments._result import Result, group_by, run_key
from weightinit.experiments.compare import CompareConfig, compare
from weightinit.experiments.dbn import DBNConfig, dbn_experiment
from weightinit.experiments.diagnose import DiagnoseConfig, diagnose_inits
from weightinit.experiments.rbm import RBMExperimentConfig, rbm_experiment
from weightinit.experiments.reproduce.glorot2010 import Glorot2010Config, glorot2010
from weightinit.experiments.reproduce.he2015 import He2015Config, he2015
from weightinit.experiments.reproduce.hinton2006 import UpDownExperimentConfig
from weightinit.experiments.reproduce.lecture import LectureConfig, lecture
from weightinit.training.loop import TrainConfig


@pytest.mark.parametrize("build, message", [
    (lambda: CompareConfig(seeds=0), "seeds must be >= 1, got 0"),
    (lambda: DiagnoseConfig(batch=1), "batch must be >= 2, got 1"),
    (lambda: RBMExperimentConfig(hidden=0), "hidden must be >= 1, got 0"),
    (lambda: RBMExperimentConfig(ais_steps=0), "ais_steps must be >= 1, got 0"),
    (lambda: RBMExperimentConfig(raise_images=-1), "raise_images must be >= 0, got -1"),
    (lambda: DBNConfig(dropout=1.0), "dropout must be in [0, 1), got 1.0"),
    (lambda: DBNConfig(n_valid=0), "n_valid must be >= 1, got 0"),
    (lambda: DBNConfig(chain_steps=0), "chain_steps must be >= 1, got 0"),
    (lambda: DBNConfig(pretrain_epochs=0), "pretrain_epochs must be >= 1, got 0"),
    (lambda: DBNConfig(momentum=1.0), "momentum must be in [0, 1), got 1.0"),
    (lambda: DBNConfig(optimizer="adam", momentum=0.5), "momentum 0.5 applies to optimizer sgd only"),
    (lambda: RBMExperimentConfig(epochs=0), "epochs must be >= 1, got 0"),
    (lambda: RBMExperimentConfig(hidden=2**21), "hidden must be in [1, 1048576], got 2097152"),
    (lambda: DiagnoseConfig(seed=-1), "seed must be >= 0, got -1"),
    (lambda: TrainConfig(seed=2**32), "seed must be in [0, 4294967295], got 4294967296"),
    (lambda: RBMConfig(epochs=2**63), "epochs must be in [1, 9223372036854775807], got 9223372036854775808"),
    (lambda: UpDownExperimentConfig(top_hidden=0), "top_hidden must be >= 1, got 0"),
    (lambda: LectureConfig(seeds=0), "seeds must be >= 1, got 0"),
    (lambda: Glorot2010Config(epochs=0), "epochs must be >= 1, got 0"),
    (lambda: He2015Config(width=0), "width must be >= 1, got 0"),
])
def test_every_config_refuses_an_out_of_range_value_naming_it(build, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        build()


def test_a_config_error_names_the_parameter_in_python_and_the_option_on_the_command_line():
    with pytest.raises(ConfigError) as refused:
        CompareConfig(inits=("normal",), pretrain_epochs=3)
    assert str(refused.value).startswith("pretrain_epochs 3 applies to inits dbn only")
    assert refused.value.for_options().startswith("--pretrain-epochs 3 applies to --inits dbn only")
    assert "(--inits normal)" in refused.value.for_options()


def test_the_shared_helpers():
    assert group_by([("a", 1), ("b", 2), ("a", 3)], lambda x: x[0]) == {"a": [("a", 1), ("a", 3)], "b": [("b", 2)]}
    assert run_key("he-depth-3", 5, first_seed=5) == "he-depth-3" and run_key("x", 6, first_seed=5) == "x-seed6"
    assert run_key("softmax", 777) == "softmax-seed777"


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


def _cli_files(tmp_path, argv) -> set[str]:
    out = tmp_path / "cli"
    assert main([*argv, "--no-progress", "--out", str(out)]) == 0
    return {p.name for p in out.iterdir()} - {"settings.json", "checkpoints", "checkpoint"}


def _python_files(tmp_path, result) -> set[str]:
    assert isinstance(result, Result)
    json.loads(json.dumps(result.to_dict()))  # plain JSON: no tensors, no modules
    assert isinstance(result.table(), str) and all(isinstance(f, str) for f in result.findings())
    folder = tmp_path / "python"  # not there yet: write() creates it
    written = result.write(folder)
    on_disk = {p.name for p in folder.iterdir()}
    assert set(written) <= on_disk and {name for name in on_disk if not name.endswith(".sha256")} == set(written)
    return on_disk


SYNTHETIC = ["--dataset", "synthetic", "--device", "cpu"]
CASES = {
    "compare": (lambda d: compare(d, CompareConfig(arch="64-8-10", inits=("normal",), diagnose=True,
                                                   train=TrainConfig(epochs=1, device="cpu"))),
                ["compare", *SYNTHETIC, "--arch", "64-8-10", "--inits", "normal", "--epochs", "1", "--diagnose"]),
    "diagnose": (lambda d: diagnose_inits(d, DiagnoseConfig(arch="64-8-10", inits=("normal",), batch=8)),
                 ["diagnose", "--dataset", "synthetic", "--arch", "64-8-10", "--inits", "normal", "--batch", "8"]),
    "lecture": (lambda d: lecture(d, LectureConfig(epochs=1, device="cpu")),
                ["reproduce", "lecture", *SYNTHETIC, "--epochs", "1"]),
    "he2015": (lambda d: he2015(d, He2015Config(width=64, epochs=1, device="cpu")),
               ["reproduce", "he2015", *SYNTHETIC, "--quick", "--epochs", "1"]),
    "rbm": (lambda d: rbm_experiment(d, RBMExperimentConfig(hidden=8, train=RBMConfig(device="cpu"), epochs=1,
                                                            ais_chains=4, ais_steps=10, raise_images=2,
                                                            sample_steps=2, chain_steps=2)),
            ["rbm", *SYNTHETIC, "--hidden", "8", "--epochs", "1", "--ais-chains", "4", "--ais-steps", "10",
             "--raise-images", "2", "--sample-steps", "2", "--chain-steps", "2"]),
    "dbn": (lambda d: dbn_experiment(d, DBNConfig(layers=(64, 8), pretrain=RBMConfig(device="cpu"),
                                                  train=TrainConfig(device="cpu"), pretrain_epochs=1,
                                                  finetune_epochs=1, chain_steps=2)),
            ["dbn", *SYNTHETIC, "--layers", "64-8", "--pretrain-epochs", "1", "--finetune-epochs", "1",
             "--quick"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_python_writes_the_files_the_cli_writes(name, synthetic, tmp_path):
    run, argv = CASES[name]
    assert _python_files(tmp_path, run(synthetic)) == _cli_files(tmp_path, argv)


@pytest.mark.slow
def test_glorot2010_writes_its_figure_of_the_init_too(synthetic, tmp_path):
    result = glorot2010(synthetic, Glorot2010Config(hidden=(8, 8), epochs=1, activations=("tanh",), device="cpu"))
    assert _python_files(tmp_path, result) == {"results.json", "report.md", "curves.png", "std_by_layer.png"}
    assert json.loads((tmp_path / "python" / "results.json").read_text())["findings"] == result.findings()
