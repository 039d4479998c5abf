"""The search field: words, an optional example-image chip, and the text/image balance.

It asks for a search when the user pauses typing (DEBOUNCE_MS) or presses Enter, and when the
chip or the balance changes; Esc clears everything. It only emits signals: running the search
is the window's job.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QFocusEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSlider,
    QStyle,
    QStyleOptionFrame,
    QToolButton,
    QWidget,
)

from app.ui import theme
from app.ui.image_query import ImageQuery, from_mime

DEBOUNCE_MS = 250
CHIP_THUMB = 22
MIN_EDIT_CHARS = 16  # the words typed stay readable however narrow the window
CHIP_LABEL = 180  # the example image's name, at most this wide


class _LineEdit(QLineEdit):
    """A frameless line edit; Ctrl+V with an image on the clipboard searches by that image."""

    image_pasted = Signal(object)  # ImageQuery
    escape = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):
            query = from_mime(QGuiApplication.clipboard().mimeData())
            if query is not None:
                self.image_pasted.emit(query)
                event.accept()
                return
        if event.key() == Qt.Key.Key_Escape:
            self.escape.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self._repaint_frame()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self._repaint_frame()

    def _repaint_frame(self) -> None:
        """The search bar draws the focus ring around this field."""
        parent = self.parentWidget()
        if parent is not None:
            parent.update()


class ImageChip(QFrame):
    """The example image inside the field: a small preview, its name and a remove button."""

    removed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageChip")
        self.setStyleSheet("#imageChip { background: palette(midlight); border-radius: 12px; }")
        self.preview = QLabel(self)
        self.preview.setFixedSize(CHIP_THUMB, CHIP_THUMB)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label = QLabel(self)
        self.label.setMaximumWidth(CHIP_LABEL)
        self.remove = QToolButton(self)
        self.remove.setAutoRaise(True)
        self.remove.setIcon(theme.icon("close"))
        self.remove.setIconSize(QSize(12, 12))
        self.remove.setAccessibleName("Remove example image")
        self.remove.setToolTip("Stop searching by this image")
        self.remove.setCursor(Qt.CursorShape.ArrowCursor)
        self.remove.clicked.connect(self.removed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 1, 2, 1)
        layout.setSpacing(4)
        layout.addWidget(self.preview)
        layout.addWidget(self.label)
        layout.addWidget(self.remove)

    def show_query(self, query: ImageQuery) -> None:
        width = self.label.maximumWidth()
        text = self.label.fontMetrics().elidedText(query.label, Qt.TextElideMode.ElideMiddle, width)
        self.label.setText(text)
        self.setToolTip(f"Searching for photos like {query.label}")
        self.setAccessibleName(f"Example image: {query.label}")
        self.set_preview(query.preview)

    def set_preview(self, image: QImage | None) -> None:
        if image is None or image.isNull():
            self.preview.setPixmap(
                theme.tinted_pixmap(
                    "photo",
                    16,
                    self.palette().color(self.foregroundRole()),
                    self.devicePixelRatioF(),
                )
            )
            return
        dpr = self.devicePixelRatioF()
        side = round(CHIP_THUMB * dpr)
        pixmap = QPixmap.fromImage(
            image.scaled(
                side,
                side,
                Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        pixmap = pixmap.copy(
            (pixmap.width() - side) // 2, (pixmap.height() - side) // 2, side, side
        )
        pixmap.setDevicePixelRatio(dpr)
        self.preview.setPixmap(pixmap)


class SearchBar(QWidget):
    """Emits `search_requested` when a search is due; read `text()`, `image()` and `image_weight()`."""

    search_requested = Signal()
    image_changed = Signal()  # the chip was added, replaced or removed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_Hover)
        self._image: ImageQuery | None = None
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.search_requested)

        self.glass = theme.IconLabel("search", 16, self, QPalette.ColorRole.PlaceholderText)
        self.chip = ImageChip(self)
        self.chip.hide()
        self.chip.removed.connect(self.clear_image)
        self.edit = _LineEdit(self)
        self.edit.setFrame(False)
        self.edit.setPlaceholderText("Describe a photo, e.g. “dog on a beach”, or drop one here")
        self.edit.setAccessibleName("Search photos")
        self.edit.setAccessibleDescription(
            "Type words to find photos; results appear as you type. Esc clears."
        )
        self.edit.setClearButtonEnabled(True)
        self.edit.setAcceptDrops(False)  # a dropped photo goes to the window: search by image
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.edit.setMinimumWidth(self.edit.fontMetrics().averageCharWidth() * MIN_EDIT_CHARS)
        self.edit.textEdited.connect(self._typed)
        self.edit.textChanged.connect(self._update_balance)
        self.edit.returnPressed.connect(self.search_now)
        self.edit.escape.connect(self.clear)
        self.edit.image_pasted.connect(self.set_image)
        self.setFocusProxy(self.edit)

        self.balance = QWidget(self)
        self.weight = QSlider(Qt.Orientation.Horizontal, self.balance)
        self.weight.setRange(0, 100)
        self.weight.setValue(50)
        self.weight.setFixedWidth(90)
        self.weight.setAccessibleName("Balance between words and example image")
        self.weight.setToolTip("How much the example image counts against the words")
        self.weight.valueChanged.connect(self._weight_moved)
        balance = QHBoxLayout(self.balance)
        balance.setContentsMargins(8, 0, 0, 0)
        balance.setSpacing(6)
        self.balance_labels = (QLabel("Words", self.balance), QLabel("Image", self.balance))
        # A narrow window shows glyphs for the two ends instead of the words.
        self.balance_icons = (
            theme.IconLabel("search", 14, self.balance),
            theme.IconLabel("photo", 14, self.balance),
        )
        for icon in self.balance_icons:
            icon.hide()
        balance.addWidget(self.balance_labels[0])
        balance.addWidget(self.balance_icons[0])
        balance.addWidget(self.weight)
        balance.addWidget(self.balance_icons[1])
        balance.addWidget(self.balance_labels[1])
        self.balance.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.balance.hide()

        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.setSpacing(6)
        layout.addWidget(self.glass)
        layout.addWidget(self.chip)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.balance)
        self.setMinimumHeight(self.edit.sizeHint().height() + 14)

    # -- state ----------------------------------------------------------------------------------

    def text(self) -> str:
        return self.edit.text().strip()

    def image(self) -> ImageQuery | None:
        return self._image

    def image_weight(self) -> float:
        return self.weight.value() / 100

    def set_image_weight(self, value: float) -> None:
        self.weight.blockSignals(True)
        self.weight.setValue(round(value * 100))
        self.weight.blockSignals(False)

    def is_empty(self) -> bool:
        return not self.text() and self._image is None

    def set_text(self, text: str) -> None:
        self.edit.setText(text)
        self.search_now()

    def set_image(self, query: ImageQuery) -> None:
        """Search by `query` (with the words typed so far), now."""
        self._image = query
        self.chip.show_query(query)
        self.chip.show()
        self._update_balance()
        self.image_changed.emit()
        self.search_now()

    def set_chip_preview(self, query: ImageQuery, image: QImage) -> None:
        """The chip's preview arrived (loaded in a worker); ignored if the chip moved on."""
        if query == self._image:
            self.chip.set_preview(image)

    def clear_image(self) -> None:
        if self._image is None:
            return
        self._image = None
        self.chip.hide()
        self._update_balance()
        self.image_changed.emit()
        self.search_now()
        self.edit.setFocus()

    def clear(self) -> None:
        """Esc: forget words and image; the grid goes back to browsing."""
        had_something = not self.is_empty()
        self._image = None
        self.chip.hide()
        self.edit.clear()
        self._update_balance()
        if had_something:
            self.image_changed.emit()
            self.search_now()

    def search_now(self) -> None:
        self._timer.stop()
        self.search_requested.emit()

    def set_compact(self, compact: bool) -> None:
        """A narrow window: the image chip without its name, and glyphs instead of words at the
        ends of the balance slider (tooltips and accessible names still say what they are)."""
        self.chip.label.setVisible(not compact)  # the chip's tooltip still names the image
        for label, icon in zip(self.balance_labels, self.balance_icons, strict=True):
            label.setVisible(not compact)
            icon.setVisible(compact)
        self.weight.setToolTip(
            "Words ← → Image: how much the example image counts against the words"
            if compact
            else "How much the example image counts against the words"
        )

    # -- internals --------------------------------------------------------------------------------

    def _typed(self, _text: str) -> None:
        self._timer.start()

    def _weight_moved(self, _value: int) -> None:
        self._timer.start()

    def _update_balance(self) -> None:
        self.balance.setVisible(self._image is not None and bool(self.text()))

    def paintEvent(self, event: QEvent) -> None:
        """Draw the frame of a line edit around everything, so chip and text read as one field."""
        option = QStyleOptionFrame()
        option.initFrom(self)
        option.lineWidth = self.style().pixelMetric(
            QStyle.PixelMetric.PM_DefaultFrameWidth, option, self
        )
        option.midLineWidth = 0
        option.state |= QStyle.StateFlag.State_Sunken
        if self.edit.hasFocus():
            option.state |= QStyle.StateFlag.State_HasFocus
        painter = QPainter(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelLineEdit, option, painter, self)
