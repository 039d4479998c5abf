"""A page for when the grid has nothing to show: what is happening, and what the user can do.

Every empty state (no folders, no model, still indexing, nothing found, an error) is one call to
`show_state` with an icon, a title, a sentence or two and up to two actions; `state_for` picks
the state from what the window knows, so the choice is testable without a window.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.ui import theme


@dataclass(frozen=True)
class EmptyState:
    key: str  # "no-folders", "no-model", "indexing", "no-results", "error", "opening", ...
    icon: str
    title: str
    body: str
    actions: tuple[tuple[str, str], ...] = ()  # (button label, action key)


class EmptyStatePage(QWidget):
    """Centred icon, title, explanation and buttons, in the palette's colours."""

    action = Signal(str)  # the key of the button pressed
    shown = Signal(str)  # the key of a state as it is shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: EmptyState | None = None
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.icon = QLabel(self)
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = theme.make_heading(QLabel(self), 1.45)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.body = QLabel(self)
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.setWordWrap(True)
        self.body.setMaximumWidth(520)
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.body.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(8)
        column = QVBoxLayout()
        column.setSpacing(10)
        column.addStretch(3)
        column.addWidget(self.icon)
        column.addSpacing(4)
        column.addWidget(self.title)
        body_row = QHBoxLayout()  # centred, at most 520 px wide, as tall as its wrapped text
        body_row.addStretch(1)
        body_row.addWidget(self.body, 10)
        body_row.addStretch(1)
        column.addLayout(body_row)
        column.addSpacing(8)
        column.addLayout(self.buttons)
        column.addStretch(4)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column, 6)
        outer.addStretch(1)

    def show_state(self, state: EmptyState) -> None:
        self.state = state
        self.setAccessibleName(state.title)
        self.title.setText(state.title)
        self.body.setText(state.body)
        self.body.setVisible(bool(state.body))
        self._paint_icon()
        while self.buttons.count():
            item = self.buttons.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.buttons.addStretch(1)
        for i, (label, key) in enumerate(state.actions):
            button = QPushButton(label, self)
            button.setDefault(i == 0)
            button.clicked.connect(lambda _checked=False, k=key: self.action.emit(k))
            self.buttons.addWidget(button)
        self.buttons.addStretch(1)
        self.shown.emit(state.key)

    def _button(self, i: int) -> QWidget | None:
        item = self.buttons.itemAt(i)
        return item.widget() if item is not None else None

    def button_labels(self) -> list[str]:
        return [
            w.text()
            for i in range(self.buttons.count())
            if isinstance(w := self._button(i), QPushButton)
        ]

    def click(self, label: str) -> None:
        """Press the action button called `label` (keyboard users get it via Tab, tests here)."""
        for i in range(self.buttons.count()):
            widget = self._button(i)
            if isinstance(widget, QPushButton) and widget.text() == label:
                widget.click()
                return
        raise KeyError(label)

    def _paint_icon(self) -> None:
        if self.state is None:
            return
        color = theme.mix(
            self.palette().color(QPalette.ColorRole.Base),
            self.palette().color(QPalette.ColorRole.Text),
            0.45,
        )
        self.icon.setPixmap(
            theme.tinted_pixmap(self.state.icon, 56, color, self.devicePixelRatioF())
        )

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._paint_icon()
        super().changeEvent(event)


@dataclass(frozen=True)
class Facts:
    """What the window knows when it decides between the grid and an empty state."""

    results: int = 0
    opening: bool = False
    open_error: str | None = None
    folders: int | None = None  # None: not known yet
    photos: int = 0  # photos indexed in the library
    pending: int = 0  # photos found but not yet indexed with the model
    has_model: bool = True
    indexing: bool = False
    indexed: int = 0  # progress of the run under way
    to_index: int = 0
    browsing: bool = True  # no words and no image
    query_label: str = ""  # the words, or the example image's name
    filter_label: str = ""  # "in May 2021"
    kind: str = "all"  # the photos / videos filter: "all", "photo" or "video"
    needs_model: bool = False  # the last search failed for want of a model
    search_error: str | None = None  # a search failed with a message the user can act on
    closest: bool = False  # the results are the nearest photos, none a close match
    model_offer: str = "Get a Search Model…"  # the button that gets the default model


def state_for(f: Facts) -> EmptyState | None:
    """The empty state to show, or None when the grid has something to show."""
    if f.opening:
        return EmptyState("opening", "indexing", "Opening your library…", "")
    if f.open_error:
        return EmptyState(
            "open-error",
            "warning",
            "PhotoSeek cannot open its library",
            f.open_error,
            (("Show Log Folder", "open-logs"),),
        )
    if f.results:
        return None
    progress = (
        f"Indexed {f.indexed:,} of {f.to_index:,} so far."
        if f.indexing and f.to_index
        else "Looking through your folders."
    )
    if f.folders == 0:
        return EmptyState(
            "no-folders",
            "folder-add",
            "Add your photo folders",
            "PhotoSeek searches the photos in folders you choose, and keeps "
            "watching them for new ones. Your files are never changed or uploaded.",
            (("Add Folder…", "add-folder"),),
        )
    if f.needs_model:
        return EmptyState(
            "no-model",
            "model",
            "Searching needs a search model",
            "To find photos by words or by an example photo, PhotoSeek needs a search model. "
            "It is downloaded once and runs on this computer: nothing is uploaded. Browsing "
            "by date works without one.",
            ((f.model_offer, "install-model"), ("Clear Search", "clear-search")),
        )
    if f.search_error:
        return EmptyState(
            "error",
            "warning",
            "This search did not work",
            f.search_error,
            (("Clear Search", "clear-search"),),
        )
    noun = "videos" if f.kind == "video" else "photos"
    if f.browsing and (f.filter_label or f.kind != "all"):
        other = "Try another date." if f.kind == "all" else "Try another date, or show both."
        return EmptyState(
            "no-results",
            "calendar" if f.filter_label else "photo",
            f"No {noun} taken {f.filter_label}" if f.filter_label else f"No {noun} here",
            (progress + " More may appear soon.") if f.indexing else other,
            (("Clear Filters", "clear-filters"),),
        )
    if f.browsing and f.indexing:
        return EmptyState(
            "indexing",
            "indexing",
            "Finding your photos…",
            f"{progress} Photos appear here as soon as they are indexed"
            + ("; you can search already." if f.has_model else "."),
        )
    if f.browsing:
        return EmptyState(
            "no-photos",
            "photo",
            "No photos found in your folders",
            "PhotoSeek found no photos it can read in the folders you chose. Add "
            "another folder, or see which files were skipped and why.",
            (("Manage Folders…", "manage-folders"), ("Skipped Files", "skipped")),
        )
    where = f" {f.filter_label}" if f.filter_label else ""
    body = "Try other words, or a different photo."
    if f.indexing:
        body = f"{progress} Indexing is still under way, so more photos may match soon."
    actions: tuple[tuple[str, str], ...] = (("Clear Search", "clear-search"),)
    if f.filter_label or f.kind != "all":
        what = "date filter" if f.kind == "all" else f"{noun}-only filter"
        body += f" The {what} may be hiding matches."
        actions = (("Clear Filters", "clear-filters"), ("Clear Search", "clear-search"))
    return EmptyState(
        "no-results", "no-results", f"No matches for “{f.query_label}”{where}", body, actions
    )
