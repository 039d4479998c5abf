"""The search results as a list model: named roles, thumbnails on demand, rows fetched in steps.

A new result list is one reset; a thumbnail arriving is one `dataChanged` for one row. Rows are
exposed `BATCH` at a time through `canFetchMore`/`fetchMore`, so a list of 10,000 hits costs the
view only what the user scrolls to. When the search hid photos under the relevance floor, the
list ends (once every hit is fetched) with one more row, "Show N weaker matches" (`WeakerRole`),
which is not a photo: activating it asks, through `show_weaker_requested`, for the same search
without the floor.

A list is either ranked (a typed query, best first) or in date order (browsing, or "Newest
first"): the view groups the latter under month headers. `aspects()` and `date_keys()` hand the
timeline every row's shape and date at once, so it lays out 100,000 photos without 200,000
`data()` calls.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QImage, QPixmap, QPixmapCache

from app.ui.captions import SOURCE_TEXT, date_note, format_date, video_note
from app.ui.theme import cached_pixmap
from app.ui.thumb_loader import ThumbLoader
from app.ui.timeline_layout import NO_DATE, clamp_aspect, date_key

if TYPE_CHECKING:
    from app.core.api import Hit

BATCH = 400
PIXMAP_CACHE_KB = 256 * 1024

Index = QModelIndex | QPersistentModelIndex


def thumb_key(photo_id: int, moment_ms: int | None = None) -> str:
    """The pixmap cache's key for a photo's thumbnail, or for a video's frame at `moment_ms`."""
    if moment_ms is None:
        return f"photoseek-thumb-{photo_id}"
    return f"photoseek-thumb-{photo_id}@{moment_ms}"


