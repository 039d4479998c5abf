"""The Duplicates view's scrolling list of groups. Cards are built a batch at a time as the end of
the list nears, and thumbnails are asked for only for cards near the view (those far away let go
of theirs; the pixmap cache brings them back), so thousands of groups stay responsive."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QImage, QPixmap, QPixmapCache, QResizeEvent
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from app.core.api import DuplicateGroup, Library
from app.ui import theme
from app.ui.duplicates_cards import THUMB, GroupCard, MemberCard
from app.ui.thumb_loader import ThumbLoader

BATCH = 12  # group cards built at a time
NEAR_VIEW = 2  # viewports above and below the view whose thumbnails are kept


def thumb_key(photo_id: int) -> str:
    return f"photoseek-duplicate-{photo_id}"


class GroupList(QScrollArea):
    """Group cards; their checkboxes show the selection the view gives (`set_selected`)."""

    toggled = Signal(int, bool)  # photo id, selected
    open_requested = Signal(object, int)  # group, photo id
    keep_only = Signal(int)  # photo id
    keep_all = Signal(object)  # group
    show_folder = Signal(str)  # path

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.groups: list[DuplicateGroup] = []
        self.cards: list[GroupCard] = []
        self.selected: set[int] = set()
        self.watched: list[str] = []  # the watched folders, that name a copy's folder
        side = round(THUMB * self.devicePixelRatioF())
        self.loader = ThumbLoader(library.thumbnail, max_side=side, parent=self)
        self.loader.loaded.connect(self._thumb_loaded)
        self.loader.failed.connect(self._thumb_failed)
        self.inner = QWidget(self)
        self.column = QVBoxLayout(self.inner)
        self.column.setContentsMargins(0, 0, 0, 0)
        self.column.setSpacing(0)
        self.column.addStretch(1)
        self.setWidgetResizable(True)
        self.setWidget(self.inner)
        self.setAccessibleName("Groups of duplicates")
        self._stopped = False  # shut down: the library may be closing, nothing more is loaded
        self._timer = QTimer(self, singleShot=True, interval=40)
        self._timer.timeout.connect(self._follow_view)
        self.verticalScrollBar().valueChanged.connect(lambda _v: self._timer.start())

    def show_groups(self, groups: Sequence[DuplicateGroup], selected: set[int]) -> None:
        """A new list of groups, from the top."""
        for card in self.cards:
            self.column.removeWidget(card)
            card.deleteLater()
        self.cards = []
        self.groups, self.selected = list(groups), selected
        self.loader.set_generation(self.loader.generation + 1)
        self.verticalScrollBar().setValue(0)
        self._build_more()

    def set_selected(self, selected: set[int]) -> None:
        self.selected = selected
        for card in self.cards:
            card.set_selected(selected)

    def apply_move(
        self, changed: Sequence[DuplicateGroup | None], groups: list[DuplicateGroup]
    ) -> None:
        """After a move: `changed[i]` is group i's new self (None: gone); the rest stays put."""
        cards = []
        for card, new in zip(self.cards, changed[: len(self.cards)], strict=True):
            if new is None:
                self.column.removeWidget(card)
                card.deleteLater()
                continue
            if new is not card.group:
                card.set_group(new)
                card.set_selected(self.selected)
            cards.append(card)
        self.cards, self.groups = cards, groups
        self._timer.start()

    def member(self, photo_id: int) -> MemberCard | None:
        """The card of `photo_id`, when its group's card is built."""
        for card in self.cards:
            if photo_id in card.members:
                return card.members[photo_id]
        return None

    def shutdown(self) -> None:
        """Load nothing more and wait for the thumbnails being read (before the library closes)."""
        self._stopped = True
        self._timer.stop()
        self.loader.shutdown()

    # -- building and thumbnails ------------------------------------------------------------------

    def _build_more(self) -> None:
        start = len(self.cards)
        for group in self.groups[start : start + BATCH]:
            card = GroupCard(group, self.watched, self.inner)
            card.set_selected(self.selected)
            card.toggled.connect(self.toggled)
            card.open_requested.connect(self.open_requested)
            card.keep_only.connect(self.keep_only)
            card.keep_all.connect(self.keep_all)
            card.show_folder.connect(self.show_folder)
            self.column.insertWidget(self.column.count() - 1, card)
            self.cards.append(card)
        self._timer.start()

    def _follow_view(self) -> None:
        """Build cards as the end nears; ask for the thumbnails of those near the view."""
        if self._stopped:
            return
        bar = self.verticalScrollBar()
        page = self.viewport().height()
        if len(self.cards) < len(self.groups) and bar.value() >= bar.maximum() - page:
            self._build_more()
            return
        top, bottom = bar.value() - NEAR_VIEW * page, bar.value() + (NEAR_VIEW + 1) * page
        for card in self.cards:
            near = card.y() + card.height() >= top and card.y() <= bottom
            for pid, member in card.members.items():
                if not near:
                    member.thumb.forget()
                elif member.thumb.state == "loading" and not self.loader.is_pending(pid):
                    cached = theme.cached_pixmap(thumb_key(pid))
                    if cached is not None:
                        member.thumb.set_pixmap(cached)
                    else:
                        self.loader.request(pid)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._timer.start()  # more of the list in view: more cards, more thumbnails

    def _thumb_loaded(self, _generation: int, photo_id: int, image: QImage, _full: bool) -> None:
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        QPixmapCache.insert(thumb_key(photo_id), pixmap)
        member = self.member(photo_id)
        if member is not None:
            member.thumb.set_pixmap(pixmap)

    def _thumb_failed(self, _generation: int, photo_id: int) -> None:
        member = self.member(photo_id)
        if member is not None:
            member.thumb.set_pixmap(None)
