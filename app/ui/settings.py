"""Window state that persists between runs (QSettings in an ini file in PhotoSeek's config dir).

Values are validated on the way out: a hand-edited or stale file falls back to the defaults
instead of breaking the window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from app.core.api import PlaceFilter
from app.ui.thumb_delegate import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE

ORDERS = ("relevance", "date")
KINDS = ("all", "photo", "video")


class UiSettings:
    """Typed access to the window's settings in `path` (`Paths.config / "window.ini"`)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._s = QSettings(str(path), QSettings.Format.IniFormat)

    def sync(self) -> None:
        self._s.sync()

    def _int(self, key: str, default: int | None, lo: int, hi: int) -> int | None:
        value: Any = self._s.value(key, default)
        try:
            number = int(value)
        except (TypeError, ValueError):
            return default
        return number if lo <= number <= hi else default

    # window
    @property
    def geometry(self) -> QByteArray | None:
        value = self._s.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._s.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        value = self._s.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._s.setValue("window/state", value)

    # grid
    @property
    def thumb_size(self) -> int:
        return self._int("grid/thumb_size", DEFAULT_SIZE, MIN_SIZE, MAX_SIZE) or DEFAULT_SIZE

    @thumb_size.setter
    def thumb_size(self, value: int) -> None:
        self._s.setValue("grid/thumb_size", int(value))

    # filters and order
    @property
    def year(self) -> int | None:
        return self._int("filters/year", None, 1800, 3000)

    @year.setter
    def year(self, value: int | None) -> None:
        self._s.setValue("filters/year", "" if value is None else int(value))

    @property
    def month(self) -> int | None:
        return self._int("filters/month", None, 1, 12)

    @month.setter
    def month(self, value: int | None) -> None:
        self._s.setValue("filters/month", "" if value is None else int(value))

    @property
    def place(self) -> PlaceFilter | None:
        """The place filter: [country code, region, city] as JSON (region and city may be null)."""
        try:
            value = json.loads(str(self._s.value("filters/place", "") or "null"))
        except ValueError:
            return None
        ok = isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
        if not ok or not all(v is None or isinstance(v, str) for v in value[1:]):
            return None
        return PlaceFilter(value[0], value[1], value[2])

    @place.setter
    def place(self, value: PlaceFilter | None) -> None:
        text = "" if value is None else json.dumps([value.country, value.region, value.city])
        self._s.setValue("filters/place", text)

    @property
    def duplicates_rule(self) -> tuple[tuple[str, ...], str, bool]:
        """The Duplicates view's keeper order, preferred folder ("" for none) and "only exact
        copies", as JSON; ((), "", False) when never set or unreadable."""
        try:
            value = json.loads(str(self._s.value("duplicates/rule", "") or "null"))
            order, folder, exact = value["order"], value["folder"], value["exact"]
        except (ValueError, TypeError, KeyError):
            return (), "", False
        if not (isinstance(order, list) and all(isinstance(k, str) for k in order)):
            return (), "", False
        return tuple(order), folder if isinstance(folder, str) else "", exact is True

    @duplicates_rule.setter
    def duplicates_rule(self, value: tuple[tuple[str, ...], str, bool]) -> None:
        order, folder, exact = value
        text = json.dumps({"order": list(order), "folder": folder, "exact": exact})
        self._s.setValue("duplicates/rule", text)

    @property
    def order(self) -> str:
        value = self._s.value("filters/order", "relevance")
        return value if value in ORDERS else "relevance"

    @order.setter
    def order(self, value: str) -> None:
        self._s.setValue("filters/order", value if value in ORDERS else "relevance")

    @property
    def kind(self) -> str:
        """Photos and videos ("all"), photos only or videos only."""
        value = self._s.value("filters/kind", "all")
        return value if value in KINDS else "all"

    @kind.setter
    def kind(self, value: str) -> None:
        self._s.setValue("filters/kind", value if value in KINDS else "all")

    @property
    def image_weight(self) -> float:
        return (self._int("search/image_weight_pct", 50, 0, 100) or 0) / 100

    @image_weight.setter
    def image_weight(self, value: float) -> None:
        self._s.setValue("search/image_weight_pct", round(max(0.0, min(1.0, value)) * 100))

    @property
    def all_matches(self) -> bool:
        """Every photo, best first (no relevance floor), instead of "Show N weaker matches"."""
        return str(self._s.value("search/all_matches", "false")).lower() == "true"

    @all_matches.setter
    def all_matches(self, value: bool) -> None:
        self._s.setValue("search/all_matches", "true" if value else "false")

    # first run
    @property
    def welcomed(self) -> bool:
        return str(self._s.value("app/welcomed", "false")).lower() == "true"

    @welcomed.setter
    def welcomed(self, value: bool) -> None:
        self._s.setValue("app/welcomed", "true" if value else "false")
