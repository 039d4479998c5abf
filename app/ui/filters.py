"""Year, month and place selectors (only dates and places present in the library, with counts),
photos / videos / both, and the sort order.

The bar holds no library: the window feeds it `set_years`/`set_months` from a worker and
listens to `changed` (any filter) and `year_changed` (to fetch that year's months).
"""

from __future__ import annotations

import calendar
from typing import Literal

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QSizePolicy, QWidget

from app.core.api import PlaceCount, PlaceFilter, Understanding
from app.ui import theme
from app.ui.place_filter import PlaceBox

ANY_YEAR = "Any year"
ANY_MONTH = "Any month"
# What the kind box offers: (label, Query.kind, icon).
KINDS = (
    ("Photos and videos", "all", "photo"),
    ("Photos", "photo", "photo"),
    ("Videos", "video", "play"),
)
SHORT_KINDS = ("Both", "Photos", "Videos")  # the same, in a narrow window
Kind = Literal["all", "photo", "video"]


def _count(n: int) -> str:
    return f"{n:,}"


class FilterBar(QWidget):
    """Emits `changed` when the month or order changes by the user's hand, and `year_changed`
    when the year does: the window then fetches that year's months (`set_months`) and searches."""

    changed = Signal()
    year_changed = Signal(object)  # int | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.year_box = QComboBox(self)
        self.year_box.setAccessibleName("Year taken")
        self.year_box.setToolTip("Only photos taken in this year")
        self.year_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.month_box = QComboBox(self)
        self.month_box.setAccessibleName("Month taken")
        self.month_box.setToolTip("Only photos taken in this month")
        self.month_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.kind_box = QComboBox(self)
        self.kind_box.setAccessibleName("Photos or videos")
        self.kind_box.setToolTip("Show photos, videos, or both")
        self.kind_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for label, kind, icon in KINDS:
            self.kind_box.addItem(theme.icon(icon), label, kind)
        self.order_box = QComboBox(self)
        self.order_box.setAccessibleName("Sort results")
        self.order_box.addItem(theme.icon("sort"), "Best match", "relevance")
        self.order_box.addItem(theme.icon("calendar"), "Newest first", "date")
        self.order_box.setToolTip("Sort search results by how well they match, or by date")
        self.place_box = PlaceBox(self)  # hidden while no photo has a place
        self.place_box.place_changed.connect(self.changed)
        self.year_box.addItem(ANY_YEAR, None)
        self.month_box.addItem(ANY_MONTH, None)
        self._wanted_month: int | None = None
        self.year_box.currentIndexChanged.connect(self._year_picked)
        self.month_box.currentIndexChanged.connect(self._month_picked)
        self.order_box.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.kind_box.currentIndexChanged.connect(lambda _i: self.changed.emit())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        for box in (self.year_box, self.month_box, self.place_box, self.kind_box, self.order_box):
            box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
            layout.addWidget(box)

    # -- reading ----------------------------------------------------------------------------------

    def year(self) -> int | None:
        value = self.year_box.currentData()
        return int(value) if value is not None else None

    def month(self) -> int | None:
        value = self.month_box.currentData()
        return int(value) if value is not None else None

    def order(self) -> Literal["relevance", "date"]:
        return "date" if self.order_box.currentData() == "date" else "relevance"

    def kind(self) -> Kind:
        """What the grid lists: "photo", "video" or "all" (both), as `Query.kind` takes it."""
        value = self.kind_box.currentData()
        return "photo" if value == "photo" else "video" if value == "video" else "all"

    def place(self) -> PlaceFilter | None:
        return self.place_box.place()

    def is_filtered(self) -> bool:
        dated = self.year() is not None or self.month() is not None
        return dated or self.place() is not None or self.kind() != "all"

    def noun(self) -> str:
        """What the grid lists, as the empty states name it: "videos", or "photos"."""
        return "videos" if self.kind() == "video" else "photos"

    def describe(self, understood: Understanding | None = None) -> str:
        """ "in May 2021", "in Lisbon, Portugal in 2021", "" — for status and empty-state
        messages; a place or date the typed words named (`understood`, the chips) in place of
        the box's, as the search used it."""
        chips = {c.kind: c.label for c in understood.chips} if understood is not None else {}
        year = understood.year if understood is not None and understood.year else self.year()
        month = understood.month if understood is not None and understood.month else self.month()
        box = self.place_box.label() if self.place() is not None else None
        place = chips.get("place", box)
        where = f"in {place}" if place else ""
        when = ""
        if month and year:
            when = f"in {calendar.month_name[month]} {year}"
        elif year:
            when = f"in {year}"
        elif month:
            when = f"in {calendar.month_name[month]}"
        return " ".join(part for part in (where, when) if part)

    # -- filling ----------------------------------------------------------------------------------

    def set_years(self, years: list[tuple[int, int]], select: int | None = None) -> None:
        """Offer `years` ((year, count), newest first); keep the selection if it still exists."""
        keep = select if select is not None else self.year()
        self.year_box.blockSignals(True)
        self.year_box.clear()
        self.year_box.addItem(f"{ANY_YEAR} ({_count(sum(n for _, n in years))})", None)
        for year, n in years:
            self.year_box.addItem(f"{year} ({_count(n)})", year)
        found = self.year_box.findData(keep) if keep is not None else 0
        self.year_box.setCurrentIndex(max(found, 0))
        self.year_box.blockSignals(False)

    def set_months(self, months: list[tuple[int, int]], select: int | None = None) -> None:
        """Offer `months` ((month, count)) of the chosen year; keep the month if it is there."""
        keep = select if select is not None else (self._wanted_month or self.month())
        self.month_box.blockSignals(True)
        self.month_box.clear()
        self.month_box.addItem(f"{ANY_MONTH}", None)
        for month, n in sorted(months):
            self.month_box.addItem(f"{calendar.month_name[month]} ({_count(n)})", month)
        found = self.month_box.findData(keep) if keep is not None else 0
        self.month_box.setCurrentIndex(max(found, 0))
        self.month_box.blockSignals(False)

    def set_places(self, places: list[PlaceCount], select: PlaceFilter | None = None) -> None:
        """Offer `places` (Library.places()); keep the place chosen if it is still there."""
        self.place_box.set_places(places, select)

    def set_place(self, place: PlaceFilter | None) -> bool:
        """Choose `place` (no signal); False when the box does not offer it."""
        return self.place_box.set_place(place)

    def set_order(self, order: str) -> None:
        self.order_box.blockSignals(True)
        self.order_box.setCurrentIndex(max(self.order_box.findData(order), 0))
        self.order_box.blockSignals(False)

    def set_kind(self, kind: str) -> None:
        self.kind_box.blockSignals(True)
        self.kind_box.setCurrentIndex(max(self.kind_box.findData(kind), 0))
        self.kind_box.blockSignals(False)

    def set_compact(self, compact: bool) -> None:
        """A narrow window: the kind box says "Both" rather than "Photos and videos"."""
        box = self.kind_box
        for i, (label, _kind, _icon) in enumerate(KINDS):
            box.setItemText(i, SHORT_KINDS[i] if compact else label)
        box.setFixedWidth(box.sizeHint().width())  # its cached minimum fits the old texts
        self.place_box.set_compact(compact)

    def set_order_enabled(self, enabled: bool) -> None:
        """With nothing to rank (no words, no image) the grid is always newest first."""
        self.order_box.setEnabled(enabled)

    def clear_filters(self) -> None:
        """Back to any year, month and place, photos and videos; emits `year_changed(None)`."""
        self._wanted_month = None
        for box in (self.year_box, self.month_box, self.place_box, self.kind_box):
            box.blockSignals(True)
            box.setCurrentIndex(0)
            box.blockSignals(False)
        self.year_changed.emit(None)

    # -- internals --------------------------------------------------------------------------------

    def _year_picked(self, _index: int) -> None:
        self._wanted_month = self.month()
        self.year_changed.emit(self.year())

    def _month_picked(self, _index: int) -> None:
        self._wanted_month = self.month()
        self.changed.emit()
