"""How fast does the synthetic renderer draw frames? Prints frames/s per level (no assertions).

    python benchmarks/synthetic_fps.py [--size 64] [--threads 1] [--seconds 3]

Three ways of drawing, for each level:
- ``video``: whole videos of 32 frames, one at a time (``SyntheticVideos.video``);
- ``pairs``: a batch of 16 training pairs in one vectorised call (``SyntheticVideos.pairs``),
  what a training loop without a DataLoader would use;
- ``dataset``: ``SyntheticPairs`` items one by one (what a DataLoader worker does).
A training pair is 2 frames.
"""

from __future__ import annotations

import argparse
import time

import torch

from fomm_teach.data.puppets import LEVELS
from fomm_teach.data.synthetic import SyntheticPairs, SyntheticVideos


def rate(function, frames_per_call: int, seconds: float) -> float:
    """Frames per second of repeated calls of ``function(call_index)`` over about ``seconds``."""
    function(0)  # warm-up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function(calls + 1)
        calls += 1
    return calls * frames_per_call / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"synthetic renderer, {args.size}x{args.size}, torch {torch.__version__}, {args.threads} thread(s)")
    print(f"{'level':10s} {'video (T=32)':>14s} {'pairs (B=16)':>14s} {'dataset item':>14s}   frames/s")
    for level in LEVELS:
        videos = SyntheticVideos(level, size=args.size, num_frames=32, max_gap=8)
        dataset = SyntheticPairs(videos, num_videos=10**6)
        generator = torch.Generator().manual_seed(0)
        per_video = rate(lambda i: videos.video(i), 32, args.seconds)
        per_batch = rate(lambda i: videos.pairs(range(16 * i, 16 * i + 16), generator), 32, args.seconds)
        per_item = rate(lambda i: dataset[i], 2, args.seconds)
        print(f"{level:10s} {per_video:14.0f} {per_batch:14.0f} {per_item:14.0f}")


if __name__ == "__main__":
    main()
