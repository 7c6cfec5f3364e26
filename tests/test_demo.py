"""``fomm-teach demo``: writes its figures offline on a CPU, and reports a bad --out."""

from __future__ import annotations

import argparse

import pytest
import torch

from fomm_teach import cli, demo
from fomm_teach.errors import FommTeachError

torch.set_num_threads(1)


def parse(argv):
    parser = argparse.ArgumentParser()
    demo.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_demo_writes_the_keypoint_figures_and_prints_them(tmp_path, capsys):
    out = tmp_path / "out"
    args = parse(["demo", "--out", str(out), "--config", "small-64"])
    assert args.run(args) == 0
    printed = capsys.readouterr().out
    for name in ("keypoints.png", "heatmaps.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
        assert f"wrote {out / name}" in printed


def test_demo_refuses_a_file_as_out(tmp_path):
    target = tmp_path / "out"
    target.write_text("not a folder")
    args = parse(["demo", "--out", str(target)])
    with pytest.raises(FommTeachError, match="is a file"):
        args.run(args)


def test_demo_refuses_a_negative_seed(capsys):
    with pytest.raises(SystemExit) as info:
        parse(["demo", "--seed", "-3"])
    assert info.value.code == 2 and "must be an integer >= 0, got '-3'" in capsys.readouterr().err


def test_the_command_line_runs_the_demo_and_reports_errors_without_traceback(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path / "out"), "--config", "small-64"]) == 0
    assert (tmp_path / "out" / "keypoints.png").is_file()
    assert cli.main(["demo", "--out", str(tmp_path / "out" / "keypoints.png")]) == 2
    err = capsys.readouterr().err
    assert "fomm-teach demo: error:" in err and "is a file" in err and "Traceback" not in err


def test_demo_uses_the_shipped_model_when_it_is_there(tmp_path, monkeypatch, capsys):
    """The shipped-model path, with an untrained model of the shipped config standing in for the asset."""
    from fomm_teach import shipped
    from fomm_teach.config import load_config
    from fomm_teach.models import build_models

    def stand_in(device="cpu"):
        config = load_config("synthetic-windmill")
        models = build_models(config)
        return {"kp_detector": models["kp_detector"], "generator": models["generator"]}, config

    checkpoint = tmp_path / "model.pth.tar"
    checkpoint.write_bytes(b"stand-in")
    monkeypatch.setattr(shipped, "shipped_model_path", lambda: checkpoint)
    monkeypatch.setattr(shipped, "load_shipped_model", stand_in)
    out = tmp_path / "out"
    assert cli.main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("keypoints.png", "heatmaps.png", "reconstruction.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG") and f"wrote {out / name}" in printed
    assert "Chapter 06 trains this model" in printed
    import imageio.v2 as iio2
    for name in ("demo.mp4", "demo.gif"):                     # source | driving | result, each 64 px × 3
        frames = iio2.mimread(out / name, memtest=False)
        assert len(frames) == 48 and frames[0].shape[:2] == (192, 576) and f"wrote {out / name}" in printed
