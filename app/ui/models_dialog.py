"""Library > Models: the catalog with the facts to choose by, installed and active models,
Download (with progress and Cancel), Install from a folder or archive, Remove, Set Active, and
the precision, device and search-language settings. No terminal needed for any of it.

The dialog lays out; `ModelManager` does the work in workers and `model_rows` says what to
show. Every message is selectable text, so an error can be copied.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.api import ModelState, Paths
from app.ui import theme
from app.ui.model_manager import InstallProgress, ModelManager
from app.ui.model_options import ModelOptions
from app.ui.model_rows import ModelFacts, ModelRow, download_label, load_facts, search_note
from app.ui.workers import run_in_thread

COLUMNS = ("Model", "Languages", "Download", "RAM", "Speed", "Recall", "")
ARCHIVES = "Model archives (*.tar *.tar.gz *.tgz *.zip);;All files (*)"


def choose_source_dialog(parent: QWidget, kind: str) -> str | None:
    """Ask for a model folder (`kind` "folder") or archive ("archive"); None if cancelled."""
    if kind == "folder":
        path = QFileDialog.getExistingDirectory(parent, "Choose a Model Folder")
    else:
        path, _ = QFileDialog.getOpenFileName(parent, "Choose a Model Archive", "", ARCHIVES)
    return path or None


def confirm_dialog(parent: QWidget, question: str) -> bool:
    answer = QMessageBox.question(
        parent,
        "Remove Model",
        question,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def selectable(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class ModelsDialog(QDialog):
    """`choose_source(parent, "folder"|"archive")` and `confirm(parent, question)` are seams for
    the file picker and the removal question (tests answer them)."""

    def __init__(
        self,
        paths: Paths,
        manager: ModelManager,
        pool: QThreadPool,
        *,
        state: ModelState | None = None,
        select: str | None = None,
        choose_source: Callable[[QWidget, str], str | None] = choose_source_dialog,
        confirm: Callable[[QWidget, str], bool] = confirm_dialog,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self.manager = manager
        self._pool = pool
        self._state = state
        self._choose_source = choose_source
        self._confirm = confirm
        self._wanted = select
        self._generation = 0
        self.facts: ModelFacts | None = None
        self.setWindowTitle("Search Models")
        self.setAccessibleName("Search models")
        self.resize(860, 560)
        self._build()
        manager.progress.connect(self._progress)
        manager.busy_changed.connect(self._busy_changed)
        manager.failed.connect(self.show_error)
        manager.cancelled.connect(self.show_info)
        manager.installed.connect(self._installed)
        manager.changed.connect(self.refresh)
        self._busy_changed(manager.busy())
        if manager.busy() and manager.last_progress is not None:
            self._progress(manager.last_progress)
        self.refresh()

    # -- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        title = theme.make_heading(QLabel("Search models", self), 1.4)
        layout.addWidget(title)
        self.note = selectable(QLabel(self))
        self.note.setAccessibleName("Which model answers searches")
        layout.addWidget(self.note)

        self.table = QTreeWidget(self)
        self.table.setAccessibleName("Models")
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setUniformRowHeights(True)
        self.table.setHeaderLabels(list(COLUMNS))
        header = self.table.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.headerItem().setToolTip(4, "Images per second, relative to ViT-B-32")
        self.table.currentItemChanged.connect(lambda *_: self._selection_changed())
        layout.addWidget(self.table, 1)

        self.details = selectable(QLabel(self))
        self.details.setAccessibleName("About the selected model")
        self.details.setMinimumHeight(self.fontMetrics().lineSpacing() * 4)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download", self)
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self.download_selected)
        self.activate_button = QPushButton("Set Active", self)
        self.activate_button.setToolTip(
            "Search with this model (the library is re-indexed "
            "in the background; search keeps working meanwhile)"
        )
        self.activate_button.clicked.connect(self.activate_selected)
        self.remove_button = QPushButton("Remove…", self)
        self.remove_button.clicked.connect(self.remove_selected)
        self.install_button = QPushButton("Install from Folder or Archive", self)
        menu = QMenu(self.install_button)
        menu.addAction("Model Folder…", lambda: self.install_from("folder"))
        menu.addAction("Archive (.tar, .tar.gz, .zip)…", lambda: self.install_from("archive"))
        self.install_button.setMenu(menu)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.activate_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.install_button)
        layout.addLayout(buttons)

        progress = QHBoxLayout()
        self.bar = QProgressBar(self)
        self.bar.setAccessibleName("Model download progress")
        self.progress_label = QLabel(self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel the model download")
        self.cancel_button.clicked.connect(self.manager.cancel)
        progress.addWidget(self.progress_label)
        progress.addWidget(self.bar, 1)
        progress.addWidget(self.cancel_button)
        layout.addLayout(progress)

        self.message = selectable(QLabel(self))
        self.message.setAccessibleName("Message")
        self.message.hide()
        layout.addWidget(self.message)

        options = QGroupBox("Options for the active model", self)
        self.options = ModelOptions(self.manager, options, QFormLayout(options))
        layout.addWidget(options)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

    # -- facts ----------------------------------------------------------------------------------

    def set_state(self, state: ModelState | None) -> None:
        """The library's model state changed (the window tells us): show it."""
        self._state = state
        self.refresh()

    def refresh(self) -> None:
        self._generation += 1
        generation, paths, state = self._generation, self.paths, self._state
        run_in_thread(
            lambda: load_facts(paths, state),
            on_result=lambda facts: self._facts_loaded(generation, facts),
            on_error=lambda exc: self._facts_failed(generation, exc),
            pool=self._pool,
            owner=self,
        )

    def _facts_failed(self, generation: int, exc: BaseException) -> None:
        from app.core.api import UserError

        if generation != self._generation:
            return
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.show_error(str(exc))

    def _facts_loaded(self, generation: int, facts: ModelFacts) -> None:
        if generation != self._generation:
            return
        self.facts = facts
        selected = self.selected()
        keep = self._wanted or (selected.name if selected is not None else None)
        keep = keep or (facts.active.name if facts.active else facts.default_name)
        self._wanted = None
        self.table.clear()
        for row in facts.rows:
            item = QTreeWidgetItem(
                [
                    row.title,
                    row.languages_text(),
                    row.download_text(),
                    row.ram_text(),
                    row.speed_text(),
                    row.recall_text(),
                    row.state_text(),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, row.name)
            item.setToolTip(0, row.name)
            if row.active:
                font = item.font(0)
                font.setWeight(QFont.Weight.DemiBold)
                for col in range(len(COLUMNS)):
                    item.setFont(col, font)
            self.table.addTopLevelItem(item)
            if row.name.lower() == (keep or "").lower():
                self.table.setCurrentItem(item)
        first = self.table.topLevelItem(0)
        if self.table.currentItem() is None and first is not None:
            self.table.setCurrentItem(first)
        self._show_note()
        self.options.show_facts(facts)
        self._selection_changed()
        if facts.problem:
            self.show_error(facts.problem)

    def _show_note(self) -> None:
        state = self._state
        note = search_note(state)
        if not note and state is not None:
            note = (
                f"Search uses {state.serving}."
                if state.serving
                else "No model answers searches yet: download one below, or install one "
                "from a folder or archive."
            )
        self.note.setText(note)
        self.note.setVisible(bool(note))

    # -- selection and actions ------------------------------------------------------------------

    def selected(self) -> ModelRow | None:
        item = self.table.currentItem()
        if item is None or self.facts is None:
            return None
        return self.facts.row(item.data(0, Qt.ItemDataRole.UserRole))

    def select(self, name: str) -> None:
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole).lower() == name.lower():
                self.table.setCurrentItem(item)
                return
        self._wanted = name

    def _selection_changed(self) -> None:
        row = self.selected()
        busy = self.manager.busy()
        self.details.setText(row.details() if row else "")
        if row is not None and row.entry is not None and not row.installed:
            self.download_button.setText(download_label(row.entry))
        else:
            self.download_button.setText("Download")
        self.download_button.setVisible(row is None or not row.installed)
        self.download_button.setEnabled(
            row is not None and row.entry is not None and not row.installed and not busy
        )
        self.activate_button.setEnabled(row is not None and row.usable and not row.active)
        self.remove_button.setEnabled(row is not None and row.installed is not None)
        self.install_button.setEnabled(not busy)

    def download_selected(self) -> None:
        row = self.selected()
        if row is not None and row.entry is not None:
            self.download(row.name)

    def download(self, name: str) -> None:
        self.select(name)
        self.message.hide()
        self.manager.download(name)

    def install_from(self, kind: str) -> None:
        source = self._choose_source(self, kind)
        if source:
            self.message.hide()
            self.manager.install_from(source)

    def activate_selected(self) -> None:
        row = self.selected()
        if row is not None and row.usable:
            self.message.hide()
            self.manager.set_active(row.name)

    def remove_selected(self) -> None:
        row = self.selected()
        if row is None or row.installed is None:
            return
        extra = (
            " It is the model search uses now: searching by words stops until another model "
            "is installed or chosen."
            if row.serving or row.active
            else ""
        )
        question = (
            f"Remove {row.title} ({row.name}) from this computer?{extra} Your photos and "
            "their index by other models are kept; installing it again later is possible."
        )
        if self._confirm(self, question):
            self.manager.remove(row.name)

    # -- manager signals ------------------------------------------------------------------------

    def _busy_changed(self, busy: bool) -> None:
        for w in (self.bar, self.progress_label, self.cancel_button):
            w.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.bar.setRange(0, 0)
            self.progress_label.setText(f"Installing {self.manager.current}…")
        self._selection_changed()

    def _progress(self, p: InstallProgress) -> None:
        self.progress_label.setText(f"{p.name}: {p.text()}")
        if p.total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(p.done / p.total, 1.0)))
            self.bar.setFormat(f"{int(100 * min(p.done / p.total, 1.0))} %")

    def _installed(self, name: str) -> None:
        self.show_info(f"{name} is installed.")
        self._wanted = name

    def show_error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828; font-weight: 600;")
        self.message.show()

    def show_info(self, text: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("")
        self.message.show()
