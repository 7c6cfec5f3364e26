"""The training loop: optimisers, one step, log format, checkpoints, exact resume, nan handling, CLI."""

import re

import pytest
import torch

from fomm_teach.checkpoint import MODEL_NAMES, load_checkpoint, read_checkpoint
from fomm_teach.cli import main as cli_main
from fomm_teach.config import load_config
from fomm_teach.errors import FommTeachError
from fomm_teach.losses import DiscriminatorFullModel, GeneratorFullModel
from fomm_teach.models import build_models
from fomm_teach.train import (build_optimizers, build_schedulers, epoch_means, format_log_line, make_batches,
                              parse_log, random_affine_pair, scheduled, train, train_step, visualize)
from one_thread import one_thread  # noqa: F401  (autouse: every test here runs on one torch thread)


def tiny_config(num_epochs=2, **train_overrides):
    """synthetic-fast shrunk: 3 steps of 4 pairs per epoch."""
    config = load_config("synthetic-fast")
    config["dataset_params"]["synthetic_params"]["num_videos"] = 12
    config["dataset_params"]["curriculum"] = {"level": [[0, "rigid"], [1, "windmill"]], "max_gap": 2,
                                              "affine_warmup": {"epochs": 1, "sigma": 0.05}}
    config["train_params"].update(num_epochs=num_epochs, batch_size=4, checkpoint_freq=1, **train_overrides)
    return config


def full_models(config):
    models = build_models(config)
    train_params = config["train_params"]
    generator_full = GeneratorFullModel(models["kp_detector"], models["generator"], models["discriminator"], train_params)
    discriminator_full = DiscriminatorFullModel(models["kp_detector"], models["generator"], models["discriminator"],
                                                train_params)
    return models, generator_full, discriminator_full


def fixed_batch(config, seed=0):
    torch.manual_seed(seed)
    return next(make_batches(config).epoch(1))


def test_optimizers_are_the_authors_adam_and_schedule_divides_by_ten():
    config = tiny_config(epoch_milestones=[2, 4], lr_kp_detector=1e-3)
    models = build_models(config)
    optimizers = build_optimizers(models, config["train_params"])
    assert set(optimizers) == {"generator", "kp_detector", "discriminator"}
    group = optimizers["kp_detector"].param_groups[0]
    assert group["betas"] == (0.5, 0.999) and group["lr"] == 1e-3 and group["weight_decay"] == 0
    assert group["params"][0] is next(models["kp_detector"].parameters())
    schedulers = build_schedulers(optimizers, config["train_params"])
    rates = []
    for _ in range(5):
        rates.append(optimizers["kp_detector"].param_groups[0]["lr"])
        optimizers["kp_detector"].step()
        schedulers["kp_detector"].step()
    assert rates == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5])


def test_one_step_changes_weights_and_steps_reduce_a_fixed_batch_loss():
    torch.manual_seed(0)
    config = tiny_config()
    models, generator_full, discriminator_full = full_models(config)
    optimizers = build_optimizers(models, config["train_params"])
    x = fixed_batch(config)
    before = {name: [p.detach().clone() for p in models[name].parameters()] for name in MODEL_NAMES}
    losses, generated = train_step(generator_full, discriminator_full, optimizers, x)
    assert set(losses) == {"l1_pyramid", "equivariance_value", "equivariance_jacobian"}
    for name in ("generator", "kp_detector"):
        assert any(not torch.equal(a, b) for a, b in zip(before[name], models[name].parameters())), name
    # generator_gan is 0: the discriminator is neither run nor stepped (spec §7)
    assert all(torch.equal(a, b) for a, b in zip(before["discriminator"], models["discriminator"].parameters()))
    assert generated["prediction"].shape == x["driving"].shape

    def reconstruction_loss():
        torch.manual_seed(1)   # the same equivariance warp each time
        with torch.no_grad():
            return generator_full(x)[0]["l1_pyramid"].item()

    start = reconstruction_loss()
    for _ in range(8):
        train_step(generator_full, discriminator_full, optimizers, x)
    assert reconstruction_loss() < 0.9 * start


