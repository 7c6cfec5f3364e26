"""Does a recipe learn on this machine, and how fast? Trains for a wall-clock budget, prints a curve.

    python benchmarks/learnability.py --recipe synthetic-fast --minutes 15 [--level windmill]
        [--threads 2] [--device cuda] [--every 1] [--videos 16] [--out DIR]
        [--set train_params.batch_size=16 ...]

Every ``--every`` minutes of *training* time (evaluation time is not counted), on ``--videos``
held-out videos of ``--level`` (default: the recipe's last curriculum level), it prints one line:
minutes, iterations, epoch, held-out reconstruction L1 ÷ copy-the-source L1, and the R² of a linear
map from the learned keypoints to the ground-truth joints and part centres, and the keypoints'
spread (mean distance between two keypoints of a frame; :mod:`fomm_teach.evaluate`). ``--set``
overrides config entries (dotted keys, YAML values), to try variants without writing a file.
Prints only; the curves we measured are in benchmarks/RESULTS.md.

    python benchmarks/learnability.py --curve-from RUN_DIR [--level windmill] [--stride 5]

prints the same columns for the checkpoints of a finished ``fomm-teach train`` run instead (every
``--stride``-th epoch; minutes = wall-clock since the run wrote its config.yaml, evaluation included
only if it ran alongside).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import yaml

from fomm_teach.config import load_config
from fomm_teach.evaluate import evaluate_synthetic
from fomm_teach.train import scheduled, train


def apply_override(config: dict, assignment: str) -> None:
    """'a.b.c=VALUE' sets config['a']['b']['c'] = yaml.safe_load(VALUE)."""
    keys, _, value = assignment.partition("=")
    *path, last = keys.split(".")
    node = config
    for key in path:
        node = node.setdefault(key, {})
    value = yaml.safe_load(value)
    try:   # YAML 1.1 reads 1e-3 as a string
        value = float(value) if isinstance(value, str) else value
    except ValueError:
        pass
    node[last] = value


METRIC_HEADER = f"{'L1/copy':>8} {'R2':>6} {'R2 p0':>6} {'px err':>6} {'L1':>7} {'spread':>6}"


def metric_columns(metrics: dict) -> str:
    """The METRIC_HEADER columns of one evaluate_synthetic result."""
    spread = "n/a" if metrics["kp_spread"] is None else f"{metrics['kp_spread']:.2f}"     # None: one keypoint
    return (f"{metrics['l1'] / metrics['copy_l1']:8.3f} {metrics['r2']:6.3f} {metrics['r2_parts'][0]:6.3f} "
            f"{metrics['pixel_error']:6.2f} {metrics['l1']:7.4f} {spread:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="synthetic-fast", help="a shipped config name or a YAML path")
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--level", default=None, help="held-out level (default: the curriculum's last)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="torch device to train and evaluate on, e.g. cuda")
    parser.add_argument("--every", type=float, default=1.0, help="minutes between evaluations")
    parser.add_argument("--videos", type=int, default=16, help="held-out videos per evaluation")
    parser.add_argument("--out", default=None, help="training folder (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--curve-from", default=None, help="evaluate the checkpoints of this training folder")
    parser.add_argument("--stride", type=int, default=5, help="with --curve-from: every n-th checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.curve_from:
        curve_from_checkpoints(Path(args.curve_from), args)
        return

    config = load_config(args.recipe)
    for assignment in args.set:
        apply_override(config, assignment)
    config["train_params"]["num_epochs"] = 10 ** 6          # the clock stops the run
    config["train_params"]["checkpoint_freq"] = 10 ** 6     # only the final checkpoint
    dataset_params = config["dataset_params"]
    curriculum = dataset_params.get("curriculum") or {}
    level = args.level or scheduled(curriculum.get("level", dataset_params["root_dir"].split(":")[1]), 10 ** 6)
    size = dataset_params["frame_shape"][0]
    print(f"recipe {args.recipe} {' '.join(args.set)} | held-out level {level}, {args.videos} videos, {size}px "
          f"| {args.threads} threads", flush=True)
    print(f"{'minutes':>7} {'iters':>6} {'epoch':>5} {METRIC_HEADER}", flush=True)

    state = {"train_seconds": 0.0, "last": time.perf_counter(), "next": args.every, "iterations": 0}

    def report(event):
        minutes = state["train_seconds"] / 60
        metrics = evaluate_synthetic(event["models"]["kp_detector"], event["models"]["generator"], level, size,
                                     num_videos=args.videos, cross_identity=False, device=args.device)
        print(f"{minutes:7.1f} {state['iterations']:6d} {event['epoch']:5d} {metric_columns(metrics)}", flush=True)

    def callback(event):
        if event["kind"] != "step":
            return False
        now = time.perf_counter()
        state["train_seconds"] += now - state["last"]
        state["iterations"] += 1
        done = state["train_seconds"] >= args.minutes * 60
        if done or state["train_seconds"] >= state["next"] * 60:
            state["next"] += args.every
            report(event)
        state["last"] = time.perf_counter()
        return done

    with tempfile.TemporaryDirectory() as scratch:
        train(config, args.out or scratch, device=args.device, callback=callback, progress=False,
              visualize_every=0)


def curve_from_checkpoints(run_dir: Path, args) -> None:
    """Evaluate every args.stride-th checkpoint of a training folder (and its last one)."""
    from fomm_teach.checkpoint import load_trained_models

    config = load_config(run_dir / "config.yaml")
    start = (run_dir / "config.yaml").stat().st_mtime
    level = args.level or "windmill"
    size = config["dataset_params"]["frame_shape"][0]
    checkpoints = sorted(run_dir.glob("*-checkpoint.pth.tar"))
    chosen = checkpoints[args.stride - 1::args.stride]
    if checkpoints and checkpoints[-1] not in chosen:
        chosen.append(checkpoints[-1])
    print(f"run {run_dir} | held-out level {level}, {args.videos} videos, {size}px", flush=True)
    print(f"{'minutes':>7} {'epoch':>5} {METRIC_HEADER}", flush=True)
    for path in chosen:
        models = load_trained_models(path, config)
        epoch = int(path.name.split("-")[0])                # train's checkpoint_name: '%08d-checkpoint.pth.tar'
        metrics = evaluate_synthetic(models["kp_detector"], models["generator"], level, size,
                                     num_videos=args.videos, cross_identity=False)
        minutes = (path.stat().st_mtime - start) / 60
        print(f"{minutes:7.1f} {epoch:5d} {metric_columns(metrics)}", flush=True)


if __name__ == "__main__":
    main()
