"""Nothing lost, nothing silent (issue 16): validated configs, safe run folders, divergence caught,
every command-line failure one clear line, clear errors on library misuse.

Every training run here is the synthetic-rigid recipe shrunk to 32x32 frames, 8 videos and batch 4:
two steps an epoch, well under a second each.
"""

import errno
import inspect
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from fomm_teach import cli
from fomm_teach.checkpoint import (load_checkpoint, load_trained_models, non_finite_tensors, read_checkpoint,
                                   save_checkpoint)
from fomm_teach.config import SCHEMA, SYNTHETIC_LEVELS, available_configs, known_keys, load_config
from fomm_teach.errors import FommTeachError
from fomm_teach.models import build_models
from fomm_teach.train import parse_log, train
from one_thread import one_thread  # noqa: F401  (autouse: every test here runs on one torch thread)

REPO = Path(__file__).resolve().parents[1]


def tiny_config(num_epochs=2, **train_overrides):
    config = load_config("synthetic-rigid")
    config["dataset_params"]["synthetic_params"].update(num_videos=8, num_frames=8)
    config["dataset_params"]["curriculum"] = {"max_gap": 2}
    config["train_params"].update({"num_epochs": num_epochs, "batch_size": 4, "checkpoint_freq": 1, **train_overrides})
    return config


