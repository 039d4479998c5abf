"""No silent loss (issue #11): faults a real library meets, on real components (SQLite, hnswlib,
the micro CLIP): names that are not UTF-8, a lost catalog, a stand-in empty mount, an absorbed
child folder, a destroyed WAL, two writers, and files left out with a reason."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_indexer import CountingEncoder, make_folder, save_photo
from test_watcher import indexed, no_leaked_threads, wait_until  # noqa: F401 - a fixture

from app.core.catalog.catalog import Catalog
from app.core.library import ChangeSummary, Library, Query
from app.core.paths import Paths


@pytest.fixture
def lib(paths: Paths, encoder: CountingEncoder) -> Iterator[Library]:
    library = Library(paths, encoder)
    yield library
    library.close()


def _odd_name(folder: Path, raw: bytes) -> Path:
    """A path whose last part is the raw bytes `raw` (not valid UTF-8), as Python spells it."""
    return Path(os.fsdecode(os.path.join(os.fsencode(folder), raw)))


@pytest.mark.usefixtures("no_leaked_threads")
def test_names_that_are_not_utf8_are_indexed_found_moved_and_watched(
    lib: Library, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    odd = [
        save_photo(_odd_name(photos / "trip", b"caf\xe9.jpg"), "red", "circle", seed=900),
        save_photo(_odd_name(photos / "home", b"\xff\xfe-star.jpg"), "blue", "star", seed=901),
    ]
    lib.add_folder(photos)
    report = lib.index()
    assert (report.added, report.skipped) == (len(made) + 2, 0)
    for p in odd:
        photo = lib.catalog.photo_by_path(p)
        assert photo is not None and photo.path == str(p) and photo.state == "indexed"
        assert lib.thumbnail(photo.id) is not None
    assert lib.catalog.filter_ids(folder=photos / "trip").size == len(made) // 2 + 1
    hits = lib.search(Query(text="a red circle", top_k=500, min_score=float("-inf"))).hits
    assert str(odd[0]) in {h.path for h in hits}

    again = lib.index()  # nothing changed: nothing re-read, nothing lost
    assert (again.added, again.updated, again.deleted, again.moved) == (0, 0, 0, 0)
    assert again.unchanged == len(made) + 2

    moved = _odd_name(photos / "home", b"caf\xe9-moved.jpg")
    first = lib.catalog.photo_by_path(odd[0])
    os.rename(odd[0], moved)
    report = lib.index()
    assert report.moved == 1 and lib.catalog.photo_by_path(moved).id == first.id

    summaries: list[ChangeSummary] = []
    watcher = lib.watch(on_change=summaries.append)
    try:
        new = save_photo(_odd_name(photos / "trip", b"neu\xe4.jpg"), "green", "square", seed=902)
        wait_until(lambda: indexed(lib, new), "the new oddly named photo is indexed")
        os.remove(moved)
        wait_until(lambda: lib.catalog.photo_by_path(moved) is None, "the deletion is applied")
    finally:
        watcher.stop()


def test_files_skipped_before_are_counted_as_skipped_not_unchanged(
    lib: Library, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    lib.add_folder(photos)
    first = lib.index()
    assert (first.added, first.skipped) == (len(made), 1)
    again = lib.index()
    assert (again.unchanged, again.still_skipped, again.skipped) == (len(made), 1, 0)


def test_a_destroyed_wal_loses_at_most_the_last_batch(lib: Library, tmp_path: Path) -> None:
    """The indexer checkpoints after each batch: the main file alone (its -wal deleted, as a
    crash plus a clean-up could) holds every batch but possibly the last."""
    photos = tmp_path / "photos"
    made = make_folder(photos, per_pair=2)
    lib.indexer.batch_size = 4
    lib.add_folder(photos)
    lib.index()
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy2(lib.paths.catalog, crashed / "catalog.db")  # the main file, without its WAL
    assert not (crashed / "catalog.db-wal").exists()
    with Catalog(crashed / "catalog.db") as survivor:
        counts = survivor.counts()
        assert counts["folders"] == 1
        assert counts["indexed"] >= len(made) - lib.indexer.batch_size
        assert survivor.count_indexed(lib.indexer.encoder.model_id) == counts["indexed"]


def test_an_empty_stand_in_for_a_folder_is_unavailable_not_empty(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    """Another, empty file system mounted at a folder's path (simulated: the folder renamed
    away and a new empty one made there, with another inode) keeps the photos; the original
    coming back restores them without re-encoding anything."""
    photos = tmp_path / "photos"
    made = make_folder(photos)
    lib.add_folder(photos)
    lib.index()
    images = encoder.images
    away = tmp_path / "away"
    os.rename(photos, away)
    photos.mkdir()
    report = lib.index()
    assert report.deleted == 0 and report.unavailable == [photos]
    assert not lib.folders()[0].available and lib.status().photos == len(made)

    photos.rmdir()
    os.rename(away, photos)
    report = lib.index()
    assert report.restored == [photos] and report.deleted == 0
    assert lib.folders()[0].available and lib.folders()[0].photo_count == len(made)
    assert encoder.images == images


def test_removing_a_parent_gives_back_the_folders_it_absorbed(
    lib: Library, encoder: CountingEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    save_photo(photos / "loose.jpg", "red", "circle", seed=950)  # only the parent holds it
    trip = [p for p in made if p.parent.name == "trip"]
    lib.add_folder(photos / "trip")
    lib.index()
    images = encoder.images
    lib.add_folder(photos)  # absorbs trip
    lib.index()
    assert [f.path for f in lib.folders()] == [str(photos)]

    with caplog.at_level("WARNING", logger="app.core.library"):
        kept = lib.remove_folder(photos)
    assert [f.path for f in kept] == [str(photos / "trip")]
    assert str(photos / "trip") in caplog.text  # one message naming what stays
    (folder,) = lib.folders()
    assert folder.path == str(photos / "trip") and folder.photo_count == len(trip)
    assert lib.catalog.photo_by_path(photos / "loose.jpg") is None
    assert len(lib.vindex) == len(trip)
    report = lib.index()
    assert (report.added, report.deleted, report.unchanged) == (0, 0, len(trip))
    assert encoder.images == images + len(made) - len(trip) + 1  # trip never re-encoded


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_catalog_is_reported_once_and_the_photos_come_back(
    paths: Paths,
    encoder: CountingEncoder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    with Library(paths, encoder) as lib:
        lib.add_folder(photos)
        lib.index()
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{paths.catalog}{suffix}").unlink(missing_ok=True)
    else:
        with Catalog(paths.catalog) as cat:
            cat.remove_folder(photos)
    with caplog.at_level("WARNING", logger="app.core.library"):
        lib = Library(paths, encoder)
    try:
        assert lib.catalog_lost == len(made)
        assert f"{len(made)} photos were indexed" in caplog.text
        lib.add_folder(photos)
        report = lib.index()
        assert (report.catalog_lost, report.added) == (len(made), len(made))
        assert lib.index().catalog_lost == 0
    finally:
        lib.close()
    caplog.clear()
    with caplog.at_level("WARNING", logger="app.core.library"), Library(paths, encoder) as lib:
        assert lib.catalog_lost == 0 and "were indexed" not in caplog.text


def test_broken_videos_links_pipes_are_listed_as_skipped_with_a_reason(
    lib: Library, tmp_path: Path
) -> None:
    """Videos are indexed like photos: these two (a header and nothing more) are skipped with
    the decoder's reason; links and pipes are left out by the scan, with theirs."""
    photos = tmp_path / "photos"
    made = make_folder(photos)
    (photos / "trip" / "clip.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    (photos / "home" / "IMG_1.MOV").write_bytes(b"\0\0\0\x14ftypqt  ")
    (photos / "trip" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (photos / "trip" / "gone").symlink_to(tmp_path / "nowhere")
    os.mkfifo(photos / "home" / "pipe.jpg")
    lib.add_folder(photos)
    report = lib.index()
    assert report.added == len(made)
    assert report.skipped == 2  # the two videos
    broken = "damaged or incomplete video (truncated, or still being written)"
    expected = {
        photos / "trip" / "clip.mp4": broken,
        photos / "home" / "IMG_1.MOV": broken,
        photos / "trip" / "gone.jpg": "broken link",
        photos / "trip" / "gone": "broken link",
        photos / "home" / "pipe.jpg": "not a regular file",
    }
    listed = lib.skipped()
    assert {s.path: s.reason for s in listed} == expected
    assert all(s.when is not None for s in listed)
    assert lib.status().skipped == len(expected)
    (photos / "trip" / "clip.mp4").unlink()  # gone from the list at the next scan
    lib.index()
    assert len(lib.skipped()) == len(expected) - 1
    lib.remove_folder(photos)
    assert lib.skipped() == [] and lib.status().skipped == 0


_WALK_AS_NOBODY = """
import json, os, sys
from app.core.pipeline import scanner
os.setgid(65534); os.setuid(65534)  # after the imports: the interpreter may be root's alone
problems = []
found = [f.path for f in scanner.walk(sys.argv[1], problems)]
print(json.dumps({"found": found, "problems": problems}))
"""


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="POSIX users")
def test_an_unreadable_folder_is_listed_with_its_reason(tmp_path: Path) -> None:
    """As root a chmod 000 folder is still readable, so the walk runs in a child process as
    nobody (uid 65534); as another user it runs as that user."""
    import json
    import subprocess
    import sys
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="photoseek-unreadable-"))
    try:
        top.chmod(0o755)
        save_photo(top / "ok.jpg", "red", "circle", seed=1)
        locked = top / "locked"
        save_photo(locked / "hidden.jpg", "blue", "star", seed=2)
        locked.chmod(0)
        repo = Path(__file__).resolve().parent.parent
        code = _WALK_AS_NOBODY
        if os.getuid() != 0:
            code = code.replace("os.setgid(65534); os.setuid(65534)", "")
        out = subprocess.run(
            [sys.executable, "-c", code, str(top)],
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert got["found"] == [str(top / "ok.jpg")]
        assert got["problems"] == [[str(locked), "folder not readable (Permission denied)", True]]
    finally:
        locked.chmod(0o755)
        shutil.rmtree(top)


_INDEX_IN_A_CHILD = """
import json, logging, sys
from pathlib import Path
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from app.core.model.encoder import Encoder
from app.core.library import Library
from app.core.paths import Paths
encoder = Encoder(Path(sys.argv[2]), device="cpu", threads=1)
with Library(Paths.at(Path(sys.argv[1])), encoder) as lib:
    lib.indexer.batch_size = 2
    report = lib.index()
    print(json.dumps({"encoded": report.encoded, "vectors": len(lib.vindex)}))
encoder.close()
"""


def test_two_indexing_processes_take_turns_and_encode_each_photo_once(
    paths: Paths, encoder: CountingEncoder, tmp_path: Path, tiny_model_dir: Path
) -> None:
    import json
    import subprocess
    import sys

    photos = tmp_path / "photos"
    made = make_folder(photos, per_pair=2)
    with Library(paths, encoder) as lib:
        lib.add_folder(photos)
    repo = Path(__file__).resolve().parent.parent
    home = str(paths.data.parent)
    args = [sys.executable, "-c", _INDEX_IN_A_CHILD, home, str(tiny_model_dir)]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    children = [
        subprocess.Popen(args, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [c.communicate(timeout=300) for c in children]
    assert [c.returncode for c in children] == [0, 0], [e.decode() for _, e in outs]
    reports = [json.loads(o) for o, _ in outs]
    assert sorted(r["encoded"] for r in reports) == [0, len(made)]
    assert [r["vectors"] for r in reports] == [len(made), len(made)]  # the other's taken up
    # Usually one waits for the other and says so; on a busy machine the second may start only
    # once the first is done (the test below pins that case down).
    waited = [e.decode() for _, e in outs if b"is indexing this library" in e]
    assert len(waited) <= 1 and all("pid " in w for w in waited)


def test_an_index_opened_before_another_process_indexed_is_taken_up(
    paths: Paths, encoder: CountingEncoder, tmp_path: Path
) -> None:
    """A library opened while another process indexes, whose own run starts only after that
    process finished (so it never waits for the lock), still sees every vector."""
    photos = tmp_path / "photos"
    made = make_folder(photos, per_pair=1)
    with Library(paths, encoder) as early:
        early.add_folder(photos)
        with Library(paths, encoder) as other:  # the other process, its own lock handle
            assert other.index().encoded == len(made)
        assert len(early.vindex) == 0  # opened before: stale, and it never waited
        report = early.index()
        assert report.encoded == 0 and len(early.vindex) == len(made)


def test_a_path_too_long_is_listed_with_its_reason(lib: Library, tmp_path: Path) -> None:
    """A photo below folders whose full path passes the system's limit (PATH_MAX, 4096 bytes on
    Linux) is listed with "path too long", not dropped without a word. The folders are made one
    level at a time relative to an open folder, as a program copying them would."""
    from app.core.pipeline import scanner

    root = tmp_path / "photos"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 x 250 bytes: past 4096
            os.mkdir("d" * 250, dir_fd=fd)
            deeper = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        photo = os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(photo, b"\xff\xd8\xff\xe0" + bytes(100))
        os.close(photo)
    finally:
        os.close(fd)
    problems: list[scanner.ScanProblem] = []
    found = list(scanner.walk(root, problems))
    assert found == []
    assert [p.reason for p in problems] == [scanner.TOO_LONG]
    assert problems[0].path.startswith(str(root))
    lib.add_folder(root)
    lib.index()
    assert [s.reason for s in lib.skipped()] == [scanner.TOO_LONG]
