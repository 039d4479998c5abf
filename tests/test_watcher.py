"""Watch mode on real watchdog observers over temporary folders, applied through the real Library
(SQLite, hnswlib, onnxruntime with the micro CLIP). Waits poll with a deadline; no fixed sleeps
decide an outcome."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_indexer import (
    CountingEncoder,
    check_consistent,
    make_folder,
    photo_bytes,
    save_photo,
    snapshot,
    top_paths,
)

from app.core.errors import UserError
from app.core.jobs import JobControl
from app.core.library import IDLE_TIMER_NAME, ChangeSummary, Library
from app.core.paths import Paths
from app.core.pipeline.changes import ChangeSet
from app.core.pipeline.mounts import (
    ENV_FORCE_POLLING,
    fs_type_of,
    is_network_path,
    parse_bsd_mount,
    parse_proc_mounts,
    wants_polling,
)
from app.core.pipeline.watcher import Watcher

DEADLINE_S = 30.0


def wait_until(cond: Callable[[], object], what: str, timeout: float = DEADLINE_S) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting until {what}")


@pytest.fixture
def lib(tmp_path: Path, encoder: CountingEncoder) -> Iterator[Library]:
    library = Library(Paths.at(tmp_path / "home"), encoder)
    yield library
    library.close()


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """No thread of the watcher's outlives it. The library's idle timer is the library's (it
    runs until the library closes, and `lib`'s teardown, after this one, joins it)."""
    before = set(threading.enumerate())
    yield
    end = time.monotonic() + 10
    while time.monotonic() < end:
        left = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and t.name != IDLE_TIMER_NAME
        ]
        if not left:
            return
        time.sleep(0.05)
    pytest.fail(f"threads left running: {left}")


def indexed(lib: Library, path: Path) -> bool:
    p = lib.catalog.photo_by_path(str(path))
    return p is not None and p.state == "indexed"


def test_network_file_systems_are_polled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mounts = parse_proc_mounts(
        "/dev/vda / ext4 rw 0 0\n"
        "server:/photos /mnt/nas nfs4 rw 0 0\n"
        "//box/share /mnt/my\\040share cifs rw 0 0\n"
        "alice@host:/pics /home/a/remote fuse.sshfs rw 0 0\n"
        "/dev/sdb1 /mnt/nas/local-cache ext4 rw 0 0\n"
    )
    assert fs_type_of("/mnt/nas/2021/x.jpg", mounts) == "nfs4"
    assert fs_type_of("/mnt/my share/a", mounts) == "cifs"
    assert fs_type_of("/home/a/remote/b", mounts) == "fuse.sshfs"
    assert fs_type_of("/mnt/nas/local-cache/c", mounts) == "ext4"  # deepest mount wins
    assert fs_type_of("/mnt/nasty", mounts) == "ext4"  # a prefix of a name is not a parent
    bsd = parse_bsd_mount(
        "/dev/disk3s1 on / (apfs, local, journaled)\n"
        "//me@nas/photos on /Volumes/photos (smbfs, nodev, nosuid)\n"
    )
    assert fs_type_of("/Volumes/photos/x.jpg", bsd) == "smbfs"
    assert not is_network_path(tmp_path)  # the test folder is local
    monkeypatch.delenv(ENV_FORCE_POLLING, raising=False)
    assert not wants_polling(tmp_path)
    monkeypatch.setenv(ENV_FORCE_POLLING, "1")
    assert wants_polling(tmp_path)
    assert not wants_polling(tmp_path, force=False)


