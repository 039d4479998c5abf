"""Files PhotoSeek could not index, each with the reason in plain words, and the videos it could
index only in part (cut short or damaged midway: searchable up to where they were read)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.api import Library, SkippedFile, UserError
from app.ui.workers import run_in_thread


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return (
            value.astimezone().strftime("%Y-%m-%d %H:%M")
            if value.tzinfo
            else f"{value:%Y-%m-%d %H:%M}"
        )
    return "" if value is None else str(value)


class SkippedDialog(QDialog):
    """A table of file, reason, when; loaded from the library in a worker."""

    def __init__(self, library: Library, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Skipped Files")
        self.setAccessibleName("Skipped files")
        self.resize(760, 420)
        self.summary = QLabel("Loading…", self)
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["File", "Reason", "When"])
        self.table.setAccessibleName("Skipped files and reasons")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        copy = buttons.addButton("Copy List", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self.copy_list)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self._rows: list[tuple[str, str, str]] = []
        self._worker = run_in_thread(
            lambda: (library.skipped(), library.partly_indexed()),
            on_result=lambda lists: self._show(*lists),
            on_error=self._failed,
            pool=pool,
        )
        self.finished.connect(self._worker.cancel)

    def _show(self, skipped: list[SkippedFile], partly: list[SkippedFile] | None = None) -> None:
        partly = partly or []
        self._rows = [
            (str(s.path), str(s.reason), _when(getattr(s, "when", None))) for s in skipped
        ] + [(str(s.path), f"Partly indexed: {s.reason}", _when(s.when)) for s in partly]
        text = []
        if skipped:
            text.append(
                f"PhotoSeek could not read {len(skipped):,} file(s), so they are not searchable."
            )
        if partly:
            text.append(
                f"{len(partly):,} video(s) could be read only in part: they are searchable up "
                "to where the reading stopped."
            )
        if text:
            text.append("Fix or replace a file and PhotoSeek will try it again on its next scan.")
            self.summary.setText(" ".join(text))
        else:
            self.summary.setText("No files were skipped: every photo found could be read.")
        self.table.setRowCount(len(self._rows))
        for row, (path, reason, when) in enumerate(self._rows):
            item = QTableWidgetItem(Path(path).name)
            item.setToolTip(path)
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem(reason))
            self.table.setItem(row, 2, QTableWidgetItem(when))

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.summary.setText(f"The list of skipped files cannot be read: {exc}")

    def rows(self) -> list[tuple[str, str, str]]:
        return list(self._rows)

    def copy_list(self) -> None:
        QGuiApplication.clipboard().setText(
            "\n".join(f"{path}\t{reason}" for path, reason, _ in self._rows)
        )