def test_gan_step_updates_the_discriminator_and_logs_disc_gan():
    torch.manual_seed(0)
    config = tiny_config()
    config["train_params"]["loss_weights"]["generator_gan"] = 1
    models, generator_full, discriminator_full = full_models(config)
    optimizers = build_optimizers(models, config["train_params"])
    before = [p.detach().clone() for p in models["discriminator"].parameters()]
    losses, _ = train_step(generator_full, discriminator_full, optimizers, fixed_batch(config))
    assert {"gen_gan", "feature_matching", "disc_gan"} <= set(losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, models["discriminator"].parameters()))
    assert all(p.grad is None or not p.grad.any() for p in models["discriminator"].parameters())


def test_epoch_means_and_log_line_format(tmp_path):
    means = epoch_means([{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 6.0}, {"a": 5.0, "b": 1.0}])
    assert list(means) == ["a", "b"] and means == pytest.approx({"a": 3.0, "b": 3.0})
    line = format_log_line(12, {"perceptual": 0.123456, "equivariance_value": 2})
    assert line == "00000012) perceptual - 0.12346; equivariance_value - 2.00000"
    (tmp_path / "log.txt").write_text(line + "\n")
    assert parse_log(tmp_path / "log.txt") == [(12, {"perceptual": 0.12346, "equivariance_value": 2.0})]


def test_curriculum_schedule_and_affine_warmup():
    assert scheduled([[0, "rigid"], [3, "windmill"]], 2) == "rigid"
    assert scheduled([[0, "rigid"], [3, "windmill"]], 3) == "windmill"
    assert scheduled(7, 100) == 7
    source = torch.rand(2, 3, 16, 16)
    assert torch.allclose(random_affine_pair(source, 0.0), source, atol=1e-5)   # sigma 0: identity warp
    assert not torch.allclose(random_affine_pair(source, 0.1), source, atol=1e-2)
    batches = make_batches(tiny_config())
    assert batches.steps_per_epoch() == 3
    assert batches.videos(0).level == "rigid" and batches.videos(1).level == "windmill"


def test_train_writes_log_pictures_and_checkpoints_in_the_authors_layout(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(num_epochs=2)
    result = train(config, tmp_path, progress=False)
    rows = (tmp_path / "log.txt").read_text().splitlines()
    assert len(rows) == 2
    for epoch, row in enumerate(rows):
        assert re.fullmatch(rf"{epoch:08d}\) l1_pyramid - \d+\.\d{{5}}; equivariance_value - \d+\.\d{{5}}; "
                            r"equivariance_jacobian - \d+\.\d{5}", row), row
    assert [epoch for epoch, _ in result["log"]] == [0, 1]
    assert sorted(p.name for p in (tmp_path / "train-vis").iterdir()) == ["00000000-rec.png", "00000001-rec.png"]
    assert result["checkpoint"] == tmp_path / "00000001-checkpoint.pth.tar"
    checkpoint = read_checkpoint(result["checkpoint"])
    authors_keys = {"generator", "kp_detector", "discriminator", "optimizer_generator", "optimizer_kp_detector",
                    "optimizer_discriminator", "epoch"}
    assert authors_keys <= set(checkpoint) and checkpoint["epoch"] == 1
    fresh = build_models(config)
    assert load_checkpoint(result["checkpoint"], fresh) == 1
    for name in MODEL_NAMES:
        for key, value in result["models"][name].state_dict().items():
            assert torch.equal(fresh[name].state_dict()[key], value), (name, key)


def test_kill_and_resume_equals_an_uninterrupted_run(tmp_path):
    config = tiny_config(num_epochs=3, epoch_milestones=[1])
    torch.manual_seed(5)
    uninterrupted = train(config, tmp_path / "a", progress=False)

    torch.manual_seed(5)
    train(config, tmp_path / "b", progress=False, callback=lambda event: event["kind"] == "epoch" and event["epoch"] == 1)
    assert sorted(p.name for p in (tmp_path / "b").glob("*.pth.tar"))[-1] == "00000001-checkpoint.pth.tar"
    torch.manual_seed(123)   # whatever state the new process has: the checkpoint's RNG state wins
    resumed = train(config, tmp_path / "b", resume=tmp_path / "b" / "00000001-checkpoint.pth.tar", progress=False)
    assert [epoch for epoch, _ in resumed["log"]] == [2]
    assert resumed["log"][0][1] == pytest.approx(uninterrupted["log"][2][1], rel=1e-5)
    for name in MODEL_NAMES:
        for key, value in uninterrupted["models"][name].state_dict().items():
            assert torch.allclose(resumed["models"][name].state_dict()[key], value, atol=1e-6), (name, key)
    a, b = read_checkpoint(uninterrupted["checkpoint"]), read_checkpoint(resumed["checkpoint"])
    assert a["scheduler_generator"] == b["scheduler_generator"]
    assert b["optimizer_generator"]["param_groups"][0]["lr"] == pytest.approx(2e-5)
    assert len((tmp_path / "b" / "log.txt").read_text().splitlines()) == 3


def test_non_finite_loss_stops_naming_step_terms_and_last_checkpoint(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(num_epochs=3)

    def poison(event):   # after epoch 0, break the generator's last layer
        if event["kind"] == "epoch" and event["epoch"] == 0:
            with torch.no_grad():
                event["models"]["generator"].final.bias.fill_(float("nan"))

    with pytest.raises(FommTeachError) as caught:
        train(config, tmp_path, progress=False, callback=poison)
    message = str(caught.value)
    assert "epoch 1, step 3" in message
    assert "l1_pyramid=nan" in message and "equivariance_value=" in message
    assert str(tmp_path / "00000000-checkpoint.pth.tar") in message
    assert read_checkpoint(tmp_path / "00000000-checkpoint.pth.tar")["epoch"] == 0


def test_visualize_has_the_authors_columns():
    torch.manual_seed(0)
    config = tiny_config()
    models, generator_full, _ = full_models(config)
    x = fixed_batch(config)
    with torch.no_grad():
        _, generated = generator_full(x)
    picture = visualize(x, generated, kp_size=1, rows=3)
    size = config["dataset_params"]["frame_shape"][0]
    # source, transformed, driving, deformed, prediction, occlusion, masks
    assert picture.shape == (3 * size, 7 * size, 3) and picture.dtype.name == "uint8"


def test_cli_train_and_resume(tmp_path):
    path = tmp_path / "tiny.yaml"
    import yaml
    path.write_text(yaml.safe_dump(tiny_config(num_epochs=1)))
    assert cli_main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--device", "cpu",
                     "--no-progress"]) == 0
    assert (tmp_path / "run" / "00000000-checkpoint.pth.tar").is_file()
    assert cli_main(["train", "--config", "no-such-config", "--out", str(tmp_path / "x")]) == 2


