"""Live Photos (IMG_1234.HEIC/.JPG beside IMG_1234.MOV) on real components: generated JPEGs and
clips written by PyAV, real decoding, the trained micro CLIP, a real catalog and vector index.
The short video beside a photo is that photo's clip: never an item of its own, its moments
rank as the photo's. The pairing is derived from paths, so deletes and renames re-pair."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from microclip import caption, make_shape_image
from PySide6.QtCore import QModelIndex, QRect
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem
from qt_helpers import strict_qt_fixture, type_text  # noqa: F401
from test_indexer import CountingEncoder
from test_ui_video import open_viewer, redness, row_of
from test_ui_window import make_window, wait_for_search

from app.core.library import Library
from app.core.paths import Paths
from app.core.search.query import Query
from app.ui import file_actions
from app.ui.results_model import ResultsModel
from tests.videos import scene_frames, write_video

# The still shows a blue square; its clip a blue square, then a red circle from 1.5 s to 3 s.
CLIP = [(1.5, "blue", "square"), (1.5, "red", "circle")]
RED_MS = (1500, 3000)
OTHERS = [("green", "triangle"), ("yellow", "star"), ("blue", "circle"), ("green", "square")]


@pytest.fixture
def lib(paths: Paths, encoder: CountingEncoder) -> Iterator[Library]:
    library = Library(paths, encoder)
    library.indexer.batch_size = 8
    yield library
    library.close()


def live_photo(root: Path, name: str, still_ext: str = ".JPG", clip_ext: str = ".MOV") -> Path:
    """`name` + still_ext (a blue square) and `name` + clip_ext (CLIP) in `root`; the still."""
    root.mkdir(parents=True, exist_ok=True)
    img = make_shape_image("blue", "square", (160, 96), np.random.default_rng(1))
    still = root / f"{name}{still_ext}"
    img.save(still, "JPEG", quality=92)
    write_video(root / f"{name}{clip_ext}", scene_frames(CLIP, seed=5))
    return still


def library_folder(root: Path) -> Path:
    """Four plain photos, a Live Photo (IMG_0001.JPG + .MOV) and a longer plain video."""
    root.mkdir(parents=True, exist_ok=True)
    for i, (colour, shape) in enumerate(OTHERS):
        img = make_shape_image(colour, shape, (160, 96), np.random.default_rng(10 + i))
        img.save(root / f"{colour}-{shape}.jpg", quality=92)
    write_video(root / "long.mp4", scene_frames([(6.0, "yellow", "star")], seed=3))
    return live_photo(root, "IMG_0001")


def ids_of(lib: Library, query: Query) -> list[int]:
    return [h.photo_id for h in lib.search(query).hits]


def test_a_live_photo_is_found_by_its_clip_once_at_the_moment_and_its_mov_is_never_listed(
    lib: Library, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    still = library_folder(root)
    lib.add_folder(root)
    report = lib.index()
    assert (report.added, report.skipped) == (len(OTHERS) + 3, 0)
    photo, mov = lib.photo_by_path(still), lib.photo_by_path(root / "IMG_0001.MOV")
    long = lib.photo_by_path(root / "long.mp4")
    assert photo is not None and mov is not None and long is not None
    assert mov.kind == "video" and mov.duration_ms is not None and mov.duration_ms <= 5000
    assert lib.catalog.companions() == {mov.id: photo.id}  # the 6 s video is not a clip
    # What a video player is handed: the MOV for the Live Photo, the video itself, no still.
    assert lib.playable_path(photo.id) == Path(mov.path)
    assert lib.playable_path(long.id) == Path(long.path)
    plain = next(p for p in lib.catalog.photos(range(1, 20)) if p.path.endswith(".jpg"))
    assert lib.playable_path(plain.id) is None and lib.playable_path(10**9) is None
    # Only the clip shows a red circle: the photo is found, once, at that moment.
    for kind in ("all", "photo"):
        hits = lib.search(Query(text=caption("red", "circle"), kind=kind)).hits  # type: ignore[arg-type]
        assert hits[0].photo_id == photo.id and hits[0].kind == "photo" and hits[0].clip
        assert hits[0].moment_ms is not None and RED_MS[0] <= hits[0].moment_ms < RED_MS[1]
        assert hits[0].moments and [h.photo_id for h in hits].count(photo.id) == 1
        assert mov.id not in {h.photo_id for h in hits}
    videos = lib.search(Query(text=caption("red", "circle"), kind="video"))
    assert {h.photo_id for h in videos.hits} <= {long.id} and videos.total_candidates == 1
    # Browsing and counting: the MOV is never an item, the photo says it has a clip.
    browse = lib.search(Query(top_k=100)).hits
    assert sorted(h.photo_id for h in browse) == sorted(set(ids_of(lib, Query(top_k=100))))
    assert mov.id not in {h.photo_id for h in browse} and len(browse) == len(OTHERS) + 2
    assert [h.clip for h in browse if h.photo_id == photo.id] == [True]
    assert not any(h.clip for h in browse if h.photo_id != photo.id)
    assert lib.search(Query(top_k=100)).total_candidates == len(OTHERS) + 2
    assert lib.search(Query(top_k=100, kind="video")).total_candidates == 1
    assert sum(n for _, n in lib.years()) == len(OTHERS) + 2
    assert sum(n for _, n in lib.months()) == len(OTHERS) + 2
    assert lib.search(Query(text=caption("red", "circle"))).total_candidates == len(OTHERS) + 2
    # The viewer's frame and playback at that moment come from the MOV: red at the centre.
    t_ms = hits[0].moment_ms
    frame = np.asarray(lib.frame(photo.id, t_ms, max_side=128), dtype=np.int16)
    centre = frame[20:57, 40:88].reshape(-1, 3)
    assert ((centre[:, 0] > 150) & (centre[:, 1] < 100) & (centre[:, 2] < 100)).mean() > 0.2
    played = list(lib.clip_frames(photo.id, 0, max_side=64))
    assert len(played) >= 20 and played[0][0] == 0 and max(played[-1][1].size) <= 64
    assert list(lib.clip_frames(lib.photo_by_path(root / "green-square.jpg").id, 0, 64)) == []  # type: ignore[union-attr]


@pytest.mark.parametrize("names", [(".HEIC", ".MOV"), (".jpeg", ".mp4"), (".Jpg", ".mov")])
def test_companions_pair_a_short_video_with_the_still_of_its_name_in_any_case(
    lib: Library, tmp_path: Path, names: tuple[str, str]
) -> None:
    root = tmp_path / "media"
    still = live_photo(root, "IMG_0002", *names)  # a JPEG named .HEIC is still decodable
    live_photo(root / "other", "IMG_0003")  # IMG_0003.MOV's still is in another folder ...
    (root / "other" / "IMG_0003.JPG").rename(root / "IMG_0003.JPG")
    lib.add_folder(root)
    lib.index()
    photo = lib.photo_by_path(still)
    mov = lib.photo_by_path(root / f"IMG_0002{names[1]}")
    assert photo is not None and mov is not None
    assert lib.catalog.companions() == {mov.id: photo.id}  # ... so it stays a video


def test_a_deleted_still_leaves_its_mov_a_video_and_a_renamed_mov_is_unpaired(
    lib: Library, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    still = library_folder(root)
    second = live_photo(root, "IMG_0004")
    lib.add_folder(root)
    lib.index()
    mov1, mov2 = lib.photo_by_path(root / "IMG_0001.MOV"), lib.photo_by_path(root / "IMG_0004.MOV")
    assert mov1 is not None and mov2 is not None and len(lib.catalog.companions()) == 2
    red = Query(text=caption("red", "circle"), kind="video")
    assert mov1.id not in ids_of(lib, red) and mov2.id not in ids_of(lib, red)
    still.unlink()
    os.rename(root / "IMG_0004.MOV", root / "holiday.MOV")
    report = lib.index()
    assert (report.deleted, report.moved) == (1, 1)
    assert lib.catalog.companions() == {}
    found = ids_of(lib, red)
    assert mov1.id in found and mov2.id in found  # ordinary videos now, at the red circle
    browse = ids_of(lib, Query(top_k=100))
    assert mov1.id in browse and mov2.id in browse
    photo2 = lib.photo_by_path(second)
    assert photo2 is not None
    assert not next(h for h in lib.search(Query(top_k=100)).hits if h.photo_id == photo2.id).clip


# -- the window ------------------------------------------------------------------------------------


@pytest.fixture
def window(qtbot, paths: Paths, tmp_path: Path, tiny_model_dir: Path) -> Iterator:
    root = tmp_path / "media"
    library_folder(root)
    library = Library.open(paths.ensure(), model_dir=tiny_model_dir, device="cpu")
    library.add_folder(root)
    assert library.index().added == len(OTHERS) + 3
    win = make_window(qtbot, paths, library)
    qtbot.waitUntil(
        lambda: (
            win.model.total() == len(OTHERS) + 2
            and not win.indexer.running
            and not win.searcher.busy()
            and win.model.generation == win.searcher.generation
        ),
        timeout=30_000,
    )
    yield win
    win.close()


def paint_tile(window, index: QModelIndex) -> QImage:
    image = QImage(220, 240, QImage.Format.Format_RGB32)
    image.fill(QColor(255, 255, 255))
    option = QStyleOptionViewItem()
    option.initFrom(window.grid)
    option.rect = QRect(0, 0, 220, 240)
    option.state = QStyle.StateFlag.State_Enabled
    painter = QPainter(image)
    window.grid.delegate.paint(painter, option, index)
    painter.end()
    return image


def test_a_live_photo_carries_a_live_mark_and_its_mov_is_not_in_the_grid(qtbot, window, tmp_path):
    model = window.model
    names = [Path(model.hit(r).path).name for r in range(model.total())]
    assert "IMG_0001.JPG" in names and "IMG_0001.MOV" not in names
    live = model.index(row_of(window, "IMG_0001.JPG"), 0)
    plain = model.index(row_of(window, "green-square.jpg"), 0)
    assert live.data(ResultsModel.ClipRole) and not plain.data(ResultsModel.ClipRole)
    assert (
        live.data(ResultsModel.KindRole) == "photo" and live.data(ResultsModel.MomentRole) is None
    )
    assert window.result_label.text().startswith(f"{len(OTHERS) + 1} photos and 1 video ·")
    for index in (live, plain):
        qtbot.waitUntil(
            lambda i=index: i.data(ResultsModel.ThumbStateRole) == "ready", timeout=10_000
        )

    def badge_white(image: QImage) -> int:  # white pixels in the top-right corner (the mark)
        return sum(
            image.pixelColor(x, y).lightness() > 240 for x in range(150, 216) for y in range(6, 26)
        )

    tile = paint_tile(window, live)
    assert badge_white(tile) > 5 and badge_white(paint_tile(window, plain)) == 0
    tile.save(str(tmp_path / "live-tile.png"))


def test_a_search_finds_the_live_photo_at_its_moment_and_the_viewer_plays_its_clip(
    qtbot, window, tmp_path, monkeypatch
):
    wait_for_search(
        qtbot, window, lambda: type_text(window.search_bar.edit, caption("red", "circle"))
    )
    row = row_of(window, "IMG_0001.JPG")
    hit = window.model.hit(row)
    assert hit.kind == "photo" and hit.clip and hit.moment_ms is not None
    assert RED_MS[0] <= hit.moment_ms < RED_MS[1]
    assert window.model.index(row, 0).data(ResultsModel.MomentRole) == hit.moment_ms
    dialog = open_viewer(qtbot, window, row)
    assert dialog.is_video() and dialog.video_bar.isVisible() and dialog.moment_ms == hit.moment_ms
    assert dialog.video_bar.moments() == sorted(t for t, _ in hit.moments)
    qtbot.waitUntil(lambda: redness(dialog.canvas.image()) > 0.2, timeout=10_000)
    dialog.grab().save(str(tmp_path / "live-viewer.png"))
    times: list[int] = []
    dialog.player.frame.connect(lambda t, _image: times.append(t))
    dialog.video.show_moment(0)  # from the start of the clip
    with qtbot.waitSignal(dialog.player.stopped, timeout=15_000):
        dialog.video_bar.play_button.click()
    assert len(times) >= 5 and times == sorted(times) and times[-1] >= 2500
    assert dialog.moment_ms is not None and dialog.moment_ms >= 2500
    # Open in Player hands the player the MOV beside the still, not the still (the player
    # itself, an external program, is replaced at that boundary).
    launched: list[tuple[Path, int]] = []
    monkeypatch.setattr(
        file_actions, "open_in_player", lambda path, t: launched.append((path, t)) or True
    )
    assert dialog.video_bar.player_button.isVisibleTo(dialog)
    dialog.video_bar.player_button.click()
    assert [(p.name, t >= 0) for p, t in launched] == [("IMG_0001.MOV", True)]
    dialog.reject()
