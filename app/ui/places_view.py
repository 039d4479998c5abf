"""View > Places: every place photos were taken in, grouped by country, with how many photos and
the newest one's thumbnail. Choosing a place shows its photos in the window (the place filter).

The places come from `Library.places()` in a worker; the covers from `Library.thumbnail` through
a `ThumbLoader` of the dialog's own, so the grid's thumbnails are never disturbed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QFont, QIcon, QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.api import Library, PlaceCount, PlaceFilter, UserError
from app.ui import theme
from app.ui.thumb_loader import ThumbLoader
from app.ui.workers import run_in_thread

COVER = 48  # px: a place's thumbnail
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter  # the counts
PlaceRole = Qt.ItemDataRole.UserRole + 1  # the item's PlaceFilter
FindRole = Qt.ItemDataRole.UserRole + 2  # the names the find field matches, folded
NONE_YET = (
    "No photo has a place yet.\n\nPhotos that carry a GPS position (most phone photos do) "
    "appear here by country and city once they are indexed."
)


def fold(text: str) -> str:
    """Case- and accent-insensitive ("Zürich" finds "zurich")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def place_name(row: PlaceCount) -> str:
    """What a place's line is called: its city, else its region, else its country."""
    return row.city or row.region or row.country_name


def summary(places: Sequence[PlaceCount]) -> str:
    """ "12 places in 3 countries · 240 photos" """
    countries = len({row.place.country for row in places})
    total = sum(row.count for row in places)
    return (
        f"{len(places):,} place{'s' if len(places) != 1 else ''} in {countries:,} "
        f"countr{'ies' if countries != 1 else 'y'} · {total:,} photo{'s' if total != 1 else ''}"
    )


