"""``fomm-teach notebooks DIR``: copy the course notebooks that ship with the package into DIR.

Someone who installed the package with pip has no repository checkout; this command hands them
the course. ``DIR/student/`` holds the notebooks to work in (solutions folded away);
``DIR/instructor/`` holds the same notebooks with solutions that run.

Running it again is safe. A file identical to the shipped one is left alone; a file this command
wrote earlier and nobody has touched since is updated to the installed version; a file that
differs from what it wrote (you edited or ran it) is never overwritten: the command stops before
copying anything and names those files. What it wrote is recorded in ``DIR/.fomm_teach_notebooks.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from importlib import resources
from pathlib import Path

from fomm_teach import __version__
from fomm_teach.errors import FommTeachError

# Where a wheel carries the notebooks (setup.py's build step copies them there).
PACKAGED = "course_notebooks"
KINDS = ("student", "instructor")
MANIFEST = ".fomm_teach_notebooks.json"
FIRST_NOTEBOOK = "00_start_here.ipynb"


def register(subparsers) -> None:
    """Add the ``notebooks`` subcommand to the ``fomm-teach`` parser."""
    parser = subparsers.add_parser(
        "notebooks",
        help="copy the course notebooks (student and instructor) into a folder",
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="folder to copy into (created if missing)")
    parser.add_argument("--only", choices=KINDS, default=None,
                        help="copy only the student or only the instructor notebooks (default: both)")
    parser.set_defaults(run=run)


def _checkout_notebooks() -> dict[str, Path] | None:
    """The notebooks of a repository checkout (an editable install), or None outside one."""
    root = Path(__file__).resolve().parent.parent
    folders = {"instructor": root / "notebooks", "student": root / "notebooks" / "student"}
    if not (root / "pyproject.toml").is_file() or not (folders["student"] / FIRST_NOTEBOOK).is_file():
        return None
    return {f"{kind}/{path.name}": path for kind, folder in folders.items()
            for path in sorted(folder.glob("[0-9]*.ipynb"))}


def shipped_notebooks() -> dict[str, Path]:
    """``{"student/NN_topic.ipynb": file, "instructor/NN_topic.ipynb": file, ...}`` of this install.

    A wheel carries them in ``fomm_teach/course_notebooks/``; an editable install reads the
    checkout's ``notebooks/`` (its single copy, which ``make notebooks`` keeps current).
    """
    packaged = resources.files("fomm_teach") / PACKAGED
    if packaged.is_dir():
        found = {f"{kind}/{entry.name}": Path(str(entry)) for kind in KINDS if (packaged / kind).is_dir()
                 for entry in sorted((packaged / kind).iterdir(), key=lambda e: e.name) if entry.name.endswith(".ipynb")}
        if found:
            return found
    found = _checkout_notebooks()
    if found:
        return found
    raise FommTeachError(
        f"no course notebooks in this installation of fomm_teach ({Path(__file__).parent}); install it from "
        "a wheel or sdist of the course (pip install fomm_teach), or run the command from a checkout of the repository"
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(target: Path) -> dict[str, str]:
    try:
        return dict(json.loads((target / MANIFEST).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def plan_copy(sources: dict[str, Path], target: Path) -> tuple[dict[str, bytes], list[str], list[str]]:
    """What copying ``sources`` into ``target`` would do, writing nothing.

    Returns ``(to_write, unchanged, refused)``: the files to write with their bytes, the files
    already identical, and the files that differ from both the shipped notebook and what this
    command last wrote there (edited by someone, so never overwritten).
    """
    written_before = _read_manifest(target)
    to_write: dict[str, bytes] = {}
    unchanged: list[str] = []
    refused: list[str] = []
    for name, source in sources.items():
        data = source.read_bytes()
        destination = target / name
        if not destination.exists():
            to_write[name] = data
            continue
        current = _digest(destination.read_bytes()) if destination.is_file() else None
        if current == _digest(data):
            unchanged.append(name)
        elif current is not None and current == written_before.get(name):
            to_write[name] = data  # ours, untouched since: an update from a newer package
        else:
            refused.append(name)
    return to_write, unchanged, refused


def copy_notebooks(target: Path, only: str | None = None) -> dict[str, list[str]]:
    """Copy the shipped notebooks into ``target``; ``{'written': [...], 'unchanged': [...]}``.

    Raises FommTeachError, writing nothing, when a file in the way was changed since it was copied.
    """
    sources = {name: path for name, path in shipped_notebooks().items() if only is None or name.startswith(only + "/")}
    if target.exists() and not target.is_dir():
        raise FommTeachError(f"{target} exists and is not a folder")
    to_write, unchanged, refused = plan_copy(sources, target)
    if refused:
        listed = ", ".join(str(target / name) for name in refused)
        raise FommTeachError(
            f"not overwriting {len(refused)} notebook(s) that differ from the shipped ones (edited or run): {listed}. "
            "Nothing was copied. Rename or move them, or copy into another folder."
        )
    manifest = _read_manifest(target)
    for name, data in to_write.items():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        manifest[name] = _digest(data)
    for name in unchanged:
        manifest[name] = _digest(sources[name].read_bytes())
    (target / MANIFEST).write_text(
        json.dumps({"fomm_teach": __version__, "files": dict(sorted(manifest.items()))}, indent=1) + "\n",
        encoding="utf-8",
    )
    return {"written": sorted(to_write), "unchanged": sorted(unchanged)}


def run(args: argparse.Namespace) -> int:
    result = copy_notebooks(args.dir, args.only)
    print(f"fomm-teach notebooks: {len(result['written'])} written, {len(result['unchanged'])} already up to date "
          f"in {args.dir}")
    if args.only != "instructor":
        print(f"Start with: jupyter lab {args.dir / 'student' / FIRST_NOTEBOOK}")
    return 0
