"""Runs that survive Colab: ``--resume latest`` and ``fomm-teach fetch-vgg19`` (never downloads in tests)."""

import urllib.error

import torch
import yaml

from fomm_teach.cli import main as cli_main
from fomm_teach.config import load_config
from fomm_teach.train import parse_log
from one_thread import one_thread  # noqa: F401  (autouse: every test here runs on one torch thread)


def write_tiny_config(path, num_epochs):
    config = load_config("synthetic-fast")
    config["dataset_params"]["synthetic_params"]["num_videos"] = 4
    config["dataset_params"]["curriculum"] = {"level": "windmill", "max_gap": 2}
    config["train_params"].update(num_epochs=num_epochs, batch_size=4, checkpoint_freq=1)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def test_resume_latest_starts_a_new_run_then_continues_from_the_newest_checkpoint(tmp_path, capsys):
    out = tmp_path / "drive" / "run"
    argv = ["train", "--out", str(out), "--resume", "latest", "--device", "cpu", "--no-progress"]
    assert cli_main(argv + ["--config", write_tiny_config(tmp_path / "one.yaml", 1)]) == 0
    assert f"no checkpoint in {out} yet: a new run" in capsys.readouterr().out
    assert cli_main(argv + ["--config", write_tiny_config(tmp_path / "two.yaml", 2)]) == 0   # the same line, rerun
    assert f"resuming from {out / '00000000-checkpoint.pth.tar'}" in capsys.readouterr().out
    assert [epoch for epoch, _ in parse_log(out / "log.txt")] == [0, 1]
    assert (out / "00000001-checkpoint.pth.tar").is_file()


def test_resume_latest_needs_the_run_folder(tmp_path, capsys):
    assert cli_main(["train", "--config", "synthetic-fast", "--resume", "latest"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume latest looks in --out" in err


def test_fetch_vgg19_offline_says_what_to_do_in_one_line(tmp_path, monkeypatch, capsys):
    def no_network(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert cli_main(["fetch-vgg19", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    cache = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    for fragment in ("could not download", "Temporary failure in name resolution", str(cache),
                     "train_params.vgg19_weights", "perceptual_backbone: random"):
        assert fragment in err
    assert not cache.exists()


def test_fetch_vgg19_says_where_the_file_is(tmp_path, monkeypatch, capsys):
    def fake_download(url, dst, hash_prefix=None, progress=True):
        assert url.endswith("vgg19-dcbb9e9d.pth") and hash_prefix == "dcbb9e9d"
        with open(dst, "wb") as file:
            file.write(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    target = tmp_path / "drive" / "vgg19.pth"
    assert cli_main(["fetch-vgg19", "--to", str(target), "--no-progress"]) == 0
    assert f"downloaded: the ImageNet VGG19 weights are in {target}" in capsys.readouterr().out
    assert cli_main(["fetch-vgg19", "--to", str(target), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"already there, kept: the ImageNet VGG19 weights are in {target}" in out
    assert f"train_params.vgg19_weights: {target}" in out
