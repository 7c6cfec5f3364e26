"""``fomm-teach ablation``: the paper's Table 1 on synthetic data with ground truth (chapter 09).

    fomm-teach ablation --list [--data synthetic:LEVEL] [--config NAME|PATH]
    fomm-teach ablation --data synthetic:LEVEL (--budget MINUTES | --epochs N) [--seeds N] [--out DIR]
                        [--videos N] [--config NAME|PATH] [--threads N] [--device D]

Trains the five variants of :mod:`fomm_teach.ablation` from the same seeds on the same data for
the same number of steps, scores each on the same held-out videos, and writes the table (CSV and
Markdown), a figure and run.json into DIR/results. Run the same command again to resume.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import torch

from fomm_teach.argtypes import int_at_least, positive_float, positive_int

DEFAULT_OUT = "runs/ablation"


def register(subparsers) -> None:
    """Add the ``ablation`` subcommand to the ``fomm-teach`` parser."""
    parser = subparsers.add_parser(
        "ablation", help="the paper's ablation (Table 1): five variants trained and scored on synthetic data",
        description=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the variants and the switches of each, then stop")
    parser.add_argument("--data", default="synthetic:rigid",
                        help="synthetic:rigid | synthetic:windmill | synthetic:puppet (default: synthetic:rigid)")
    parser.add_argument("--config", default=None, help="base config: a shipped name or a YAML path (default: "
                        "synthetic-rigid for rigid, synthetic-fast otherwise)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget", type=positive_float, default=None, metavar="MINUTES",
                        help="training minutes per variant and seed, turned into a whole number of epochs once "
                             "by timing the full model on this machine (kept in DIR/plan.json)")
    budget.add_argument("--epochs", type=positive_int, default=None, help="epochs per variant and seed (no calibration: "
                        "the way to reproduce a table exactly)")
    parser.add_argument("--seeds", type=positive_int, default=2, help="seeds 0..N-1 for every variant (default: 2)")
    parser.add_argument("--videos", type=int_at_least(4), default=32, help="held-out videos to score on (default: 32)")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (recorded in run.json)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args) -> int:
    from fomm_teach.ablation import base_config, format_variants, parse_data, run_ablation
    from fomm_teach.errors import FommTeachError

    level = parse_data(args.data)
    base = base_config(level, args.config)
    if args.list:
        print(format_variants(base, args.config or f"the {level} recipe"))
        return 0
    if args.budget is None and args.epochs is None:
        raise FommTeachError("give the training budget: --budget MINUTES (per variant and seed) or --epochs N.")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_ablation(args.out, level=level, base=base, seeds=args.seeds, budget_minutes=args.budget,
                          epochs=args.epochs, videos=args.videos, device=args.device, progress=not args.no_progress,
                          command=command_line(args))
    print((result["results"] / "ablation.md").read_text(encoding="utf-8"))
    print(f"results: {result['results']}/ablation.csv, ablation.md, ablation.png, run.json")
    return 0


def command_line(args) -> str:
    """The command that ran, every setting spelt out (for run.json)."""
    words = ["fomm-teach", "ablation", "--data", args.data]
    if args.config:
        words += ["--config", args.config]
    words += ["--budget", f"{args.budget:g}"] if args.budget is not None else ["--epochs", str(args.epochs)]
    words += ["--seeds", str(args.seeds), "--videos", str(args.videos), "--out", str(args.out)]
    if args.threads:
        words += ["--threads", str(args.threads)]
    if args.device != "cpu":
        words += ["--device", args.device]
    return " ".join(shlex.quote(word) for word in words)
