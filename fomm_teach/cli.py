"""The ``fomm-teach`` command line.

Each subcommand lives beside the code it drives and registers itself here through a
``register(subparsers)`` function, so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from fomm_teach import __version__
from fomm_teach.errors import FommTeachError

# Modules that expose ``register(subparsers)``; each adds one or more subcommands.
SUBCOMMAND_MODULES = [
    "fomm_teach.demo",
    "fomm_teach.animate_cli",
    "fomm_teach.data.check",
    "fomm_teach.training_cli",
    "fomm_teach.ablation_cli",
    "fomm_teach.fetch_vgg",
    "fomm_teach.notebooks_cli",
]


DEBUG_VARIABLE = "FOMM_TEACH_DEBUG"   # FOMM_TEACH_DEBUG=1 does what --debug does


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fomm-teach",
        description="First Order Motion Model course: demo, dataset checks, training, animation.",
    )
    parser.add_argument("--version", action="version", version=f"fomm-teach {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of an error (for bug reports); or set {DEBUG_VARIABLE}=1")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for subparser in subparsers.choices.values():   # --debug also works after the subcommand
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; every failure is one line on stderr and a non-zero exit code.

    2: a problem the user can fix (FommTeachError, a file or folder that cannot be read or written,
    a bad argument); 1: an unexpected error (a bug: run again with --debug and report the traceback);
    130: interrupted. With --debug (or FOMM_TEACH_DEBUG=1) errors are raised with their traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:   # --help, --version, or argparse's one-line usage error
        return done.code if isinstance(done.code, int) else 2
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    name = f"fomm-teach {args.command}"
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if debug:
            raise
        message, code = describe_error(err)
        print(f"{name}: error: {message}", file=sys.stderr)
        return code


def describe_error(err: BaseException) -> tuple[str, int]:
    """(one-line message, exit code) for an exception that reached the command line."""
    if isinstance(err, FommTeachError):
        return str(err), 2
    if isinstance(err, OSError):
        return _describe_os_error(err), 2
    if isinstance(err, MemoryError):
        return "out of memory; use a smaller config, batch_size or input (--debug shows where).", 2
    text = str(err).splitlines()[0] if str(err) else ""
    return (f"unexpected {type(err).__name__}: {text[:200]} (a bug in fomm-teach, or an input it does not "
            f"check yet; run again with --debug and report the traceback)"), 1


def _describe_os_error(err: OSError) -> str:
    """What went wrong with which path, and what to do: full disk, read-only, permissions, a file for a folder."""
    path = err.filename if err.filename is not None else "a file"
    if err.filename2 is not None:
        path = f"{err.filename} -> {err.filename2}"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device while writing {path}; free some space or write somewhere else."
    if err.errno == errno.EROFS:
        return f"{path} is on a read-only file system; write somewhere else (e.g. --out DIR)."
    if isinstance(err, PermissionError):
        return f"permission denied: {path}; choose a file or folder you may read and write."
    if isinstance(err, NotADirectoryError):
        return f"{path}: a part of this path is a file, not a folder."
    if isinstance(err, IsADirectoryError):
        return f"{path} is a folder; give a file."
    if isinstance(err, FileNotFoundError):
        return f"no such file or folder: {path}."
    if isinstance(err, FileExistsError):
        return f"{path} already exists."
    return f"{err.strerror or type(err).__name__}: {path}."


if __name__ == "__main__":
    sys.exit(main())
