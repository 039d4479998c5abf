"""The Duplicates view's cards: a group (its header, its copies side by side, wrapping to the
width) and a copy (its thumbnail with the "Keep" badge on the suggested keeper, its facts, and
the box that selects it for the trash). Cards show what the view tells them and report what the
user does; the selection itself lives in the view."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QFont,
    QGuiApplication,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.api import DuplicateGroup, Photo
from app.ui import theme
from app.ui.duplicates_words import (
    date_line,
    facts_line,
    folder_label,
    group_header,
    group_tooltip,
    trash_name,
)

THUMB = 168  # px: the side of a copy's thumbnail box
CARD_WIDTH = THUMB + 16
SPACING = 10


class Thumbnail(QAbstractButton):
    """A copy's picture, fitted in a square; clicking (or Space) opens it large. The suggested
    keeper carries a "Keep" badge in its corner."""

    def __init__(self, keeper: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keeper = keeper
        self.pixmap: QPixmap | None = None
        self.state = "loading"  # "loading" | "ready" | "missing"
        self.setFixedSize(THUMB, THUMB)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        self.pixmap = pixmap
        self.state = "missing" if pixmap is None else "ready"
        self.update()

    def forget(self) -> None:
        """Let go of the picture while the card is far out of view (it comes back when asked)."""
        self.pixmap, self.state = None, "loading"

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        base, text = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text)
        target = self.rect()
        if self.pixmap is not None:  # fitted and centred; the card shows around it
            size = self.pixmap.deviceIndependentSize().toSize()
            size.scale(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(QPoint(0, 0), size)
            target.moveCenter(self.rect().center())
            painter.drawPixmap(target, self.pixmap)
        else:
            painter.fillRect(target, theme.mix(base, text, 0.06))
            painter.setPen(theme.mix(base, text, 0.55))
            note = "No preview" if self.state == "missing" else ""
            painter.drawText(target, Qt.AlignmentFlag.AlignCenter, note)
        if self.keeper:
            self._badge(painter, palette, target.topLeft())
        if self.hasFocus():
            painter.setPen(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))

    def _badge(self, painter: QPainter, palette: QPalette, corner: QPoint) -> None:
        font = QFont(self.font())
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width, height = metrics.horizontalAdvance("Keep") + 14, metrics.height() + 4
        box = QRectF(corner.x() + 6, corner.y() + 6, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "Keep")

    def sizeHint(self) -> QSize:
        return QSize(THUMB, THUMB)


def _line(text: str, parent: QWidget, tip: str = "", dim: bool = False) -> QLabel:
    """A one-line label cut to the card's width ("…" in the middle), the whole text in its tip."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    width = CARD_WIDTH - 8
    label.setText(label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, width))
    label.setFixedWidth(width)
    label.setToolTip(tip or (text if label.text() != text else ""))
    if dim:
        label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


