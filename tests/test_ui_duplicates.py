"""The Duplicates view over a real library: real copies of real photo files (imported twice, a
backup, a resized copy), the real catalog, index and the micro CLIP through onnxruntime, and
the freedesktop trash in a temporary XDG_DATA_HOME. Only the confirmation's answer (QMessageBox)
and the desktop's URL opener (QDesktopServices) are stood in for."""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from qt_helpers import Strict, strict_qt_fixture, write_photo  # noqa: F401

from app.core.api import DuplicateGroup
from app.core.library import Library
from app.core.paths import Paths
from app.ui import duplicates_list
from app.ui.duplicates_cards import MemberCard
from app.ui.duplicates_trash import open_trash, open_trash_failed
from app.ui.duplicates_view import DuplicatesDialog
from app.ui.duplicates_words import trash_name
from app.ui.main_window import MainWindow
from app.ui.viewer import ViewerDialog
from app.ui.viewer.info import human_size

WHEN = datetime(2023, 6, 10, 9, 30)
Opened = tuple[MainWindow, DuplicatesDialog]
# watchdog's inotify emitter logs this when the window's watcher stops while the events of files
# that just left (moved to the trash) are still being read: its own stop race, nothing lost.
WATCHDOG_STOP = r"InotifyEmitter\.queue_events\(\) called when the thread is inactive"


@pytest.fixture
def trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The freedesktop home trash in a temporary XDG_DATA_HOME (send2trash reads it on import)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    if "send2trash.plat_other" in sys.modules:
        importlib.reload(sys.modules["send2trash.plat_other"])
    yield tmp_path / "xdg-data" / "Trash"
    monkeypatch.delenv("XDG_DATA_HOME")
    if "send2trash.plat_other" in sys.modules:
        importlib.reload(sys.modules["send2trash.plat_other"])


@pytest.fixture
def pictures(tmp_path: Path) -> dict[str, Path]:
    """Eight distinct photos; the red circle imported twice more (3 identical files), the blue
    square once more (2), and the yellow triangle as a resized copy."""
    from microclip import make_shape_image

    folder = tmp_path / "Pictures"
    rng = np.random.default_rng(3)
    files: dict[str, Path] = {}
    shapes = [(c, s) for c in ("red", "green", "blue", "yellow") for s in ("circle", "square")]
    shapes[-1] = ("yellow", "triangle")
    for i, (color, shape) in enumerate(shapes):
        image = make_shape_image(color, shape, (480, 360), rng)
        files[f"{color}-{shape}"] = write_photo(
            folder / "2023" / f"IMG_{i + 1:04d}.jpg", image, WHEN + timedelta(hours=i)
        )
    for name, copies in (("red-circle", ["Imported", "Backup"]), ("blue-square", ["Imported"])):
        for sub in copies:
            target = folder / sub / files[name].name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(files[name], target)
            files[f"{name}@{sub}"] = target
    small = Image.open(files["yellow-triangle"]).resize((240, 180), Image.Resampling.LANCZOS)
    files["yellow-triangle@small"] = write_photo(
        folder / "Shared" / "IMG_0008-small.jpg", small, WHEN + timedelta(days=3)
    )
    return files


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.at(tmp_path / "home").ensure()


@pytest.fixture
def library(paths: Paths, pictures: dict[str, Path], tiny_model_dir: Path) -> Library:
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    library.add_folder(next(iter(pictures.values())).parents[1])
    assert library.index().added == len(pictures)
    return library


