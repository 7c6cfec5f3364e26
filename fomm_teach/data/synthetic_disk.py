"""Write synthetic videos to disk in the authors' dataset layouts, to exercise the real-data path.

``write_synthetic_dataset(root, layout="mp4")`` writes ``root/train`` and ``root/test`` with one
entry per video: a frame folder, a horizontal PNG strip, an ``.mp4`` or a ``.gif``. With
``clips_per_id > 1`` every identity appears in several clips (same puppet, different motions),
named ``<id>#<clip>`` as the id_sampling datasets (vox, taichi) are.

Command line: ``fomm-teach synthetic-dataset OUT [--level windmill] [--layout mp4] ...``.
"""

from __future__ import annotations

from pathlib import Path

from fomm_teach.argtypes import int_at_least, non_negative_int, positive_int
from fomm_teach.data.puppets import LEVELS
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


def run(args) -> int:
    written = write_synthetic_dataset(
        args.out, args.level, args.layout, args.train, args.test, args.size, args.frames, args.seed, args.clips_per_id
    )
    print(f"wrote {len(written['train'])} train and {len(written['test'])} test videos ({args.layout}) under {args.out}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synthetic-dataset",
        help="write synthetic puppet videos in the authors' dataset layouts",
        description="Render synthetic videos into OUT/train and OUT/test as frame folders, PNG strips, "
        ".mp4 or .gif files, to try the real-data path (check-dataset, training from a folder).",
    )
    parser.add_argument("out", help="output folder (created)")
    parser.add_argument("--level", choices=LEVELS, default="windmill")
    parser.add_argument("--layout", choices=LAYOUTS, default="folder")
    parser.add_argument("--train", type=positive_int, default=8, help="number of training videos")
    parser.add_argument("--test", type=non_negative_int, default=2, help="number of test videos")
    parser.add_argument("--size", type=int_at_least(8), default=64, help="frame side in pixels")
    parser.add_argument("--frames", type=int_at_least(2), default=32, help="frames per video")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--clips-per-id", type=positive_int, default=1, help="clips of each identity, named <id>#<clip>")
    parser.set_defaults(run=run)
