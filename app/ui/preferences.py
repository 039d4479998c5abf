"""Edit ▸ Preferences: every setting in one place, each applied as soon as it changes.

Search: the model that answers searches, its precision, device and search language (stored in
the data folder's settings through the `ModelManager`, which reloads the model), and whether
weaker matches show at once or wait behind "Show N weaker matches". Display: the thumbnail
size. Folders: the watched folders, as in the Folders dialog. The window's own choices
(thumbnails, matches) persist in its `UiSettings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.api import ModelState, UserError
from app.ui.folders_dialog import FolderList
from app.ui.model_options import ModelOptions
from app.ui.model_rows import ModelFacts, load_facts
from app.ui.thumb_delegate import MAX_SIZE, MIN_SIZE
from app.ui.workers import run_in_thread

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

MATCHES = (
    ("Close matches first; weaker ones on request", False),
    ("Every photo, best matches first", True),
)


def _hint(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


class PreferencesDialog(QDialog):
    """The settings of `window`'s library and of the window itself."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.main = window
        self._generation = 0
        self.facts: ModelFacts | None = None
        self.setWindowTitle("Preferences")
        self.setAccessibleName("Preferences")
        self.resize(600, 480)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._search_page(), "Search")
        self.tabs.addTab(self._display_page(), "Display")
        self.folders: FolderList | None = None
        if window.library is not None:
            self.folders = FolderList(window.library, window.pool, self)
            self.tabs.addTab(self._folders_page(self.folders), "Folders")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

        window.models.changed.connect(self.refresh)
        window.models.failed.connect(self._say)
        window.session.model_state_changed.connect(lambda _s: self.refresh())
        window.zoom_slider.valueChanged.connect(self._thumb_size_changed)
        self.refresh()

    # -- pages ------------------------------------------------------------------------------------

    def _search_page(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.model_box = QComboBox(page)
        self.model_box.setAccessibleName("Search model")
        self.model_box.activated.connect(lambda _i: self._model_picked())
        manage = QPushButton("Models…", page)
        manage.setToolTip("Download, install or remove search models")
        manage.clicked.connect(lambda: self.main.user_actions.show_models_dialog())
        row = QHBoxLayout()
        row.addWidget(self.model_box, 1)
        row.addWidget(manage)
        form.addRow("Search model:", row)
        self.model_note = _hint("", page)
        form.addRow("", self.model_note)
        self.options = ModelOptions(self.main.models, page, form)
        self.language_note = _hint(
            "English only, with this model. For other languages, choose a multilingual model.",
            page,
        )
        form.addRow("Search language:", self.language_note)
        self.matches_box = QComboBox(page)
        self.matches_box.setAccessibleName("Which matches show")
        for text, everything in MATCHES:
            self.matches_box.addItem(text, everything)
        self.matches_box.setCurrentIndex(int(self.main.settings.all_matches))
        self.matches_box.activated.connect(lambda _i: self._matches_picked())
        form.addRow("Matches:", self.matches_box)
        form.addRow(
            "",
            _hint(
                "Each model has a relevance floor: photos under it are hidden behind "
                "“Show N weaker matches” at the end of the results, unless every photo shows.",
                page,
            ),
        )
        self.message = _hint("", page)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        form.addRow(self.message)
        return page

    def _display_page(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.thumb_slider = QSlider(Qt.Orientation.Horizontal, page)
        self.thumb_slider.setAccessibleName("Thumbnail size")
        self.thumb_slider.setRange(MIN_SIZE, MAX_SIZE)
        self.thumb_slider.setSingleStep(8)
        self.thumb_slider.setPageStep(32)
        self.thumb_slider.setValue(self.main.grid.delegate.thumb_size)
        self.thumb_label = QLabel(page)
        self.thumb_label.setMinimumWidth(self.thumb_label.fontMetrics().horizontalAdvance("000 px"))
        self._thumb_size_changed(self.thumb_slider.value())
        self.thumb_slider.valueChanged.connect(self.main.set_thumb_size)
        row = QHBoxLayout()
        row.addWidget(self.thumb_slider, 1)
        row.addWidget(self.thumb_label)
        form.addRow("Thumbnail size:", row)
        form.addRow(
            "", _hint("Also Ctrl+wheel over the photos, or Ctrl+plus and Ctrl+minus.", page)
        )
        return page

    def _folders_page(self, folders: FolderList) -> QWidget:
        page = QWidget(self)
        column = QVBoxLayout(page)
        column.addWidget(
            _hint(
                "PhotoSeek finds photos in these folders and their subfolders, and keeps "
                "watching them for new photos. It never changes or deletes your files.",
                page,
            )
        )
        column.addWidget(folders, 1)
        self.main.user_actions.wire_folders(folders)
        return page

    # -- the model ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._generation += 1
        generation, paths = self._generation, self.main.paths
        state: ModelState | None = self.main.model_state
        run_in_thread(
            lambda: load_facts(paths, state),
            on_result=lambda facts: self._facts_loaded(generation, facts),
            on_error=lambda exc: self._facts_failed(generation, exc),
            pool=self.main.pool,
            owner=self,
        )

    def _facts_loaded(self, generation: int, facts: ModelFacts) -> None:
        if generation != self._generation:
            return
        self.facts = facts
        self.model_box.clear()
        usable = [r for r in facts.rows if r.usable]
        for row in usable:
            self.model_box.addItem(row.title, row.name)
            if row.active:
                self.model_box.setCurrentIndex(self.model_box.count() - 1)
        if not usable:
            self.model_box.addItem("No model installed", None)
        self.model_box.setEnabled(bool(usable))
        active = facts.active
        self.model_note.setText(
            "Changing the model re-indexes your photos in the background; search keeps "
            "working meanwhile."
            if usable
            else "Get one with Models…: it is downloaded once and runs on this computer."
        )
        self.options.show_facts(facts)
        self.options.set_enabled(active is not None)
        self.language_note.setVisible(not facts.languages)

    def _facts_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self._say(str(exc))

    def _model_picked(self) -> None:
        name = self.model_box.currentData()
        active = self.facts.active if self.facts is not None else None
        if name and (active is None or active.name != name):
            self.main.models.set_active(str(name))

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # -- the window's settings ----------------------------------------------------------------------

    def _matches_picked(self) -> None:
        self.main.search.set_all_matches(bool(self.matches_box.currentData()))

    def _thumb_size_changed(self, size: int) -> None:
        if self.thumb_slider.value() != size:
            self.thumb_slider.blockSignals(True)
            self.thumb_slider.setValue(size)
            self.thumb_slider.blockSignals(False)
        self.thumb_label.setText(f"{size} px")
