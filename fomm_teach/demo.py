"""``fomm-teach demo``: render the first chapter's figures into a folder, offline and on a CPU.

What it shows: a keypoint detector (``KPDetector``, chapter 01) built from a shipped config runs on
a synthetic picture; the demo saves the picture with its numbered keypoints and Jacobian axes, and
the detector's K heatmaps. The detector is freshly initialised (seeded), so its keypoints do not
mean anything yet: this demo shows the machinery end to end. The animation job replaces it once
the course ships a trained model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from matplotlib.figure import Figure

from fomm_teach.config import load_config
from fomm_teach.errors import FommTeachError

DEFAULT_CONFIG = "vox-256"


def register(subparsers) -> None:
    """Add the ``demo`` subcommand to the ``fomm-teach`` parser."""
    parser = subparsers.add_parser(
        "demo",
        help="render the keypoint detector's figures into a folder (offline, CPU, a few seconds)",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the PNG files")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="shipped config name or YAML path")
    parser.add_argument("--seed", type=int, default=0, help="seed of the detector's initial weights")
    parser.set_defaults(run=run)


def build_kp_detector(config: dict):
    """A ``KPDetector`` from ``model_params`` (common_params merged in, as the authors' run.py does).

    ``align_corners`` is the generator's switch only, so it is left out here.
    """
    from fomm_teach.keypoints import KPDetector

    model_params = config["model_params"]
    common = {key: value for key, value in model_params["common_params"].items() if key != "align_corners"}
    return KPDetector(**model_params["kp_detector_params"], **common)


def draw_jacobians(ax, kp_value, jacobian, image_size, length=0.08):
    """Each keypoint's Jacobian (K, 2, 2) as two short lines along its columns, from kp_value (K, 2)."""
    from fomm_teach import viz

    pixels_per_unit = (image_size - 1) / 2
    centres = viz.to_pixels(kp_value, image_size)                     # (K, 2) pixels
    for k, (x, y) in enumerate(centres.tolist()):
        for column in range(2):
            dx, dy = (jacobian[k, :, column] * length * pixels_per_unit).tolist()
            ax.plot([x, x + dx], [y, y + dy], color=viz.keypoint_color(k), linewidth=1.5)


def render_figures(config_name: str, seed: int, out: Path) -> list[Path]:
    """Run the detector on a synthetic picture; write ``keypoints.png`` and ``heatmaps.png`` into ``out``."""
    from fomm_teach import viz

    config = load_config(config_name)
    height, width = config["dataset_params"]["frame_shape"][:2]
    if height != width:
        raise FommTeachError(f"demo: config {config_name} has a non-square frame_shape {height}x{width}.")
    torch.manual_seed(seed)
    detector = build_kp_detector(config).eval()
    image = viz.synthetic_frame(height)                                # (3, H, W)
    with torch.no_grad():
        kp = detector(image[None], return_heatmap=True)                # value (1, K, 2), heatmap (1, K, h, w)
    num_kp, heatmap_size = kp["heatmap"].shape[1], kp["heatmap"].shape[-1]

    written = []
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    viz.show_image(ax, image, f"KPDetector ({config_name}, untrained, seed {seed}) on a {height}×{width} "
                              f"synthetic face:\n{num_kp} numbered keypoints; lines: columns of each Jacobian")
    if "jacobian" in kp:
        draw_jacobians(ax, kp["value"][0], kp["jacobian"][0], height)
    viz.draw_keypoints(ax, kp["value"][0], height)
    fig.tight_layout()
    written.append(out / "keypoints.png")
    fig.savefig(written[-1], dpi=100)

    columns = min(num_kp, 5)
    rows = -(-num_kp // columns)
    fig = Figure(figsize=(3 * columns, 2.8 * rows))
    for k in range(num_kp):
        ax = fig.add_subplot(rows, columns, k + 1)
        viz.show_heatmap(ax, kp["heatmap"][0, k], title=f"heatmap of keypoint {k}", label="probability")
        x, y = viz.to_pixels(kp["value"][0, k:k + 1], heatmap_size)[0].tolist()
        ax.scatter([x], [y], s=30, color=viz.keypoint_color(k), edgecolors="black", zorder=3)
    fig.suptitle(f"Softmax heatmaps ({heatmap_size}×{heatmap_size}: the unpadded 7×7 head trims 3 cells per "
                 "side); dot: soft-argmax", fontsize=11)
    fig.tight_layout()
    written.append(out / "heatmaps.png")
    fig.savefig(written[-1], dpi=100)
    return written


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FommTeachError(f"demo: --out {out} is a file; give a folder (it is created if missing).")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    for path in render_figures(args.config, args.seed, out):
        print(f"wrote {path}")
    print("The detector is untrained, so its keypoints are not meaningful yet; notebooks/01_keypoints "
          "explains every step.")
    return 0