class ResultsModel(QAbstractListModel):
    """Hits of one search. `generation` ties rows and thumbnails to the query that made them."""

    ThumbnailRole = Qt.ItemDataRole.UserRole + 1  # QPixmap, or None while loading
    ScoreRole = Qt.ItemDataRole.UserRole + 2  # float
    PathRole = Qt.ItemDataRole.UserRole + 3  # str
    DateRole = Qt.ItemDataRole.UserRole + 4  # datetime | None
    PhotoIdRole = Qt.ItemDataRole.UserRole + 5  # int
    ThumbStateRole = Qt.ItemDataRole.UserRole + 6  # "loading" | "ready" | "missing"
    WeakerRole = Qt.ItemDataRole.UserRole + 7  # int on the "Show N weaker matches" row, else None
    AspectRole = Qt.ItemDataRole.UserRole + 8  # float: width / height as shown, clamped
    SourceRole = Qt.ItemDataRole.UserRole + 9  # True on the photo a Find Similar searched from
    KindRole = Qt.ItemDataRole.UserRole + 10  # "photo" | "video"
    DurationRole = Qt.ItemDataRole.UserRole + 11  # int ms for a video, else None
    MomentRole = Qt.ItemDataRole.UserRole + 12  # int ms: the video's best-matching moment, or None
    ClipRole = Qt.ItemDataRole.UserRole + 13  # True on a photo with a clip (motion, Live Photo)

    show_weaker_requested = Signal(int)  # generation of the result list whose row was activated

    def __init__(self, loader: ThumbLoader | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self._hits: list[Hit] = []
        self._row_of: dict[int, int] = {}
        self._moment_of: dict[int, int] = {}  # video id -> the moment its cell shows (ms)
        self._shown = 0
        self._weaker = 0  # photos under the floor the search hid: the extra row offers them
        self._missing: set[int] = set()
        self._full: set[str] = set()  # thumbnails (keys) loaded at all the resolution there is
        self._side = 256  # the size thumbnails are wanted at, in device pixels
        self._generation = 0
        self._scored = True
        self._source: int | None = None  # the photo searched from, pinned as the first row
        self._by_date = False
        self._aspects: list[float] | None = None
        self._keys: list[int] | None = None
        self._video_sums: list[int] | None = None  # running count of videos, for the headers
        self._loader = loader
        if loader is not None:
            loader.loaded.connect(self._on_loaded)
            loader.failed.connect(self._on_failed)

    # -- the result list -------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._generation

    def set_hits(
        self,
        hits: Sequence[Hit],
        generation: int,
        scored: bool = True,
        *,
        by_date: bool = False,
        source: Hit | None = None,
    ) -> None:
        """Show a new result list (one reset); thumbnails of the previous one stop loading.
        `scored`: the hits answer a query (browsing has no scores to show); `by_date`: they are
        newest first (browsing or "Newest first"), so the view shows them as a timeline;
        `source`: the photo a Find Similar searched from, pinned first and labelled so."""
        self.beginResetModel()
        self._generation = generation
        self._scored = scored
        self._by_date = by_date
        self._aspects = self._keys = None
        self._video_sums = None
        self._source = source.photo_id if source is not None else None
        self._hits = [source, *hits] if source is not None else list(hits)
        self._row_of = {hit.photo_id: row for row, hit in enumerate(self._hits)}
        self._moment_of = {h.photo_id: h.moment_ms for h in self._hits if h.moment_ms is not None}
        self._shown = min(BATCH, len(self._hits))
        self._weaker = 0
        self._missing = set()
        if self._loader is not None:
            self._loader.set_generation(generation)
            self._loader.set_moments(self._moment_of)
        self.endResetModel()

    def clear(self, generation: int) -> None:
        self.set_hits([], generation)

    def set_weaker(self, count: int) -> None:
        """The search behind these hits hid `count` weaker matches (0: none, no extra row)."""
        count = max(0, int(count))
        if count == self._weaker:
            return
        had = self._has_weaker_row()
        will = count > 0 and self._shown == len(self._hits)
        end = self._shown
        if had and not will:
            self.beginRemoveRows(QModelIndex(), end, end)
            self._weaker = count
            self.endRemoveRows()
        elif will and not had:
            self.beginInsertRows(QModelIndex(), end, end)
            self._weaker = count
            self.endInsertRows()
        else:
            self._weaker = count
            if had:
                index = self.index(end, 0)
                self.dataChanged.emit(index, index)

    @property
    def weaker(self) -> int:
        return self._weaker

    def is_weaker_row(self, index: Index) -> bool:
        return index.isValid() and self._has_weaker_row() and index.row() == self._shown

    def request_weaker(self) -> None:
        """The user activated the "Show N weaker matches" row."""
        if self._weaker:
            self.show_weaker_requested.emit(self._generation)

    def _has_weaker_row(self) -> bool:
        return self._weaker > 0 and self._shown == len(self._hits)

    def set_thumb_side(self, side: int) -> None:
        """Cells are now `side` device pixels: thumbnails loaded smaller get reloaded as drawn."""
        self._side = side
        if self._loader is not None:
            self._loader.set_max_side(side)

    def total(self) -> int:
        """Every hit of the search, including rows not fetched into the view yet."""
        return len(self._hits)

    def hit(self, row: int) -> Hit:
        return self._hits[row]

    @property
    def by_date(self) -> bool:
        """The hits are newest first: the view groups them under month (or day) headers."""
        return self._by_date

    def aspects(self) -> list[float]:
        """Every hit's width / height as shown (clamped; 1.0 when unknown), fetched or not."""
        if self._aspects is None:
            self._aspects = [clamp_aspect(h.width, h.height) for h in self._hits]
        return self._aspects

    def videos_between(self, first: int, end: int) -> int:
        """How many of the hits `first` .. `end - 1` are videos (for a section's count)."""
        if self._video_sums is None:
            sums = [0]
            for h in self._hits:
                sums.append(sums[-1] + (h.kind == "video"))
            self._video_sums = sums
        end = max(first, min(end, len(self._hits)))
        return self._video_sums[end] - self._video_sums[max(0, first)]

    def date_keys(self) -> list[int]:
        """Every hit's date as a `date_key` (NO_DATE when it has none), fetched or not."""
        if self._keys is None:
            self._keys = [
                NO_DATE if t is None else date_key(t.year, t.month, t.day)
                for t in (h.capture_time for h in self._hits)
            ]
        return self._keys

    def row_of(self, photo_id: int) -> int | None:
        """The row of `photo_id`, fetching more rows if it is further down than the view has gone."""
        row = self._row_of.get(photo_id)
        if row is not None and row >= self._shown:
            self.fetch_up_to(row)
        return row

    def fetch_up_to(self, row: int) -> None:
        while self._shown <= row and self.canFetchMore(QModelIndex()):
            self.fetchMore(QModelIndex())

    # -- QAbstractListModel ----------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._shown + int(self._has_weaker_row())

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and self._shown < len(self._hits)

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid():
            return
        n = min(BATCH, len(self._hits) - self._shown)
        if n <= 0:
            return
        last = n - 1 + int(self._weaker > 0 and self._shown + n == len(self._hits))
        self.beginInsertRows(QModelIndex(), self._shown, self._shown + last)
        self._shown += n
        self.endInsertRows()

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names.update(
            {
                self.ThumbnailRole: QByteArray(b"thumbnail"),
                self.ScoreRole: QByteArray(b"score"),
                self.PathRole: QByteArray(b"path"),
                self.DateRole: QByteArray(b"date"),
                self.PhotoIdRole: QByteArray(b"photoId"),
                self.ThumbStateRole: QByteArray(b"thumbState"),
                self.WeakerRole: QByteArray(b"weaker"),
                self.AspectRole: QByteArray(b"aspect"),
                self.SourceRole: QByteArray(b"source"),
                self.KindRole: QByteArray(b"kind"),
                self.DurationRole: QByteArray(b"duration"),
                self.MomentRole: QByteArray(b"moment"),
                self.ClipRole: QByteArray(b"clip"),
            }
        )
        return names

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if self.is_weaker_row(index):
            return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemNeverHasChildren
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.column() != 0:
            return None
        if self.is_weaker_row(index):
            return self._weaker_data(role)
        if not 0 <= index.row() < self._shown:
            return None
        hit = self._hits[index.row()]
        if role == self.ThumbnailRole:
            return self._thumbnail(hit.photo_id)
        if role == self.ThumbStateRole:
            if hit.photo_id in self._missing:
                return "missing"
            return "ready" if cached_pixmap(self.cache_key(hit.photo_id)) else "loading"
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            name = Path(hit.path).name
            if role == Qt.ItemDataRole.AccessibleTextRole:
                pinned = f", {SOURCE_TEXT.lower()}" if hit.photo_id == self._source else ""
                return f"{name}, {format_date(hit.capture_time)}{video_note(hit)}{pinned}"
            return name
        if role == self.KindRole:
            return hit.kind
        if role == self.DurationRole:
            return hit.duration_ms if hit.kind == "video" else None
        if role == self.MomentRole:
            return hit.moment_ms if hit.kind == "video" or hit.clip else None
        if role == self.ClipRole:
            return hit.clip
        source = hit.photo_id == self._source
        if role == self.SourceRole:
            return source
        if role == Qt.ItemDataRole.ToolTipRole:
            score = f"<br>Score {hit.score:.3f}" if self._scored else ""
            if source:
                score = f"<br>{SOURCE_TEXT}: the photos after it look like it"
            return (
                f"<b>{html.escape(Path(hit.path).name)}</b><br>"
                f"{format_date(hit.capture_time)}{date_note(hit)}{video_note(hit)}{score}"
            )
        if role == self.ScoreRole:
            return float(hit.score) if self._scored and not source else None
        if role == self.PathRole:
            return str(hit.path)
        if role == self.DateRole:
            return hit.capture_time
        if role == self.PhotoIdRole:
            return int(hit.photo_id)
        if role == self.AspectRole:
            return clamp_aspect(hit.width, hit.height)
        return None

    def _weaker_data(self, role: int) -> Any:
        n = self._weaker
        text = f"Show {n:,} weaker match{'es' if n != 1 else ''}"
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return text
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{text}: photos under the relevance floor, which match the search less well. "
                "Click to show them after these."
            )
        if role == self.WeakerRole:
            return n
        return None

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """Dragged results are the photo files themselves, for any app that accepts files."""
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid() and i.row() < len(self._hits)})
        mime.setUrls([QUrl.fromLocalFile(str(self._hits[r].path)) for r in rows])
        return mime

    # -- thumbnails ------------------------------------------------------------------------------

    def cache_key(self, photo_id: int) -> str:
        """Where this list's picture of `photo_id` is cached: a video found at a moment shows
        that moment's frame, anything else its thumbnail (a video's poster)."""
        return thumb_key(photo_id, self._moment_of.get(photo_id))

    def _thumbnail(self, photo_id: int) -> QPixmap | None:
        """The cached thumbnail (possibly smaller than wanted), asking for a load if need be."""
        key = self.cache_key(photo_id)
        pixmap = cached_pixmap(key)
        loader = self._loader
        if loader is None or photo_id in self._missing or loader.is_pending(photo_id):
            return pixmap
        if pixmap is None or (
            max(pixmap.width(), pixmap.height()) < self._side and key not in self._full
        ):
            loader.request(photo_id)
        return pixmap

    def _on_loaded(self, generation: int, photo_id: int, image: QImage, full: bool) -> None:
        if generation != self._generation:
            return  # a thumbnail for a result list the user has already replaced
        key = self.cache_key(photo_id)
        QPixmapCache.insert(key, QPixmap.fromImage(image))
        if full:
            self._full.add(key)
        self._changed(photo_id)

    def _on_failed(self, generation: int, photo_id: int) -> None:
        if generation == self._generation:
            self._missing.add(photo_id)
            self._changed(photo_id)

    def _changed(self, photo_id: int) -> None:
        row = self._row_of.get(photo_id)
        if row is not None and row < self._shown:
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [self.ThumbnailRole, self.ThumbStateRole])
