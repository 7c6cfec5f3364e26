"""``fomm-teach check-dataset PATH [--config NAME]``: find what would stop training on a dataset.

It walks the dataset as ``FramesDataset`` would (same split rules and layouts), decodes every
file, and reports per entry what is wrong and how to fix it, then a summary. Exit code 0 when
nothing was found, 1 when there are problems.

Errors stop training or a batch (unreadable or truncated files, fewer than 2 frames, mixed frame
sizes, frames that do not match ``frame_shape``, an empty split, entries that are not videos).
Warnings are converted on the fly but deserve a look (grey, RGBA or 16-bit images; names
without the ``<id>#`` prefix that id_sampling expects; stray non-image files in frame folders).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from fomm_teach.argtypes import positive_int
from fomm_teach.data import synthetic_disk
from fomm_teach.data.frames import dataset_split, video_id
from fomm_teach.data.video_io import (
    IMAGE_EXTENSIONS,
    decode_video_file,
    decoder_message,
    expected_frame_count,
    frame_files,
    video_layout,
)
from fomm_teach.errors import FommTeachError

REENCODE = "re-encode it (ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4) or delete it"


@dataclass
class Finding:
    path: str
    severity: str  # "error" or "warning"
    problem: str
    fix: str


@dataclass
class Report:
    root: str
    counts: dict = field(default_factory=dict)  # split -> number of entries
    findings: list[Finding] = field(default_factory=list)

    def add(self, path, severity, problem, fix):
        self.findings.append(Finding(str(path), severity, problem, fix))

    @property
    def errors(self):
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self):
        return [f for f in self.findings if f.severity == "warning"]


def _image_kind(image) -> list[tuple[str, str]]:
    """(problem, fix) warnings for one decoded image (H, W[, C]): grey, RGBA, 16-bit."""
    shape, dtype = tuple(image.shape), str(image.dtype)
    notes = []
    if len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 2)):
        notes.append(("grayscale", "it is made RGB when read; save RGB frames to be explicit"))
    elif len(shape) == 3 and shape[-1] == 4:
        notes.append(("RGBA (has an alpha channel)", "alpha is dropped when read; save RGB frames"))
    if dtype == "uint16":
        notes.append(("16-bit", "it is scaled to [0, 1] when read; 8-bit PNGs are smaller and faster"))
    return notes


def _inspect_image(path):
    """(height, width, warnings) of an image file, decoding it fully (catches truncation)."""
    import imageio.v3 as iio

    image = iio.imread(path)
    return image.shape[0], image.shape[1], _image_kind(image)


def _check_folder(report, path, frame_shape):
    names = [n for n in os.listdir(path) if not n.startswith(".")]
    others = [n for n in names if not n.lower().endswith(IMAGE_EXTENSIONS)]
    if others:
        report.add(path, "warning", f"{len(others)} non-image entries ({', '.join(sorted(others)[:3])}...) are ignored",
                   "move them out of the frame folder")  # fmt: skip
    files = frame_files(path)
    sizes, kinds, broken = Counter(), Counter(), []
    for file in files:
        try:
            height, width, notes = _inspect_image(file)
        except Exception as err:  # any decoder error means a broken frame
            broken.append(f"{os.path.basename(file)} ({type(err).__name__})")
            continue
        sizes[(height, width)] += 1
        kinds.update(notes)
    if broken:
        report.add(path, "error", f"{len(broken)} unreadable frame(s): {', '.join(broken[:3])}",
                   "re-export those frames or delete them")  # fmt: skip
    if len(files) < 2:
        report.add(path, "error", f"{len(files)} frame(s); a training pair needs at least 2",
                   "add frames or remove this folder")  # fmt: skip
    for (problem, fix), count in kinds.items():
        report.add(path, "warning", f"{count} frame(s) are {problem}", fix)
    return _check_sizes(report, path, sizes, frame_shape)


def _check_sizes(report, path, sizes: Counter, frame_shape):
    """Mixed sizes inside one video, or a size other than frame_shape; returns the size or None."""
    if len(sizes) > 1:
        listed = ", ".join(f"{h}x{w} ({n} frames)" for (h, w), n in sizes.most_common())
        report.add(path, "error", f"frames of different sizes: {listed}", "resize every frame to one size")
        return None
    if not sizes:
        return None
    (height, width), _ = sizes.most_common(1)[0]
    if frame_shape is not None and (height, width) != tuple(frame_shape[:2]):
        report.add(path, "error", f"frames are {height}x{width} but frame_shape is {frame_shape[0]}x{frame_shape[1]}",
                   f"resize the video (ffmpeg -vf scale={frame_shape[1]}:{frame_shape[0]}) or change frame_shape")  # fmt: skip
    return height, width


def _check_strip(report, path, frame_shape):
    try:
        height, width, notes = _inspect_image(path)
    except Exception as err:
        report.add(path, "error", f"unreadable image ({type(err).__name__})", "re-export it or delete it")
        return None
    for problem, fix in notes:
        report.add(path, "warning", f"the strip is {problem}", fix)
    frame_width = frame_shape[1] if frame_shape is not None else height  # square frames by default
    if width % frame_width:
        report.add(path, "error", f"a PNG strip {width} px wide is not a whole number of {frame_width}-px frames",
                   "frames lie side by side along the width; check frame_shape or re-export the strip")  # fmt: skip
        return None
    if width // frame_width < 2:
        report.add(path, "error", f"{width // frame_width} frame(s); a training pair needs at least 2",
                   "add frames or remove the file")  # fmt: skip
    return _check_sizes(report, path, Counter({(height, frame_width): width // frame_width}), frame_shape)


def _check_video_file(report, path, frame_shape):
    try:
        frames = decode_video_file(path)
    except Exception as err:  # any decoder error means the file cannot be used
        report.add(path, "error", f"unreadable or truncated video ({decoder_message(err)})", REENCODE)
        return None
    if len(frames) < 2:
        report.add(path, "error", f"{len(frames)} frame(s); a training pair needs at least 2", "remove it")
    expected = expected_frame_count(path)
    if expected is not None and len(frames) < expected - 1:
        report.add(path, "error", f"truncated video: decoded {len(frames)} of the {expected} frames its header announces",
                   "copy or download the file again, or " + REENCODE)  # fmt: skip
    kinds = Counter(note for frame in frames for note in _image_kind(frame))
    for (problem, fix), count in kinds.items():
        report.add(path, "warning", f"{count} frame(s) are {problem}", fix)
    return _check_sizes(report, path, Counter(frame.shape[:2] for frame in frames), frame_shape)


def check_dataset(root, frame_shape=None, id_sampling=False, augmentation_params=None, random_seed=0) -> Report:
    """Check every entry of a dataset folder; returns a :class:`Report` of findings.

    frame_shape: (H, W[, 3]) that every video must have (skipped when ``None`` or when the
    augmentation crops to a fixed size); id_sampling: check ``<id>#<clip>`` names.
    """
    report = Report(str(root))
    try:
        train_dir, train, test_dir, test = dataset_split(root, random_seed)
    except FommTeachError as err:
        report.add(root, "error", str(err).split(";")[0], str(err).split(";", 1)[-1].strip())
        return report
    if (augmentation_params or {}).get("crop_param"):
        frame_shape = None  # a crop makes every size fit
    sizes = Counter()
    for split, folder, names in (("train", train_dir, train), ("test", test_dir, test)):
        report.counts[split] = len(names)
        if not names:
            report.add(folder, "error", f"the {split} split is empty", f"put at least one video in {folder}")
        for name in names:
            path = os.path.join(folder, name)
            layout = video_layout(path)
            if layout is None:
                report.add(path, "error", "not a video (folder of frames, PNG strip, .mp4/.gif/.mov)",
                           "move it out of the dataset folder or convert it")  # fmt: skip
                continue
            check = {"folder": _check_folder, "strip": _check_strip, "video": _check_video_file}[layout]
            size = check(report, path, frame_shape)
            if size is not None:
                sizes[size] += 1
    if frame_shape is None and len(sizes) > 1:
        listed = ", ".join(f"{h}x{w} ({n})" for (h, w), n in sizes.most_common())
        report.add(root, "warning", f"videos have different frame sizes: {listed}; a batch needs one size",
                   "resize all videos to one size, or configure a crop (augmentation_params.crop_param)")  # fmt: skip
    if id_sampling:
        plain = [name for name in train if "#" not in name]
        if plain:
            report.add(train_dir, "warning",
                       f"id_sampling is on but {len(plain)} of {len(train)} names have no '#' "
                       f"(e.g. {plain[0]}); each of those is its own id",
                       "name clips <id>#<clip> (e.g. id10001#abc#001.mp4) so that clips of one person share an id")  # fmt: skip
        report.counts["train ids"] = len({video_id(name) for name in train})
    return report


def format_report(report: Report) -> str:
    """Human-readable text: findings grouped by entry, then a summary line."""
    lines = [f"Checked {report.root}: " + ", ".join(f"{n} {split}" for split, n in report.counts.items())]
    last_path = None
    for finding in sorted(report.findings, key=lambda f: (f.path, f.severity)):
        if finding.path != last_path:
            lines.append(finding.path)
            last_path = finding.path
        lines.append(f"  {finding.severity.upper():7s} {finding.problem}")
        lines.append(f"          fix: {finding.fix}")
    entries = len({f.path for f in report.findings})
    if report.findings:
        lines.append(f"Summary: {len(report.errors)} error(s), {len(report.warnings)} warning(s) in {entries} path(s).")
    else:
        lines.append("Summary: no problems found.")
    return "\n".join(lines)


def require_valid_dataset(dataset_params: dict) -> Report:
    """Check the dataset named by a config's ``dataset_params`` before training starts.

    Raises ``FommTeachError`` with the full report when it has errors, so training stops at once
    with a list of what to fix instead of failing later inside a DataLoader worker. Returns the
    report (warnings only) otherwise.
    """
    report = check_dataset(
        dataset_params["root_dir"],
        frame_shape=dataset_params.get("frame_shape"),
        id_sampling=bool(dataset_params.get("id_sampling", False)),
        augmentation_params=dataset_params.get("augmentation_params"),
        random_seed=dataset_params.get("random_seed", 0),
    )
    if report.errors:
        raise FommTeachError("the dataset has problems; fix them and start again.\n" + format_report(report))
    return report


def _dataset_params(args) -> dict:
    params = {}
    if args.config:
        from fomm_teach.config import load_config

        params = dict(load_config(args.config).get("dataset_params") or {})
    if args.frame_shape:
        params["frame_shape"] = args.frame_shape
    if args.id_sampling:
        params["id_sampling"] = True
    return params


def run(args) -> int:
    params = _dataset_params(args)
    root = args.path or params.get("root_dir")
    if not root:
        raise FommTeachError("give the dataset folder: fomm-teach check-dataset PATH [--config NAME]")
    if str(root).startswith("synthetic:"):
        print(f"{root}: synthetic videos are rendered on the fly; there are no files to check.")
        return 0
    report = check_dataset(
        root,
        frame_shape=params.get("frame_shape"),
        id_sampling=bool(params.get("id_sampling", False)),
        augmentation_params=params.get("augmentation_params"),
    )
    print(format_report(report))
    return 1 if report.findings else 0


def register(subparsers) -> None:
    """Add ``check-dataset`` and its companion ``synthetic-dataset`` (which writes test data)."""
    synthetic_disk.register(subparsers)
    parser = subparsers.add_parser(
        "check-dataset",
        help="list what is wrong with a dataset folder and how to fix it",
        description="Walk a dataset as FramesDataset would (same split rules and layouts), decode every "
        "file, and report per entry what is wrong and how to fix it, then a summary. Exit code 0 when "
        "nothing was found, 1 when there are problems.",
    )
    parser.add_argument("path", nargs="?", help="dataset folder (default: the config's dataset_params.root_dir)")
    parser.add_argument("--config", help="config name or YAML path; its dataset_params set frame_shape and id_sampling")
    parser.add_argument("--frame-shape", type=positive_int, nargs=2, metavar=("H", "W"), help="frame size every video must have")
    parser.add_argument("--id-sampling", action="store_true", help="check <id>#<clip> names for id_sampling")
    parser.set_defaults(run=run)
