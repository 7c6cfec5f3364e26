"""``fomm-teach animate``: make a still image move like a driving video (chapter 07).

By default with the model that ships in the package (trained on synthetic windmills) and relative
motion with movement-scale adaptation. The authors' demo defaults to absolute motion, the most
common cause of the distorted results their users report: absolute motion forces the driving
object's shape onto the source. ``--checkpoint`` takes a checkpoint saved by ``fomm-teach train``
or by the authors' code (then name its config, e.g. ``--config vox-256``).

Both inputs are brought to the model's frame size in one way: the centred square crop, resized.
The output's type follows its extension (.mp4 at the driving video's frame rate, with its audio
track when it has one; .gif; .png, a horizontal strip) and is written atomically.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from fomm_teach.argtypes import non_negative_int, positive_int
from fomm_teach.errors import FommTeachError

DEFAULT_FPS = 25.0   # for a driving folder of frames or a PNG strip, which carry no frame rate


def register(subparsers) -> None:
    """Add the ``animate`` subcommand to the ``fomm-teach`` parser."""
    parser = subparsers.add_parser(
        "animate",
        help="animate a source image with a driving video (relative motion, the shipped model by default)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", type=Path, required=True, metavar="IMG",
                        help="the image to animate (.png, .jpg, .bmp; any size, grey or RGBA: alpha is dropped)")
    parser.add_argument("--driving", type=Path, required=True, metavar="VIDEO",
                        help="the motion: .mp4/.gif/.mov, a folder of frames, or a horizontal PNG strip of square frames")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="the result: .mp4, .gif or .png (a horizontal strip), chosen by extension")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="weights to use instead of the shipped model: a checkpoint of `fomm-teach train` "
                             "(its run folder's config.yaml is used) or of the authors' code (with --config)")
    parser.add_argument("--config", default=None,
                        help="the checkpoint's config: a shipped name (vox-256, taichi-256, ...) or a YAML path")
    parser.add_argument("--mode", choices=("relative", "absolute"), default="relative",
                        help="relative: the source takes the driving keypoints' changes since the reference "
                             "frame (paper Sec. 3.4); absolute: it takes their positions (default: relative)")
    parser.add_argument("--no-adapt-scale", action="store_true",
                        help="do not scale the motion by the ratio of the keypoint clouds' sizes (relative mode)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--best-frame", action="store_true",
                       help="use the driving frame whose pose is closest to the source's as the reference")
    start.add_argument("--start-frame", type=non_negative_int, default=0, metavar="N",
                       help="use driving frame N as the reference (default: 0, the first frame)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--batch-size", type=positive_int, default=4,
                        help="driving frames per generator call (default: 4)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="write source | driving | result next to each other")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def check_output_path(out: Path) -> None:
    """Refuse, before any work, an output of unknown type or in a folder that cannot be written."""
    from fomm_teach.data.video_io import ANIMATION_EXTENSIONS

    if out.is_dir():
        raise FommTeachError(f"--out {out} is a folder; give a file name such as {out / 'result.mp4'}.")
    if out.suffix.lower() not in ANIMATION_EXTENSIONS:
        raise FommTeachError(f"--out {out}: unknown output type {out.suffix or '(no extension)'}; "
                             f"use {', '.join(ANIMATION_EXTENSIONS)}.")
    folder = out.parent
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise FommTeachError(f"--out {out}: {parent} is a file, not a folder.")
            if not os.access(parent, os.W_OK):
                raise FommTeachError(f"--out {out}: the folder {parent} is not writable; write somewhere else.")
            break


def load_models(args: argparse.Namespace, device: torch.device) -> tuple[dict, dict, str]:
    """(models, config, description) for --checkpoint/--config, or the shipped model."""
    from fomm_teach.checkpoint import guess_config, load_trained_models, read_checkpoint
    from fomm_teach.config import load_config
    from fomm_teach.shipped import load_shipped_model

    if args.checkpoint is None:
        if args.config is not None:
            raise FommTeachError("--config names the config of a --checkpoint; without --checkpoint the shipped "
                                 "model is used with its own config.")
        models, config = load_shipped_model(device=device)
        return models, config, "the shipped model (synthetic windmills, chapter 06)"
    if not args.checkpoint.is_file():
        raise FommTeachError(f"--checkpoint {args.checkpoint}: no such file.")
    config_source = args.config
    if config_source is None:
        beside = args.checkpoint.parent / "config.yaml"
        if not beside.is_file():
            raise FommTeachError(f"--checkpoint {args.checkpoint}: no config.yaml beside it; name its config with "
                                 "--config (e.g. --config vox-256 for the authors' vox-cpk.pth.tar).")
        config_source = beside
    config = load_config(config_source)
    try:
        models = load_trained_models(args.checkpoint, config, device=device)
    except FommTeachError as err:   # a state_dict that does not fit: its first line, and the configs it fits
        lines = str(err).splitlines()
        if len(lines) == 1:
            raise
        matches, _ = guess_config(read_checkpoint(args.checkpoint))
        hint = (f" It looks like --config {' or --config '.join(matches)}." if matches
                else " It fits none of the shipped configs: give the YAML config it was trained with.")
        raise FommTeachError(f"{lines[0].rstrip(':')} built from --config {config_source}.{hint}") from None
    return models, config, f"{args.checkpoint} ({config_source})"


def side_by_side(source: torch.Tensor, driving: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """source (3, S, S), driving and result (T, 3, S, S) -> (T, 3, S, 3S): source | driving | result."""
    return torch.cat([source[None].expand_as(driving), driving, result], dim=-1)   # (T, 3, S, 3S)


def run(args: argparse.Namespace) -> int:
    from fomm_teach.animate import find_best_frame, make_animation
    from fomm_teach.data.video_io import fit_frames, read_animation_input, write_animation

    check_output_path(args.out)
    source_frames, _ = read_animation_input(args.source, "source")
    driving_frames, fps = read_animation_input(args.driving, "driving")
    if args.start_frame >= len(driving_frames):
        raise FommTeachError(f"--start-frame {args.start_frame}: the driving video has {len(driving_frames)} frames "
                             f"(0 to {len(driving_frames) - 1}).")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise FommTeachError(f"--device {args.device}: not a device name; use cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FommTeachError(f"--device {args.device}: no CUDA GPU is available here; use --device cpu.")
    models, config, description = load_models(args, device)
    size = config["dataset_params"]["frame_shape"][0]

    def to_model(frames):
        tensor = torch.from_numpy(frames).permute(0, 3, 1, 2).float()                # (T, 3, H, W)
        return fit_frames(tensor, size).to(device)                                      # (T, 3, S, S)

    source, driving = to_model(source_frames)[0], to_model(driving_frames)
    start_frame = args.start_frame
    if args.best_frame:
        start_frame = find_best_frame(source, driving, models["kp_detector"])
        print(f"best frame: {start_frame} (its keypoints are the closest to the source's)")
    relative = args.mode == "relative"
    result = make_animation(source, driving, models["generator"], models["kp_detector"], relative=relative,
                            adapt_movement_scale=relative and not args.no_adapt_scale, start_frame=start_frame,
                            batch_size=args.batch_size, progress=not args.no_progress)
    if args.side_by_side:
        result = side_by_side(source, driving, result)
    fps = fps or DEFAULT_FPS
    audio_from = args.driving if args.out.suffix.lower() == ".mp4" else None
    write_animation(args.out, result.cpu(), fps=fps, audio_from=audio_from)
    motion = (f"relative motion{'' if args.no_adapt_scale else ' with scale adaptation'}" if relative
              else "absolute motion")
    print(f"wrote {args.out}: {len(result)} frames at {fps:g} fps, {size}×{size} per panel, {motion}, "
          f"reference frame {start_frame}; model: {description}")
    return 0
