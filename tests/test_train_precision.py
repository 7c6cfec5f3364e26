"""--precision and --channels-last keep the math: bf16 losses near fp32's, channels-last equal, fp32 kept where it must be."""

import copy

import pytest
import torch
import yaml

from fomm_teach.checkpoint import load_trained_models, read_checkpoint
from fomm_teach.cli import main as cli_main
from fomm_teach.config import load_config
from fomm_teach.errors import FommTeachError
from fomm_teach.losses import DiscriminatorFullModel, GeneratorFullModel
from fomm_teach.models import build_models
from fomm_teach.precision import (Autocast, autocast_networks, autocast_vgg, check_precision, grad_scaler,
                                  to_channels_last)
from fomm_teach.train import build_optimizers, make_batches, parse_log, train, train_step
from one_thread import one_thread  # noqa: F401  (autouse: every test here runs on one torch thread)

# Tolerance of bf16 against fp32, same weights, same batch, same equivariance transform: 5 % relative
# (or 2e-3 absolute for terms near zero). Why: bf16 keeps 8 significant bits, so every value the
# networks hand back is rounded by up to 2⁻⁹ ≈ 0.2 % of itself, and more after ~40 layers. The
# terms built on keypoint *positions* feel it most: a soft-argmax coordinate in [-1, 1] carries an
# error of a few 10⁻³, and equivariance_value is an L1 distance of such coordinates of only ≈ 0.2.
# Measured here (one CPU, seed 0): l1_pyramid 0.007 %, equivariance_jacobian 0.16 %,
# equivariance_value 1.3 % (fp16, 11 bits: at most 0.25 %). 5 % leaves room for other CPUs' bf16
# kernels and stays far below what a wrong recipe gives (a term off by tens of percent, or not finite).
BF16_RELATIVE, BF16_ABSOLUTE = 0.05, 2e-3


def tiny_config(num_epochs=1, num_videos=8, **train_overrides):
    config = load_config("synthetic-fast")
    config["dataset_params"]["synthetic_params"]["num_videos"] = num_videos
    config["dataset_params"]["curriculum"] = {"level": "windmill", "max_gap": 2}
    config["train_params"].update(num_epochs=num_epochs, batch_size=4, checkpoint_freq=1, **train_overrides)
    return config


def one_step(config, models, x, precision="fp32", channels_last=False):
    """train_step on copies of `models`, with the equivariance transform drawn from seed 0."""
    models = copy.deepcopy(models)
    if channels_last:
        for model in models.values():
            model.to(memory_format=torch.channels_last)
        x = to_channels_last(x)
    networks = autocast_networks(models, precision, "cpu")
    train_params = config["train_params"]
    generator_full = GeneratorFullModel(networks["kp_detector"], networks["generator"], networks["discriminator"],
                                        train_params)
    autocast_vgg(generator_full, precision, "cpu")
    discriminator_full = DiscriminatorFullModel(networks["kp_detector"], networks["generator"],
                                                networks["discriminator"], train_params)
    optimizers = build_optimizers(models, train_params)
    scaler = grad_scaler(precision, "cpu")
    torch.manual_seed(0)
    losses, generated = train_step(generator_full, discriminator_full, optimizers, x, scaler)
    return losses, generated, models, scaler


def setup(config):
    torch.manual_seed(0)
    models = build_models(config)
    x = next(make_batches(config).epoch(0))
    return models, x


def test_a_bf16_step_gives_the_fp32_losses_within_tolerance():
    config = tiny_config()
    models, x = setup(config)
    fp32, generated32, _, _ = one_step(config, models, x)
    bf16, generated16, trained, _ = one_step(config, models, x, "bf16")
    assert set(bf16) == set(fp32) == {"l1_pyramid", "equivariance_value", "equivariance_jacobian"}
    for name, value in fp32.items():
        assert bf16[name] == pytest.approx(value, rel=BF16_RELATIVE, abs=BF16_ABSOLUTE), name
    # the networks did run in bf16 (else this test would prove nothing), and handed fp32 back
    assert not torch.equal(generated16["prediction"], generated32["prediction"])
    assert generated16["prediction"].dtype == generated16["kp_driving"]["jacobian"].dtype == torch.float32
    assert generated16["transformed_frame"].dtype == torch.float32   # the equivariance transform stays fp32
    # the weights stay fp32 (autocast computes in bf16, it does not convert the parameters)
    assert all(p.dtype == torch.float32 for model in trained.values() for p in model.parameters())


