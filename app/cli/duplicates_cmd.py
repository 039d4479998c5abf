"""`photoseek duplicates`: groups of identical and near-identical photos and the space each holds.
It only lists: moving copies to the trash is the window's Duplicates view, on an explicit click.

While it looks, a progress line on stderr says the stage and how far it is (stdout holds only the
answer, so `--json` stays parseable); Ctrl+C stops at the next batch with exit 130 and nothing
half-kept, a second Ctrl+C at once (as `photoseek index`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from app.cli.common import (
    EXIT_INTERRUPTED,
    command,
    iso,
    model_options,
    open_library,
    print_json,
    resolve,
)
from app.cli.progress import BAR_WIDTH, PIPE_STEPS, Interrupts, ProgressLine
from app.core.api import (
    DuplicateGroup,
    DuplicateProgress,
    JobCancelled,
    JobControl,
    KeeperRule,
    Library,
    Paths,
)

STAGES = {
    "calibrating": "Preparing the model (first time only)",
    "checking identical files": "Checking identical files",
    "finding neighbours": "Finding similar photos",
    "comparing pictures": "Comparing pictures",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "duplicates",
        help="list identical and near-identical photos and the space their copies take",
    )
    p.add_argument(
        "--exact", action="store_true", help="only identical files (no model needed, faster)"
    )
    p.add_argument(
        "--prefer",
        action="append",
        default=[],
        metavar="FOLDER",
        help="keep the copy in this folder where resolution and age tie (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    model_options(p)
    p.epilog = (
        "Nothing is moved or deleted: the suggested keeper of each group is marked, and the "
        "window's Duplicates view (Library > Find Duplicates) moves the copies you choose to "
        "the trash."
    )
    p.set_defaults(func=cmd_duplicates)


@command
def cmd_duplicates(args: argparse.Namespace, paths: Paths) -> int:
    rule = KeeperRule(preferred_folders=tuple(str(resolve(Path(f))) for f in args.prefer))
    with open_library(args, paths) as lib:
        exact_only = args.exact or not lib.has_model
        found = run_duplicates(lib, exact_only, rule)
        no_model = not args.exact and not lib.has_model
    if found is None:
        print(
            "Stopped looking for duplicates. Nothing was changed: run `photoseek duplicates` "
            "again to carry on.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    groups = found
    total = sum(g.reclaim_bytes for g in groups)
    if args.json:
        print_json(
            {
                "rule": rule.describe(),
                "exact_only": exact_only,
                "groups": [group_dict(g) for g in groups],
                "reclaim_bytes": total,
            }
        )
        return 0
    if no_model:
        print(
            "photoseek: no model, so only identical files are compared (install one with "
            "`photoseek model install` to find resized and edited copies too)",
            file=sys.stderr,
        )
    if not groups:
        what = "identical files" if exact_only else "duplicates"
        print(f"No {what} found.")
        return 0
    copies = sum(len(g.members) - 1 for g in groups)
    print(
        f"{len(groups)} group{'s' * (len(groups) != 1)}, {copies} "
        f"cop{'ies' if copies != 1 else 'y'}: {human_bytes(total)} could be freed. "
        f"{rule.describe()}."
    )
    for g in groups:
        alike = "identical" if g.kind == "exact" else f"alike {g.similarity:.2f}"
        print(f"\n{len(g.members)} photos, {alike}, copies take {human_bytes(g.reclaim_bytes)}")
        for p in g.members:
            mark = "keep" if p.id == g.keeper_id else "copy"
            size = f"{p.width} x {p.height}" if p.width and p.height else "size unknown"
            note = g.differences.get(p.id, "")
            print(
                f"  {mark}  {p.path}  ({size}, {human_bytes(p.size)}){'  ' + note if note else ''}"
            )
    print("\nNothing was moved. Move copies to the trash from the window's Duplicates view.")
    return 0


def run_duplicates(lib: Library, exact_only: bool, rule: KeeperRule) -> list[DuplicateGroup] | None:
    """The groups, with a progress line on stderr; None once Ctrl+C stopped the search."""
    control = JobControl()
    bar = ProgressLine()
    with Interrupts(control.cancel):
        try:
            return lib.duplicates(
                exact_only=exact_only, rule=rule, progress=progress_shower(bar), control=control
            )
        except JobCancelled:
            return None
        finally:
            bar.clear()


def progress_shower(bar: ProgressLine) -> Callable[[DuplicateProgress], None]:
    """Show each report: on a terminal redrawn in place; to a pipe, a line at each stage's
    start and each tenth of it."""
    said: dict[str, int] = {}

    def show(p: DuplicateProgress) -> None:
        step = min(p.done, p.total) * PIPE_STEPS // p.total if p.total > 0 else 0
        force = said.get(p.stage) != step
        if not bar.tty and not force:
            return
        said[p.stage] = step
        bar.show(stage_line(p)[: bar.width()], force=force)

    return show


def stage_line(p: DuplicateProgress) -> str:
    """`Comparing pictures  [######------------------] 1,200/5,000  24%`."""
    words = STAGES.get(p.stage, p.stage.capitalize())
    if p.total <= 0:
        return f"{words}…"
    frac = min(max(p.done / p.total, 0.0), 1.0)
    filled = int(frac * BAR_WIDTH)
    return (
        f"{words}  [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {p.done:,}/{p.total:,} {frac:4.0%}"
    )


def group_dict(g: DuplicateGroup) -> dict[str, object]:
    return {
        "kind": g.kind,
        "keeper": next(p.path for p in g.members if p.id == g.keeper_id),
        "reclaim_bytes": g.reclaim_bytes,
        "similarity": round(g.similarity, 4),
        "members": [
            {
                "id": p.id,
                "path": p.path,
                "keep": p.id == g.keeper_id,
                "size": p.size,
                "width": p.width,
                "height": p.height,
                "taken": iso(p.capture_time),
                "differs": g.differences.get(p.id),
            }
            for p in g.members
        ],
    }


def human_bytes(n: int) -> str:
    """1.2 MB, 340 KB, 12 bytes (decimal units, as file managers show)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} byte{'s' * (n != 1)}"
