"""Find photo and video files under a folder and compare them with what the catalog knows.

A rescan of an unchanged library is one `os.scandir` pass plus dictionary lookups: a file with
the same size and mtime is unchanged and never opened. Only files whose size or mtime differ, and
new files that could be moved ones, are fingerprinted (three 64 KiB reads each).
"""

from __future__ import annotations

import errno
import logging
import os
import stat as stat_mod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from app.core.catalog.records import SKIPPED, FileState
from app.core.errors import UserError
from app.core.paths import folder_prefix
from app.core.photos.formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_photo_name, is_video_name
from app.core.photos.metadata import fingerprint

if TYPE_CHECKING:
    from os import _ScandirIterator

log = logging.getLogger(__name__)

# Folders that hold system data, trash, caches or other programs' previews, never photos to
# index (compared case-insensitively). Dot-folders (.Trash-1000, .thumbnails, .git) are hidden.
SYSTEM_DIRS = frozenset(
    name.casefold()
    for name in (
        "$RECYCLE.BIN", "RECYCLER", "System Volume Information", "lost+found", "@eaDir",
        "#recycle", "@Recycle", "#snapshot", "node_modules", "__pycache__", "$WINDOWS.~BT",
        "Thumbs", "Recovered Files",
    )
)  # fmt: skip
SYSTEM_DIR_SUFFIXES = (".lrdata",)  # Lightroom preview caches: thousands of JPEG copies
_WIN_HIDDEN = getattr(stat_mod, "FILE_ATTRIBUTE_HIDDEN", 2) | getattr(
    stat_mod, "FILE_ATTRIBUTE_SYSTEM", 4
)


class FolderUnavailableError(UserError):
    """The folder itself cannot be read (drive unplugged, unmounted, no permission)."""


class FoundFile(NamedTuple):
    """A photo or video file seen by the walk, with the stat taken then (symlinks followed)."""

    path: str
    stat: os.stat_result

    @property
    def size(self) -> int:
        return self.stat.st_size

    @property
    def mtime_ns(self) -> int:
        return self.stat.st_mtime_ns


# Left out, and listed as skipped so the user knows why they are not in the library.
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
BROKEN_LINK = "broken link"
NOT_REGULAR = "not a regular file"
FOLDER_UNREADABLE = "folder not readable"
TOO_LONG = "path too long"


class ScanProblem(NamedTuple):
    """A folder or file the walk could not read or left out, and why (for the user to see).
    `unreadable`: a read error, so what the catalog knows there is kept as it is; False for
    files that are never photos or videos (pipes, devices, broken links)."""

    path: str
    reason: str
    unreadable: bool = True


def _reason(err: OSError, is_folder: bool) -> str:
    if err.errno == errno.ENAMETOOLONG:
        return TOO_LONG
    detail = err.strerror or str(err)
    return f"{FOLDER_UNREADABLE} ({detail})" if is_folder else detail


def is_system_dir(name: str) -> bool:
    folded = name.casefold()
    return folded in SYSTEM_DIRS or folded.endswith(SYSTEM_DIR_SUFFIXES)


def is_skipped_dir(name: str) -> bool:
    """A folder the walk never enters: hidden (dot-prefixed) or a system folder."""
    return name.startswith(".") or is_system_dir(name)


