"""The Duplicates view while it looks, on a real library whose model is slowed a little (its
first grouping calibrates the model, batch by batch): the stage and "N of M" with a bar that
fills, Cancel that stops the grouping and offers Look Again, and closing the view that stops it
too. Nothing half-done is kept by a stopped grouping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from qt_helpers import Strict, strict_qt_fixture  # noqa: F401
from test_indexer import CountingEncoder
from test_ui_duplicates import paths, pictures  # noqa: F401

from app.core.api import DuplicateProgress
from app.core.duplicates import progress as progress_mod
from app.core.library import Library
from app.core.paths import Paths
from app.ui.duplicates_busy import stage_text
from app.ui.duplicates_view import DuplicatesDialog
from app.ui.main_window import MainWindow
from app.ui.workers import Worker


@pytest.fixture
def slowed(
    paths: Paths,  # noqa: F811
    pictures: dict[str, Path],  # noqa: F811
    tiny_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Library, CountingEncoder]]:
    """The pictures indexed; then each batch the model encodes takes 0.15 s longer, so the
    calibration of the first grouping (about 15 batches) takes a few seconds."""
    encoder = CountingEncoder(tiny_model_dir, device="cpu")
    library = Library(paths, encoder)
    library.add_folder(next(iter(pictures.values())).parents[1])
    assert library.index().added == len(pictures)
    encoder.delay_s = 0.15
    monkeypatch.setattr(progress_mod, "INTERVAL_S", 0.0)  # every batch reported
    yield library, encoder


def open_view(qtbot: QtBot, library: Library) -> tuple[MainWindow, DuplicatesDialog]:
    window = MainWindow(library.paths, library, welcome=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.library is not None and not window.indexer.running)
    view = window.user_actions.show_duplicates()
    assert isinstance(view, DuplicatesDialog)
    return window, view


def thresholds_kept(library: Library) -> bool:
    return any((library.paths.data / "duplicates").glob("*.json"))


def test_the_bar_fills_as_each_stage_goes(
    qtbot: QtBot, slowed: tuple[Library, CountingEncoder]
) -> None:
    library, _ = slowed
    window, view = open_view(qtbot, library)
    bar, seen = view.busy.bar, []
    bar.valueChanged.connect(lambda v: seen.append((view.busy.stage.text(), v, bar.maximum())))
    assert view.stack.currentWidget() is view.busy
    assert view.busy.label.text().startswith("Looking for duplicates")
    assert view.busy.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not view.busy_now() and view.found is not None, timeout=60_000)
    calibrating = [(v, m) for text, v, m in seen if text.startswith("Preparing this model")]
    assert len(calibrating) > 5  # one step a batch
    values = [v for v, _ in calibrating]
    assert values == sorted(values) and values[0] < values[-1] == calibrating[-1][1]
    assert any(f"{v:,} of {m:,}" in text for text, v, m in seen if v > 0)
    assert view.stack.currentWidget() is view.list and view.groups
    window.close()


def test_cancel_stops_the_grouping_and_offers_look_again(
    qtbot: QtBot, slowed: tuple[Library, CountingEncoder]
) -> None:
    library, encoder = slowed
    window, view = open_view(qtbot, library)
    qtbot.waitUntil(lambda: view.busy.bar.maximum() > 0 and view.busy.bar.value() > 0)
    worker = view._worker
    assert isinstance(worker, Worker)
    QTest.mouseClick(view.busy.cancel_button, Qt.MouseButton.LeftButton)
    assert view.stack.currentWidget() is view.empty and view.empty.state is not None
    assert view.empty.state.key == "stopped"
    assert ("Look Again", "look-again") in view.empty.state.actions
    assert not view.busy_now() and not view.move_button.isEnabled()
    # The grouping itself stopped at its next batch: the calibration was not finished or kept.
    qtbot.waitUntil(lambda: worker.done, timeout=10_000)
    encoded = encoder.images
    assert not thresholds_kept(library)
    view.empty.action.emit("look-again")  # the button's key, as the page sends it
    assert view.stack.currentWidget() is view.busy
    qtbot.waitUntil(lambda: not view.busy_now() and view.found is not None, timeout=60_000)
    assert encoder.images > encoded and thresholds_kept(library)
    assert view.stack.currentWidget() is view.list
    assert sorted(len(g.members) for g in view.groups) == sorted(
        len(g.members) for g in library.duplicates()
    )
    window.close()


def test_closing_the_view_stops_the_grouping(
    qtbot: QtBot, slowed: tuple[Library, CountingEncoder]
) -> None:
    library, _ = slowed
    window, view = open_view(qtbot, library)
    qtbot.waitUntil(lambda: view.busy.bar.value() > 0)
    worker = view._worker
    assert isinstance(worker, Worker)
    view.reject()
    qtbot.waitUntil(lambda: worker.done, timeout=10_000)
    assert not thresholds_kept(library)
    window.close()


def test_stage_words() -> None:
    assert stage_text(DuplicateProgress("comparing pictures", 1200, 5000)) == (
        "Comparing pictures: 1,200 of 5,000"
    )
    assert stage_text(DuplicateProgress("finding neighbours", 0, 0)) == "Finding similar photos…"
