"""`photoseek duplicates`: groups of identical and near-identical photos and the space each holds.
It only lists: moving copies to the trash is the window's Duplicates view, on an explicit click."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import command, iso, model_options, open_library, print_json, resolve
from app.core.api import DuplicateGroup, KeeperRule, Paths


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
        groups = lib.duplicates(exact_only=exact_only, rule=rule)
        no_model = not args.exact and not lib.has_model
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
