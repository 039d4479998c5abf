"""Edit ▸ Preferences over a real library with two installed micro models: every setting is
stored (the data folder's settings or the window's ini file) and takes effect at once."""

# ruff: noqa: F811  (the fixtures imported from test_ui_window are parameters here)
from __future__ import annotations

from pathlib import Path

import pytest
from qt_helpers import strict_qt_fixture  # noqa: F401
from test_ui_window import (  # noqa: F401  (fixtures)
    make_window,
    names,
    paths,
    photo_dir,
    wait_for_search,
)

from app.core.api import SETTING_ACTIVE, SETTING_LANGUAGE, SETTING_PRECISION, read_settings
from app.core.library import Library
from app.core.model.install import install_model
from app.core.paths import Paths
from app.ui.preferences import PreferencesDialog
from app.ui.settings import UiSettings


@pytest.fixture
def two_models(paths: Paths, tiny_model_dir: Path, second_model_dir: Path) -> Paths:
    install_model(paths, "micro-a", source=tiny_model_dir, calibrate=False)
    install_model(paths, "micro-b", source=second_model_dir, calibrate=False)
    return paths


@pytest.fixture
def window(qtbot, two_models, photo_dir):
    library = Library.open(two_models, device="cpu")
    library.add_folder(photo_dir)
    library.index()
    win = make_window(qtbot, two_models, library)
    qtbot.waitUntil(
        lambda: (
            win.model_state is not None
            and win.model.total() == 32
            and not win.indexer.running
            and not win.searcher.busy()
        ),
        timeout=60_000,
    )
    yield win
    win.close()


def open_preferences(qtbot, window, models: int = 2) -> PreferencesDialog:
    action = next(a for a in window.actions() if a.text() == "Pr&eferences…")
    assert action.shortcut().toString() == "Ctrl+,"
    action.trigger()
    dialog = window.user_actions.preferences
    assert isinstance(dialog, PreferencesDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.facts is not None and dialog.model_box.count() == models)
    return dialog


def pick(box, data) -> None:
    """Choose `data` in a combo box as a user does (the `activated` signal)."""
    index = box.findData(data)
    assert index >= 0, data
    box.setCurrentIndex(index)
    box.activated.emit(index)


def test_preferences_show_every_setting_in_one_dialog(qtbot, window, photo_dir):
    dialog = open_preferences(qtbot, window)
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == [
        "Search",
        "Display",
        "Folders",
    ]
    assert [dialog.model_box.itemData(i) for i in range(2)] == ["micro-a", "micro-b"]
    assert dialog.model_box.currentData() == "micro-a"
    assert dialog.options.precision_box.currentData() == "fp32"
    assert dialog.options.device_box.currentData() == "auto"
    assert dialog.language_note.isVisibleTo(dialog)  # an English-only model says so
    assert not dialog.options.language_box.isVisibleTo(dialog)
    assert dialog.matches_box.currentData() is False  # weaker matches wait behind a click
    assert dialog.thumb_slider.value() == window.grid.delegate.thumb_size
    qtbot.waitUntil(lambda: dialog.folders is not None and dialog.folders.count() == 1)
    assert str(photo_dir) in dialog.folders.list.item(0).text()
    assert window.user_actions.show_preferences() is dialog  # one dialog, raised
    dialog.close()


def test_model_and_precision_are_stored_and_applied_at_once(qtbot, window, paths):
    dialog = open_preferences(qtbot, window)
    pick(dialog.options.precision_box, "int8")
    qtbot.waitUntil(lambda: read_settings(paths).get(SETTING_PRECISION) == "int8")
    window.indexer.pause()  # hold the re-encoding, to see the switch under way
    try:
        pick(dialog.model_box, "micro-b")
        qtbot.waitUntil(lambda: window.model_state.active == "micro-b", timeout=15_000)
        assert read_settings(paths)[SETTING_ACTIVE] == "micro-b"
        assert window.model_state.switching and window.model_state.serving == "micro-a"
        qtbot.waitUntil(lambda: dialog.model_box.currentData() == "micro-b", timeout=15_000)
    finally:  # a failure above must not leave the window's indexing paused (close waits on it)
        window.indexer.resume()
    qtbot.waitUntil(
        lambda: window.model_state.serving == "micro-b" and not window.model_state.switching,
        timeout=60_000,
    )
    wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a blue star"))
    assert names(window, 1)[0].startswith("blue-star")  # micro-b answers, in int8
    dialog.close()


def test_thumbnail_size_follows_both_ways_and_persists(qtbot, window, paths):
    dialog = open_preferences(qtbot, window)
    dialog.tabs.setCurrentIndex(1)
    dialog.thumb_slider.setValue(240)
    assert window.grid.delegate.thumb_size == 240 and window.zoom_slider.value() == 240
    assert dialog.thumb_label.text() == "240 px"
    window.zoom_slider.setValue(128)  # the status bar's slider moves the dialog's too
    assert dialog.thumb_slider.value() == 128 and dialog.thumb_label.text() == "128 px"
    window.settings.sync()
    assert UiSettings(paths.config / "window.ini").thumb_size == 128
    dialog.close()


def test_showing_every_match_applies_to_the_search_on_screen(qtbot, window, paths):
    wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a red circle"))
    before = window.model.total()
    dialog = open_preferences(qtbot, window)
    wait_for_search(qtbot, window, lambda: pick(dialog.matches_box, True))
    assert window.last_spec.everything
    assert window.model.total() == 32 >= before  # every photo, best first, no "weaker" row
    assert window.model.weaker == 0
    assert names(window, 1)[0].startswith("red-circle")
    window.settings.sync()
    assert UiSettings(paths.config / "window.ini").all_matches
    wait_for_search(qtbot, window, lambda: pick(dialog.matches_box, False))
    assert not window.last_spec.everything and window.model.total() == before
    dialog.close()


def test_a_multilingual_model_offers_its_search_languages(
    qtbot, paths, photo_dir, family_model_dir, strict_qt
):
    strict_qt.allow(r"No pretrained weights loaded")  # open_clip, when the fixture is first built
    install_model(paths, "nllb-tiny", source=family_model_dir("nllb"), calibrate=False)
    library = Library.open(paths, device="cpu")
    library.add_folder(photo_dir)
    window = make_window(qtbot, paths, library)
    try:
        qtbot.waitUntil(
            lambda: window.model_state is not None and not window.indexer.running, timeout=60_000
        )
        # the window chose the UI language's code for the model (English here) on its own
        qtbot.waitUntil(lambda: bool(read_settings(paths).get(SETTING_LANGUAGE)), timeout=15_000)
        dialog = open_preferences(qtbot, window, models=1)
        box = dialog.options.language_box
        qtbot.waitUntil(lambda: box.count() > 1, timeout=15_000)
        assert box.isVisibleTo(dialog) and not dialog.language_note.isVisibleTo(dialog)
        assert box.currentData() == read_settings(paths)[SETTING_LANGUAGE]
        other = next(box.itemData(i) for i in range(box.count()) if i != box.currentIndex())
        reloads: list[object] = []
        window.session.model_state_changed.connect(reloads.append)
        pick(box, other)
        qtbot.waitUntil(lambda: read_settings(paths).get(SETTING_LANGUAGE) == other)
        qtbot.waitUntil(lambda: bool(reloads), timeout=15_000)  # the model took it up at once
        qtbot.waitUntil(lambda: box.currentData() == other, timeout=15_000)
        qtbot.waitUntil(lambda: not window.indexer.running, timeout=60_000)
        dialog.close()
    finally:
        window.close()