def write_config(path, config):
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def snapshot(folder):
    """{relative path: bytes} of every file under folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def run_cli(argv, capsys):
    """(exit code, stderr) of fomm-teach argv; stderr must be one line and hold no traceback."""
    code = cli.main([str(arg) for arg in argv])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return code, err


# --- 3. configs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", available_configs())
def test_every_shipped_config_fits_the_schema_for_training(name):
    load_config(name, for_training=True)


def test_the_shipped_model_config_fits_the_schema():
    from fomm_teach.shipped import CONFIG_NAME, asset_path, shipped_model_path

    load_config(asset_path(CONFIG_NAME), for_training=True)
    load_config(read_checkpoint(shipped_model_path())["config"], for_training=True)


def schema_section(path):
    section = SCHEMA
    for part in path.split("."):
        section = section[part]
    return set(section)


@pytest.mark.parametrize("module, cls, section, passed_in", [
    ("fomm_teach.keypoints", "KPDetector", "model_params.kp_detector_params", set()),
    ("fomm_teach.generator", "OcclusionAwareGenerator", "model_params.generator_params", {"align_corners"}),
    ("fomm_teach.dense_motion", "DenseMotionNetwork", "model_params.generator_params.dense_motion_params",
     {"num_kp", "num_channels", "estimate_occlusion_map", "align_corners"}),
    ("fomm_teach.discriminator", "Discriminator", "model_params.discriminator_params", set()),
])
def test_the_schema_knows_every_argument_of_the_networks(module, cls, section, passed_in):
    import importlib

    signature = inspect.signature(getattr(importlib.import_module(module), cls).__init__)
    common = schema_section("model_params.common_params")
    arguments = set(signature.parameters) - {"self"} - common - passed_in
    expected = schema_section(section) - ({"scales"} if cls == "Discriminator" else set())
    assert arguments == expected


def test_synthetic_levels_are_the_data_modules():
    from fomm_teach.data.puppets import LEVELS

    assert tuple(SYNTHETIC_LEVELS) == tuple(LEVELS)


def changed(path, value):
    config = load_config("synthetic-fast")
    *sections, key = path.split(".")
    node = config
    for section in sections:
        node = node[section]
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return config


DELETE = object()


@pytest.mark.parametrize("path, value, fragments", [
    ("train_params.bach_size", 8, ["unknown key train_params.bach_size", "did you mean train_params.batch_size"]),
    ("train_params.loss_weights.perceptul", [0], ["did you mean train_params.loss_weights.perceptual"]),
    ("model_params.kp_detector_params.num_kp", 3, ["num_kp belongs in model_params.common_params"]),
    ("dataset_params.curriculum.maxgap", 4, ["did you mean dataset_params.curriculum.max_gap"]),
    ("train_params.loss_weight_schedule", {"equivariance_jacobain": [[0, 0]]},
     ["'equivariance_jacobain'", "did you mean train_params.loss_weights.equivariance_jacobian"]),
])
def test_an_unknown_key_is_named_with_the_nearest_known_one(path, value, fragments):
    with pytest.raises(FommTeachError) as info:
        load_config(changed(path, value))
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("path, value, allowed", [
    ("train_params.batch_size", 0, "an integer >= 1"),
    ("train_params.num_epochs", 2.5, "an integer >= 1"),
    ("train_params.num_epochs", "10", "an integer >= 1"),
    ("train_params.lr_generator", -2e-4, "a number from 0 to 1"),
    ("train_params.lr_kp_detector", float("nan"), "a number from 0 to 1"),
    ("train_params.epoch_milestones", [60, 30], "increasing"),
    ("train_params.scales", [1, 0.5, 0], "> 0 and <= 1"),
    ("train_params.checkpoint_freq", 0, "an integer >= 1"),
    ("model_params.kp_detector_params.temperature", 0, "a number > 0"),
    ("model_params.common_params.num_kp", True, "an integer >= 1"),
    ("model_params.common_params.align_corners", "yes", "true or false"),
    ("model_params.discriminator_params.scales", [], "one or more"),
    ("dataset_params.frame_shape", [64, 64], "a list of 3 values"),
    ("dataset_params.curriculum.level", [[0, "rigid"], [2, "windmil"]], "one of rigid, windmill, puppet"),
    ("dataset_params.curriculum.max_gap", [[1, 4]], "a schedule [[0, value]"),
    ("train_params.loss_weights.equivariance_value", -1, "a number >= 0"),
    ("train_params.perceptual_backbone", "vgg", "one of imagenet, random, none"),
])
def test_a_wrong_value_is_named_with_what_is_allowed(path, value, allowed):
    with pytest.raises(FommTeachError) as info:
        load_config(changed(path, value))
    message = str(info.value)
    assert path in message and repr(value)[:20] in message and allowed in message


def test_frame_shape_must_fit_the_networks():
    with pytest.raises(FommTeachError, match=r"frame_shape \[60, 60, 3\] does not fit the kp_detector.*multiples of 16"):
        load_config(changed("dataset_params.frame_shape", [60, 60, 3]))
    with pytest.raises(FommTeachError, match="4 channels but model_params.common_params.num_channels is 3"):
        load_config(changed("dataset_params.frame_shape", [64, 64, 4]))


def test_training_needs_its_keys_but_building_models_does_not():
    config = changed("train_params.batch_size", DELETE)
    load_config(config)   # enough to build the models
    with pytest.raises(FommTeachError, match="train_params.batch_size is missing"):
        load_config(config, for_training=True)


def test_a_config_that_would_train_nothing_is_refused():
    config = load_config("synthetic-fast")
    config["train_params"]["loss_weights"].update(l1_pyramid=0, equivariance_value=0, equivariance_jacobian=0)
    with pytest.raises(FommTeachError, match="every loss weight of the generator is 0"):
        load_config(config, for_training=True)
    config["train_params"]["loss_weight_schedule"] = {"l1_pyramid": [[0, 0], [3, 10]]}   # switched on later: fine
    load_config(config, for_training=True)


def test_every_key_of_the_schema_is_listed_once():
    keys = known_keys()
    assert len(keys) == len(set(keys)) and "train_params.loss_weights.l1_pyramid" in keys


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]   # 9^12 values
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nmodel_params: {}\n")
    started = time.perf_counter()
    with pytest.raises(FommTeachError, match="alias bomb"):
        load_config(path)
    assert time.perf_counter() - started < 1.0
    recursive = tmp_path / "recursive.yaml"
    recursive.write_text("model_params: &m {common_params: *m}\n")
    with pytest.raises(FommTeachError, match="recursive"):
        load_config(recursive)


def test_ordinary_anchors_still_work(tmp_path):
    text = (REPO / "fomm_teach" / "configs" / "small-64.yaml").read_text()
    assert text.count("max_features: 128") == 4
    text = text.replace("max_features: 128", "max_features: &width 128", 1).replace("max_features: 128",
                                                                                   "max_features: *width")
    path = tmp_path / "anchors.yaml"
    path.write_text(text)
    assert load_config(path) == load_config("small-64")


# --- 1. run folders --------------------------------------------------------------------------------

def test_a_fresh_run_refuses_a_folder_that_holds_a_run(tmp_path):
    torch.manual_seed(0)
    train(tiny_config(num_epochs=1), tmp_path / "run", progress=False)
    before = snapshot(tmp_path / "run")
    with pytest.raises(FommTeachError) as info:
        train(tiny_config(num_epochs=1), tmp_path / "run", progress=False)
    assert "already holds a run" in str(info.value) and "--resume" in str(info.value)
    assert snapshot(tmp_path / "run") == before


def test_a_failed_resume_writes_nothing(tmp_path):
    run = tmp_path / "run"
    torch.manual_seed(0)
    train(tiny_config(num_epochs=2), run, progress=False)
    before = snapshot(run)
    first, last = run / "00000000-checkpoint.pth.tar", run / "00000001-checkpoint.pth.tar"
    with pytest.raises(FommTeachError, match="later checkpoints"):   # would overwrite epoch 1
        train(tiny_config(num_epochs=3), run, resume=first, progress=False)
    other = tiny_config(num_epochs=3)
    other["model_params"]["common_params"]["num_kp"] = 3
    with pytest.raises(FommTeachError, match="does not fit"):        # another architecture
        train(other, run, resume=last, progress=False)
    with pytest.raises(FommTeachError, match="nothing to do"):       # already finished
        train(tiny_config(num_epochs=2), run, resume=last, progress=False)
    torch.manual_seed(0)
    train(tiny_config(num_epochs=1), tmp_path / "other", progress=False)
    with pytest.raises(FommTeachError, match="holds another run"):    # someone else's folder
        train(tiny_config(num_epochs=3), tmp_path / "other", resume=last, progress=False)
    assert snapshot(run) == before


def test_resume_into_a_new_folder_leaves_the_old_one_alone(tmp_path):
    run = tmp_path / "run"
    torch.manual_seed(0)
    train(tiny_config(num_epochs=2), run, progress=False)
    before = snapshot(run)
    result = train(tiny_config(num_epochs=3), tmp_path / "branch", resume=run / "00000000-checkpoint.pth.tar",
                   progress=False)
    assert [epoch for epoch, _ in result["log"]] == [1, 2]
    assert snapshot(run) == before


KILLED_RUN = """
import os, signal, sys, torch
sys.path.insert(0, {tests!r})
from test_reliability import tiny_config
from fomm_teach.train import train
torch.set_num_threads(1)
torch.manual_seed(0)

