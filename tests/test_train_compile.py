"""--compile: the training step runs through torch.compile and the checkpoint stays the plain modules'.

The training run here compiles with the ``aot_eager`` backend: TorchDynamo traces the networks and
AOTAutograd builds their forward and backward graphs, as with ``--compile`` (inductor), but no
kernels are generated. Inductor on this CPU took 8 minutes for the first step of this tiny config
(measured on 2 loaded cores); aot_eager takes well under a minute and exercises the same wrapping.
"""

import pytest
import torch
import torch._dynamo
from torch import nn

from fomm_teach.checkpoint import read_checkpoint
from fomm_teach.cli import main as cli_main
from fomm_teach.config import load_config
from fomm_teach.models import build_models
from fomm_teach.precision import compile_networks
from fomm_teach.train import train
from one_thread import one_thread  # noqa: F401  (autouse: every test here runs on one torch thread)

MODULES = ("kp_detector", "generator", "discriminator")


def tiny_config():
    config = load_config("synthetic-fast")
    config["dataset_params"]["synthetic_params"]["num_videos"] = 8
    config["dataset_params"]["curriculum"] = {"level": "windmill", "max_gap": 2}
    config["train_params"].update(num_epochs=1, batch_size=4, checkpoint_freq=1)   # 2 steps
    return config


def test_a_compiled_run_trains_like_an_eager_one_and_saves_plain_modules(tmp_path):
    config = tiny_config()
    torch.manual_seed(0)
    eager = train(config, tmp_path / "eager", progress=False, visualize_every=0)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    torch.manual_seed(0)
    compiled = train(config, tmp_path / "compiled", progress=False, visualize_every=0, compile_backend="aot_eager")
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= len(MODULES)   # it did go through dynamo
    (_, eager_means), = eager["log"]
    (_, compiled_means), = compiled["log"]
    assert compiled_means.keys() == eager_means.keys()
    for name, value in eager_means.items():   # aot_eager runs the same kernels: equal up to float order
        assert compiled_means[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name

    checkpoint = read_checkpoint(compiled["checkpoint"])
    plain = build_models(config)
    for name in MODULES:
        assert not any(key.startswith("_orig_mod") for key in checkpoint[name]), name
        plain[name].load_state_dict(checkpoint[name], strict=True)
        assert checkpoint[name].keys() == read_checkpoint(eager["checkpoint"])[name].keys()
    assert torch.equal(plain["generator"].state_dict()["final.weight"],
                       compiled["models"]["generator"].state_dict()["final.weight"])


def test_compiling_on_the_cpu_warns_that_it_rarely_helps():
    with pytest.warns(UserWarning, match="rarely makes training faster"):
        compiled = compile_networks({"one": nn.Linear(2, 2)}, "cpu")
    assert isinstance(compiled["one"], torch._dynamo.eval_frame.OptimizedModule)
    assert compiled["one"].in_features == 2   # the network's attributes, as the full models read them


def test_train_command_line_passes_compile_workers_and_data(tmp_path, monkeypatch):
    seen = {}

    def fake_train(config, out_dir, **options):
        seen.update(config=config, options=options)
        return {"checkpoint": None}

    monkeypatch.setattr("fomm_teach.train.train", fake_train)
    argv = ["train", "--config", "vox-256", "--out", str(tmp_path / "run"), "--device", "cpu"]
    assert cli_main(argv + ["--compile", "--workers", "3", "--data", str(tmp_path / "vox")]) == 0
    assert seen["options"]["compile_backend"] == "inductor"
    assert seen["config"]["train_params"]["num_workers"] == 3
    assert seen["config"]["dataset_params"]["root_dir"] == str(tmp_path / "vox")
    assert cli_main(argv) == 0   # off by default; the config's data and workers stay
    assert seen["options"]["compile_backend"] is None
    assert "num_workers" not in seen["config"]["train_params"]
    assert seen["config"]["dataset_params"]["root_dir"] == "data/vox-png"
