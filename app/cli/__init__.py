"""The `photoseek` command. Each command group lives in its own module and registers itself."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app import __version__
from app.core.errors import UserError
from app.core.paths import ENV_HOME, Paths

log = logging.getLogger(__name__)

# Modules with `register(subparsers)`; each sets `func(args, paths) -> int` on its parsers.
COMMAND_MODULES = ("app.cli.model_cmd", "app.cli.library_cmd")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="photoseek",
        description="Find any photo on your own computer by meaning. Runs locally and privately.",
    )
    parser.add_argument("--version", action="version", version=f"photoseek {__version__}")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"keep all PhotoSeek data under this folder (or set ${ENV_HOME})")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output on stderr (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return parser


def resolve_paths(args: argparse.Namespace) -> Paths:
    if args.data_dir is not None:
        return Paths.at(args.data_dir)
    return Paths.default()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        if args.command is None and not os.environ.get("PHOTOSEEK_NO_GUI"):
            return launch_gui(args)
        parser.print_help()
        return 2
    paths = resolve_paths(args)
    try:
        return int(args.func(args, paths) or 0)
    except UserError as e:
        print(f"photoseek: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("photoseek: interrupted", file=sys.stderr)
        return 130


def launch_gui(args: argparse.Namespace) -> int:
    """`photoseek` with no command opens the desktop window."""
    try:
        from app.ui.main import run_gui
    except ModuleNotFoundError as e:
        print(f"photoseek: the desktop window is not available ({e}).", file=sys.stderr)
        return 2
    return run_gui(resolve_paths(args))
