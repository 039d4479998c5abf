"""The indexing pipeline on real components: SQLite catalog, hnswlib index, onnxruntime running the
trained micro CLIP, and JPEG photos with EXIF dates generated from tests/microclip.py.

Helpers at the top are shared with test_watcher.py and test_library.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from microclip import COLORS, SHAPES, caption, make_shape_image
from PIL import Image

from app.core.jobs import JobCancelled, JobControl, RateMeter
from app.core.library import Library
from app.core.model.encoder import Encoder
from app.core.model.info import read_model_info
from app.core.paths import Paths
from app.core.photos.decode import open_image
from app.core.photos.thumbnails import render_thumbnail
from app.core.pipeline.indexer import IndexProgress
from app.core.pipeline.scanner import is_relevant

REPO = Path(__file__).resolve().parents[1]
DATE = "2021:07:14 10:00:00"


# -- helpers shared by the library, indexer and watcher tests ------------------------------------


class CountingEncoder(Encoder):
    """The real encoder, counting how many times and how many images it encodes."""

    def __init__(self, *args: object, delay_s: float = 0.0, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls = 0
        self.images = 0
        self.delay_s = delay_s
        self._count_lock = threading.Lock()

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        with self._count_lock:
            self.calls += 1
            self.images += len(pixels)
        if self.delay_s:
            time.sleep(self.delay_s)  # lets pause/cancel tests act between batches
        return super().encode_pixels(pixels)


def photo_bytes(color: str, shape: str, seed: int, *, date: str = DATE, size: int = 96) -> bytes:
    """A JPEG of one coloured shape, with EXIF DateTimeOriginal."""
    import io

    img = make_shape_image(color, shape, size, np.random.default_rng(seed))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = date
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def save_photo(path: Path, color: str, shape: str, seed: int, *, date: str = DATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo_bytes(color, shape, seed, date=date))
    return path


def make_folder(root: Path, *, per_pair: int = 1, seed: int = 0) -> dict[Path, tuple[str, str]]:
    """One photo per (colour, shape) pair (times `per_pair`), spread over two sub-folders, with
    dates in 2019-2021. Returns path -> (colour, shape)."""
    made: dict[Path, tuple[str, str]] = {}
    k = seed
    for rep in range(per_pair):
        for i, color in enumerate(COLORS):
            for shape in SHAPES:
                k += 1
                sub = "trip" if k % 2 else "home"
                year = 2019 + k % 3
                p = root / sub / f"{color}-{shape}-{rep}.jpg"
                save_photo(p, color, shape, seed=k, date=f"{year}:{1 + i:02d}:1{k % 10} 12:00:00")
                made[p] = (color, shape)
    return made


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime under `root`: the photo folders must never change."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            out[p] = (Path(p).read_bytes(), os.stat(p).st_mtime_ns)
    return out


def top_paths(lib: Library, text: str, k: int) -> list[str]:
    """The k best photos for `text`, straight from the encoder and the vector index."""
    assert lib.encoder is not None and lib.vindex is not None
    vec = lib.encoder.encode_text([text])[0]
    ids, _ = lib.vindex.query(vec, k)
    return [p.path for p in lib.catalog.photos(ids)]


def assert_vectors_match_files(lib: Library) -> None:
    """Each indexed photo's stored and indexed vector is its own file's embedding: nothing got
    attached to the wrong path by a move, an edit or a resumed run."""
    assert lib.encoder is not None and lib.vindex is not None
    ids = lib.catalog.filter_ids()
    photos = lib.catalog.photos(ids)
    images = [open_image(Path(p.path), min_side=256) for p in photos]
    expected = lib.encoder.encode_images(images)
    _, stored = lib.catalog.embeddings(lib.encoder.model_id, ids)
    np.testing.assert_allclose(stored, expected, atol=1e-4)
    np.testing.assert_allclose(
        lib.vindex.vectors(ids), expected, atol=5e-4
    )  # the index keeps float16 rows


def assert_top(
    lib: Library, made: dict[Path, tuple[str, str]], color: str, shape: str, k: int
) -> list[str]:
    """Search works on what was indexed: the best k matches for "a <colour> <shape>" are the k
    photos of that colour and shape (the trained micro CLIP knows them); returns their paths."""
    top = top_paths(lib, caption(color, shape), k)
    assert len(top) == k
    assert all(made[Path(p)] == (color, shape) for p in top), (caption(color, shape), top)
    return top


def check_consistent(lib: Library, expected: set[Path]) -> None:
    """Every expected photo exactly once, in the catalog and the index alike."""
    assert lib.encoder is not None and lib.vindex is not None
    model_id = lib.encoder.model_id
    ids = lib.catalog.filter_ids()
    photos = lib.catalog.photos(ids)
    paths = [p.path for p in photos]
    assert len(paths) == len(set(paths))
    assert {Path(p) for p in paths} == expected
    assert lib.catalog.count_indexed(model_id) == len(expected)
    assert len(lib.vindex) == len(expected)
    index_ids = lib.vindex.ids()
    assert len(np.unique(index_ids)) == len(index_ids)
    assert set(index_ids.tolist()) == set(ids.tolist())


@pytest.fixture
def lib(paths: Paths, encoder: CountingEncoder) -> Iterator[Library]:
    library = Library(paths, encoder)
    library.indexer.batch_size = 8
    yield library
    library.close()


# -- jobs ---------------------------------------------------------------------------------------


def test_job_control_pause_resume_cancel() -> None:
    control = JobControl()
    control.checkpoint()  # running: returns at once
    control.pause()
    assert control.paused
    released = threading.Event()

    def worker() -> None:
        control.checkpoint()
        released.set()

    t = threading.Thread(target=worker)
    t.start()
    assert not released.wait(0.3)  # blocked while paused
    control.resume()
    assert released.wait(10)
    t.join()
    control.pause()
    control.cancel()  # cancelling wakes a paused job, which then stops
    assert control.cancelled and not control.paused
    with pytest.raises(JobCancelled):
        control.checkpoint()


def test_rate_meter_smooths_and_ignores_pauses() -> None:
    now = [0.0]
    meter = RateMeter(half_life_s=5.0, clock=lambda: now[0])
    assert meter.rate == 0.0 and meter.eta(10) is None
    for _ in range(10):
        now[0] += 1.0
        meter.update(20)
    assert meter.rate == pytest.approx(20.0)
    assert meter.eta(100) == pytest.approx(5.0)
    meter.pause()
    now[0] += 100.0  # paused time does not count
    meter.resume()
    now[0] += 1.0
    meter.update(20)
    assert meter.rate == pytest.approx(20.0)
    now[0] += 1.0
    meter.update(0)  # a stall pulls the rate down, smoothly
    assert 0 < meter.rate < 20.0


def test_relevance_matches_the_walk(tmp_path: Path) -> None:
    root = tmp_path
    assert is_relevant(root, root / "a" / "b.JPG", False)
    assert not is_relevant(root, root / ".hidden" / "b.jpg", False)
    assert not is_relevant(root, root / "@eaDir" / "b.jpg", False)
    assert not is_relevant(root, root / "a" / "notes.txt", False)
    assert not is_relevant(root, tmp_path.parent / "b.jpg", False)
    assert is_relevant(root, root / "a", True)


# -- indexing -----------------------------------------------------------------------------------


def test_index_folder_then_search_then_rescan(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos, per_pair=2)
    before = snapshot(photos)
    lib.add_folder(photos)
    events: list[IndexProgress] = []

    report = lib.index(progress=events.append)

    n = len(made)
    assert (report.added, report.encoded, report.skipped, report.cancelled) == (n, n, 0, False)
    assert encoder.images == n
    check_consistent(lib, set(made))
    assert_vectors_match_files(lib)
    # Text search through the index: "a red circle" finds the two red circles at the top.
    for color, shape in [("red", "circle"), ("blue", "square"), ("yellow", "star")]:
        assert_top(lib, made, color, shape, 2)
    # EXIF dates, sizes and thumbnails (in our cache, never next to the photos).
    some = lib.catalog.photo_by_path(str(next(iter(made))))
    assert (
        some is not None
        and some.capture_source == "exif_original"
        and some.year in (2019, 2020, 2021)
    )
    assert (some.width, some.height) == (96, 96)
    thumb = lib.thumbnail(some.id)
    assert thumb is not None and lib.paths.thumbnails in thumb.parents
    with Image.open(thumb) as t:
        assert t.format == "JPEG" and max(t.size) <= 256
    # Progress: scanning, then indexing up to the total, then done.
    phases = [e.phase for e in events]
    assert phases[0] == "scanning" and phases[-1] == "done" and "indexing" in phases
    indexing = [e for e in events if e.phase == "indexing"]
    assert [e.done for e in indexing] == sorted(e.done for e in indexing)
    assert indexing[-1].done == indexing[-1].total == n
    assert indexing[-1].current is not None and indexing[-1].current in made

    calls = encoder.calls
    again = lib.index()
    assert encoder.calls == calls  # an unchanged folder encodes nothing
    assert (again.added, again.updated, again.deleted, again.moved, again.unchanged) == (
        0,
        0,
        0,
        0,
        n,
    )
    assert snapshot(photos) == before  # the photo folder was never written to


def test_moves_and_renames_keep_vectors(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    photos, other = tmp_path / "photos", tmp_path / "other"
    made = make_folder(photos)
    other.mkdir()
    lib.add_folder(photos)
    lib.add_folder(other)
    lib.index()
    red_circle = photos / "trip" / "red-circle-0.jpg"
    if not red_circle.exists():
        red_circle = photos / "home" / "red-circle-0.jpg"
    blue_square = next(p for p, cs in made.items() if cs == ("blue", "square"))
    yellow_star = next(p for p, cs in made.items() if cs == ("yellow", "star"))
    ids = {p: lib.catalog.photo_by_path(str(p)).id for p in (red_circle, blue_square, yellow_star)}

    renamed = red_circle.with_name("renamed.jpg")  # rename in place
    moved = photos / "new-sub" / "deeper" / blue_square.name  # into a new sub-folder
    across = other / "from-photos.jpg"  # into another library folder
    red_circle.rename(renamed)
    moved.parent.mkdir(parents=True)
    blue_square.rename(moved)
    yellow_star.rename(across)
    calls = encoder.calls
    before = snapshot(tmp_path / "photos") | snapshot(other)

    report = lib.index()

    assert encoder.calls == calls  # zero re-encodes
    assert (report.moved, report.added, report.deleted, report.updated) == (3, 0, 0, 0)
    for old, new in [(red_circle, renamed), (blue_square, moved), (yellow_star, across)]:
        photo = lib.catalog.photo_by_path(str(new))
        assert photo is not None and photo.id == ids[old] and photo.state == "indexed"
        assert lib.catalog.photo_by_path(str(old)) is None
    assert lib.catalog.photo_by_path(str(across)).folder_id == lib.catalog.folder(other).id
    expected = (set(made) - {red_circle, blue_square, yellow_star}) | {renamed, moved, across}
    check_consistent(lib, expected)
    assert_vectors_match_files(lib)
    now = {
        new: made[old]
        for old, new in [(red_circle, renamed), (blue_square, moved), (yellow_star, across)]
    }
    now.update(made)
    assert assert_top(lib, now, "red", "circle", 1) == [str(renamed)]
    assert assert_top(lib, now, "yellow", "star", 1) == [str(across)]
    assert snapshot(tmp_path / "photos") | snapshot(other) == before


def test_thumbnails_are_rotated_small_and_only_in_our_cache(lib: Library, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    wide = make_shape_image("red", "circle", (600, 400), np.random.default_rng(1))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated to portrait
    exif.get_ifd(0x8769)[36867] = DATE
    wide.save(photos / "rotated.jpg", "JPEG", quality=90, exif=exif)
    lib.add_folder(photos)
    lib.index()
    photo = lib.catalog.photo_by_path(str(photos / "rotated.jpg"))
    assert (photo.width, photo.height) == (400, 600)
    thumb = lib.thumbnail(photo.id)
    with Image.open(thumb) as t:
        assert t.size == (171, 256)  # long side 256, portrait like the displayed photo
    assert sorted(p.name for p in photos.iterdir()) == ["rotated.jpg"]
    thumb.unlink()  # a cache file gone missing is made again from the photo
    assert lib.thumbnail(photo.id) == thumb and thumb.stat().st_size > 0


def test_render_thumbnail_fits_the_long_side_and_never_enlarges() -> None:
    import io

    def size_of(img: Image.Image) -> tuple[int, int]:
        with Image.open(io.BytesIO(render_thumbnail(img))) as t:
            assert t.format == "JPEG" and t.mode == "RGB"
            return t.size

    assert size_of(Image.new("RGB", (500, 375), "red")) == (256, 192)
    assert size_of(Image.new("RGB", (375, 500), "red")) == (192, 256)
    assert size_of(Image.new("L", (100, 60), 128)) == (100, 60)  # small: kept, made RGB


def test_a_photo_deleted_after_the_scan_is_dropped_not_skipped(
    lib: Library, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    victim = sorted(made)[-1]
    lib.add_folder(photos)

    def delete_before_decoding(p: IndexProgress) -> None:
        if p.phase == "indexing" and p.done == 0 and victim.exists():
            victim.unlink()  # listed by the scan, gone before the decoders reach it

    report = lib.index(progress=delete_before_decoding)

    assert (report.added, report.skipped) == (len(made) - 1, 0)
    assert lib.skipped() == []
    check_consistent(lib, set(made) - {victim})
    assert lib.index().deleted == 0  # nothing of it was recorded


def test_edit_reencodes_that_file_and_deletion_drops_it(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    lib.add_folder(photos)
    lib.index()
    edited = next(p for p, cs in made.items() if cs == ("green", "triangle"))
    gone = [p for p, cs in made.items() if cs[0] == "yellow"][:2]
    edited_id = lib.catalog.photo_by_path(str(edited)).id
    gone_ids = [lib.catalog.photo_by_path(str(p)).id for p in gone]
    save_photo(edited, "red", "circle", seed=999)  # the user edits the photo in place
    for p in gone:
        p.unlink()
    images = encoder.images

    report = lib.index()

    assert encoder.images == images + 1  # exactly the edited file
    assert (report.updated, report.deleted, report.added, report.moved) == (1, 2, 0, 0)
    assert lib.catalog.photo_by_path(str(edited)).id == edited_id
    now = dict(made) | {edited: ("red", "circle")}
    assert str(edited) in assert_top(lib, now, "red", "circle", 2)  # now two red circles
    assert_vectors_match_files(lib)
    for pid in gone_ids:
        assert lib.catalog.photo(pid) is None
        assert not lib.thumbs.exists(pid)
    assert not lib.vindex.contains(gone_ids).any()
    check_consistent(lib, set(made) - set(gone))


def _bomb_png() -> bytes:
    """A valid PNG header claiming 100,000 x 100,000 pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def test_hostile_files_are_skipped_with_reasons_and_retried_when_changed(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    good = save_photo(photos / "good.jpg", "red", "circle", seed=1)
    (photos / "empty.jpg").write_bytes(b"")
    full = photo_bytes("blue", "square", seed=2)
    (photos / "truncated.jpg").write_bytes(full[: len(full) * 2 // 3])
    (photos / "notes.jpg").write_text("this is not a photo\n" * 20)
    (photos / "bomb.png").write_bytes(_bomb_png())
    import io

    png = io.BytesIO()
    make_shape_image("green", "star", 96, np.random.default_rng(3)).save(png, "PNG")
    (photos / "really-a-png.jpg").write_bytes(png.getvalue())  # mislabelled but valid
    before = snapshot(photos)
    lib.add_folder(photos)

    report = lib.index()

    assert not report.cancelled
    assert (report.added, report.skipped) == (2, 4)
    reasons = {s.path.name: s.reason for s in lib.skipped()}
    assert set(reasons) == {"empty.jpg", "truncated.jpg", "notes.jpg", "bomb.png"}
    assert "empty" in reasons["empty.jpg"]
    assert "truncated" in reasons["truncated.jpg"] or "damaged" in reasons["truncated.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "large" in reasons["bomb.png"]
    assert all(s.when is not None for s in lib.skipped())
    check_consistent(lib, {good, photos / "really-a-png.jpg"})
    assert snapshot(photos) == before

    images = encoder.images
    assert lib.index().skipped == 0  # unchanged skipped files are not retried
    assert encoder.images == images
    (photos / "notes.jpg").write_bytes(photo_bytes("yellow", "star", seed=4))  # now fixed
    retry = lib.index()
    assert (retry.updated, retry.skipped) == (1, 0)
    assert encoder.images == images + 1
    check_consistent(lib, {good, photos / "really-a-png.jpg", photos / "notes.jpg"})
    assert "notes.jpg" not in {s.path.name for s in lib.skipped()}


def test_pause_resume_then_cancel_leaves_a_consistent_library(
    paths: Paths, tiny_model_dir: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos, per_pair=2)  # 32 photos: 8 batches of 4
    encoder = CountingEncoder(tiny_model_dir, device="cpu", threads=1, delay_s=0.05)
    lib = Library(paths, encoder)
    lib.indexer.batch_size = 4
    lib.add_folder(photos)
    model_id = encoder.model_id
    control = JobControl()
    paused = threading.Event()

    def pause_after_first(p: IndexProgress) -> None:
        if p.phase == "indexing" and p.done > 0 and not paused.is_set():
            control.pause()
            paused.set()

    result: list[object] = []
    t = threading.Thread(
        target=lambda: result.append(lib.index(progress=pause_after_first, control=control))
    )
    t.start()
    assert paused.wait(60)
    held = lib.catalog.count_indexed(model_id)
    time.sleep(0.5)  # long enough for several more batches, were the pause not holding
    assert lib.catalog.count_indexed(model_id) == held == 4
    control.resume()
    t.join(60)
    report = result[0]
    assert not report.cancelled and report.added == len(made)  # type: ignore[attr-defined]
    check_consistent(lib, set(made))

    # Cancel after two batches, then a new run finishes the rest with nothing encoded twice.
    more = tmp_path / "more"
    extra = make_folder(more, seed=100)
    lib.add_folder(more)
    cancel = JobControl()

    def cancel_after_two(p: IndexProgress) -> None:
        if p.phase == "indexing" and p.done >= 8:
            cancel.cancel()

    images = encoder.images
    stopped = lib.index(progress=cancel_after_two, control=cancel)
    assert stopped.cancelled and stopped.added == 8
    lib.close()

    assert encoder.images - images == 8  # the batch after the cancel was never encoded
    again = Library(paths, CountingEncoder(tiny_model_dir, device="cpu", threads=1))
    try:
        done = set(_indexed_paths(again))
        assert len(done) == len(made) + 8 and done - set(made) <= set(extra)
        check_consistent(again, done)
        rest = again.index()
        assert rest.added == rest.encoded == len(extra) - 8
        check_consistent(again, set(made) | set(extra))
    finally:
        again.close()


def _indexed_paths(lib: Library) -> list[Path]:
    return [Path(p.path) for p in lib.catalog.photos(lib.catalog.filter_ids())]


def test_unavailable_folder_keeps_its_photos(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    lib.add_folder(photos)
    lib.index()
    calls = encoder.calls

    aside = tmp_path / "unplugged"
    photos.rename(aside)  # the drive is unplugged
    report = lib.index()
    assert report.unavailable == [photos] and report.deleted == 0
    assert lib.catalog.folder(photos) is not None and not lib.folders()[0].available
    check_consistent(lib, set(made))

    photos.mkdir()  # an empty mount point is left behind: still unavailable, nothing deleted
    assert lib.index().unavailable == [photos]
    check_consistent(lib, set(made))
    photos.rmdir()

    aside.rename(photos)  # plugged back in
    back = lib.index()
    assert back.unavailable == [] and back.restored == [photos]
    assert (back.deleted, back.added, back.unchanged) == (0, 0, len(made))
    assert lib.folders()[0].available
    assert encoder.calls == calls
    check_consistent(lib, set(made))

    for sub in list(photos.iterdir()):  # the user empties the folder itself: that is applied
        shutil.rmtree(sub)
    emptied = lib.index()
    assert (emptied.unavailable, emptied.deleted) == ([], len(made))
    assert lib.folders()[0].available and lib.catalog.count_indexed(encoder.model_id) == 0
    assert len(lib.vindex) == 0


def test_kill_mid_index_then_resume(paths: Paths, tiny_model_dir: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos, per_pair=3)  # 48 photos, 24 batches of 2 in the child
    setup = Library(paths, None)
    setup.add_folder(photos)
    setup.close()
    model_id = read_model_info(tiny_model_dir).model_id  # fp32 vectors are stored under it

    from app.core.catalog.catalog import Catalog

    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "killed_index_child.py"),
            str(tmp_path / "home"),
            str(tiny_model_dir),
            "0.15",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    catalog = Catalog(paths.catalog)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            n = catalog.count_indexed(model_id)
            if 0 < n < len(made) - 4:
                break
            assert child.poll() is None, child.stdout.read().decode() if child.stdout else ""
            time.sleep(0.02)
        else:
            pytest.fail("the child never got part-way")
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        committed = catalog.count_indexed(model_id)
        assert 0 < committed < len(made)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
        catalog.close()

    enc = CountingEncoder(tiny_model_dir, device="cpu", threads=1)
    lib = Library(paths, enc)
    try:
        assert len(lib.vindex) == committed  # the derived index caught up with the catalog
        report = lib.index()
        assert report.added == report.encoded == len(made) - committed  # nothing twice
        assert enc.images == len(made) - committed
        check_consistent(lib, set(made))
        assert_vectors_match_files(lib)
        assert_top(lib, made, "red", "circle", 3)
    finally:
        lib.close()
