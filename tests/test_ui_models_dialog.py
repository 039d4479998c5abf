"""The window's model manager over a real library: browsing with no model, installing from a
folder through the Models dialog, a model installed or removed by the CLI while the window
runs, a download's progress, cancel and failure, and switching models while search keeps
answering. Real catalog, index and onnxruntime on the trained micro CLIP; only the network
download is stood in for (the `installer` seam) and the file picker (`choose_source`)."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from qt_helpers import shape_photos, strict_qt_fixture  # noqa: F401
from test_ui_window import library_specs, make_window, names, pick, wait_for_search

from app.core.errors import UserError
from app.core.library import Library
from app.core.model.catalog import default_entry, load_catalog
from app.core.model.install import InstallCancelled, install_model
from app.core.model.installed import remove_model
from app.core.paths import Paths
from app.ui.index_status import describe_progress
from app.ui.model_rows import download_label, merge_rows, search_note

OFFER = download_label(default_entry())  # "Download CLIP ViT-B/32 (OpenAI), 607 MB"


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.at(tmp_path / "home").ensure()


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "Pictures"
    shape_photos(folder, library_specs(), size=96)
    return folder


@pytest.fixture
def bare_library(paths, photo_dir) -> Library:
    """Photos in a folder, no model installed: the state of a new user."""
    library = Library.open(paths)
    assert not library.has_model
    library.add_folder(photo_dir)
    return library


def settle(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: (
            window.library is not None
            and window.model_state is not None
            and not window.indexer.running
        ),
        timeout=60_000,
    )


def models_action(window):
    return next(a for a in window.actions() if a.text() == "&Models…")


def wait_facts(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: dialog.facts is not None, timeout=15_000)


# -- no model yet ------------------------------------------------------------------------------


def test_without_a_model_photos_are_browsable_with_one_call_to_get_one(qtbot, paths, bare_library):
    window = make_window(qtbot, paths, bare_library)
    try:
        settle(qtbot, window)
        qtbot.waitUntil(lambda: window.model.total() == 32, timeout=30_000)
        assert window.empty_state_key() is None  # the grid, not a page about the model
        dates = [window.model.hit(r).capture_time for r in range(32)]
        assert dates == sorted(dates, reverse=True)
        assert window.model_banner.isVisible()
        assert window.model_button.text() == OFFER
        assert "browse" not in window.model_banner_text.text()  # no promise: the photos show
        expected = sum(1 for *_, w in library_specs() if w.year == 2021)
        qtbot.waitUntil(lambda: window.filters.year_box.findData(2021) >= 0, timeout=15_000)
        wait_for_search(qtbot, window, lambda: pick(window.filters.year_box, 2021))
        assert window.model.total() == expected
        # a search by words says what is needed, with the same single offer
        wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a red circle"))
        assert window.empty_state_key() == "no-model"
        assert window.empty.button_labels() == [OFFER, "Clear Search"]
        assert not window.model_banner.isVisible()
    finally:
        window.close()


# -- installing through the dialog -------------------------------------------------------------


def test_install_from_a_folder_through_the_models_dialog(
    qtbot, paths, bare_library, tiny_model_dir
):
    asked: list[str] = []

    def choose(_parent, kind: str) -> str:
        asked.append(kind)
        return str(tiny_model_dir)

    window = make_window(qtbot, paths, bare_library, choose_source=choose)
    try:
        settle(qtbot, window)
        models_action(window).trigger()
        dialog = window.user_actions.models_dialog
        wait_facts(qtbot, dialog)
        catalog = load_catalog()
        assert dialog.table.topLevelItemCount() == len(catalog)
        first = dialog.table.topLevelItem(0)
        entry = catalog[0]
        assert [first.text(c) for c in range(6)] == [
            entry.title,
            ", ".join(entry.languages),
            f"{entry.download_mb} MB",
            f"{entry.ram_mb} MB",
            "1.00×",
            f"{entry.recall.value * 100:.1f} %",
        ]
        assert dialog.selected().name == default_entry().name  # preselected
        assert dialog.download_button.text() == OFFER
        assert entry.recall.benchmark in dialog.details.text()
        dialog.install_button.menu().actions()[0].trigger()  # "Model Folder…"
        assert asked == ["folder"]
        qtbot.waitUntil(lambda: window.library.has_model, timeout=120_000)
        qtbot.waitUntil(
            lambda: any(r.active and r.usable for r in (dialog.facts.rows if dialog.facts else [])),
            timeout=15_000,
        )
        assert "is installed" in dialog.message.text()
        qtbot.waitUntil(lambda: not window.model_banner.isVisible(), timeout=15_000)
        settle(qtbot, window)
        wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a red circle"))
        assert names(window, 1)[0].startswith("red-circle")
        dialog.close()
    finally:
        window.close()


def test_download_progress_cancel_and_a_failure_named_in_copyable_words(qtbot, paths, bare_library):
    gate = threading.Event()
    failures: list[str] = []

    def installer(p, name=None, *, source=None, progress=None, should_cancel=None):
        """The network download, stood in for: some progress, then cancel or fail."""
        progress(150_000_000, 600_000_000, "Downloading")
        if failures:
            raise UserError(failures[0])
        while not should_cancel():
            gate.wait(0.01)
        raise InstallCancelled("Cancelled; nothing was installed.")

    window = make_window(qtbot, paths, bare_library, installer=installer)
    try:
        settle(qtbot, window)
        window.model_button.click()  # the banner's one call: download the default model
        dialog = window.user_actions.models_dialog
        qtbot.waitUntil(lambda: "25 %" in dialog.progress_label.text(), timeout=10_000)
        assert "150.0 of 600.0 MB" in dialog.progress_label.text()
        assert dialog.bar.isVisible() and dialog.cancel_button.isVisible()
        assert window.model_button.text() == "Show Progress"
        dialog.cancel_button.click()
        qtbot.waitUntil(lambda: not window.models.busy(), timeout=10_000)
        assert "continue from where it stopped" in dialog.message.text()
        assert window.model_button.text() == OFFER

        failures.append(
            "Cannot reach huggingface.co: this computer seems to be offline. Connect to the "
            "internet and try again, or install a model folder you have."
        )
        dialog.download_button.click()
        qtbot.waitUntil(lambda: not window.models.busy(), timeout=10_000)
        text = dialog.message.text()
        assert failures[0] in text and "Traceback" not in text
        selectable = dialog.message.textInteractionFlags()
        assert selectable & dialog.message.textInteractionFlags().TextSelectableByMouse
        assert window.model_banner.isVisible() and window.model_button.text() == "Try Again"
        assert failures[0] in window.model_banner_text.text()
        dialog.close()
    finally:
        window.close()


# -- the CLI changes models while the window runs ---------------------------------------------


def test_a_model_installed_and_removed_by_the_cli_is_noticed(
    qtbot, paths, bare_library, tiny_model_dir
):
    window = make_window(qtbot, paths, bare_library)
    try:
        settle(qtbot, window)
        qtbot.waitUntil(lambda: window.model_banner.isVisible(), timeout=10_000)
        install_model(paths, "micro-clip", source=tiny_model_dir, calibrate=False)  # the CLI
        qtbot.waitUntil(
            lambda: window.library.has_model and not window.model_banner.isVisible(),
            timeout=30_000,
        )
        settle(qtbot, window)
        wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a red circle"))
        assert names(window, 1)[0].startswith("red-circle")
        remove_model(paths, "micro-clip")  # `photoseek model remove`
        qtbot.waitUntil(lambda: not window.library.has_model, timeout=30_000)
        qtbot.waitUntil(lambda: window.empty_state_key() == "no-model", timeout=15_000)
    finally:
        window.close()


# -- switching models --------------------------------------------------------------------------


def test_switching_models_keeps_search_answering(
    qtbot,
    paths,
    photo_dir,
    tiny_model_dir,
    second_model_dir,
):
    install_model(paths, "micro-a", source=tiny_model_dir, calibrate=False)
    install_model(paths, "micro-b", source=second_model_dir, calibrate=False)
    library = Library.open(paths, device="cpu")
    library.add_folder(photo_dir)
    library.index()
    removed: list[str] = []
    window = make_window(qtbot, paths, library, confirm=lambda _p, q: removed.append(q) or True)
    try:
        settle(qtbot, window)
        assert window.model_state.serving == "micro-a"
        dialog = window.user_actions.show_models_dialog()
        wait_facts(qtbot, dialog)
        window.indexer.pause()  # hold the re-indexing, to look at the window meanwhile
        dialog.select("micro-b")
        assert dialog.activate_button.isEnabled()
        dialog.activate_button.click()
        qtbot.waitUntil(
            lambda: window.model_state.active == "micro-b" and window.model_state.switching,
            timeout=15_000,
        )
        assert window.model_label.text() == "Search uses micro-a until micro-b finishes (0 %)"
        assert window.model_label.isVisible()
        qtbot.waitUntil(lambda: "until micro-b" in dialog.note.text(), timeout=15_000)
        wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a red circle"))
        assert names(window, 1)[0].startswith("red-circle")  # answered by micro-a meanwhile
        window.indexer.resume()
        qtbot.waitUntil(
            lambda: window.model_state.serving == "micro-b" and not window.model_state.switching,
            timeout=60_000,
        )
        assert not window.model_label.isVisible()
        wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a blue star"))
        assert names(window, 1)[0].startswith("blue-star")
        # removing the model not in use, with the confirmation
        qtbot.waitUntil(lambda: dialog.facts.row("micro-a").state_text() == "Installed")
        dialog.select("micro-a")
        dialog.remove_button.click()
        assert removed and "micro-a" in removed[0]
        qtbot.waitUntil(lambda: dialog.facts.row("micro-a") is None, timeout=15_000)
        dialog.close()
    finally:
        window.close()


# -- the words -------------------------------------------------------------------------------


def test_rows_merge_the_catalog_with_installed_models_and_say_what_serves():
    catalog = load_catalog()
    default = default_entry(catalog)
    extra = SimpleNamespace(name="micro-clip", usable=True, info=None, problem=None, path=Path())
    have = SimpleNamespace(name=default.name, usable=True, info=None, problem=None, path=Path())
    rows = merge_rows(catalog, [extra, have], "micro-clip", default.name)
    assert [r.name for r in rows] == [e.name for e in catalog] + ["micro-clip"]
    assert (
        rows[0].state_text() == "Answers searches"
        and rows[-1].state_text() == "Active (re-indexing)"
    )
    assert rows[1].state_text() == "" and rows[-1].title == "micro-clip"
    state = SimpleNamespace(active="SigLIP2", serving="ViT-B-32__openai", switching=True,
                            encoded=41, total=100)  # fmt: skip
    assert search_note(state) == "Search uses ViT-B-32__openai until SigLIP2 finishes (41 %)"
    progress = SimpleNamespace(phase="indexing", done=1234, total=5000, rate=0, eta_s=None)
    assert describe_progress(progress, model="SigLIP2").startswith(
        "Re-indexing for SigLIP2: 1,234 / 5,000"
    )