def is_relevant(root: Path, path: Path, is_dir: bool) -> bool:
    """Whether a walk of `root` would include `path` (by its name alone: no hidden or system
    folder on the way, and for a file a photo's or video's name; see `walk`)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    if any(is_skipped_dir(name) for name in (parts if is_dir else parts[:-1])):
        return False
    return is_dir or (bool(parts) and (is_photo_name(parts[-1]) or is_video_name(parts[-1])))


def walk(
    root: Path | str,
    problems: list[ScanProblem] | None = None,
    *,
    exclude: Iterable[Path | str] = (),
) -> Iterator[FoundFile]:
    """Yield every photo and video file under `root`, iteratively, in no particular order.

    Skips hidden (dot-prefixed, or hidden/system on Windows) files and folders, system folders,
    folders in `exclude` (PhotoSeek's own data), and files whose extension is neither an image's
    nor a video's.
    Follows a folder symlink only the first time it reaches that real folder, so a loop ends.
    Unreadable folders and files are appended to `problems` and never raise, except the root:
    if it cannot be listed, raises `FolderUnavailableError` (so nothing looks deleted).
    """
    root = os.fspath(root)
    try:
        st = os.stat(root)
        top = os.scandir(root)
    except OSError as e:
        raise FolderUnavailableError(
            f"Cannot read the folder {root} ({e.strerror or e}). Is its drive connected?"
        ) from e
    seen = {(st.st_dev, st.st_ino)}
    for path in exclude:  # by inode, so any spelling of the path (or a link to it) is caught
        try:
            ex = os.stat(path)
            seen.add((ex.st_dev, ex.st_ino))
        except OSError:
            pass
    pending: list[tuple[str, _ScandirIterator[str] | None]] = [(root, top)]

    def note(path: str, err: OSError, *, folder: bool = True) -> None:
        reason = _reason(err, folder)
        log.info("scan: cannot read %s: %s", path, reason)
        if problems is not None:
            problems.append(ScanProblem(path, reason))

    def left_out(path: str, reason: str) -> None:
        if problems is not None:
            problems.append(ScanProblem(path, reason, unreadable=False))

    while pending:
        folder, listing = pending.pop()
        if listing is None:
            try:
                listing = os.scandir(folder)
            except OSError as e:
                note(folder, e)
                continue
        with listing:
            for entry in _entries(listing, folder, note):
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError as e:
                    note(entry.path, e)
                    continue
                if is_dir:
                    if is_skipped_dir(name):
                        continue
                    try:
                        dst = os.stat(entry.path)  # a real inode on every platform
                    except OSError as e:
                        note(entry.path, e)
                        continue
                    key = (dst.st_dev, dst.st_ino)
                    if key in seen or getattr(dst, "st_file_attributes", 0) & _WIN_HIDDEN:
                        continue
                    seen.add(key)
                    pending.append((entry.path, None))
                    continue
                ext = os.path.splitext(name)[1].lower()
                if ext not in MEDIA_EXTENSIONS:
                    if entry.is_symlink() and not os.path.exists(entry.path):
                        left_out(entry.path, BROKEN_LINK)
                    continue
                try:
                    fst = entry.stat()
                except OSError as e:  # a broken symlink, or gone since the listing
                    if isinstance(e, FileNotFoundError) and entry.is_symlink():
                        e = OSError(e.errno, BROKEN_LINK)
                    note(entry.path, e, folder=False)
                    continue
                if getattr(fst, "st_file_attributes", 0) & _WIN_HIDDEN:
                    continue
                if stat_mod.S_ISREG(fst.st_mode):
                    yield FoundFile(entry.path, fst)
                else:  # a pipe, socket or device named like a photo or video
                    left_out(entry.path, NOT_REGULAR)


def _entries(
    entries: Iterator[os.DirEntry[str]], folder: str, note: Callable[[str, OSError], None]
) -> Iterator[os.DirEntry[str]]:
    """The listing, stopping (and noting why) if reading it fails midway."""
    try:
        yield from entries
    except OSError as e:
        note(folder, e)


class Move(NamedTuple):
    """A catalogued photo now found at another path: it keeps its id and vectors."""

    photo_id: int
    new_path: str


@dataclass
class ScanDiff:
    """What changed in a folder since the catalog last looked.

    new: files to index. changed: files whose content changed (re-encode). touched: (photo id,
    file) whose size or mtime changed but not the fingerprint (update, keep vectors). deleted:
    photo ids whose file is gone. moved: photos found at a new path. `files` holds the stat of
    every path in new, changed, touched and moved.
    """

    new: list[FoundFile] = field(default_factory=list)
    changed: list[FoundFile] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)
    touched: list[tuple[int, FoundFile]] = field(default_factory=list)
    unchanged_count: int = 0
    unchanged_skipped: int = 0  # known unreadable files, still the same: skipped, not "unchanged"
    fingerprints: dict[str, str] = field(default_factory=dict)
    files: dict[str, FoundFile] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return bool(self.new or self.changed or self.deleted or self.moved or self.touched)


def diff(
    catalog_state: Mapping[str, FileState],
    found: Iterable[tuple[str, os.stat_result]],
    *,
    unreadable: Iterable[str] = (),
    fingerprint_of: Callable[[str, int], str] = fingerprint,
) -> ScanDiff:
    """Compare the files found now with the catalog's view of the same folder.

    Catalogued files under an `unreadable` folder (a permission error this time) are kept as
    they are, not reported deleted. A file that cannot be fingerprinted counts as new/changed.
    `fingerprints` in the result maps every path fingerprinted here to its digest, so the
    indexer need not read it again.
    """
    out = ScanDiff()
    seen: set[str] = set()
    fresh: list[FoundFile] = []
    modified: list[tuple[FileState, FoundFile]] = []
    for path, st in found:
        seen.add(path)
        known = catalog_state.get(path)
        if known is None:
            fresh.append(FoundFile(path, st))
        elif known.size == st.st_size and known.mtime_ns == st.st_mtime_ns:
            if known.state == SKIPPED:
                out.unchanged_skipped += 1
            else:
                out.unchanged_count += 1
        else:
            modified.append((known, FoundFile(path, st)))

    blocked = tuple(folder_prefix(p) for p in unreadable)
    gone: dict[tuple[int, str], list[int]] = {}  # (size, fingerprint) -> photo ids
    for path, known in catalog_state.items():
        if path in seen:
            continue
        if blocked and path.startswith(blocked):
            out.unchanged_count += 1
            continue
        out.deleted.append(known.photo_id)
        if known.fingerprint:
            gone.setdefault((known.size, known.fingerprint), []).append(known.photo_id)
    sizes = {size for size, _ in gone}
    claimed: set[int] = set()

    def digest(f: FoundFile) -> str | None:
        try:
            out.fingerprints[f.path] = fp = fingerprint_of(f.path, f.size)
        except OSError as e:
            log.info("scan: cannot fingerprint %s: %s", f.path, e)
            return None
        return fp

    def claim_move(f: FoundFile, fp: str | None) -> bool:
        owners = gone.get((f.size, fp)) if fp else None
        if not owners:
            return False
        photo_id = owners.pop()
        claimed.add(photo_id)
        out.moved.append(Move(photo_id, f.path))
        out.files[f.path] = f
        return True

    overwritten: list[int] = []  # photos whose path another moved photo now occupies
    for known, f in modified:
        fp = digest(f)
        if fp is not None and fp == known.fingerprint:
            out.touched.append((known.photo_id, f))
            out.files[f.path] = f
        elif not claim_move(f, fp):  # another catalogued photo moved over this path
            out.changed.append(f)
            out.files[f.path] = f
        else:
            overwritten.append(known.photo_id)
    for f in fresh:
        if f.size in sizes and claim_move(f, digest(f)):
            continue
        out.new.append(f)
        out.files[f.path] = f
    if claimed:
        out.deleted = [pid for pid in out.deleted if pid not in claimed]
    out.deleted.extend(overwritten)
    return out
