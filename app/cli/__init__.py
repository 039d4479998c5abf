"""The `photoseek` command. Each command group lives in its own module and registers itself."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from app import __version__
from app.core.api import ENV_HOME, Paths, UserError, setup_logging

log = logging.getLogger(__name__)

# Modules with `register(subparsers)`; each sets `func(args, paths) -> int` on its parsers.
COMMAND_MODULES = (
    "app.cli.model_cmd",
    "app.cli.library_cmd",
    "app.cli.repair_cmd",
    "app.cli.places_cmd",
    "app.cli.duplicates_cmd",
)


class Parser(argparse.ArgumentParser):
    """Usage errors in one line that says where the help is (subcommands inherit this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = Parser(
        prog="photoseek",
        description="Find any photo on your own computer by meaning. Runs locally and privately.",
    )
    parser.add_argument("--version", action="version", version=f"photoseek {__version__}")
    parser.add_argument(
        "--data-dir",
        type=str,
        default=None,
        help=f"keep all PhotoSeek data under this folder (or set ${ENV_HOME})",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output on stderr (-vv for debug)",
    )
    parser.add_argument(
        "--similar",
        metavar="PHOTO",
        default=None,
        help="open the window searching for photos like PHOTO (also: `photoseek PHOTO`); "
        "an open window takes the request",
    )
    menu = parser.add_mutually_exclusive_group()
    menu.add_argument(
        "--install-desktop-entry",
        action="store_true",
        help="add PhotoSeek to the desktop menu (Linux: a .desktop file and icons "
        "in ~/.local/share) and exit",
    )
    menu.add_argument(
        "--uninstall-desktop-entry",
        action="store_true",
        help="remove PhotoSeek from the desktop menu and exit",
    )
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
        return Paths.at(args.data_dir, what="--data-dir")
    return Paths.default()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(_photo_as_similar(parser, argv))
    if extra:
        # `search -people`: a query word that excludes looks like an option to argparse.
        if getattr(args, "command", None) == "search" and all(_is_word(w) for w in extra):
            args.text = " ".join(w for w in (args.text, *extra) if w)
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        if args.command is not None:
            parser.error("--install-desktop-entry and --uninstall-desktop-entry take no command")
        try:
            return desktop_menu(args)
        except UserError as e:
            print(f"photoseek: {e}", file=sys.stderr)
            return e.exit_code
    try:
        paths = resolve_paths(args)
    except UserError as e:
        print(f"photoseek: {e}", file=sys.stderr)
        return e.exit_code
    if not getattr(args, "func", None):
        if args.command is None and not os.environ.get("PHOTOSEEK_NO_GUI"):
            similar = Path(args.similar).expanduser().resolve() if args.similar else None
            return launch_gui(paths, similar)
        parser.print_help()
        return 2
    setup_logging(paths.logs)
    return run_command(args, paths)


def _photo_as_similar(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> list[str]:
    """`photoseek IMG.jpg` (a file manager's "Open With"): the same as `--similar IMG.jpg`."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands |= set(action.choices)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--data-dir", "--similar"):
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        if arg not in commands and Path(arg).is_file():
            return [*args[:i], "--similar", arg, *args[i + 1 :]]
        break
    return args


def _is_word(arg: str) -> bool:
    """`-people`: one dash and a word (not `--option`, not `-3`)."""
    return arg.startswith("-") and len(arg) > 1 and arg[1] != "-"


def run_command(args: argparse.Namespace, paths: Paths) -> int:
    """Run a command; whatever goes wrong, the user sees one line and a documented exit code."""
    from app.cli import faults

    try:
        code = int(args.func(args, paths) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return code
    except BrokenPipeError:
        # `photoseek search x | head`: the reader has what it wanted. Quiet, as Unix tools are.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return faults.EXIT_BROKEN_PIPE
    except UserError as e:
        print(f"photoseek: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("photoseek: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        known = faults.explain(e, paths)
        if known is not None:
            log.debug("%s", known, exc_info=True)
            print(f"photoseek: {known}", file=sys.stderr)
            return known.exit_code
        print(f"photoseek: {faults.report_bug(e, paths)}", file=sys.stderr)
        return faults.EXIT_BUG


def desktop_menu(args: argparse.Namespace) -> int:
    """`--install-desktop-entry` / `--uninstall-desktop-entry`: the Linux menu entry and icons."""
    from app.core.api import desktop_entry

    if args.uninstall_desktop_entry:
        removed = desktop_entry.uninstall_desktop_entry()
        if not removed:
            print("PhotoSeek was not in the desktop menu; nothing to remove.")
        for path in removed:
            print(f"removed {path}")
        return 0
    command = desktop_entry.launcher_command()
    if args.data_dir is not None:  # the menu opens the same library as this command
        command += ["--data-dir", str(Path(args.data_dir).expanduser().resolve())]
    entry = desktop_entry.install_desktop_entry(command=command)
    print(f"Added PhotoSeek to the desktop menu: {entry.desktop_file}")
    print(f"  runs:  {' '.join(entry.command)}")
    print(f"  icons: {len(entry.icons)} sizes in {entry.icons[0].parents[2]}")
    print("Remove it with: photoseek --uninstall-desktop-entry")
    return 0


def launch_gui(paths: Paths, similar: Path | None = None) -> int:
    """`photoseek` with no command opens the desktop window (or raises the open one)."""
    try:
        from app.ui.main import run_gui
    except ModuleNotFoundError as e:
        print(f"photoseek: the desktop window is not available ({e}).", file=sys.stderr)
        return 2
    return run_gui(paths, similar=similar)
