"""Moving copies to the desktop's trash: a real temporary folder, the freedesktop.org trash in a
temporary XDG_DATA_HOME, the catalog forgetting at once, and a real watcher agreeing."""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_indexer import CountingEncoder
from test_watcher import wait_until

from app.core.api import ChangeSummary, Library, Paths
from app.core.duplicates.calibration import load_originals


@pytest.fixture
def trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The desktop trash, in a temporary XDG_DATA_HOME (send2trash reads it when imported)."""
    data = tmp_path / "xdg"
    data.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    if "send2trash.plat_other" in sys.modules:
        importlib.reload(sys.modules["send2trash.plat_other"])
    yield data / "Trash"
    monkeypatch.delenv("XDG_DATA_HOME")
    if "send2trash.plat_other" in sys.modules:
        importlib.reload(sys.modules["send2trash.plat_other"])


@pytest.fixture
def lib(tmp_path: Path, tiny_model_dir: Path) -> Iterator[Library]:
    library = Library(Paths.at(tmp_path / "home"), CountingEncoder(tiny_model_dir, device="cpu"))
    yield library
    library.close()


def library_with_copies(lib: Library, root: Path) -> tuple[Path, Path, Path]:
    originals = load_originals(max_side=256)
    root.mkdir(parents=True)
    a = root / "a.jpg"
    originals[0].save(a, "JPEG", quality=92)
    copy = Path(shutil.copy2(a, root / "a copy.jpg"))
    other = root / "b.jpg"
    originals[1].save(other, "JPEG", quality=92)
    lib.add_folder(root)
    lib.index()
    return a, copy, other


def test_move_to_trash_moves_only_what_is_asked_and_the_catalog_forgets_it(
    lib: Library, tmp_path: Path, trash: Path
) -> None:
    a, copy, other = library_with_copies(lib, tmp_path / "photos")
    (group,) = lib.duplicates(exact_only=True)
    assert a.exists() and copy.exists()  # finding moves nothing
    victim = next(p for p in group.members if p.id != group.keeper_id)
    size = Path(victim.path).stat().st_size

    result = lib.move_to_trash([victim.id])

    assert result.moved == (victim.path,) and result.failed == () and result.bytes == size
    assert not Path(victim.path).exists()
    name = Path(victim.path).name
    assert (trash / "files" / name).read_bytes() == a.read_bytes()
    info = (trash / "info" / f"{name}.trashinfo").read_text()
    assert "[Trash Info]" in info and "Path=" in info
    assert lib.photo(victim.id) is None
    assert lib.duplicates() == []
    assert lib.vindex is not None and not lib.vindex.contains([victim.id])[0]
    assert a.exists() and other.exists()  # the keeper and the rest stay


def test_move_to_trash_refuses_what_is_not_in_the_library(
    lib: Library, tmp_path: Path, trash: Path
) -> None:
    a, _, _ = library_with_copies(lib, tmp_path / "photos")
    keeper = lib.photo_by_path(str(a))
    assert keeper is not None
    a.unlink()  # gone since it was indexed
    result = lib.move_to_trash([999_999, keeper.id])
    assert result.moved == () and result.bytes == 0
    assert dict(result.failed) == {
        "999999": "not in the library (any more)",
        str(a): "the file is no longer there",
    }
    assert not trash.exists() or not any((trash / "files").iterdir())


def test_the_watcher_agrees_after_a_move_to_trash(
    lib: Library, tmp_path: Path, trash: Path
) -> None:
    photos = tmp_path / "photos"
    _, copy, _ = library_with_copies(lib, photos)
    summaries: list[ChangeSummary] = []
    photo = lib.photo_by_path(str(copy))
    assert photo is not None
    watcher = lib.watch(on_change=summaries.append)
    try:
        moved = lib.move_to_trash([photo.id])
        assert moved.moved == (str(copy),)
        # A photo arriving after the move: once the watcher has added it, it has seen the
        # copy leave too; it adds nothing back and finds nothing more to delete.
        load_originals(max_side=256)[2].save(photos / "later.jpg", "JPEG", quality=92)
        wait_until(lambda: sum(s.added for s in summaries) == 1, "the new photo is added")
    finally:
        watcher.stop()
    assert sum(s.deleted for s in summaries) == 0
    assert lib.photo_by_path(str(copy)) is None
    assert not copy.exists() and (trash / "files" / copy.name).exists()
    assert lib.status().photos == 3


def test_a_live_photos_clip_goes_to_the_trash_with_it(
    lib: Library, tmp_path: Path, trash: Path
) -> None:
    from tests.microclip import make_shape_image
    from tests.videos import scene_frames, write_video

    root = tmp_path / "photos"
    root.mkdir()
    still = root / "IMG_0001.JPG"
    make_shape_image("blue", "square", (160, 96), np.random.default_rng(1)).save(still, "JPEG")
    clip = root / "IMG_0001.MOV"
    write_video(clip, scene_frames([(2.0, "red", "circle")], seed=5))
    lib.add_folder(root)
    lib.index()
    photo, mov = lib.photo_by_path(str(still)), lib.photo_by_path(str(clip))
    assert photo is not None and mov is not None and lib.catalog.companions() == {mov.id: photo.id}
    moments = lib.catalog.moment_labels([mov.id])
    assert lib.vindex is not None and len(moments) and lib.vindex.contains(moments).all()
    result = lib.move_to_trash([photo.id])
    assert result.moved == (str(still), str(clip)) and result.failed == ()
    assert result.bytes == photo.size + mov.size
    assert sorted(p.name for p in (trash / "files").iterdir()) == ["IMG_0001.JPG", "IMG_0001.MOV"]
    assert lib.photo(photo.id) is None and lib.photo(mov.id) is None
    assert not lib.vindex.contains([photo.id, mov.id, *moments.tolist()]).any()
