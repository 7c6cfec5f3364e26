"""Write synthetic videos to disk in the authors' dataset layouts, to exercise the real-data path.

``write_synthetic_dataset(root, layout="mp4")`` writes ``root/train`` and ``root/test`` with one
entry per video: a frame folder, a horizontal PNG strip, an ``.mp4`` or a ``.gif``. With
``clips_per_id > 1`` every identity appears in several clips (same puppet, different motions),
named ``<id>#<clip>`` as the id_sampling datasets (vox, taichi) are.
"""

from __future__ import annotations

from pathlib import Path

from fomm_teach.data.synthetic import SyntheticVideos
from fomm_teach.data.video_io import LAYOUTS, write_video

SUFFIX = {"folder": "", "png": ".png", "mp4": ".mp4", "gif": ".gif"}


def write_synthetic_dataset(
    root,
    level="windmill",
    layout="folder",
    num_train=8,
    num_test=2,
    size=64,
    num_frames=32,
    seed=0,
    clips_per_id=1,
    fps=25.0,
) -> dict[str, list[Path]]:
    """Render ``num_train`` + ``num_test`` videos into ``root/train`` and ``root/test``.

    Returns the written paths per split. Train and test use disjoint identities (the two splits of
    :class:`SyntheticVideos`).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    written = {}
    for split, count in (("train", num_train), ("test", num_test)):
        videos = SyntheticVideos(level, size=size, num_frames=num_frames, seed=seed, split=split)
        paths = []
        for number in range(count):
            identity, clip = divmod(number, clips_per_id)
            name = f"id{identity:04d}#{clip:03d}" if clips_per_id > 1 else f"{level}{number:05d}"
            frames = videos.video(identity, motion_index=number)["frames"]  # (T, 3, S, S)
            paths.append(write_video(Path(root) / split / (name + SUFFIX[layout]), frames, layout, fps))
        written[split] = paths
    return written
