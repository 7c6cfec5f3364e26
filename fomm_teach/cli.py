"""The ``fomm-teach`` command line.

Each subcommand lives beside the code it drives and registers itself here through a
``register(subparsers)`` function, so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fomm_teach import __version__
from fomm_teach.errors import FommTeachError

# Modules that expose ``register(subparsers)``; each adds one or more subcommands.
SUBCOMMAND_MODULES = [
    "fomm_teach.demo",
    "fomm_teach.data.check",
    "fomm_teach.training_cli",
    "fomm_teach.notebooks_cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fomm-teach",
        description="First Order Motion Model course: demo, dataset checks, training, animation.",
    )
    parser.add_argument("--version", action="version", version=f"fomm-teach {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except FommTeachError as err:
        print(f"fomm-teach {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fomm-teach {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
