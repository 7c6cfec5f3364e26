"""``fomm-teach demo``: render the keypoint figures of the course into a folder, offline and on a CPU.

With the model that ships in the package (trained on synthetic windmills, chapter 06), it takes a
held-out synthetic video and writes: the first frame with the learned keypoints and Jacobian
axes, the detector's heatmaps, and a strip of driving frames next to the same frames re-posed from
frame 0 by the generator; then it animates a held-out windmill with another one's motion
(chapter 07) into ``demo.mp4`` and ``demo.gif``. With ``--config NAME`` (or when the shipped model
is missing) it shows a freshly initialised detector of that config on a synthetic face instead: the
machinery of chapter 01, whose keypoints mean nothing yet.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from matplotlib.figure import Figure

from fomm_teach.argtypes import non_negative_int
from fomm_teach.config import load_config
from fomm_teach.errors import FommTeachError

DEFAULT_CONFIG = "vox-256"
SHIPPED_LEVEL = "windmill"  # the synthetic level the shipped model was trained on (fomm_teach/shipped.py)


def register(subparsers) -> None:
    """Add the ``demo`` subcommand to the ``fomm-teach`` parser."""
    parser = subparsers.add_parser(
        "demo",
        help="render keypoint, heatmap and reconstruction figures into a folder (offline, CPU, seconds)",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the PNG files")
    parser.add_argument("--config", default=None,
                        help=f"show an untrained detector of this config (name or YAML path) instead of the "
                             f"shipped model; without the shipped model, {DEFAULT_CONFIG} is used")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the untrained detector's weights")
    parser.set_defaults(run=run)


def keypoint_figures(detector, image: torch.Tensor, title: str, out: Path) -> list[Path]:
    """``keypoints.png`` (image, numbered keypoints, Jacobian axes) and ``heatmaps.png`` (one per keypoint).

    detector: a ``KPDetector`` (put in eval mode here); image: (3, S, S) in [0, 1].
    """
    from fomm_teach import viz

    size = image.shape[-1]
    detector.eval()
    with torch.no_grad():
        kp = detector(image[None], return_heatmap=True)                # value (1, K, 2), heatmap (1, K, h, w)
    num_kp, heatmap_size = kp["heatmap"].shape[1], kp["heatmap"].shape[-1]

    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    viz.show_image(ax, image, f"{title}\n{num_kp} numbered keypoints; lines: the columns of each Jacobian")
    if "jacobian" in kp:
        viz.draw_jacobians(ax, kp["value"][0], kp["jacobian"][0], size)
    viz.draw_keypoints(ax, kp["value"][0], size)
    fig.tight_layout()
    fig.savefig(out / "keypoints.png", dpi=100)

    columns = min(num_kp, 5)
    rows = -(-num_kp // columns)
    fig = Figure(figsize=(3 * columns, 2.8 * rows))
    for k in range(num_kp):
        ax = fig.add_subplot(rows, columns, k + 1)
        viz.show_heatmap(ax, kp["heatmap"][0, k], title=f"heatmap of keypoint {k}", label="probability")
        x, y = viz.to_pixels(kp["value"][0, k:k + 1], heatmap_size)[0].tolist()
        ax.scatter([x], [y], s=30, color=viz.keypoint_color(k), edgecolors="black", zorder=3)
    fig.suptitle(f"Softmax heatmaps, {heatmap_size}×{heatmap_size} for a {size}×{size} input "
                 "(downsampled, then the unpadded 7×7 head trims 3 cells per side); dot: soft-argmax", fontsize=11)
    fig.tight_layout()
    fig.savefig(out / "heatmaps.png", dpi=100)
    return [out / "keypoints.png", out / "heatmaps.png"]


def untrained_figures(config_name: str, seed: int, out: Path) -> list[Path]:
    """The keypoint figures of a freshly initialised detector of ``config_name`` on a synthetic face."""
    from fomm_teach import viz
    from fomm_teach.models import build_kp_detector

    config = load_config(config_name)
    height, width = config["dataset_params"]["frame_shape"][:2]
    if height != width:
        raise FommTeachError(f"demo: config {config_name} has a non-square frame_shape {height}x{width}.")
    torch.manual_seed(seed)
    detector = build_kp_detector(config)
    title = f"KPDetector ({config_name}, untrained, seed {seed}) on a {height}×{height} synthetic face"
    return keypoint_figures(detector, viz.synthetic_frame(height), title, out)


def reconstruction_figure(models: dict, config: dict, num_frames: int = 8) -> Figure:
    """Held-out synthetic video 0: driving frames with keypoints (top) and frame 0 re-posed to each (bottom).

    models: ``{'kp_detector', 'generator'}`` in eval mode; config: their config (for the frame size).
    """
    from fomm_teach import viz
    from fomm_teach.data.synthetic import SyntheticVideos
    from fomm_teach.evaluate import reconstruct

    size = config["dataset_params"]["frame_shape"][0]
    clip = SyntheticVideos(SHIPPED_LEVEL, size=size, split="test").video(0)
    step = max(1, clip["frames"].shape[0] // num_frames)
    frames = clip["frames"][::step][:num_frames]                       # (T, 3, S, S)
    with torch.no_grad():
        prediction, kp_value = reconstruct(models["kp_detector"], models["generator"], frames)  # (T, 3, S, S), (T, K, 2)
    fig = Figure(figsize=(1.9 * len(frames), 4.8))
    for column in range(len(frames)):
        top = fig.add_subplot(2, len(frames), column + 1)
        viz.show_image(top, frames[column], f"driving, frame {step * column}")
        viz.draw_keypoints(top, kp_value[column], size, numbers=False, size=15)
        bottom = fig.add_subplot(2, len(frames), len(frames) + column + 1)
        viz.show_image(bottom, prediction[column], "frame 0 re-posed")
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
    fig.suptitle("Shipped model on a held-out video: top, driving frames with their keypoints; bottom, the "
                 "generator re-poses frame 0 with each frame's keypoints", fontsize=10)
    fig.tight_layout()
    return fig


def shipped_figures(out: Path) -> list[Path]:
    """The shipped model on a held-out synthetic video: keypoint figures and ``reconstruction.png``."""
    from fomm_teach.data.synthetic import SyntheticVideos
    from fomm_teach.shipped import load_shipped_model

    models, config = load_shipped_model()
    size = config["dataset_params"]["frame_shape"][0]
    first_frame = SyntheticVideos(SHIPPED_LEVEL, size=size, split="test").video(0, times=[0])["frames"][0]  # (3, S, S)
    title = f"the shipped model's KPDetector on a held-out {SHIPPED_LEVEL} frame ({size}×{size})"
    written = keypoint_figures(models["kp_detector"], first_frame, title, out)
    reconstruction_figure(models, config).savefig(out / "reconstruction.png", dpi=100)
    return written + [out / "reconstruction.png"]


def animation_files(models: dict, config: dict, out: Path, source_index: int = 2, driving_index: int = 5,
                    zoom: int = 3) -> list[Path]:
    """``demo.mp4`` and ``demo.gif``: held-out identity ``source_index`` animated with the motion of video
    ``driving_index`` (relative motion with scale adaptation, chapter 07), as source | driving | result,
    each panel enlarged ``zoom`` times (nearest neighbour) so the 64-pixel frames can be seen."""
    from fomm_teach.animate import make_animation
    from fomm_teach.animate_cli import side_by_side
    from fomm_teach.data.synthetic import SyntheticVideos
    from fomm_teach.data.video_io import write_animation

    size = config["dataset_params"]["frame_shape"][0]
    pair = SyntheticVideos(SHIPPED_LEVEL, size=size, num_frames=48, split="test").cross_identity(source_index, driving_index)
    result = make_animation(pair["source"], pair["driving"], models["generator"], models["kp_detector"])  # (T, 3, S, S)
    panels = side_by_side(pair["source"], pair["driving"], result)                                        # (T, 3, S, 3S)
    panels = torch.nn.functional.interpolate(panels, scale_factor=zoom, mode="nearest")                    # (T, 3, zS, 3zS)
    return [write_animation(out / name, panels, fps=12) for name in ("demo.mp4", "demo.gif")]


def run(args: argparse.Namespace) -> int:
    from fomm_teach.shipped import load_shipped_model, shipped_model_path

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FommTeachError(f"demo: --out {out} is a file; give a folder (it is created if missing).")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    use_shipped = args.config is None and shipped_model_path().is_file()
    if use_shipped:
        written = shipped_figures(out)
        written += animation_files(*load_shipped_model(), out)
    else:
        written = untrained_figures(args.config or DEFAULT_CONFIG, args.seed, out)
    for path in written:
        print(f"wrote {path}")
    if use_shipped:
        print("demo.mp4 / demo.gif: a held-out windmill (left) moved like another one (middle): the result (right). "
              "Chapter 07 explains how; fomm-teach animate does it for your own image and video.")
        print("Chapter 06 trains this model; chapters 01-04 build its parts.")
    else:
        print("This detector is untrained, so its keypoints are not meaningful yet; notebooks/01_keypoints "
              "explains every step.")
    return 0
