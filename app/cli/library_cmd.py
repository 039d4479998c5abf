"""`photoseek folders|index|watch|search|similar|status`: the library from the command line.

Everything goes through `app.core.library.Library` and the dataclasses it returns; no Qt here.

Exit codes (every `photoseek` command; README "Exit codes" has the same table):
    0    success (an index run that skipped unreadable files still succeeds)
    1    a problem you can fix: a missing folder or file, a folder already added, a system
         folder, photos not indexed for this model or precision yet, ... (UserError)
    2    bad command-line usage: unknown option, malformed --region, --year or --month
    3    no usable model: install one with `photoseek model install`
    4    the disk is full, or PhotoSeek's data folder cannot be written (StorageError)
    5    the catalog file is damaged: `photoseek repair` moves it aside and rebuilds it
    70   a bug in PhotoSeek: one line on stderr, the traceback in the log file it names
    130  interrupted with Ctrl+C (an index run or a duplicates search stops cleanly; run it again to resume)
    141  the output went into a closed pipe (`photoseek search x | head -1`): quiet, as Unix
         tools are (128 + SIGPIPE)

Every failure is one line on stderr, `photoseek: ...`, that names the problem and the fix.
`watch` runs until Ctrl+C and then exits with 0: that is how it is meant to end. A second
Ctrl+C during an index run aborts at once (still safe: every committed batch is kept).
`ModelError` (a missing or broken model) is mapped to 3 here, whichever layer raises it.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import search_cmd, status_cmd
from app.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_NO_MODEL,
    EXIT_USAGE,
    EXIT_USER,
    command,
    folder_dict,
    model_options,
    open_library,
    parse_month,
    parse_region,
    parse_year,
    print_json,
    resolve,
)
from app.cli.progress import Interrupts, ProgressLine, format_duration
from app.core.api import Paths, UserError

if TYPE_CHECKING:
    from app.core.api import ChangeSummary, IndexProgress, IndexReport, Library

# Re-exported: the exit codes and argument types tests and callers know from here.
__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NO_MODEL",
    "EXIT_USAGE",
    "EXIT_USER",
    "parse_month",
    "parse_region",
    "parse_year",
    "register",
]

SKIPPED_SHOWN = 10
# Folders that hold the system, never photos; adding one (or a subfolder) is refused.
SYSTEM_FOLDERS = tuple(
    Path(p) for p in ("/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64",
                      "/usr", "/snap", "/System")
)  # fmt: skip


# ---------------------------------------------------------------- parser


# ---------------------------------------------------------------- parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("folders", help="add, remove or list the folders PhotoSeek watches")
    fsub = p.add_subparsers(dest="folders_command", metavar="ACTION", required=True)
    q = fsub.add_parser("add", help="watch these folders (run `photoseek index` afterwards)")
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    q.add_argument(
        "--force",
        action="store_true",
        help="allow a whole disk (/ or a drive's root): everything on it gets indexed",
    )
    q.set_defaults(func=cmd_folders_add)
    q = fsub.add_parser("remove", help="stop watching; forgets their index, never touches files")
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    q.set_defaults(func=cmd_folders_remove)
    q = fsub.add_parser("list", help="the watched folders, their photo counts and availability")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_folders_list)

    p = sub.add_parser("index", help="index new and changed photos (Ctrl+C stops; rerun resumes)")
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="only these watched folders (default: all)",
    )
    model_options(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("watch", help="index, then keep the index up to date until Ctrl+C")
    model_options(p)
    p.set_defaults(func=cmd_watch)
    search_cmd.register(sub)
    status_cmd.register(sub)


# ---------------------------------------------------------------- folders


def check_photo_folder(path: Path, force: bool) -> None:
    """Refuse the system's own folders, and a whole disk unless --force."""
    for system in SYSTEM_FOLDERS:
        if path == system or system in path.parents:
            raise UserError(
                f"{path} is a system folder, not a photo folder: add the folder that holds "
                "your photos, e.g. photoseek folders add ~/Pictures"
            )
    if path == Path(path.anchor) and not force:
        raise UserError(
            f"{path} is a whole disk: indexing all of it takes long and finds more than photos. "
            "Add your photo folders instead, or pass --force to add it anyway."
        )


@command
def cmd_folders_add(args: argparse.Namespace, paths: Paths) -> int:
    for p in args.paths:
        check_photo_folder(resolve(p), args.force)
    with open_library(args, paths) as lib:
        for p in args.paths:
            folder = lib.add_folder(resolve(p))
            print(f"Added {folder.path}")
    print("Run `photoseek index` to index the photos in it.")
    return 0


@command
def cmd_folders_remove(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths) as lib:
        for p in args.paths:
            lib.remove_folder(resolve(p))
            print(f"Removed {resolve(p)} (its photos were not touched)")
    return 0