def test_channels_last_keeps_the_losses():
    config = tiny_config()
    models, x = setup(config)
    plain, _, _, _ = one_step(config, models, x)
    nhwc, _, trained, _ = one_step(config, models, x, channels_last=True)
    for name, value in plain.items():
        assert nhwc[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    conv = next(m for m in trained["generator"].modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_fp16_trains_with_a_gradient_scaler():
    config = tiny_config()
    models, x = setup(config)
    assert grad_scaler("fp32", "cpu") is None and grad_scaler("bf16", "cpu") is None
    assert isinstance(grad_scaler("fp16", "cpu"), torch.amp.GradScaler)
    fp32, _, _, _ = one_step(config, models, x)
    fp16, _, trained, scaler = one_step(config, models, x, "fp16")
    for name, value in fp32.items():   # fp16 has 11 significant bits: closer than bf16
        assert fp16[name] == pytest.approx(value, rel=BF16_RELATIVE, abs=BF16_ABSOLUTE), name
    # the scaler either stepped, or found inf gradients at its first scale (2¹⁶), skipped the step and
    # halved the scale; either way no weight turned nan or inf
    before = dict(models["generator"].named_parameters())
    changed = any(not torch.equal(p, before[n]) for n, p in trained["generator"].named_parameters())
    assert changed or scaler.get_scale() < 2.0 ** 16
    assert all(torch.isfinite(p).all() for model in trained.values() for p in model.parameters())


def test_autocast_wrapper_answers_the_networks_attributes():
    models = build_models(tiny_config())
    wrapped = Autocast(models["generator"], "cpu", torch.bfloat16)
    assert wrapped.num_channels == models["generator"].num_channels
    assert wrapped.align_corners == models["generator"].align_corners
    assert autocast_networks(models, "fp32", "cpu") is models


def test_an_unknown_precision_is_refused():
    with pytest.raises(FommTeachError, match="use one of fp32, bf16, fp16"):
        check_precision("fp8", "cpu")


def test_train_and_the_cli_accept_precision_and_channels_last(tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config(num_epochs=1), sort_keys=False))
    assert cli_main(["train", "--config", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "bf16"), "--device",
                     "cpu", "--precision", "bf16", "--channels-last", "--no-progress"]) == 0
    assert [epoch for epoch, _ in parse_log(tmp_path / "bf16" / "log.txt")] == [0]
    models = load_trained_models(tmp_path / "bf16" / "00000000-checkpoint.pth.tar", tiny_config())   # the usual format
    assert all(p.dtype == torch.float32 for model in models.values() for p in model.parameters())
    assert cli_main(["train", "--config", "synthetic-fast", "--precision", "fp8"]) != 0
    assert "invalid choice: 'fp8'" in capsys.readouterr().err


def test_an_fp16_run_saves_its_gradient_scale_and_resumes_exactly(tmp_path):
    config = tiny_config(num_epochs=2, num_videos=4)   # one step per epoch
    torch.manual_seed(5)
    uninterrupted = train(config, tmp_path / "a", precision="fp16", progress=False)
    torch.manual_seed(5)
    train(config, tmp_path / "b", precision="fp16", progress=False,
          callback=lambda event: event["kind"] == "epoch" and event["epoch"] == 0)
    saved = read_checkpoint(tmp_path / "b" / "00000000-checkpoint.pth.tar")["grad_scaler"]
    assert saved["scale"] < 2.0 ** 16   # its first steps found inf gradients and lowered the scale
    resumed = train(config, tmp_path / "b", resume=tmp_path / "b" / "00000000-checkpoint.pth.tar", precision="fp16",
                    progress=False)
    assert read_checkpoint(resumed["checkpoint"])["grad_scaler"] == read_checkpoint(uninterrupted["checkpoint"])["grad_scaler"]
    for name in ("kp_detector", "generator"):
        for key, value in uninterrupted["models"][name].state_dict().items():
            assert torch.equal(resumed["models"][name].state_dict()[key], value), (name, key)
