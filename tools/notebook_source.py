"""Reading the course's notebook sources (``notebooks/NN_topic.py``, jupytext py:percent).

Shared by ``export.py`` and ``build_notebooks.py`` so both tools see the same cells, the same
cell numbers and the same tag vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent

# The cell-tag vocabulary (README "Cell tags").
TAGS = {"export", "exercise", "solution", "helper", "gpu"}


def notebook_sources(root: Path) -> list[Path]:
    """Every notebook source ``notebooks/*.py`` under ``root``, in name order."""
    return sorted((root / "notebooks").glob("*.py"))


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Parse one py:percent source into a notebook (cells, metadata; no outputs)."""
    return jupytext.read(path, fmt="py:percent")


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes, as written into generated files."""
    return path.resolve().relative_to(root.resolve()).as_posix()


def tags(cell: nbformat.NotebookNode) -> set[str]:
    """The cell's tags as a set (empty when it has none)."""
    return set(cell.metadata.get("tags", []))


def cell_label(source: str, number: int) -> str:
    """How messages and provenance comments name a cell: ``notebooks/01_keypoints.py, cell 7``.

    ``number`` counts every cell of the source (markdown included) from 1.
    """
    return f"{source}, cell {number}"