def open_view(qtbot: QtBot, paths: Paths, library: Library) -> tuple[MainWindow, DuplicatesDialog]:
    window = MainWindow(paths, library, welcome=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(
        lambda: (
            window.library is not None and not window.indexer.running and not window.searcher.busy()
        ),
        timeout=30_000,
    )
    shortcut = next(a for a in window.actions() if a.shortcut().toString() == "Ctrl+Shift+D")
    assert shortcut.text() == "Find &Duplicates…"
    shortcut.trigger()
    view = window.user_actions.duplicates
    assert isinstance(view, DuplicatesDialog)
    # Grouping runs on a worker: until it delivers, the view says it is looking, nothing to move.
    assert view.stack.currentWidget() is view.busy and view.busy.label.text().startswith("Looking")
    assert not view.move_button.isEnabled()
    qtbot.waitUntil(lambda: not view.busy_now() and view.found is not None, timeout=30_000)
    return window, view


@pytest.fixture
def opened(
    qtbot: QtBot, paths: Paths, library: Library
) -> Iterator[tuple[MainWindow, DuplicatesDialog]]:
    window, view = open_view(qtbot, paths, library)
    yield window, view
    window.close()


def names(group: DuplicateGroup) -> list[str]:
    return [str(Path(p.path).relative_to(Path(p.path).parents[1])) for p in group.members]


def card_of(view: DuplicatesDialog, photo_id: int) -> MemberCard:
    card = view.list.member(photo_id)
    assert card is not None, f"no card shows photo {photo_id}"
    return card


def library_of(window: MainWindow) -> Library:
    assert window.library is not None
    return window.library


def recorder(urls: list[QUrl], opens: bool = True) -> Callable[[QUrl], bool]:
    """QDesktopServices.openUrl standing in for the desktop: notes the URL, says if it opened."""

    def open_url(url: QUrl) -> bool:
        urls.append(url)
        return opens

    return open_url


def answer(
    monkeypatch: pytest.MonkeyPatch, button: QMessageBox.StandardButton
) -> list[tuple[str, str]]:
    """The user answers the confirmation with `button`; returns the questions asked."""
    asked: list[tuple[str, str]] = []

    def exec_(box: QMessageBox) -> int:
        asked.append((box.text(), box.informativeText()))
        return int(button.value)

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


def test_groups_sorted_by_space_keeper_marked_and_never_selected(opened: Opened) -> None:
    _window, view = opened
    groups = view.groups
    assert [g.reclaim_bytes for g in groups] == sorted(
        (g.reclaim_bytes for g in groups), reverse=True
    )
    exact = [g for g in groups if g.kind == "exact"]
    assert sorted(len(g.members) for g in exact) == [2, 3]
    for group in groups:
        card = next(c for c in view.list.cards if c.group is group)
        assert card.header.text().startswith(f"{len(group.members)} copies · ")
        assert "to free" in card.header.text()
        keeper = card.members[group.keeper_id]
        assert keeper.thumb.keeper and not keeper.is_selected()
        assert group.keeper_id not in view.selected
        others = [m for pid, m in card.members.items() if pid != group.keeper_id]
        assert others and all(m.is_selected() and not m.thumb.keeper for m in others)
    assert view.move_button.isEnabled()
    assert view.rules.rule_label.text().startswith("Keeping the highest resolution")


def test_the_selection_is_the_users_to_change(opened: Opened) -> None:
    window, view = opened
    three = next(g for g in view.groups if len(g.members) == 3)
    copy = next(p for p in three.members if p.id != three.keeper_id)
    view.keep_only(copy.id)  # the card's "Keep Only This One"
    assert copy.id not in view.selected and three.keeper_id in view.selected
    assert card_of(view, three.keeper_id).is_selected()
    assert view.move_button.text() == f"Move {len(view.selected)} to Trash"
    view.none_button.click()
    assert not view.selected and not view.move_button.isEnabled()
    assert not any(m.is_selected() for c in view.list.cards for m in c.members.values())
    view.suggest_button.click()
    assert three.keeper_id not in view.selected and copy.id in view.selected
    assert window.user_actions.show_duplicates() is view  # one view, raised again


def test_resized_copy_is_a_near_group_and_only_exact_leaves_it_out(
    opened: Opened, pictures: dict[str, Path], qtbot: QtBot
) -> None:
    _window, view = opened
    small = str(pictures["yellow-triangle@small"])
    near = [g for g in view.groups if any(p.path == small for p in g.members)]
    assert len(near) == 1 and near[0].kind == "near"
    keeper = next(p for p in near[0].members if p.id == near[0].keeper_id)
    assert keeper.path == str(pictures["yellow-triangle"])  # the higher resolution is kept
    member = card_of(view, next(p.id for p in near[0].members if p.path == small))
    said = member.difference.text()  # what differs, from the core, shown in full
    assert said.startswith("smaller") and "240" in said and "180" in said
    view.rules.exact_box.setChecked(True)
    qtbot.waitUntil(lambda: not view.busy_now(), timeout=30_000)
    assert view.groups and all(g.kind == "exact" for g in view.groups)


def test_nothing_moves_without_confirmation(
    opened: Opened,
    pictures: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    trash: Path,
) -> None:
    _window, view = opened
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    ids, size = view.selection()
    chosen = [p for g in view.groups for p in g.members if p.id in ids]
    assert size == sum(Path(p.path).stat().st_size for p in chosen)  # the files' real sizes
    view.move_button.click()
    assert len(asked) == 1
    question, details = asked[0]
    assert question == f"Move {len(ids)} photos ({human_size(size)}) to the Trash?"
    assert "restore" in details
    view.activateWindow()
    QTest.keyClick(view.list, Qt.Key.Key_Delete)  # the Delete key asks the same
    assert asked[1:] == asked[:1]
    assert all(p.exists() for p in pictures.values())
    assert not view.busy_now() and view.selection() == (ids, size)
    assert not trash.exists() or not any((trash / "files").iterdir())


def test_confirmed_move_goes_to_the_trash_and_the_groups_update(
    opened: Opened,
    pictures: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    trash: Path,
    qtbot: QtBot,
    strict_qt: Strict,
) -> None:
    strict_qt.allow(WATCHDOG_STOP)
    window, view = opened
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    two = next(g for g in view.groups if g.kind == "exact" and len(g.members) == 2)
    three = next(g for g in view.groups if len(g.members) == 3)
    moved = [p for p in two.members if p.id != two.keeper_id]
    # In the group of three, keep the suggested keeper and one copy: one copy goes.
    keep_too = next(p for p in three.members if p.id != three.keeper_id)
    card_of(view, keep_too.id).box.setChecked(False)
    moved += [p for p in three.members if p.id not in (three.keeper_id, keep_too.id)]
    # The other groups keep all their copies.
    for group in view.groups:
        if group not in (two, three):
            view.keep_all(group)
    assert sorted(view.selection()[0]) == sorted(p.id for p in moved)
    opened_urls: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", recorder(opened_urls))

    view.move_button.click()
    qtbot.waitUntil(lambda: not view.busy_now(), timeout=30_000)

    for photo in moved:
        assert not Path(photo.path).exists()
        assert (trash / "files" / Path(photo.path).name).is_file()
    assert all(Path(p.path).exists() for p in (*three.members,) if p not in moved)
    assert all(g.keeper_id != two.keeper_id for g in view.groups)  # a single copy: no group
    left = next(g for g in view.groups if g.keeper_id == three.keeper_id)
    assert {p.id for p in left.members} == {three.keeper_id, keep_too.id}
    assert left.reclaim_bytes == keep_too.size
    assert not view.selected and not view.move_button.isEnabled()
    assert view.notice.isVisible()
    assert f"Moved {len(moved)} photos" in view.notice.text.text()
    assert "restore" in view.notice.text.text().lower()
    assert view.notice.button.text() == "Open Trash"
    view.notice.button.click()
    assert [u.toString() for u in opened_urls] == ["trash:///"]
    assert library_of(window).photo(moved[0].id) is None  # the catalog dropped them at once


def test_a_copy_that_cannot_be_moved_is_named_with_its_reason(
    opened: Opened, monkeypatch: pytest.MonkeyPatch, trash: Path, qtbot: QtBot, strict_qt: Strict
) -> None:
    strict_qt.allow(WATCHDOG_STOP)
    window, view = opened
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    two = next(g for g in view.groups if g.kind == "exact" and len(g.members) == 2)
    three = next(g for g in view.groups if len(g.members) == 3)
    for other in view.groups:
        if other not in (two, three):
            view.keep_all(other)
    gone = next(p for p in two.members if p.id != two.keeper_id)
    Path(gone.path).unlink()  # deleted meanwhile: the trash cannot take it
    left, moved = (p for p in three.members if p.id != three.keeper_id)
    assert library_of(window).move_to_trash([left.id]).moved  # moved meanwhile, from elsewhere
    view.move_button.click()
    qtbot.waitUntil(lambda: not view.busy_now(), timeout=30_000)
    text = view.notice.text.text()
    assert text.startswith("Moved 1 photo (") and "3 photos could not be moved:" not in text
    assert "2 photos could not be moved:" in text
    for copy in (gone, left):  # each named, where it was, with the reason
        assert f"{Path(copy.path).name} ({Path(copy.path).parent}): " in text
    assert not Path(moved.path).exists()


def test_changing_the_rule_suggests_other_keepers(
    opened: Opened, pictures: dict[str, Path], qtbot: QtBot
) -> None:
    _window, view = opened
    three = next(g for g in view.groups if len(g.members) == 3)
    backup = str(pictures["red-circle@Backup"].parent)
    assert three.keeper_id != next(p.id for p in three.members if p.path.startswith(backup))
    view.rules.order_box.setCurrentIndex(view.rules.order_box.findText("Preferred folder first"))
    index = view.rules.folder_box.findData(backup)
    assert index > 0 and view.rules.folder_box.itemText(index).endswith("Backup")
    view.rules.folder_box.setCurrentIndex(index)
    view.rules.folder_box.activated.emit(index)
    qtbot.waitUntil(lambda: not view.busy_now(), timeout=30_000)
    again = next(g for g in view.groups if len(g.members) == 3)
    keeper = next(p for p in again.members if p.id == again.keeper_id)
    assert keeper.path.startswith(backup)
    assert keeper.id not in view.selected
    assert "Backup" in view.rules.rule_label.text()
    # The next time the view opens (here a fresh one over the same settings) the rule is kept.
    view.close()
    _window.user_actions.duplicates = None
    again_view = _window.user_actions.show_duplicates()
    assert again_view is not None and again_view is not view
    assert again_view.rules.folder_box.currentData() == backup
    assert again_view.rules.order_box.currentText() == "Preferred folder first"
    assert again_view.rules.rule() == view.rules.rule()
    qtbot.waitUntil(lambda: not again_view.busy_now(), timeout=30_000)
    restored = next(g for g in again_view.groups if len(g.members) == 3)
    assert next(p for p in restored.members if p.id == restored.keeper_id).path.startswith(backup)


def test_new_photos_say_the_groups_may_be_out_of_date(
    opened: Opened, pictures: dict[str, Path], qtbot: QtBot
) -> None:
    window, view = opened
    assert not view.rules.stale.isVisible()
    extra = pictures["green-circle"].parents[1] / "Later" / "copy.jpg"
    extra.parent.mkdir()
    shutil.copy2(pictures["green-circle"], extra)
    window.session.rescan()
    qtbot.waitUntil(lambda: view.rules.stale.isVisible(), timeout=30_000)
    qtbot.waitUntil(lambda: not window.indexer.running, timeout=30_000)
    view.rules.refresh_button.click()
    assert not view.rules.stale.isVisible()
    qtbot.waitUntil(lambda: not view.busy_now(), timeout=30_000)
    assert any(p.path == str(extra) for g in view.groups for p in g.members)


def test_clicking_a_thumbnail_opens_the_copies_large(opened: Opened, qtbot: QtBot) -> None:
    _window, view = opened
    group = view.groups[0]
    copy = group.members[1]
    card_of(view, copy.id).thumb.click()
    viewer = next(w for w in view.findChildren(ViewerDialog))
    assert viewer.isVisible() and viewer.photo_id == copy.id
    assert viewer.photos.count() == len(group.members)
    viewer.close()


def test_a_copy_can_be_shown_in_its_folder(opened: Opened, monkeypatch: pytest.MonkeyPatch) -> None:
    _window, view = opened
    opened_urls: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", recorder(opened_urls))
    copy = view.groups[0].members[1]
    card = card_of(view, copy.id)
    action = next(a for a in card.actions() if a.text() == "Show in Folder")
    action.trigger()
    assert [u.toLocalFile() for u in opened_urls] == [str(Path(copy.path).parent)]


def test_no_duplicates_says_how_many_photos_were_compared(
    qtbot: QtBot, paths: Paths, tmp_path: Path, tiny_model_dir: Path
) -> None:
    from microclip import make_shape_image

    rng = np.random.default_rng(5)
    folder = tmp_path / "Distinct"
    for i, (color, shape) in enumerate((("red", "star"), ("blue", "circle"), ("green", "square"))):
        write_photo(folder / f"{i}.jpg", make_shape_image(color, shape, 160, rng), WHEN)
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    library.add_folder(folder)
    library.index()
    window, view = open_view(qtbot, paths, library)
    assert view.stack.currentWidget() is view.empty
    assert view.empty.title.text() == "No duplicates found in 3 photos"
    assert not view.move_button.isEnabled()
    window.close()


def test_without_a_model_exact_copies_are_still_found(
    qtbot: QtBot, paths: Paths, pictures: dict[str, Path]
) -> None:
    library = Library.open(paths)  # no model installed in this data folder
    library.add_folder(next(iter(pictures.values())).parents[1])
    library.index()
    assert not library.has_model
    window, view = open_view(qtbot, paths, library)
    assert sorted(len(g.members) for g in view.groups) == [2, 3]
    assert all(g.kind == "exact" for g in view.groups)
    assert not view.rules.exact_box.isEnabled()
    assert view.notice.isVisible() and "only exact copies" in view.notice.text.text()
    assert view.notice.button.text() == "Get a Model"
    window.close()


def test_open_trash_asks_each_desktop_for_its_own(
    monkeypatch: pytest.MonkeyPatch, trash: Path
) -> None:
    urls: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", recorder(urls))
    assert open_trash("linux") and open_trash("darwin")
    assert [u.toString() for u in urls] == [
        "trash:///",
        QUrl.fromLocalFile(str(Path.home() / ".Trash")).toString(),
    ]
    # No file manager knows trash:/// here: the trash's own folder is opened, or its path said.
    refused: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", recorder(refused, opens=False))
    assert not open_trash("linux") and [u.toString() for u in refused] == ["trash:///"]
    assert str(trash / "files") in open_trash_failed("linux")
    assert trash_name("win32") == "Recycle Bin" and trash_name("darwin") == "Trash"


def test_cards_are_built_and_thumbnails_loaded_as_the_list_scrolls(
    qtbot: QtBot, paths: Paths, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duplicates_list, "BATCH", 1)  # one group card at a time
    window, view = open_view(qtbot, paths, library)
    view.resize(900, 420)
    bar = view.list.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    first = view.list.cards[0]
    qtbot.waitUntil(lambda: all(m.thumb.state == "ready" for m in first.members.values()))
    assert 0 < len(view.list.cards) < len(view.groups)  # only what is near the view
    for built in range(len(view.list.cards), len(view.groups)):
        bar.setValue(bar.maximum())
        qtbot.waitUntil(partial(lambda n: len(view.list.cards) > n, built))
    last = view.list.cards[-1]
    qtbot.waitUntil(lambda: all(m.thumb.state == "ready" for m in last.members.values()))
    assert [c.group for c in view.list.cards] == view.groups
    window.close()
