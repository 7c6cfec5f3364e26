"""The one call at the top of every notebook: ``course = start()``.

It seeds Python, NumPy and torch, caps torch's CPU threads (a laptop stays responsive, and the
course machines have 2 cores), picks the device, reads quick mode from ``FOMM_TEACH_QUICK=1``,
prints one line of versions, and returns a :class:`Course` with ``.device``, ``.quick``,
``.seed`` and ``.threads``.

Cells tagged ``gpu`` are turned by ``tools/build_notebooks.py`` into cells that start with the
``%%gpu`` cell magic, which ``start()`` registers: on a CUDA device the cell runs as usual, on a
CPU it prints that it was skipped. So the same notebook runs everywhere, including under nbval.
"""

from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass

import numpy as np
import torch

from fomm_teach import __version__

QUICK_ENV = "FOMM_TEACH_QUICK"


@dataclass(frozen=True)
class Course:
    """What a notebook needs to know about where it runs."""

    device: torch.device
    quick: bool
    seed: int
    threads: int

    def pick(self, quick, full, gpu=None):
        """Choose a size by mode: ``quick`` under ``FOMM_TEACH_QUICK=1``, ``gpu`` on CUDA, else ``full``.

        Example: ``image_size = course.pick(quick=32, full=64, gpu=256)``.
        """
        if self.quick:
            return quick
        if gpu is not None and self.device.type == "cuda":
            return gpu
        return full


def quick_mode() -> bool:
    """True when ``FOMM_TEACH_QUICK`` is set to anything but empty or ``0``."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_threads() -> int:
    """At most 2 torch threads: enough for the course's small tensors, and polite on a laptop."""
    return max(1, min(2, os.cpu_count() or 1))


def start(seed: int = 0, threads: int | None = None, verbose: bool = True) -> Course:
    """Set up a notebook: seed, thread cap, device, quick mode; print one line; return a :class:`Course`.

    seed: seeds ``random``, ``numpy`` and ``torch``. threads: torch's intra-op threads
    (default :func:`default_threads`). The device is ``cuda`` when available, else ``cpu``.
    """
    seed_everything(seed)
    threads = default_threads() if threads is None else int(threads)
    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    course = Course(device=device, quick=quick_mode(), seed=seed, threads=threads)
    _register_gpu_magic(course)
    if verbose:
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{threads} threads"
        print(
            f"fomm_teach {__version__} | python {platform.python_version()} | torch {torch.__version__} "
            f"| numpy {np.__version__} | device {device} ({where}) | quick mode {'on' if course.quick else 'off'} "
            f"| seed {seed}"
        )
    return course


def _register_gpu_magic(course: Course) -> None:
    """Register the ``%%gpu`` cell magic when running inside IPython (a no-op in plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def gpu(line: str, cell: str) -> None:
        """``%%gpu``: run this cell only on a CUDA device; on a CPU, say that it was skipped."""
        if course.device.type != "cuda":
            print("⏭ skipped: this cell needs a GPU (course.device is cpu). Try it on Colab with a GPU runtime.")
            return
        result = shell.run_cell(cell)
        result.raise_error()

    shell.register_magic_function(gpu, magic_kind="cell", magic_name="gpu")
