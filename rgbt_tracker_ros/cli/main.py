"""Entry point of ``rgbt-tracker``: builds the parser from the subcommand modules and runs one.

Each subcommand's module (``cli/<name>.py``, ``-`` in the name read as ``_``) defines
``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returning an exit code). Heavy imports (torch) stay
inside those functions so that ``--help`` is instant. User errors (:class:`RgbtError`, missing
files) print one line to stderr and exit 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from rgbt_tracker_ros import __version__
from rgbt_tracker_ros.errors import RgbtError

#: Subcommands, in the order they appear in ``--help``; each is the module ``cli/<name with - as _>.py``.
SUBCOMMANDS = (
    "demo",
    "synth",
    "evaluate",
    "info",
    "train",
    "distill",
    "track",
    "benchmark",
    "label",
    "speed",
    "export",
    "import-weights",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="rgbt-tracker",
        description="RGB-T single-object tracking: synthetic data, training, tracking, evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"rgbt_tracker_ros.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``rgbt-tracker``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (RgbtError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        print(f"rgbt-tracker {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rgbt-tracker {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