def test_resuming_a_finished_run_says_how_to_train_further(tmp_path, capsys):
    import yaml
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(num_epochs=1)))
    assert cli_main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    capsys.readouterr()
    finished = str(tmp_path / "run" / "00000000-checkpoint.pth.tar")
    assert cli_main(["train", "--config", str(path), "--resume", finished, "--out", str(tmp_path / "more"),
                     "--no-progress"]) == 2
    message = capsys.readouterr().err
    assert "nothing to do" in message and "num_epochs" in message and "Traceback" not in message


def test_train_reads_a_dataset_in_the_authors_layout(tmp_path):
    from fomm_teach.data import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "data", level="rigid", num_train=4, num_test=1, size=32, num_frames=6)
    config = tiny_config(num_epochs=1)
    config["dataset_params"] = {"root_dir": str(tmp_path / "data"), "frame_shape": [32, 32, 3], "id_sampling": False,
                                "augmentation_params": {"flip_param": {"horizontal_flip": True, "time_flip": True}}}
    config["train_params"]["num_repeats"] = 2
    torch.manual_seed(0)
    result = train(config, tmp_path / "run", progress=False)
    assert [epoch for epoch, _ in result["log"]] == [0]
    assert (tmp_path / "run" / "00000000-checkpoint.pth.tar").is_file()


def test_loss_weight_schedule_switches_a_term_on_at_an_epoch(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(num_epochs=2, loss_weight_schedule={"equivariance_jacobian": [[0, 0], [1, 10]]})
    configured = config["train_params"]["loss_weights"]["equivariance_jacobian"]
    result = train(config, tmp_path, progress=False)
    (epoch0, means0), (epoch1, means1) = result["log"]
    assert "equivariance_jacobian" not in means0 and "equivariance_jacobian" in means1
    assert config["train_params"]["loss_weights"]["equivariance_jacobian"] == configured   # the config is not changed
    config["train_params"]["loss_weight_schedule"] = {"no_such_loss": 1}
    with pytest.raises(FommTeachError, match="no_such_loss"):
        train(config, tmp_path / "bad", progress=False)
