"""``fomm-teach demo``: writes its figures offline on a CPU, and reports a bad --out."""

from __future__ import annotations

import argparse

import pytest
import torch

from fomm_teach import demo
from fomm_teach.errors import FommTeachError

torch.set_num_threads(1)


def parse(argv):
    parser = argparse.ArgumentParser()
    demo.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_demo_writes_the_keypoint_figures(tmp_path):
    out = tmp_path / "out"
    args = parse(["demo", "--out", str(out), "--config", "small-64"])
    assert args.run(args) == 0
    for name in ("keypoints.png", "heatmaps.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_demo_prints_every_file_it_wrote(tmp_path, capsys):
    args = parse(["demo", "--out", str(tmp_path), "--config", "small-64"])
    args.run(args)
    printed = capsys.readouterr().out
    assert f"wrote {tmp_path / 'keypoints.png'}" in printed and f"wrote {tmp_path / 'heatmaps.png'}" in printed


def test_demo_refuses_a_file_as_out(tmp_path):
    target = tmp_path / "out"
    target.write_text("not a folder")
    args = parse(["demo", "--out", str(target)])
    with pytest.raises(FommTeachError, match="is a file"):
        args.run(args)
