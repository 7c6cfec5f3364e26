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


def run_generator(tool: str, plan, argv: list[str] | None, *, description: str, built_from, stale_reason,
                  make_target: str) -> int:
    """The command line shared by ``export.py`` and ``build_notebooks.py``.

    ``plan(root)`` returns ``({path: wanted_text}, [stale paths])``. Without ``--check`` every file
    that differs is written and every stale one deleted; with ``--check`` nothing is written and
    each drifted file is named (exit 1). ``built_from(path)`` says, for a message, what a file is
    generated from; ``stale_reason(path)`` why a stale file is stale.
    """
    import argparse
    import sys

    from fomm_teach.errors import FommTeachError

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each file that drifted")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        wanted, stale = plan(args.root)
    except FommTeachError as err:
        print(f"{tool}: error: {err}", file=sys.stderr)
        return 2
    changed = [path for path, text in wanted.items()
               if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        problems = [f"{relative(path, args.root)}: " + ("missing" if not path.exists() else f"differs from {built_from(path)}")
                    for path in changed]
        problems += [f"{relative(path, args.root)}: {stale_reason(path)}" for path in stale]
        for problem in problems:
            print(f"{tool} --check: {problem}", file=sys.stderr)
        if problems:
            print(f"{tool} --check: run `make {make_target}` and commit the result.", file=sys.stderr)
            return 1
        print(f"{tool} --check: all {len(wanted)} generated files are up to date.")
        return 0
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8", newline="\n")
        print(f"wrote {relative(path, args.root)}")
    for path in stale:
        path.unlink()
        print(f"deleted {relative(path, args.root)} ({stale_reason(path)})")
    if not changed and not stale:
        print(f"{tool}: all generated files already up to date.")
    return 0
