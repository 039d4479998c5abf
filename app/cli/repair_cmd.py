"""`photoseek repair`: move a damaged catalog aside and start a new one with the same folders.

The catalog only describes the photos (paths, dates, vectors); they are all found again by
`photoseek index`, so a damaged file is renamed (never deleted) and rebuilt from the folders.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from contextlib import closing, suppress
from pathlib import Path

from app.core.api import Paths, UserError

SIDE_FILES = ("", "-wal", "-shm")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "repair",
        help="check the catalog; if it is damaged, move it aside and rebuild it from your folders",
    )
    p.add_argument(
        "--force", action="store_true", help="move the catalog aside even if it looks fine"
    )
    p.set_defaults(func=cmd_repair)


def check(catalog: Path) -> tuple[str | None, list[Path]]:
    """(what is wrong or None, the folders that could still be read from the file)."""
    problem: str | None = None
    folders: list[Path] = []
    try:
        with closing(sqlite3.connect(f"{catalog.as_uri()}?mode=ro", uri=True)) as conn:
            with suppress(sqlite3.DatabaseError):  # what can be read of it, despite damage
                folders = [Path(r[0]) for r in conn.execute("SELECT path FROM folders")]
            rows = conn.execute("PRAGMA quick_check").fetchall()
            if [r[0] for r in rows] != ["ok"]:
                problem = "; ".join(str(r[0]) for r in rows[:3])
    except sqlite3.DatabaseError as e:
        problem = str(e)
    return problem, folders


def cmd_repair(args: argparse.Namespace, paths: Paths) -> int:
    catalog = paths.catalog
    if not catalog.exists():
        print(f"There is no catalog at {catalog} yet; nothing to repair.")
        return 0
    problem, folders = check(catalog)
    if problem is None and not args.force:
        print(f"The catalog {catalog} is fine; nothing to repair.")
        return 0
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = catalog.with_name(f"{catalog.name}.damaged-{stamp}")
    for suffix in SIDE_FILES:
        src = Path(f"{catalog}{suffix}")
        if src.exists():
            src.rename(f"{aside}{suffix}")
    print(f"Moved the catalog aside to {aside} ({problem or 'on request'}).")

    from app.core.api import Library

    lib = Library.open(paths.ensure())
    try:
        added = 0
        for folder in folders:
            try:
                lib.add_folder(folder)
                added += 1
            except UserError as e:
                print(f"Could not add {folder} again: {e}")
    finally:
        lib.close()
    if added:
        print(f"Started a new catalog with the {added} folder{'s' if added != 1 else ''} it had.")
    else:
        print("Started a new catalog; add your folders with `photoseek folders add PATH`.")
    print("Run `photoseek index` to find your photos again (they were never touched).")
    return 0