@command
def cmd_folders_list(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths) as lib:
        folders = lib.folders()
    if args.json:
        print_json([folder_dict(f) for f in folders])
        return 0
    if not folders:
        print("No folders yet. Add one with `photoseek folders add PATH`.")
    for f in folders:
        state = "" if f.available else "  (unavailable: drive unplugged or folder missing)"
        print(f"{f.photo_count:>8}  {f.path}{state}")
    return 0


# ---------------------------------------------------------------- index and watch


def run_index(lib: Library, folders: list[Path] | None) -> tuple[IndexReport | None, bool]:
    """Index with a progress line; returns (report, interrupted)."""
    from app.core.api import JobCancelled, JobControl

    control = JobControl()
    bar = ProgressLine()

    def progress(p: IndexProgress) -> None:
        bar.update(
            p.done,
            p.total,
            p.rate,
            p.eta_s,
            p.current,
            phase=p.phase,
            skipped=p.skipped,
            force=p.phase == "done",
        )

    with Interrupts(control.cancel) as intr:
        try:
            report = lib.index(folders, progress=progress, control=control)
        except JobCancelled:
            report = None
        finally:
            bar.clear()
    interrupted = intr.count > 0 or report is None or report.cancelled
    return report, interrupted


def describe_report(r: IndexReport) -> str:
    parts = [
        f"{r.added} new",
        f"{r.updated} changed",
        f"{r.moved} moved",
        f"{r.deleted} removed",
        f"{r.unchanged} unchanged",
        f"{r.skipped} skipped",
    ]
    if r.refreshed:  # catalogued before places existed: headers read again, nothing encoded
        parts.append(f"{r.refreshed} read again for places and time zones")
    still = getattr(r, "still_skipped", 0)
    if still:
        parts.append(f"{still} still skipped (`photoseek status --skipped` says why)")
    rate = f", {r.encoded / r.elapsed_s:.1f} photos/s" if r.encoded and r.elapsed_s > 0 else ""
    return f"{', '.join(parts)} in {format_duration(r.elapsed_s)}{rate}"


@command
def cmd_index(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths, need_model=True) as lib:
        if not lib.folders():
            raise UserError("No folders to index. Add one with `photoseek folders add PATH`.")
        folders = [resolve(p) for p in args.paths] or None
        report, interrupted = run_index(lib, folders)
    if interrupted:
        done = f" ({describe_report(report)})" if report is not None else ""
        print(
            f"Indexing stopped{done}. Nothing is lost: run `photoseek index` again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    assert report is not None  # a run that was not interrupted reports
    print(f"Indexed: {describe_report(report)}")
    for root in report.unavailable:
        print(f"{root} is unavailable (drive unplugged or folder missing); its photos are kept.")
    if report.skipped:
        print(
            f"{report.skipped} file{'s' if report.skipped != 1 else ''} could not be read; "
            "`photoseek status --skipped` "
            "lists them with the reason."
        )
    return 0


def describe_change(c: ChangeSummary) -> str:
    parts = [
        f"{n} {what}"
        for n, what in (
            (c.added, "added"),
            (c.updated, "changed"),
            (c.moved, "moved"),
            (c.deleted, "removed"),
            (c.skipped, "skipped"),
        )
        if n
    ]
    if c.unavailable:
        parts.append("unavailable (photos kept): " + ", ".join(str(u) for u in c.unavailable))
    if c.restored:
        parts.append("available again: " + ", ".join(str(u) for u in c.restored))
    return ", ".join(parts) or "no changes"


@command
def cmd_watch(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths, need_model=True) as lib:
        if not lib.folders():
            raise UserError("No folders to watch. Add one with `photoseek folders add PATH`.")
        report, interrupted = run_index(lib, None)
        if interrupted:
            print(
                "Stopped before watching. Run `photoseek watch` again to resume.", file=sys.stderr
            )
            return EXIT_INTERRUPTED
        assert report is not None  # a run that was not interrupted reports
        print(f"Up to date: {describe_report(report)}")

        def on_change(c: ChangeSummary) -> None:
            print(f"{time.strftime('%H:%M:%S')}  {describe_change(c)}", flush=True)

        watcher = lib.watch(  # already running
            on_change=on_change,
            on_error=lambda m: print(f"photoseek: {m}", file=sys.stderr, flush=True),
        )
        names = ", ".join(str(f.path) for f in lib.folders())
        print(f"Watching {names}. Press Ctrl+C to stop.", flush=True)
        stop = threading.Event()
        with Interrupts(stop.set):
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            finally:
                watcher.stop()
    print("Stopped watching.")
    return 0
