"""The catalog's watched folders: add (with checks a user would want), remove, availability."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.core.catalog.moments import MomentStore
from app.core.catalog.records import (
    INDEXED,
    Folder,
    FolderError,
    db_path,
    from_db_path,
    from_epoch,
)
from app.core.paths import folder_prefix, is_under

ABSORBED = "absorbed:"  # meta key prefix: folder id -> JSON list of the folder paths it absorbed
FOLDER_SELECT = (
    "SELECT f.id, f.path, f.available, "
    "(SELECT COUNT(*) FROM photos p WHERE p.folder_id = f.id AND p.state = ?), "
    "f.added_at, f.last_scan FROM folders f"
)


def normalise(path: Path | str) -> str:
    """The absolute, symlink-free spelling under which a folder is stored and compared."""
    return os.path.normpath(Path(path).expanduser().resolve())


def is_within(path: str, folder: str) -> bool:
    """True when `path` lies strictly inside `folder` (both normalised)."""
    return is_under(path, folder, strict=True)


def _folder(row: tuple[Any, ...]) -> Folder:
    fid, path, available, count, added, last = row
    return Folder(
        id=int(fid),
        path=from_db_path(path),
        available=bool(available),
        photo_count=int(count),
        added_at=datetime.fromtimestamp(added, tz=timezone.utc),
        last_scan=from_epoch(last),
    )


class FolderMixin(MomentStore):
    """Folder methods of `Catalog`."""

    def folders(self) -> list[Folder]:
        """Watched folders by path, each with its count of indexed photos."""
        rows = self.db.conn.execute(FOLDER_SELECT + " ORDER BY f.path", (INDEXED,))
        return [_folder(r) for r in rows]

    def folder(self, folder: int | Path | str) -> Folder | None:
        """A watched folder by id or by path (exactly that folder, not one containing it)."""
        arg: int | str | bytes
        if isinstance(folder, (str, os.PathLike)):
            sql, arg = FOLDER_SELECT + " WHERE f.path = ?", db_path(normalise(folder))
        else:  # an int, or a numpy integer
            sql, arg = FOLDER_SELECT + " WHERE f.id = ?", int(folder)
        row = self.db.conn.execute(sql, (INDEXED, arg)).fetchone()
        return None if row is None else _folder(row)

    def add_folder(self, path: Path | str) -> Folder:
        """Watch a folder. Adding a parent of folders already watched absorbs them (their photos
        and vectors are kept, and removing the parent later gives them back as folders of their
        own); a folder already watched, or inside one, is refused."""
        given = Path(path).expanduser()
        if not given.exists():
            raise FolderError(f"Folder not found: {given}. Check the path, or connect its drive.")
        if not given.is_dir():
            raise FolderError(f"{given} is a file, not a folder. Add the folder that holds it.")
        norm = normalise(given)
        own = normalise(self.path.parent)
        if norm == own or is_within(norm, own):
            raise FolderError(f"{norm} is inside PhotoSeek's own data folder; add a photo folder.")
        with self.db.transaction() as conn:
            children: dict[int, str] = {}  # id -> path
            for fid, stored in conn.execute("SELECT id, path FROM folders"):
                fpath = from_db_path(stored)
                if fpath == norm:
                    raise FolderError(f"{norm} is already in your library.")
                if is_within(norm, fpath):
                    raise FolderError(f"{norm} is already in your library, inside {fpath}.")
                if is_within(fpath, norm):
                    children[int(fid)] = fpath
            cur = conn.execute(
                "INSERT INTO folders (path, added_at, available) VALUES (?, ?, 1)",
                (db_path(norm), self.clock()),
            )
            new_id = int(cur.lastrowid or 0)
            if children:  # remembered, so removing this folder later gives them back
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    (f"{ABSORBED}{new_id}", json.dumps(sorted(children.values()))),
                )
            for child in children:
                conn.execute("DELETE FROM meta WHERE key = ?", (f"{ABSORBED}{child}",))
                conn.execute("UPDATE photos SET folder_id = ? WHERE folder_id = ?", (new_id, child))
                conn.execute("DELETE FROM folders WHERE id = ?", (child,))
        added = self.folder(new_id)
        assert added is not None
        return added

    def absorbed(self, folder: int) -> list[str]:
        """Paths of the folders this one absorbed when it was added (see `add_folder`)."""
        row = self.db.conn.execute(
            "SELECT value FROM meta WHERE key = ?", (f"{ABSORBED}{int(folder)}",)
        ).fetchone()
        try:
            return [str(p) for p in json.loads(row[0])] if row else []
        except (ValueError, TypeError):
            return []

    def restore_absorbed(self, folder: int) -> list[Folder]:
        """Give the folders that `folder` absorbed back their own rows and photos (ahead of
        removing it, so their photos are not forgotten with it). Returns them."""
        restored: list[int] = []
        with self.db.transaction() as conn:
            root = conn.execute("SELECT path FROM folders WHERE id = ?", (int(folder),)).fetchone()
            paths = self.absorbed(folder)
            conn.execute("DELETE FROM meta WHERE key = ?", (f"{ABSORBED}{int(folder)}",))
            if root is None or not paths:
                return []
            photos = [
                (int(pid), from_db_path(p))
                for pid, p in conn.execute(
                    "SELECT id, path FROM photos WHERE folder_id = ?", (int(folder),)
                )
            ]
            for child in sorted(paths, key=len, reverse=True):  # deepest first
                if not is_within(child, from_db_path(root[0])):
                    continue
                prefix = folder_prefix(child)
                mine = [pid for pid, p in photos if p.startswith(prefix)]
                if not mine and not os.path.isdir(child):
                    continue
                try:
                    cur = conn.execute(
                        "INSERT INTO folders (path, added_at, available) VALUES (?, ?, 1)",
                        (db_path(child), self.clock()),
                    )
                except sqlite3.IntegrityError:  # already back (added again meanwhile)
                    continue
                child_id = int(cur.lastrowid or 0)
                restored.append(child_id)
                for part in range(0, len(mine), 500):
                    ids = mine[part : part + 500]
                    conn.execute(
                        f"UPDATE photos SET folder_id = ? WHERE id IN ({','.join('?' * len(ids))})",
                        (child_id, *ids),
                    )
                photos = [(pid, p) for pid, p in photos if not p.startswith(prefix)]
        return [f for f in (self.folder(i) for i in restored) if f is not None]

    def remove_folder(self, folder: int | Path | str) -> int:
        """Forget a folder, its photos and their vectors (files untouched); returns the count.
        Folders it absorbed when it was added come back as folders of their own, photos kept."""
        known = self.folder(folder)
        if known is None:
            raise FolderError(f"{folder} is not a folder in your library.")
        self.restore_absorbed(known.id)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (f"{ABSORBED}{known.id}",))
            models = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT e.model_id FROM photos p JOIN embeddings e "
                    "ON e.photo_id = p.id WHERE p.folder_id = ?",
                    (known.id,),
                )
            ]
            gone = conn.execute(
                "SELECT COUNT(*) FROM photos WHERE folder_id = ?", (known.id,)
            ).fetchone()[0]
            conn.execute("DELETE FROM folders WHERE id = ?", (known.id,))  # cascades
            self._bump(conn, models)
        return int(gone)

    def set_folder_available(self, folder_id: int, available: bool) -> None:
        """Mark a folder's drive as present or gone; its photos stay catalogued either way."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE folders SET available = ? WHERE id = ?",
                (int(bool(available)), int(folder_id)),
            )

    def mark_folder_scanned(self, folder_id: int, when: float | None = None) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE folders SET last_scan = ? WHERE id = ?",
                (self.clock() if when is None else when, int(folder_id)),
            )

    def folder_root(self, folder_id: int) -> tuple[int, int] | None:
        """(device, inode) of the folder's root at its last good scan, or None if unknown."""
        row = self.db.conn.execute(
            "SELECT root_dev, root_ino FROM folders WHERE id = ?", (int(folder_id),)
        ).fetchone()
        if row is None or row[0] is None or row[1] is None:
            return None
        return int(row[0]), int(row[1])

    def remember_folder_root(self, folder_id: int, device: int, inode: int) -> None:
        """Record the root's identity after a good scan (see `folder_root`)."""
        if self.folder_root(folder_id) == (device, inode):
            return
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE folders SET root_dev = ?, root_ino = ? WHERE id = ?",
                (int(device), int(inode), int(folder_id)),
            )

    def _folder_owners(self) -> Sequence[tuple[str, int]]:
        """(path prefix with separator, folder id), deepest first, to find a path's folder."""
        rows = self.db.conn.execute("SELECT path, id FROM folders").fetchall()
        owners = [(folder_prefix(from_db_path(p)), int(i)) for p, i in rows]
        return sorted(owners, key=lambda o: -len(o[0]))