class MemberCard(QFrame):
    """One copy: thumbnail, name, size and pixels, date, folder, what differs, and its box."""

    toggled = Signal(int, bool)  # photo id, selected for the trash
    open_requested = Signal(int)  # photo id
    keep_only = Signal(int)  # photo id: keep this copy, select the others
    show_folder = Signal(str)  # the copy's path, to show in the file manager

    def __init__(
        self, photo: Photo, keeper: bool, difference: str, folder: str, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.photo = photo
        self.keeper = keeper
        self.setFixedWidth(CARD_WIDTH)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.thumb = Thumbnail(keeper, self)
        self.thumb.setToolTip(f"{photo.path}\nClick to see it large")
        self.thumb.setAccessibleName(f"{Path(photo.path).name}, open large")
        self.thumb.clicked.connect(lambda: self.open_requested.emit(photo.id))
        self.box = QCheckBox(f"Move to {trash_name()}", self)
        self.box.setAccessibleName(f"Move {Path(photo.path).name} to the {trash_name()}")
        self.box.toggled.connect(self._toggled)
        path = Path(photo.path)
        note = "Suggested keeper" if keeper and not difference else difference
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 6)
        column.setSpacing(2)
        column.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addSpacing(2)
        column.addWidget(self.box)
        name = _line(path.name, self, str(path))
        name.setFont(theme.make_heading(QLabel(), 1.0).font())
        column.addWidget(name)
        column.addWidget(_line(facts_line(photo), self))
        column.addWidget(_line(date_line(photo), self))
        column.addWidget(_line(folder, self, str(path.parent), dim=True))
        self.difference = QLabel(note, self)  # what differs, wrapped: every word of it counts
        self.difference.setTextFormat(Qt.TextFormat.PlainText)
        self.difference.setWordWrap(True)
        self.difference.setFixedWidth(CARD_WIDTH - 8)
        self.difference.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.difference.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.difference)
        column.addStretch(1)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for text, slot in (
            ("Keep Only This One", lambda: self.keep_only.emit(photo.id)),
            ("Open Large", lambda: self.open_requested.emit(photo.id)),
            ("Show in Folder", lambda: self.show_folder.emit(photo.path)),
        ):
            action = QAction(text, self)
            action.triggered.connect(slot)
            self.addAction(action)
        self._paint_selected(False)

    def set_selected(self, selected: bool) -> None:
        if self.box.isChecked() != selected:
            self.box.blockSignals(True)
            self.box.setChecked(selected)
            self.box.blockSignals(False)
        self._paint_selected(selected)

    def is_selected(self) -> bool:
        return self.box.isChecked()

    def _toggled(self, selected: bool) -> None:
        self._paint_selected(selected)
        self.toggled.emit(self.photo.id, selected)

    def _paint_selected(self, selected: bool) -> None:
        """A copy picked for the trash is tinted with the selection colour."""
        palette = self.palette()
        app = QGuiApplication.palette()
        window = app.color(QPalette.ColorRole.Window)
        highlight = app.color(QPalette.ColorRole.Highlight)
        palette.setColor(
            QPalette.ColorRole.Window, theme.mix(window, highlight, 0.18) if selected else window
        )
        self.setPalette(palette)


class GroupCard(QFrame):
    """One group: its header ("3 copies · 12.4 MB to free · identical files") and its copies,
    side by side, wrapping to the card's width."""

    toggled = Signal(int, bool)
    open_requested = Signal(object, int)  # the group, the photo id to show
    keep_only = Signal(int)
    keep_all = Signal(object)  # the group: select none of its copies
    show_folder = Signal(str)

    def __init__(
        self, group: DuplicateGroup, watched: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.group = group
        self.watched = watched
        self.members: dict[int, MemberCard] = {}
        self._columns = 0
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.header = theme.make_heading(QLabel(self), 1.1)
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.keep_all_button = QPushButton("Keep All", self)
        self.keep_all_button.setToolTip(f"Move none of these copies to the {trash_name()}")
        self.keep_all_button.clicked.connect(lambda: self.keep_all.emit(self.group))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.header, 1)
        top.addWidget(self.keep_all_button)
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(SPACING)
        self.grid.setVerticalSpacing(SPACING)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        column = QVBoxLayout(self)
        column.setContentsMargins(12, 10, 12, 10)
        column.setSpacing(8)
        column.addLayout(top)
        column.addLayout(self.grid)
        self.set_group(group)

    def set_group(self, group: DuplicateGroup) -> None:
        """Show `group` (after a move took some of its copies away)."""
        self.group = group
        self.header.setText(group_header(group))
        self.header.setToolTip(group_tooltip(group))
        self.setAccessibleName(group_header(group))
        for card in self.members.values():
            self.grid.removeWidget(card)
            card.deleteLater()
        self.members = {}
        for photo in group.members:
            card = MemberCard(
                photo,
                photo.id == group.keeper_id,
                group.differences.get(photo.id, ""),
                folder_label(str(Path(photo.path).parent), self.watched),
                self,
            )
            card.toggled.connect(self.toggled)
            card.open_requested.connect(lambda pid: self.open_requested.emit(self.group, pid))
            card.keep_only.connect(self.keep_only)
            card.show_folder.connect(self.show_folder)
            self.members[photo.id] = card
        self._columns = 0
        self._reflow()

    def set_selected(self, selected: set[int]) -> None:
        for pid, card in self.members.items():
            card.set_selected(pid in selected)

    def _reflow(self) -> None:
        inner = self.width() - 24
        columns = max(1, (inner + SPACING) // (CARD_WIDTH + SPACING)) if inner > 0 else 4
        if columns == self._columns:
            return
        self._columns = columns
        for i, card in enumerate(self.members.values()):
            self.grid.removeWidget(card)
            self.grid.addWidget(card, i // columns, i % columns)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._reflow()
