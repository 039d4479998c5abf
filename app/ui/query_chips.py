"""What the search understood in the typed words, as removable chips under the search field:
"beach in Lisbon 2019" shows [Lisbon, Portugal ×] [2019 ×] and "ranked by “beach”".

A chip's × gives its words back to the semantic query: its span joins `ignored()`, which the
next search hands to `Library.understand(text, ignore=...)`. Spans the user has since deleted
from the field are forgotten, so typing the words again makes the chip again.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from app.core.api import Chip, Understanding
from app.ui import theme

ICONS = {"place": "place", "year": "calendar", "month": "calendar"}
WHAT = {"place": "taken in", "year": "taken in", "month": "taken in"}
CHIP_TEXT = 220  # px: a chip's label at most this wide (elided in the middle beyond)


class QueryChip(QFrame):
    """One understood part: its icon, what it became and a remove button."""

    removed = Signal(str)  # the chip's span

    def __init__(self, chip: Chip, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chip = chip
        self.setObjectName("queryChip")
        self.setStyleSheet(
            "#queryChip { background: palette(midlight); border-radius: 11px; }"
            "#queryChip QToolButton { border: none; padding: 0px; }"
        )
        self.icon = theme.IconLabel(ICONS.get(chip.kind, "search"), 14, self)
        self.label = QLabel(self)
        metrics = self.label.fontMetrics()
        self.label.setText(metrics.elidedText(chip.label, Qt.TextElideMode.ElideMiddle, CHIP_TEXT))
        self.remove = QToolButton(self)
        self.remove.setAutoRaise(True)
        self.remove.setIcon(theme.icon("close"))
        self.remove.setIconSize(QSize(11, 11))
        self.remove.setCursor(Qt.CursorShape.ArrowCursor)
        self.remove.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a click leaves the typing where it is
        self.remove.setAccessibleName(f"Remove {chip.label}")
        self.remove.setToolTip(f"Search for the words “{chip.span}” instead")
        self.remove.clicked.connect(lambda: self.removed.emit(chip.span))
        what = WHAT.get(chip.kind, "")
        self.setToolTip(f"From “{chip.span}”: only photos {what} {chip.label}")
        self.setAccessibleName(f"Understood “{chip.span}” as {chip.label}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 4, 2)
        layout.setSpacing(5)
        layout.addWidget(self.icon)
        layout.addWidget(self.label)
        layout.addWidget(self.remove)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)


class ChipRow(QWidget):
    """The chips of the search on screen. Emits `changed` when one is removed (search again)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("What the search understood")
        self.chips: list[QueryChip] = []
        self._ignored: list[str] = []
        self.rest = QLabel(self)  # the words left for the model
        self.rest.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.rest.setTextFormat(Qt.TextFormat.PlainText)
        self.rest.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addWidget(self.rest, 1)
        self.hide()

    def ignored(self, text: str) -> tuple[str, ...]:
        """The removed chips' spans that are still in `text` (the others are forgotten)."""
        folded = text.casefold()
        self._ignored = [span for span in self._ignored if span.casefold() in folded]
        return tuple(self._ignored)

    def show_understanding(self, understood: Understanding | None) -> None:
        """Show `understood`'s chips (none: the row hides)."""
        for old in self.chips:
            self._layout.removeWidget(old)
            old.deleteLater()
        self.chips = []
        if understood is None or not understood.chips:
            self.hide()
            return
        for i, chip in enumerate(understood.chips):
            widget = QueryChip(chip, self)
            widget.removed.connect(self._remove)
            self._layout.insertWidget(i, widget)
            self.chips.append(widget)
        words = understood.text
        self.rest.setText(f"ranked by “{words}”" if words else "newest first")
        self.rest.setToolTip(
            f"The words the photos are ranked by: “{words}”"
            if words
            else "No words are left to rank by: the photos there, newest first"
        )
        self.show()

    def labels(self) -> list[str]:
        return [chip.chip.label for chip in self.chips]

    def _remove(self, span: str) -> None:
        if span not in self._ignored:
            self._ignored.append(span)
        for chip in self.chips:
            if chip.chip.span == span:
                chip.hide()
        if all(chip.isHidden() for chip in self.chips):
            self.hide()
        self.changed.emit()
