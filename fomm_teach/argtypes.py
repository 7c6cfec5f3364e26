"""Argument types for the ``fomm-teach`` subcommands: numbers checked where argparse reads them.

Pass them as ``type=`` to ``add_argument``; a bad value then gives argparse's one-line usage error
(``argument --frames: must be an integer >= 1, got '0'``) and exit code 2, before anything runs::

    parser.add_argument("--frames", type=positive_int, default=32)
    parser.add_argument("--videos", type=int_at_least(4), default=128)
"""

from __future__ import annotations

import argparse
import math


def int_at_least(low: int):
    """An argparse type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {low}"   # argparse names the type in some messages
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value
