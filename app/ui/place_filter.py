"""The place filter beside year and month: "All places", then country > region > city, each with
its photo count (a level counts its own photos and all of those under it).

`place_tree` turns `Library.places()` into those levels (no Qt); `PlaceBox` shows them. The box
hides itself while no photo has a place, so a library without GPS looks exactly as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QFont, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionComboBox,
    QStyleOptionViewItem,
    QStylePainter,
    QWidget,
)

from app.core.api import PlaceCount, PlaceFilter
from app.ui import theme

ALL_PLACES = "All places"
LevelRole = Qt.ItemDataRole.UserRole + 1  # 0 country, 1 region, 2 city
LabelRole = Qt.ItemDataRole.UserRole + 2  # "Lisbon, Portugal": what the closed box says
INDENT = 16  # px per level in the popup
MIN_CHARS = 16  # the closed box's width, in characters (its popup is as wide as it needs)
COMPACT_CHARS = 8  # in a narrow window


@dataclass(frozen=True)
class PlaceNode:
    """One line of the place filter: `name` at `level` (0 country, 1 region, 2 city), `label`
    the name with its country ("Lisbon, Portugal"), `count` its photos and all below it,
    `cover_id` the newest photo there."""

    level: int
    name: str
    label: str
    place: PlaceFilter
    count: int
    cover_id: int


def place_tree(places: Sequence[PlaceCount]) -> list[PlaceNode]:
    """Countries, each followed by its regions and cities, by name; a place with no region
    (a city-state, or a gazetteer gap) sits right under its country. Labels say "(region)"
    where a region is called like a city of its country, and name the region of a city whose
    name another city of the country shares ("Springfield, Illinois, United States")."""
    countries: dict[str, list[PlaceCount]] = {}
    for row in places:
        countries.setdefault(row.place.country, []).append(row)
    nodes: list[PlaceNode] = []
    for code, rows in sorted(countries.items(), key=lambda kv: kv[1][0].country_name.casefold()):
        country = rows[0].country_name
        nodes.append(_node(0, country, country, PlaceFilter(code), rows))
        cities = Counter(_key(r.city) for r in rows if r.city is not None)
        regions: dict[str | None, list[PlaceCount]] = {}
        for row in rows:
            regions.setdefault(row.region, []).append(row)
        for region, in_region in sorted(regions.items(), key=lambda kv: _key(kv[0])):
            level = 1
            if region is not None:
                label = f"{region}{' (region)' if _key(region) in cities else ''}, {country}"
                nodes.append(_node(1, region, label, PlaceFilter(code, region), in_region))
                level = 2
            named = [r for r in in_region if r.city is not None]
            for row in sorted(named, key=lambda r: _key(r.city)):
                name = row.city or ""
                twin = cities[_key(name)] > 1 and region is not None
                label = f"{name}, {region}, {country}" if twin else f"{name}, {country}"
                nodes.append(PlaceNode(level, name, label, row.place, row.count, row.cover_id))
    return nodes


def _key(name: str | None) -> str:
    return (name or "").casefold()


def _node(
    level: int, name: str, label: str, place: PlaceFilter, rows: list[PlaceCount]
) -> PlaceNode:
    newest = max(rows, key=lambda r: r.cover_id)  # ids grow as photos arrive: a fair "newest"
    return PlaceNode(level, name, label, place, sum(r.count for r in rows), newest.cover_id)


class _IndentDelegate(QStyledItemDelegate):
    """The popup's lines indented by level, countries in bold."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        level = index.data(LevelRole)
        if isinstance(level, int):
            option.rect.adjust(INDENT * level, 0, 0, 0)
            if level == 0:
                font = QFont(option.font)
                font.setWeight(QFont.Weight.DemiBold)
                option.font = font

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        level = index.data(LevelRole)
        return size + QSize(INDENT * level, 0) if isinstance(level, int) else size


class PlaceBox(QComboBox):
    """Emits `place_changed` when the user picks a place; read it with `place()`."""

    place_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Place taken")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(MIN_CHARS)
        self.setMaxVisibleItems(20)
        self.setItemDelegate(_IndentDelegate(self))
        self.addItem(theme.icon("place"), ALL_PLACES, None)
        self.nodes: list[PlaceNode] = []
        self._update_tooltip()
        self.currentIndexChanged.connect(self._picked)
        self.hide()  # until a photo has a place

    def place(self) -> PlaceFilter | None:
        value = self.currentData()
        return value if isinstance(value, PlaceFilter) else None

    def label(self) -> str:
        """ "Lisbon, Portugal" for the place chosen; "" for all places."""
        value = self.itemData(self.currentIndex(), LabelRole)
        return value if isinstance(value, str) else ""

    def set_places(self, places: Sequence[PlaceCount], select: PlaceFilter | None = None) -> None:
        """Offer `places`; keep `select` (or the current place) if it is still there. A place
        that has gone (its photos removed) falls back to all places."""
        keep = select if select is not None else self.place()
        self.nodes = place_tree(places)
        self.blockSignals(True)
        self.clear()
        total = sum(row.count for row in places)
        self.addItem(theme.icon("place"), f"{ALL_PLACES} ({total:,})", None)
        for node in self.nodes:
            self.addItem(f"{node.name} ({node.count:,})", node.place)
            i = self.count() - 1
            self.setItemData(i, node.level, LevelRole)
            self.setItemData(i, node.label, LabelRole)
            self.setItemData(i, f"{node.label}: {node.count:,} photos", Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(max(self.index_of(keep), 0))
        self.blockSignals(False)
        self._update_tooltip()
        self.view().setMinimumWidth(self.view().sizeHintForColumn(0) + 24)
        self.setVisible(bool(places))

    def set_place(self, place: PlaceFilter | None) -> bool:
        """Select `place` without emitting `place_changed`; False when it is not offered."""
        index = self.index_of(place)
        self.blockSignals(True)
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)
        self._update_tooltip()
        return index >= 0

    def _picked(self, _index: int) -> None:
        self._update_tooltip()
        self.place_changed.emit()

    def _update_tooltip(self) -> None:
        label = self.label()
        self.setToolTip(
            f"Only photos taken in {label}"
            if label
            else "Only photos taken in a country, region or city"
        )

    def set_compact(self, compact: bool) -> None:
        """A narrow window: a narrower box (the name elided; the popup and tooltip say it all)."""
        self.setMinimumContentsLength(COMPACT_CHARS if compact else MIN_CHARS)
        self.setFixedWidth(self.sizeHint().width())  # the bar's layout keeps the old hint

    def index_of(self, place: PlaceFilter | None) -> int:
        """The line offering `place` (0: all places; -1: not offered)."""
        if place is None:
            return 0
        return next((i for i in range(1, self.count()) if self.itemData(i) == place), -1)

    def paintEvent(self, event: QPaintEvent) -> None:
        """The closed box names the place with its country ("Lisbon, Portugal (8)")."""
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        if self.currentIndex() > 0:
            option.currentText = f"{self.label()} ({self.nodes[self.currentIndex() - 1].count:,})"
            option.currentIcon = theme.icon("place")
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        room = field.width() - self.iconSize().width() - 8
        option.currentText = self.fontMetrics().elidedText(
            option.currentText, Qt.TextElideMode.ElideRight, room
        )
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)
