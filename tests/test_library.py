"""The Library facade as the CLI and the UI use it: opening with and without a model, folders and
their validation, search, browsing, thumbnails, status, skipped files, closing."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_indexer import (
    CountingEncoder,
    check_consistent,
    make_folder,
    save_photo,
    snapshot,
)

from app.core.errors import UserError
from app.core.library import (
    IndexProgress,
    IndexReport,
    JobControl,
    Library,
    LibraryStatus,
    Query,
)
from app.core.model.info import ModelError
from app.core.paths import Paths


@pytest.fixture
def lib(paths: Paths, encoder: CountingEncoder) -> Iterator[Library]:
    library = Library(paths, encoder)
    yield library
    library.close()


def test_without_a_model_browsing_works_and_search_explains(
    paths: Paths, tmp_path: Path, tiny_model_dir: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    before = snapshot(photos)
    lib = Library.open(paths)  # nothing installed in this data folder
    try:
        assert not lib.has_model and lib.encoder is None
        lib.add_folder(photos)
        report = lib.index()
        assert (report.added, report.encoded) == (len(made), 0)
        st = lib.status()
        assert (st.photos, st.pending, st.indexed, st.model_id) == (len(made), len(made), 0, None)
        assert [f.photo_count for f in lib.folders()] == [0]  # catalogued, not yet searchable
        some = lib.photo_by_path(str(next(iter(made))))
        thumb = lib.thumbnail(some.id)
        assert thumb is not None and thumb.is_file()
        assert lib.photo(some.id).capture_source == "exif_original"
        with pytest.raises(ModelError, match="photoseek model install"):
            lib.search(Query(text="a red circle"))
        with pytest.raises(ModelError):
            lib.search(Query(image=next(iter(made))))
    finally:
        lib.close()
    assert snapshot(photos) == before

    # Later a model is installed: the pending photos are encoded without rescanning metadata.
    with Library.open(paths, model_dir=tiny_model_dir, device="cpu") as lib:
        assert lib.has_model
        st = lib.status()
        assert (st.indexed, st.pending) == (0, len(made))
        report = lib.index()
        assert (report.added, report.encoded, report.updated) == (len(made), len(made), 0)
        st = lib.status()
        assert (st.indexed, st.pending, st.skipped) == (len(made), 0, 0)
        assert st.model_id == lib.encoder.model_id and st.provider == "CPUExecutionProvider"
        assert st.index_size == len(made)
        check_consistent(lib, set(made))


def test_an_explicit_broken_model_folder_is_an_error(paths: Paths, tmp_path: Path) -> None:
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    with pytest.raises(ModelError):
        Library.open(paths, model_dir=broken)


def test_search_filters_and_browse(lib: Library, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos, per_pair=2)
    lib.add_folder(photos)
    lib.index()
    result = lib.search(Query(text="a red circle", top_k=2))
    assert [made[Path(h.path)] for h in result.hits] == [("red", "circle")] * 2
    assert all(h.capture_time is not None for h in result.hits)
    years = dict(lib.years())
    assert set(years) == {2019, 2020, 2021} and sum(years.values()) == len(made)
    for year in years:
        browsed = lib.search(Query(year=year, top_k=100)).hits  # filters alone: browsing
        assert len(browsed) == years[year]
        assert all(h.capture_time.year == year for h in browsed)
        hits = lib.search(Query(text="a blue square", year=year, top_k=50)).hits
        assert all(h.capture_time.year == year for h in hits)
    browse = lib.search(Query(month=1, top_k=100)).hits  # January: the red photos
    assert browse and all(made[Path(h.path)][0] == "red" for h in browse)
    assert sum(n for _, n in lib.months()) == len(made)


def test_add_folder_validation(lib: Library, paths: Paths, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "inner").mkdir(parents=True)
    a_file = save_photo(tmp_path / "single.jpg", "red", "circle", seed=1)
    with pytest.raises(UserError, match="not found"):
        lib.add_folder(tmp_path / "missing")
    with pytest.raises(UserError, match="is a file"):
        lib.add_folder(a_file)
    for own in (paths.data, paths.cache / "thumbnails", paths.models):
        own.mkdir(parents=True, exist_ok=True)
        with pytest.raises(UserError, match="PhotoSeek's own data"):
            lib.add_folder(own)
    folder = lib.add_folder(photos)
    assert Path(folder.path) == photos.resolve() and folder.available
    with pytest.raises(UserError, match="already"):
        lib.add_folder(photos)
    with pytest.raises(UserError, match="already"):
        lib.add_folder(photos / "inner")
    with pytest.raises(UserError, match="not a folder in your library"):
        lib.remove_folder(tmp_path / "elsewhere")
    with pytest.raises(UserError, match="not in a folder of your library"):
        lib.index([tmp_path / "elsewhere"])


def test_a_parent_folder_absorbs_a_child_without_reencoding(
    lib: Library, encoder: CountingEncoder, tmp_path: Path
) -> None:
    parent = tmp_path / "all"
    child_made = make_folder(parent / "child")
    lib.add_folder(parent / "child")
    lib.index()
    images = encoder.images
    sibling = save_photo(parent / "sibling" / "x.jpg", "green", "star", seed=5)
    lib.add_folder(parent)  # the parent takes the child's photos over
    assert [Path(f.path) for f in lib.folders()] == [parent]
    report = lib.index()
    assert (report.added, report.encoded, report.deleted) == (1, 1, 0)
    assert encoder.images == images + 1
    check_consistent(lib, set(child_made) | {sibling})


def test_remove_folder_forgets_photos_but_not_files(lib: Library, tmp_path: Path) -> None:
    keep, drop = tmp_path / "keep", tmp_path / "drop"
    kept = make_folder(keep)
    dropped = make_folder(drop, seed=50)
    lib.add_folder(keep)
    lib.add_folder(drop)
    lib.index()
    drop_ids = [lib.photo_by_path(str(p)).id for p in dropped]
    before = snapshot(drop)
    lib.remove_folder(drop)
    assert [Path(f.path) for f in lib.folders()] == [keep]
    assert all(lib.photo(i) is None and not lib.thumbs.exists(i) for i in drop_ids)
    check_consistent(lib, set(kept))
    assert snapshot(drop) == before  # the files are untouched
    assert not any(
        h.path.startswith(str(drop)) for h in lib.search(Query(text="a red circle", top_k=50)).hits
    )


def test_status_skipped_and_thumbnail_regeneration(lib: Library, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    lib.add_folder(photos)
    lib.index()
    st = lib.status()
    assert isinstance(st, LibraryStatus)
    assert (st.photos, st.indexed, st.skipped, st.pending) == (len(made) + 1, len(made), 1, 0)
    assert st.has_model and st.model_id == lib.encoder.model_id and st.device == "auto"
    assert [(Path(f.path), f.available, f.photo_count) for f in st.folders] == [
        (photos, True, len(made))
    ]
    [skipped] = lib.skipped()
    assert skipped.path == photos / "broken.jpg" and skipped.reason
    broken_id = lib.photo_by_path(str(photos / "broken.jpg")).id
    assert lib.thumbnail(broken_id) is None

    pid = lib.photo_by_path(str(next(iter(made)))).id
    thumb = lib.thumbnail(pid)
    assert thumb is not None
    first = thumb.read_bytes()
    shutil.rmtree(lib.paths.thumbnails)  # the cache was cleared
    again = lib.thumbnail(pid)
    assert again == thumb and again.read_bytes()[:2] == first[:2] == b"\xff\xd8"


def test_search_and_folder_changes_during_an_index_run(
    paths: Paths, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Searching and removing a folder from another thread while a run is under way (held at a
    pause, so it is certainly mid-run): the run drops that folder's work and stays consistent."""
    first, second = tmp_path / "first", tmp_path / "second"
    made = make_folder(first, per_pair=2)
    make_folder(second, per_pair=2, seed=40)
    encoder = CountingEncoder(tiny_model_dir, device="cpu", threads=1)
    lib = Library(paths, encoder)
    lib.indexer.batch_size = 4
    lib.add_folder(first)
    lib.index()
    lib.add_folder(second)
    control = JobControl()
    paused = threading.Event()
    reports: list[IndexReport] = []
    errors: list[BaseException] = []

    def progress(p: IndexProgress) -> None:
        if p.phase == "indexing" and p.done > 0 and not paused.is_set():
            control.pause()
            paused.set()

    def run() -> None:
        try:
            reports.append(lib.index(progress=progress, control=control))
        except BaseException as e:
            errors.append(e)

    images = encoder.images
    t = threading.Thread(target=run)
    t.start()
    try:
        assert paused.wait(60)
        hits = lib.search(Query(text="a red circle", top_k=2)).hits
        assert [made.get(Path(h.path)) for h in hits] == [("red", "circle")] * 2
        lib.remove_folder(second)  # does not wait for the run to finish
        assert [Path(f.path) for f in lib.folders()] == [first]
    finally:
        control.resume()
        t.join(60)
    assert not errors and not reports[0].cancelled
    assert reports[0].added == reports[0].encoded == 4  # the batch before the pause, only
    assert encoder.images == images + 4
    check_consistent(lib, set(made))
    lib.close()
    lib.close()  # closing twice is harmless


def test_close_cancels_a_running_index_and_stops_watching(
    paths: Paths, tiny_model_dir: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    made = make_folder(photos, per_pair=2)
    lib = Library(paths, CountingEncoder(tiny_model_dir, device="cpu", threads=1, delay_s=0.05))
    lib.indexer.batch_size = 4
    lib.add_folder(photos)
    watcher = lib.watch()
    started = threading.Event()
    reports: list[IndexReport] = []

    def progress(p: IndexProgress) -> None:
        if p.phase == "indexing" and p.done > 0:
            started.set()

    t = threading.Thread(target=lambda: reports.append(lib.index(progress=progress)))
    t.start()
    assert started.wait(60)
    lib.close()  # the window closes mid-run: cancel, wait, save, release
    t.join(30)
    assert not t.is_alive() and not watcher.running
    assert reports[0].cancelled and 0 < reports[0].added < len(made)
    with pytest.raises(UserError, match="closed"):
        lib.index()
    with Library(paths, CountingEncoder(tiny_model_dir, device="cpu", threads=1)) as again:
        assert len(again.vindex) == reports[0].added  # saved at close: nothing to repair
        assert again.index().added == len(made) - reports[0].added
        check_consistent(again, set(made))