def test_watch_applies_copies_edits_moves_and_deletions(
    lib: Library, encoder: CountingEncoder, tmp_path: Path, no_leaked_threads: None
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    lib.add_folder(photos)
    lib.index()
    outside = tmp_path / "outside"
    outside.mkdir()
    summaries: list[ChangeSummary] = []
    watcher = lib.watch(on_change=summaries.append)
    try:
        assert watcher.running and not watcher.polling(photos)
        images = encoder.images

        # Copied in from elsewhere.
        src = save_photo(outside / "new.jpg", "red", "circle", seed=500)
        copied = photos / "trip" / "copied.jpg"
        shutil.copy2(src, copied)
        wait_until(lambda: sum(s.added for s in summaries) == 1, "the copied photo is added")
        assert indexed(lib, copied)
        assert encoder.images == images + 1

        # Edited in place: re-encoded once, same photo id.
        edited = next(p for p, cs in made.items() if cs == ("blue", "star"))
        edited_id = lib.catalog.photo_by_path(str(edited)).id
        new_bytes = photo_bytes("red", "circle", seed=501)
        edited.write_bytes(new_bytes)
        wait_until(
            lambda: (
                lib.catalog.photo_by_path(str(edited)).size == len(new_bytes)
                and indexed(lib, edited)
            ),
            "the edit is applied",
        )
        assert lib.catalog.photo_by_path(str(edited)).id == edited_id
        assert encoder.images == images + 2

        # Renamed, and moved to a new sub-folder: no re-encode.
        renamed = copied.with_name("renamed.jpg")
        copied_id = lib.catalog.photo_by_path(str(copied)).id
        copied.rename(renamed)
        moved_from = next(p for p, cs in made.items() if cs == ("green", "square"))
        moved_id = lib.catalog.photo_by_path(str(moved_from)).id
        (photos / "sorted" / "greens").mkdir(parents=True)
        moved_to = photos / "sorted" / "greens" / moved_from.name
        moved_from.rename(moved_to)
        wait_until(lambda: indexed(lib, renamed) and indexed(lib, moved_to), "moves are applied")
        assert lib.catalog.photo_by_path(str(renamed)).id == copied_id
        assert lib.catalog.photo_by_path(str(moved_to)).id == moved_id
        assert lib.catalog.photo_by_path(str(copied)) is None
        assert encoder.images == images + 2

        # Deleted.
        deleted = next(p for p, cs in made.items() if cs == ("yellow", "circle"))
        deleted_id = lib.catalog.photo_by_path(str(deleted)).id
        deleted.unlink()
        wait_until(lambda: lib.catalog.photo(deleted_id) is None, "the deletion is applied")
        wait_until(lambda: not lib.vindex.contains([deleted_id])[0], "the index drops it")

        expected = (set(made) - {moved_from, deleted}) | {renamed, moved_to}
        check_consistent(lib, expected)
        assert str(renamed) in top_paths(lib, "a red circle", 3)  # three red circles by now
        wait_until(lambda: sum(s.deleted for s in summaries) == 1, "the deletion is reported")
        assert sum(s.added for s in summaries) == 1
        assert sum(s.moved for s in summaries) == 2 and sum(s.updated for s in summaries) == 1
    finally:
        watcher.stop()
    assert not watcher.running


def test_watch_waits_for_a_growing_file_and_coalesces_a_storm(
    lib: Library, encoder: CountingEncoder, tmp_path: Path, no_leaked_threads: None
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    lib.add_folder(photos)
    lib.index()
    source = tmp_path / "camera"
    made = make_folder(source, per_pair=3)  # 48 photos
    summaries: list[ChangeSummary] = []
    watcher = lib.watch(on_change=summaries.append)
    try:
        # A large copy arriving in pieces: indexed once, complete, never skipped as truncated.
        data = photo_bytes("green", "circle", seed=77)
        growing = photos / "growing.jpg"
        with open(growing, "wb") as f:
            for i in range(4):
                f.write(data[i * len(data) // 4 : (i + 1) * len(data) // 4])
                f.flush()
                os.fsync(f.fileno())
                time.sleep(0.6)  # the copy is slow: each pause is shorter than the settle time
        wait_until(lambda: sum(s.added for s in summaries) == 1, "the finished file is added")
        photo = lib.catalog.photo_by_path(str(growing))
        assert photo.size == len(data) and photo.state == "indexed"
        assert encoder.images == 1 and lib.skipped() == []

        # A storm: a whole card copied in at once is applied in one or very few runs.
        before = len(summaries)
        shutil.copytree(source, photos / "card")
        targets = {photos / "card" / p.relative_to(source) for p in made}
        wait_until(lambda: sum(s.added for s in summaries) == 1 + len(made), "the card is added")
        assert all(indexed(lib, p) for p in targets)
        storm = summaries[before:]
        assert len(storm) <= 3, [s.added for s in storm]
        assert encoder.images == 1 + len(made)
        check_consistent(lib, targets | {growing})
    finally:
        watcher.stop()


def test_watch_waits_until_a_video_being_written_stands_still(
    lib: Library, encoder: CountingEncoder, tmp_path: Path, no_leaked_threads: None
) -> None:
    """A video recorded or copied in bursts, with pauses longer than the quiet time: it is
    indexed once, whole, after it stopped growing (one rule for photos and videos)."""
    from tests.videos import scene_frames, write_video

    videos = tmp_path / "videos"
    videos.mkdir()
    lib.add_folder(videos)
    lib.index()
    made = write_video(
        tmp_path / "made.mp4",
        scene_frames([(3, "blue", "square"), (2, "red", "circle"), (3, "green", "star")]),
    )
    data = made.read_bytes()
    summaries: list[ChangeSummary] = []
    watcher = lib.watch(on_change=summaries.append)
    try:
        target = videos / "recording.mp4"
        with open(target, "wb") as f:
            for i in range(4):
                f.write(data[i * len(data) // 4 : (i + 1) * len(data) // 4])
                f.flush()
                os.fsync(f.fileno())
                if i < 3:
                    time.sleep(2.4)  # longer than the quiet time, shorter than standing still
                    assert summaries == [], "indexed while it was still being written"
        wait_until(lambda: sum(s.added for s in summaries) == 1, "the finished video is added")
        video = lib.catalog.photo_by_path(str(target))
        assert video is not None and video.kind == "video" and video.size == len(data)
        assert video.state == "indexed" and video.skip_reason is None
        assert sum(s.skipped for s in summaries) == 0 and lib.partly_indexed() == []
        assert encoder.calls == 1  # sampled and encoded once, complete
        renamed = videos / "holiday.mp4"  # renamed while watched: it keeps its vectors
        os.rename(target, renamed)
        wait_until(lambda: sum(s.moved for s in summaries) == 1, "the rename is applied")
        moved = lib.catalog.photo_by_path(str(renamed))
        assert moved is not None and moved.id == video.id and encoder.calls == 1
        assert len(lib.catalog.moment_labels([video.id])) >= 4
    finally:
        watcher.stop()


def test_polling_watch_and_a_folder_that_goes_away(
    lib: Library, encoder: CountingEncoder, tmp_path: Path, no_leaked_threads: None
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    lib.add_folder(photos)
    lib.index()
    before = snapshot(photos)
    summaries: list[ChangeSummary] = []
    watcher = lib.watch(on_change=summaries.append, force_polling=True, poll_interval_s=0.5)
    try:
        assert watcher.polling(photos)
        # The drive is unplugged: reported, photos kept.
        aside = tmp_path / "unplugged"
        photos.rename(aside)
        wait_until(
            lambda: any(photos in s.unavailable for s in summaries),
            "the folder is reported unavailable",
        )
        assert not lib.folders()[0].available
        check_consistent(lib, set(made))
        # It comes back with a photo added elsewhere while it was away: rescanned, nothing
        # re-encoded but the new one. (Added before the return, as on a real drive: a file
        # written into the folder while its rescan runs is a different, slower path.)
        save_photo(aside / "home" / "while-away.jpg", "blue", "circle", seed=9)
        aside.rename(photos)
        added = photos / "home" / "while-away.jpg"
        assert {p: v for p, v in snapshot(photos).items() if p != str(added)} == before
        wait_until(lambda: indexed(lib, added), "the returned folder is rescanned")
        # (the change summary is handed over after the rescan's last commit, a moment later)
        wait_until(lambda: any(photos in s.restored for s in summaries), "it is reported back")
        assert lib.folders()[0].available
        assert encoder.images == len(made) + 1
        # Polling sees deletions too.
        added.unlink()
        wait_until(lambda: lib.catalog.photo_by_path(str(added)) is None, "polling sees it go")
        check_consistent(lib, set(made))
    finally:
        watcher.stop()


def test_a_folder_added_while_watching_is_indexed(
    lib: Library, encoder: CountingEncoder, tmp_path: Path, no_leaked_threads: None
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    lib.add_folder(first)
    watcher = lib.watch()
    try:
        later = tmp_path / "later"
        made = make_folder(later)
        lib.add_folder(later)
        wait_until(lambda: all(indexed(lib, p) for p in made), "the new folder is indexed")
        assert encoder.images == len(made)
        new = save_photo(later / "fresh.jpg", "red", "square", seed=3)  # and it is watched
        wait_until(lambda: indexed(lib, new), "a photo in the new folder is indexed")
    finally:
        watcher.stop()
    check_consistent(lib, set(made) | {new})


# -- failures reach the user (on_error), tracebacks the log ------------------------------------


def test_a_failed_apply_is_one_line_naming_the_folder_and_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_leaked_threads: None
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    errors: list[str] = []

    def apply(changes: ChangeSet, control: JobControl) -> ChangeSummary:
        raise UserError("The catalog is on a full disk. Free some space.")

    watcher = Watcher(
        lambda: [photos],
        apply,
        on_error=errors.append,
        quiet_s=0.05,
        stable_s=0.05,
        check_roots_s=0.1,
        poll_interval_s=0.1,
        force_polling=True,
    )
    with caplog.at_level("ERROR", logger="app.core.pipeline.watcher"), watcher:
        save_photo(photos / "a.jpg", "red", "square", seed=1)
        wait_until(lambda: errors, "the failure is reported")
    assert len(errors) >= 1 and "\n" not in errors[0]
    assert str(photos) in errors[0]
    assert "full disk" in errors[0] and "photoseek index" in errors[0]
    failed = [r for r in caplog.records if r.getMessage() == "applying folder changes failed"]
    assert failed and failed[0].exc_info is not None  # the traceback went to the log


def test_folders_that_cannot_be_listed_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_leaked_threads: None
) -> None:
    errors: list[str] = []
    calls = 0

    def folders() -> list[Path]:
        nonlocal calls
        calls += 1
        if calls > 1:  # the catalog became unreadable after the watch started
            raise OSError(5, "Input/output error")
        return []

    def apply(changes: ChangeSet, control: JobControl) -> ChangeSummary:
        return ChangeSummary()

    watcher = Watcher(folders, apply, on_error=errors.append, check_roots_s=0.05)
    with caplog.at_level("ERROR", logger="app.core.pipeline.watcher"), watcher:
        wait_until(lambda: errors, "the failure is reported")
        wait_until(lambda: calls >= 5, "more checks fail the same way")
    assert len(errors) == 1  # said once, not at every check
    assert errors[0].startswith("cannot list the watched folders (Input/output error)")
    assert "photoseek repair" in errors[0]
    assert any(r.exc_info for r in caplog.records)


def test_library_watch_passes_on_error_through(
    lib: Library, tmp_path: Path, no_leaked_threads: None
) -> None:
    """`Library.watch(on_error=...)`: its catalog gone from under a running watch (closed here)
    is said once per check, in one line with the fix; nothing is said while all is well."""
    photos = tmp_path / "photos"
    photos.mkdir()
    lib.add_folder(photos)
    errors: list[str] = []
    watcher = lib.watch(on_error=errors.append, force_polling=True, poll_interval_s=0.2)
    try:
        assert watcher.polling(photos) and errors == []
        lib.catalog.close()
        wait_until(lambda: errors, "the failure is reported")
    finally:
        watcher.stop()
    assert errors[0].startswith("cannot list the watched folders (RuntimeError: the catalog")