class PlacesDialog(QDialog):
    """Emits `chosen(place, places)` when the user picks a place (its photos should show), with
    the places it listed, so the window's place filter can offer the same ones."""

    chosen = Signal(object, object)  # PlaceFilter, list[PlaceCount]

    def __init__(self, library: Library, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Places")
        self.setAccessibleName("Places")
        self.resize(520, 620)
        self.places: list[PlaceCount] = []
        self._covers: dict[int, list[QTreeWidgetItem]] = {}  # cover photo id -> its lines
        self._lines: list[tuple[QTreeWidgetItem, list[QTreeWidgetItem]]] = []  # country, places
        self.loaded = False

        title = theme.make_heading(QLabel("Places", self), 1.3)
        self.summary = QLabel("Reading the places…", self)
        self.summary.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.find_field = QLineEdit(self)
        self.find_field.setPlaceholderText("Find a place")
        self.find_field.setAccessibleName("Find a place")
        self.find_field.setClearButtonEnabled(True)
        self.find_field.addAction(theme.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.find_field.textChanged.connect(self._filter)

        self.tree = QTreeWidget(self)
        self.tree.setAccessibleName("Places with photos")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Place", "Region", "Photos"])
        self.tree.setIconSize(QSize(COVER, COVER))
        self.tree.setUniformRowHeights(False)
        self.tree.setAlternatingRowColors(False)
        self.tree.setRootIsDecorated(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemActivated.connect(lambda item, _col: self._choose(item))
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())

        self.empty = QLabel(NONE_YET, self)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.tree)
        self.stack.addWidget(self.empty)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.show_button = buttons.addButton("Show Photos", QDialogButtonBox.ButtonRole.AcceptRole)
        self.show_button.setIcon(theme.icon("photo"))
        self.show_button.setEnabled(False)
        self.show_button.clicked.connect(lambda: self._choose(self.tree.currentItem()))
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addWidget(title)
        layout.addWidget(self.summary)
        layout.addSpacing(4)
        layout.addWidget(self.find_field)
        layout.addWidget(self.stack, 1)
        layout.addWidget(buttons)

        side = round(COVER * self.devicePixelRatioF())
        self.loader = ThumbLoader(library.thumbnail, max_side=side, threads=2, parent=self)
        self.loader.loaded.connect(self._cover_loaded)
        self.finished.connect(lambda _r: self.loader.shutdown())
        run_in_thread(
            library.places, on_result=self.set_places, on_error=self._failed, pool=pool, owner=self
        )

    # -- filling ----------------------------------------------------------------------------------

    def set_places(self, places: list[PlaceCount]) -> None:
        """List `places` by country (as `Library.places()` orders them) and fetch their covers."""
        self.places = list(places)
        self.loaded = True
        self.tree.clear()
        self._covers.clear()
        self._lines.clear()
        self.summary.setText(summary(places) if places else "")
        self.find_field.setVisible(bool(places))
        self.stack.setCurrentWidget(self.tree if places else self.empty)
        countries: dict[str, QTreeWidgetItem] = {}
        bold = QFont(self.tree.font())
        bold.setWeight(QFont.Weight.DemiBold)
        for row in places:
            code = row.place.country
            country = countries.get(code)
            if country is None:
                country = QTreeWidgetItem(self.tree, [row.country_name, "", ""])
                country.setData(0, PlaceRole, PlaceFilter(code))
                country.setData(0, FindRole, fold(row.country_name))
                country.setFont(0, bold)
                country.setFont(2, bold)
                country.setTextAlignment(2, RIGHT)
                country.setData(2, Qt.ItemDataRole.UserRole, 0)
                countries[code] = country
                self._lines.append((country, []))
            n = int(country.data(2, Qt.ItemDataRole.UserRole)) + row.count
            country.setData(2, Qt.ItemDataRole.UserRole, n)
            country.setText(2, f"{n:,}")
            country.setToolTip(0, f"{row.country_name}: {n:,} photos")
            name = place_name(row)
            region = row.region if row.city and row.region != row.city else ""
            item = QTreeWidgetItem(country, [name, region or "", f"{row.count:,}"])
            item.setData(0, PlaceRole, row.place)
            item.setData(0, FindRole, fold(f"{name} {row.region or ''} {row.country_name}"))
            item.setTextAlignment(2, RIGHT)
            item.setForeground(1, self.palette().brush(QPalette.ColorRole.PlaceholderText))
            item.setToolTip(0, f"{row.label}: {row.count:,} photos")
            item.setIcon(0, theme.icon("place"))
            self._covers.setdefault(row.cover_id, []).append(item)
            self._lines[-1][1].append(item)
        self.tree.expandAll()
        for cover_id in reversed(list(self._covers)):  # the loader takes the newest ask first
            self.loader.request(cover_id)
        if self._lines:
            country, lines = self._lines[0]
            self.tree.setCurrentItem(lines[0] if lines else country)
        self._filter(self.find_field.text())

    def _cover_loaded(self, _generation: int, photo_id: int, image: QImage, _full: bool) -> None:
        icon = QIcon(self._square(image))
        for item in self._covers.get(photo_id, []):
            item.setIcon(0, icon)

    def _square(self, image: QImage) -> QPixmap:
        """The middle square of `image`, COVER px (in device pixels)."""
        dpr = self.devicePixelRatioF()
        side = round(COVER * dpr)
        scaled = image.scaled(
            side,
            side,
            Qt.AspectRatioMode.KeepAspectRatioByExpanding,
            Qt.TransformationMode.SmoothTransformation,
        )
        pixmap = QPixmap.fromImage(
            scaled.copy((scaled.width() - side) // 2, (scaled.height() - side) // 2, side, side)
        )
        pixmap.setDevicePixelRatio(dpr)
        return pixmap

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.loaded = True
        self.summary.setText(f"The places could not be read: {exc}")

    # -- finding and choosing ---------------------------------------------------------------------

    def _filter(self, text: str) -> None:
        """Show the places (and countries) whose names contain `text`."""
        wanted = fold(text.strip())
        for country, lines in self._lines:
            whole = wanted in str(country.data(0, FindRole))
            shown = 0
            for line in lines:
                match = whole or wanted in str(line.data(0, FindRole))
                line.setHidden(not match)
                shown += match
            country.setHidden(not shown)
        self._update_buttons()

    def visible_places(self) -> list[str]:
        """The names of the places listed now (for tests and accessibility checks)."""
        return [
            line.text(0)
            for country, lines in self._lines
            for line in lines
            if not country.isHidden() and not line.isHidden()
        ]

    def _update_buttons(self) -> None:
        item = self.tree.currentItem()
        self.show_button.setEnabled(item is not None and not item.isHidden())

    def _choose(self, item: QTreeWidgetItem | None) -> None:
        place = item.data(0, PlaceRole) if item is not None else None
        if isinstance(place, PlaceFilter) and self.result() == 0 and self.isVisible():
            self.chosen.emit(place, self.places)
            self.accept()