def kill(event):   # SIGKILL after epoch 2 is logged; its checkpoint is due only at the end of the run
    if event["kind"] == "epoch" and event["epoch"] == 2:
        open(os.path.join({out!r}, ".00000002-checkpoint.pth.tar.abcd1234.tmp"), "wb").write(b"half")
        os.kill(os.getpid(), signal.SIGKILL)

train(tiny_config(num_epochs=3, checkpoint_freq=2), {out!r}, callback=kill, progress=False)
"""


def test_kill_and_resume_continues_exactly_and_logs_each_epoch_once(tmp_path):
    killed = tmp_path / "killed"
    script = KILLED_RUN.format(tests=str(REPO / "tests"), out=str(killed))
    process = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    assert [epoch for epoch, _ in parse_log(killed / "log.txt")] == [0, 1, 2]
    assert [path.name for path in killed.glob("*-checkpoint.pth.tar")] == ["00000001-checkpoint.pth.tar"]
    assert list(killed.glob(".*.tmp"))   # what a kill while saving leaves

    code = cli.main(["train", "--config", str(write_config(tmp_path / "tiny.yaml",
                                                               tiny_config(num_epochs=3, checkpoint_freq=2))),
                     "--resume", str(killed / "00000001-checkpoint.pth.tar"), "--no-progress", "--threads", "1"])
    assert code == 0
    assert not list(killed.glob("*.tmp")) and not list(killed.glob(".*.tmp"))

    torch.manual_seed(0)
    train(tiny_config(num_epochs=3, checkpoint_freq=2), tmp_path / "whole", progress=False)
    assert (killed / "log.txt").read_text() == (tmp_path / "whole" / "log.txt").read_text()   # bit for bit, once each
    resumed = read_checkpoint(killed / "00000002-checkpoint.pth.tar")["generator"]
    whole = read_checkpoint(tmp_path / "whole" / "00000002-checkpoint.pth.tar")["generator"]
    assert all(torch.equal(resumed[key], whole[key]) for key in whole)


def test_resuming_the_shipped_model_never_writes_into_the_package(tmp_path, monkeypatch, capsys):
    from fomm_teach.shipped import CONFIG_NAME, asset_path, shipped_model_path

    assets = shipped_model_path().parent
    before = sorted(path.name for path in assets.iterdir())
    config = load_config(asset_path(CONFIG_NAME))
    config["dataset_params"]["synthetic_params"]["num_videos"] = 8
    config["train_params"]["num_epochs"] = read_checkpoint(shipped_model_path())["next_epoch"] + 1
    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", "--config", str(write_config(tmp_path / "more.yaml", config)),
                     "--resume", str(shipped_model_path()), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "not in a run folder" in out
    assert sorted(path.name for path in assets.iterdir()) == before
    assert len(list((tmp_path / "log").glob("*/*-checkpoint.pth.tar"))) == 1
    with pytest.raises(FommTeachError, match="inside the installed fomm_teach package"):
        train(config, assets, resume=shipped_model_path(), progress=False)


# --- 2. divergence ---------------------------------------------------------------------------------

def test_a_diverged_run_stops_and_leaves_no_non_finite_checkpoint(tmp_path):
    def blow_up(event):   # what a huge learning rate does: the BatchNorm statistics go inf, the losses stay finite
        if event["kind"] == "step" and event["epoch"] == 1:
            for module in event["models"]["kp_detector"].modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_var.fill_(float("inf"))

    torch.manual_seed(0)
    with pytest.raises(FommTeachError) as info:
        train(tiny_config(num_epochs=3), tmp_path / "run", callback=blow_up, progress=False)
    message = str(info.value)
    assert "diverged" in message and "running_var" in message
    assert f"last good checkpoint is {tmp_path / 'run' / '00000000-checkpoint.pth.tar'}" in message
    checkpoints = sorted((tmp_path / "run").glob("*-checkpoint.pth.tar"))
    assert [path.name for path in checkpoints] == ["00000000-checkpoint.pth.tar"]
    assert not non_finite_tensors(read_checkpoint(checkpoints[0]))


def test_non_finite_weights_are_never_saved_nor_loaded(tmp_path):
    models = build_models(tiny_config())
    save_checkpoint(tmp_path / "good.pth.tar", models)
    with torch.no_grad():
        models["generator"].final.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(FommTeachError, match=r"not written.*generator.final.weight"):
        save_checkpoint(tmp_path / "good.pth.tar", models)
    assert not non_finite_tensors(read_checkpoint(tmp_path / "good.pth.tar"))   # the earlier file is intact
    state = {name: model.state_dict() for name, model in models.items()}
    torch.save(state, tmp_path / "diverged.pth.tar")   # as a training run without the guard wrote them
    with pytest.raises(FommTeachError, match="non-finite values.*generator.final.weight.*diverged"):
        load_trained_models(tmp_path / "diverged.pth.tar", tiny_config())
    fresh = build_models(tiny_config())
    with pytest.raises(FommTeachError, match="non-finite"):
        load_checkpoint(tmp_path / "diverged.pth.tar", {"generator": fresh["generator"]})


def test_evaluate_refuses_a_diverged_checkpoint(tmp_path, capsys):
    models = build_models(tiny_config())
    state = {name: model.state_dict() for name, model in models.items()}
    state["kp_detector"]["kp.bias"][0] = float("inf")
    state["config"] = tiny_config()
    torch.save(state, tmp_path / "diverged.pth.tar")
    code, err = run_cli(["evaluate", "--checkpoint", tmp_path / "diverged.pth.tar", "--data", "synthetic:rigid",
                         "--videos", "4", "--no-progress"], capsys)
    assert code == 2 and "non-finite" in err and "kp_detector.kp.bias" in err


# --- 3./4. data before the first step ----------------------------------------------------------------

def test_a_broken_dataset_stops_training_before_anything_is_written(tmp_path):
    from fomm_teach.data import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "data", level="rigid", num_train=2, num_test=1, size=32, num_frames=6)
    broken = next((tmp_path / "data" / "train").iterdir())
    for frame in broken.iterdir():
        frame.write_bytes(b"not a png")
    config = tiny_config(num_epochs=1)
    config["dataset_params"] = {"root_dir": str(tmp_path / "data"), "frame_shape": [32, 32, 3]}
    with pytest.raises(FommTeachError, match="the dataset has problems") as info:
        train(config, tmp_path / "run", progress=False)
    assert broken.name in str(info.value)
    assert not (tmp_path / "run").exists()


def test_a_batch_larger_than_the_data_says_so(tmp_path):
    config = tiny_config(num_epochs=1, batch_size=16)
    with pytest.raises(FommTeachError, match="batch_size 16 is larger than the data: an epoch has 8"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# --- 5. the command line ---------------------------------------------------------------------------

class Payload:
    def __reduce__(self):
        return (os.system, ("echo this should never run",))


@pytest.fixture
def files(tmp_path):
    """Paths for the command-line cases: a file, a folder, bad checkpoints, a config with a typo."""
    paths = {"file": tmp_path / "a-file", "folder": tmp_path / "a-folder", "tmp": tmp_path}
    paths["file"].write_text("x")
    paths["folder"].mkdir()
    torch.save({"generator": Payload(), "epoch": 1}, tmp_path / "runs-code.pth.tar")
    torch.save({"generator": {}, "kp_detector": {}, "epoch": "three"}, tmp_path / "wrong-types.pth.tar")
    torch.save({"generator": {}, "kp_detector": {}, "epoch": 1, "config": "vox-256"}, tmp_path / "config-str.pth.tar")
    config = tiny_config()
    config["train_params"]["bach_size"] = config["train_params"].pop("batch_size")
    write_config(tmp_path / "typo.yaml", config)
    return paths


CLI_CASES = [   # (argv with {placeholders}, exit code, fragment of the one-line message)
    (["synthetic-dataset", "{tmp}/d", "--frames", "0"], 2, "argument --frames: must be an integer >= 2, got '0'"),
    (["synthetic-dataset", "{tmp}/d", "--size", "-3"], 2, "argument --size: must be an integer >= 8, got '-3'"),
    (["synthetic-dataset", "{tmp}/d", "--train", "0"], 2, "argument --train: must be an integer >= 1"),
    (["synthetic-dataset", "{file}/d", "--train", "1", "--test", "0", "--frames", "2", "--size", "8"], 2,
     "a part of this path is a file"),
    (["train", "--config", "synthetic-rigid", "--threads", "-1"], 2, "argument --threads: must be an integer >= 1"),
    (["train", "--config", "synthetic-rigid", "--seed", "x"], 2, "argument --seed: must be an integer >= 0"),
    (["train", "--config", "{tmp}/typo.yaml"], 2, "did you mean train_params.batch_size"),
    (["train", "--config", "{folder}"], 2, "is not a file"),
    (["train", "--config", "synthetic-rigid", "--out", "{file}"], 2, "is a file, not a folder"),
    (["train", "--config", "synthetic-rigid", "--out", "{file}/run"], 2, "is a file, not a folder"),
    (["train", "--config", "synthetic-rigid", "--resume", "{folder}", "--out", "{tmp}/r"], 2, "is a folder"),
    (["evaluate", "--data", "synthetic:rigid", "--videos", "2"], 2, "argument --videos: must be an integer >= 4"),
    (["evaluate", "--data", "synthetic:rigid", "--checkpoint", "{tmp}/runs-code.pth.tar"], 2,
     "refused: this file would run code when loaded (it calls posix.system"),
    (["evaluate", "--data", "synthetic:rigid", "--checkpoint", "{tmp}/wrong-types.pth.tar", "--config",
      "synthetic-rigid"], 2, "'epoch' entry is 'three'"),
    (["evaluate", "--data", "synthetic:rigid", "--checkpoint", "{folder}"], 2, "is a folder"),
    (["evaluate", "--data", "synthetic:rigid", "--checkpoint", "{tmp}/config-str.pth.tar"], 2,
     "its 'config' entry is a str, not a config dict"),
    (["check-dataset", "{folder}", "--frame-shape", "0", "5"], 2, "argument --frame-shape: must be an integer >= 1"),
]


@pytest.mark.parametrize("argv, code, fragment", CLI_CASES, ids=[" ".join(case[0][:3]) + f" {i}"
                                                                   for i, case in enumerate(CLI_CASES)])
def test_every_command_line_failure_is_one_clear_line(files, capsys, argv, code, fragment):
    got, err = run_cli([arg.format(**files) for arg in argv], capsys)
    assert got == code
    assert fragment in err
    assert len(err.splitlines()) <= 1 or err.startswith("usage:")   # argparse: its usage, then one line
    assert err.splitlines()[-1].startswith("fomm-teach")


def test_debug_flag_and_variable_show_the_traceback(monkeypatch, capsys):
    for argv in (["--debug", "train", "--config", "no-such"], ["train", "--config", "no-such", "--debug"]):
        with pytest.raises(FommTeachError):
            cli.main(argv)
    monkeypatch.setenv("FOMM_TEACH_DEBUG", "1")
    with pytest.raises(FommTeachError):
        cli.main(["train", "--config", "no-such"])
    monkeypatch.setenv("FOMM_TEACH_DEBUG", "0")
    assert run_cli(["train", "--config", "no-such"], capsys)[0] == 2


def test_an_unexpected_error_is_one_line_and_exit_code_1(monkeypatch, capsys):
    from fomm_teach import training_cli

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(training_cli, "run_evaluate", broken)
    code, err = run_cli(["evaluate", "--data", "synthetic:rigid"], capsys)
    assert code == 1 and "unexpected ZeroDivisionError" in err and "--debug" in err


@pytest.mark.parametrize("error, fragment", [
    (OSError(errno.ENOSPC, "No space left on device", "/data/run/log.txt"), "no space left on the device while writing /data/run/log.txt"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/run"), "/mnt/ro/run is on a read-only file system"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "permission denied: /root/x"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/a/file/x"), "/a/file/x: a part of this path is a file"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/a/folder"), "/a/folder is a folder; give a file"),
])
def test_file_system_errors_name_the_path(error, fragment):
    message, code = cli.describe_error(error)
    assert code == 2 and fragment in message


def test_a_full_disk_names_the_folder_and_the_size_and_keeps_earlier_checkpoints(tmp_path, monkeypatch):
    models = build_models(tiny_config())
    save_checkpoint(tmp_path / "00000000-checkpoint.pth.tar", models)
    before = (tmp_path / "00000000-checkpoint.pth.tar").read_bytes()

    def full(obj, file):
        file.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(FommTeachError) as info:
        save_checkpoint(tmp_path / "00000001-checkpoint.pth.tar", models)
    assert f"no space left in {tmp_path}" in str(info.value) and " MB)" in str(info.value)
    assert (tmp_path / "00000000-checkpoint.pth.tar").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["00000000-checkpoint.pth.tar"]


def test_a_checkpoint_with_wrong_entry_types_cannot_resume(tmp_path):
    run = tmp_path / "run"
    torch.manual_seed(0)
    train(tiny_config(num_epochs=1), run, progress=False)
    checkpoint = read_checkpoint(run / "00000000-checkpoint.pth.tar")
    for key, value, fragment in (("next_epoch", "1", "'next_epoch' entry"), ("rng_state", [1, 2], "'rng_state'"),
                                 ("scheduler_generator", 5, "'scheduler_generator'")):
        torch.save({**checkpoint, key: value}, tmp_path / "edited.pth.tar")
        with pytest.raises(FommTeachError, match=fragment):
            train(tiny_config(num_epochs=2), tmp_path / f"resumed-{key}", resume=tmp_path / "edited.pth.tar",
                  progress=False)
        assert not (tmp_path / f"resumed-{key}").exists()


# --- 6. library misuse -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_models():
    torch.manual_seed(0)
    return build_models(tiny_config())


def test_a_float64_image_is_named_with_the_fix(small_models):
    image = torch.from_numpy(__import__("numpy").random.rand(1, 3, 32, 32))
    with pytest.raises(FommTeachError, match=r"dtype torch.float64.*torch.float32.*torch.from_numpy"):
        small_models["kp_detector"](image)


def test_wrong_channels_shape_and_device_are_named(small_models):
    detector = small_models["kp_detector"]
    with pytest.raises(FommTeachError, match="expected 3 channels, got shape"):
        detector(torch.rand(1, 1, 32, 32))
    with pytest.raises(FommTeachError, match=r"expected a \(B, C, H, W\) tensor, got \(3, 32, 32\)"):
        detector(torch.rand(3, 32, 32))
    with pytest.raises(FommTeachError, match="on device meta, but the model is on cpu"):
        detector(torch.empty(1, 3, 32, 32, device="meta"))


def test_dense_motion_names_keypoints_of_another_dtype(small_models):
    dense_motion = small_models["generator"].dense_motion_network
    source = torch.rand(2, 3, 32, 32)
    kp = {"value": torch.zeros(2, 5, 2, dtype=torch.float64), "jacobian": torch.eye(2).repeat(2, 5, 1, 1)}
    kp_float = {key: value.float() for key, value in kp.items()}
    num_kp = dense_motion.num_kp
    kp = {key: value[:, :num_kp] for key, value in kp.items()}
    kp_float = {key: value[:, :num_kp] for key, value in kp_float.items()}
    with pytest.raises(FommTeachError, match=r"kp_driving\['value'\] is torch.float64"):
        dense_motion(source, kp, kp_float)
    with pytest.raises(FommTeachError, match=r"kp_source\['value'\] is a ndarray"):
        dense_motion(source, kp_float, {"value": kp_float["value"].numpy()})


def test_the_generator_names_a_float64_source(small_models):
    num_kp = small_models["generator"].dense_motion_network.num_kp
    kp = {"value": torch.zeros(1, num_kp, 2), "jacobian": torch.eye(2).repeat(1, num_kp, 1, 1)}
    with pytest.raises(FommTeachError, match=r"source_image: dtype torch.float64, but the model's weights are"):
        small_models["generator"](torch.rand(1, 3, 32, 32, dtype=torch.float64), kp, kp)
