"""One entry point from a config's ``dataset_params`` to a dataset, real or synthetic.

``root_dir: synthetic:LEVEL`` (``rigid``, ``windmill``, ``puppet``) gives ``SyntheticPairs``; its
options come from an optional ``synthetic_params`` mapping (``num_frames``, ``max_gap``, ``seed``,
``num_videos``) and the frame side from ``frame_shape``. Any other ``root_dir`` gives the authors'
``FramesDataset`` with the same keys as their configs.
"""

from __future__ import annotations

from fomm_teach.data.frames import FramesDataset
from fomm_teach.data.synthetic import SyntheticPairs, SyntheticVideos
from fomm_teach.errors import FommTeachError

SYNTHETIC_PREFIX = "synthetic:"


def build_dataset(dataset_params: dict, is_train: bool = True):
    """A dataset from ``dataset_params`` (the config section): ``SyntheticPairs`` or ``FramesDataset``."""
    params = dict(dataset_params)
    root_dir = str(params.get("root_dir", ""))
    if not root_dir.startswith(SYNTHETIC_PREFIX):
        params.pop("synthetic_params", None)
        return FramesDataset(is_train=is_train, **params)
    level = root_dir[len(SYNTHETIC_PREFIX) :]
    options = dict(params.get("synthetic_params") or {})
    num_videos = options.pop("num_videos", 10_000 if is_train else 64)
    frame_shape = params.get("frame_shape", (64, 64, 3))
    if frame_shape[0] != frame_shape[1]:
        raise FommTeachError(f"synthetic videos are square; frame_shape {list(frame_shape)} must have height = width.")
    try:
        videos = SyntheticVideos(level, size=frame_shape[0], split="train" if is_train else "test", **options)
    except (TypeError, ValueError) as err:
        raise FommTeachError(f"dataset_params for {root_dir}: {err}. Fix synthetic_params in the config.") from None
    return SyntheticPairs(videos, num_videos=num_videos, is_train=is_train)
