"""The status bar's indexing corner: "Indexing 1,204 of 5,000 · 14.2 photos/s · about 4 min left",
a progress bar, pause/resume, and a link to the files that were skipped."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from app.core.api import IndexProgress
from app.ui import theme


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left"
    if seconds < 45:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min left"


def describe_progress(
    progress: IndexProgress, paused: bool = False, model: str | None = None
) -> str:
    """One line for an `IndexProgress`; `model`: re-indexing for a newly chosen model."""
    if progress.phase == "scanning":
        found = f" · {progress.total:,} found" if progress.total else ""
        return f"Looking for photos{found}{' · paused' if paused else ''}"
    if model:
        text = f"Re-indexing for {model}: {progress.done:,} / {progress.total:,}"
    else:
        text = f"Indexing {progress.done:,} of {progress.total:,}"
    if paused:
        return f"{text} · paused"
    if progress.rate:
        text += f" · {progress.rate:.1f} photos/s"
    return f"{text} · {format_eta(progress.eta_s)}"


class IndexStatus(QWidget):
    """Hidden while nothing is indexed and nothing was skipped."""

    pause_toggled = Signal(bool)  # True: pause
    show_skipped = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setAccessibleName("Indexing progress")
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(120)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(10)
        self.bar.setAccessibleName("Indexing progress bar")
        self.pause = QToolButton(self)
        self.pause.setAutoRaise(True)
        self.pause.setCheckable(True)
        self.pause.setIconSize(QSize(14, 14))
        self.pause.toggled.connect(self._toggled)
        self.skipped = QToolButton(self)
        self.skipped.setAutoRaise(True)
        self.skipped.setIcon(theme.icon("skipped"))
        self.skipped.setIconSize(QSize(14, 14))
        self.skipped.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped.setAccessibleName("Show skipped files")
        self.skipped.setToolTip("Files PhotoSeek could not read, and why")
        self.skipped.clicked.connect(self.show_skipped)
        self.skipped.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(6)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.pause)
        layout.addWidget(self.skipped)
        self._running = False
        self._last: IndexProgress | None = None
        self._model: str | None = None
        self._set_pause_look(False)
        self.set_running(False)

    def set_running(self, running: bool) -> None:
        self._running = running
        self._last = None
        if running:
            self.label.setText("Looking for photos…")
            self.bar.setRange(0, 0)
        for w in (self.label, self.bar, self.pause):
            w.setVisible(running)
        if not running:
            self.pause.blockSignals(True)
            self.pause.setChecked(False)
            self.pause.blockSignals(False)
            self._set_pause_look(False)
        self._update_visibility()

    def set_model(self, name: str | None) -> None:
        """Say "Re-indexing for <name>" while the library is encoded for a newly chosen model."""
        self._model = name
        if self._last is not None:
            self.label.setText(describe_progress(self._last, self.pause.isChecked(), name))

    def set_progress(self, progress: IndexProgress) -> None:
        self._last = progress
        self.label.setText(describe_progress(progress, self.pause.isChecked(), self._model))
        if progress.phase == "scanning" or not progress.total:
            self.bar.setRange(0, 0)  # busy indicator until the total is known
        else:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(min(progress.done, progress.total))

    def set_skipped(self, count: int) -> None:
        self.skipped.setText(f"{count:,} skipped")
        self.skipped.setVisible(count > 0)
        self._update_visibility()

    def is_paused(self) -> bool:
        return self.pause.isChecked()

    def _toggled(self, paused: bool) -> None:
        self._set_pause_look(paused)
        if self._last is not None:
            self.label.setText(describe_progress(self._last, paused, self._model))
        elif self._running:
            self.label.setText("Indexing paused" if paused else "Looking for photos…")
        self.pause_toggled.emit(paused)

    def _set_pause_look(self, paused: bool) -> None:
        self.pause.setIcon(theme.icon("play" if paused else "pause"))
        self.pause.setAccessibleName("Resume indexing" if paused else "Pause indexing")
        self.pause.setToolTip("Resume indexing" if paused else "Pause indexing")

    def _update_visibility(self) -> None:
        self.setVisible(self._running or self.skipped.isVisibleTo(self))
