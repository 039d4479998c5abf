"""The PhotoSeek window: search bar and date filters above, the thumbnail grid (or an empty state
that says what is going on) in the middle, results and indexing progress in the status bar.

The window lays out and presents. Its controllers do the rest: `session` (the library, its
model, indexing), `user_actions` (menus, dialogs, actions on photos), `searcher` (searches in a
worker, newest only) and `indexer` (indexing and watching in workers).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QThreadPool
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QPalette,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.api import Library, ModelState, Paths
from app.ui import theme
from app.ui.actions import ZOOM_STEP, WindowActions
from app.ui.drop_overlay import DropOverlay
from app.ui.empty_state import EmptyStatePage, Facts, state_for
from app.ui.filters import FilterBar
from app.ui.grid_view import ResultsView
from app.ui.image_query import mime_accepts
from app.ui.index_status import IndexStatus
from app.ui.indexing import IndexController
from app.ui.model_banner import ModelBanner
from app.ui.model_manager import ModelManager, default_installer
from app.ui.model_panel import default_offer
from app.ui.model_watch import ModelFolderWatcher
from app.ui.models_dialog import choose_source_dialog, confirm_dialog
from app.ui.query_chips import ChipRow
from app.ui.results_model import ResultsModel
from app.ui.search_bar import SearchBar
from app.ui.search_controller import SearchController, SearchSpec
from app.ui.searching import SearchPresenter
from app.ui.session import LibrarySession, default_open_library
from app.ui.settings import UiSettings
from app.ui.status_bar import StatusBar
from app.ui.thumb_delegate import MAX_SIZE, MIN_SIZE
from app.ui.thumb_loader import ThumbLoader

COMPACT_WIDTH = 1000  # px: narrower windows get the compact header


class MainWindow(QMainWindow):
    """The main window over one `Library` (given, or opened in a worker by `open_library`).

    `installer`, `choose_source` and `confirm` are seams for tests: the model download, the
    file picker of "Install from Folder or Archive" and the removal question."""

    def __init__(
        self,
        paths: Paths,
        library: Library | None = None,
        *,
        settings: UiSettings | None = None,
        open_library: Callable[[Paths], Library] = default_open_library,
        welcome: bool = True,
        installer: Callable[..., Path] = default_installer,
        choose_source: Callable[[QWidget, str], str | None] = choose_source_dialog,
        confirm: Callable[[QWidget, str], bool] = confirm_dialog,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self.choose_source = choose_source
        self.confirm = confirm
        self.settings = settings or UiSettings(paths.config / "window.ini")
        self.welcome = welcome
        self.last_spec = SearchSpec()
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)  # indexing, search, and small library calls side by side
        self.models = ModelManager(paths, self.pool, installer, self)
        self.default_model, self.model_offer = default_offer()
        self._facts = Facts(opening=True, model_offer=self.model_offer)
        self._compact = False  # the header's narrow layout (resizeEvent)

        self.setWindowTitle("PhotoSeek")
        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        self.setMinimumSize(640, 420)
        self.searcher = SearchController(self.pool, self)
        self.indexer = IndexController(self.pool, self)
        self.search = SearchPresenter(self)
        self.session = LibrarySession(self)
        self.user_actions = WindowActions(self)
        self._build()
        self.user_actions.build_menus()
        self._restore_settings()

        self.searcher.attach_results(self.model)  # "Show N weaker matches" re-runs the query
        self.models.changed.connect(self.session.reload_model)
        for signal in (self.models.busy_changed, self.models.progress, self.models.failed):
            signal.connect(lambda *_: self.update_model_banner())
        self.models.cancelled.connect(lambda *_: self.update_model_banner())
        self.model_watcher = ModelFolderWatcher(paths.ensure(), parent=self)
        self.model_watcher.changed.connect(self.session.reload_model)

        self.search_bar.setFocus()
        if library is None:
            self._apply_facts()
        self.session.open(
            library, open_library, self.settings.year, self.settings.month, self.settings.place
        )

    @property
    def library(self) -> Library | None:
        """The open library; None while it opens, after it failed, and once the window closed."""
        return self.session.library

    @property
    def facts(self) -> Facts:
        """What the window knows for its empty states and banners (replace with `set_facts`)."""
        return self._facts

    @property
    def model_state(self) -> ModelState | None:
        return self.session.model_state

    # -- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.search_bar = SearchBar(self)
        self.search_bar.search_requested.connect(self.search_now)
        self.filters = FilterBar(self)
        self.filters.changed.connect(self.search_now)
        self.filters.year_changed.connect(self.session.load_months)
        self.chips = ChipRow(self)  # what the words named: place and date chips, removable
        self.chips.changed.connect(self.search_now)
        header = QWidget(self)
        rows = QVBoxLayout(header)
        rows.setContentsMargins(10, 8, 10, 8)
        rows.setSpacing(6)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.search_bar, 1)
        row.addWidget(self.filters)
        rows.addLayout(row)
        rows.addWidget(self.chips)

        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setContentsMargins(12, 6, 12, 6)
        self.banner.setAutoFillBackground(True)
        self.banner.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.banner.setAccessibleName("Notice")
        self.banner.linkActivated.connect(self.user_actions.empty_action)
        self.banner.hide()

        self.model_banner = ModelBanner(self)
        self.model_banner.clicked.connect(lambda: self.model_banner.act_for(self))
        self.model_banner_text, self.model_button = self.model_banner.text, self.model_banner.button

        self.loader = ThumbLoader(lambda pid: None, parent=self)
        self.model = ResultsModel(self.loader, self)
        self.grid = ResultsView(self)
        self.grid.setModel(self.model)
        self.grid.open_requested.connect(self.user_actions.open_preview)
        self.grid.menu_requested.connect(self.user_actions.context_menu)
        self.grid.zoom.connect(
            lambda steps: self.set_thumb_size(self.grid.delegate.thumb_size + steps * ZOOM_STEP)
        )
        self.grid.delete_pressed.connect(
            lambda: self.statusBar().showMessage(
                "PhotoSeek never deletes photos. To delete one, use Show in Folder and your file "
                "manager.",
                6000,
            )
        )
        self.empty = EmptyStatePage(self)
        self.empty.action.connect(self.user_actions.empty_action)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.empty)
        self.drop_overlay = DropOverlay(self.stack)

        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(header)
        column.addWidget(self.model_banner)
        column.addWidget(self.banner)
        column.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        status = StatusBar(self)
        self.setStatusBar(status)
        self.result_label = status.summary
        self.result_label.setAccessibleName("Search results summary")
        self.model_label = QLabel(self)
        self.model_label.setAccessibleName("Which model answers searches")
        self.model_label.hide()
        status.addPermanentWidget(self.model_label)
        self.index_status = IndexStatus(self)
        self.index_status.pause_toggled.connect(self.session.pause_toggled)
        self.index_status.show_skipped.connect(self.user_actions.show_skipped)
        status.addPermanentWidget(self.index_status)
        zoom = QWidget(self)
        zrow = QHBoxLayout(zoom)
        zrow.setContentsMargins(0, 0, 4, 0)
        zrow.setSpacing(2)
        self.zoom_slider = QSlider(Qt.Orientation.Horizontal, zoom)
        self.zoom_slider.setRange(MIN_SIZE, MAX_SIZE)
        self.zoom_slider.setSingleStep(8)
        self.zoom_slider.setPageStep(ZOOM_STEP * 2)
        self.zoom_slider.setFixedWidth(110)
        self.zoom_slider.setAccessibleName("Thumbnail size")
        self.zoom_slider.setToolTip("Thumbnail size (Ctrl+wheel over the photos)")
        self.zoom_slider.valueChanged.connect(self.set_thumb_size)
        zrow.addWidget(theme.IconLabel("zoom-small", 12, zoom))
        zrow.addWidget(self.zoom_slider)
        zrow.addWidget(theme.IconLabel("zoom-large", 16, zoom))
        status.addPermanentWidget(zoom)

        QWidget.setTabOrder(self.search_bar.edit, self.filters.year_box)
        QWidget.setTabOrder(self.filters.year_box, self.filters.month_box)
        QWidget.setTabOrder(self.filters.month_box, self.filters.place_box)
        QWidget.setTabOrder(self.filters.place_box, self.filters.kind_box)
        QWidget.setTabOrder(self.filters.kind_box, self.filters.order_box)
        QWidget.setTabOrder(self.filters.order_box, self.grid)

    def _restore_settings(self) -> None:
        s = self.settings
        if s.geometry is not None:
            self.restoreGeometry(s.geometry)
        else:
            self.resize(1180, 780)
        if s.window_state is not None:
            self.restoreState(s.window_state)
        self.zoom_slider.setValue(s.thumb_size)
        self._apply_thumb_size(s.thumb_size)
        self.filters.set_order(s.order)
        self.filters.set_kind(s.kind)
        self.search_bar.set_image_weight(s.image_weight)

    def _save_settings(self) -> None:
        s = self.settings
        s.geometry = self.saveGeometry()
        s.window_state = self.saveState()
        s.thumb_size = self.grid.delegate.thumb_size
        s.year, s.month = self.filters.year(), self.filters.month()
        s.place = self.filters.place()
        s.order = self.filters.order()
        s.kind = self.filters.kind()
        s.image_weight = self.search_bar.image_weight()
        s.sync()

    def set_thumb_size(self, size: int) -> None:
        size = max(MIN_SIZE, min(MAX_SIZE, int(size)))
        if size != self.zoom_slider.value():
            self.zoom_slider.setValue(size)  # comes back here through valueChanged
            return
        if size != self.grid.delegate.thumb_size:
            self._apply_thumb_size(size)
            self.settings.thumb_size = size

    def _apply_thumb_size(self, size: int) -> None:
        self.grid.set_thumb_size(size)
        self.model.set_thumb_side(round(self.grid.thumb_side() * self.devicePixelRatioF()))

    # -- searching ------------------------------------------------------------------------------

    def search_now(self) -> None:
        """Run the search the bar and filters describe (results replace the current ones)."""
        self.search.search_now()

    def focus_search(self) -> None:
        self.search_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_bar.edit.selectAll()

    # -- drag and drop: a photo file or image dropped on the window searches by it ---------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if mime_accepts(event.mimeData()) and event.source() is None:
            event.acceptProposedAction()
            self.drop_overlay.show()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if mime_accepts(event.mimeData()) and event.source() is None:
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_overlay.hide()

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_overlay.hide()
        self.search.drop(event)

    # -- empty states and banners ---------------------------------------------------------------

    def set_facts(self, **changes: Any) -> None:
        self._facts = Facts(**{**self._facts.__dict__, **changes})
        self._apply_facts()

    def _apply_facts(self) -> None:
        state = state_for(self._facts)
        if state is None:
            self.stack.setCurrentWidget(self.grid)
        else:
            if self.empty.state != state:
                self.empty.show_state(state)
            self.stack.setCurrentWidget(self.empty)
        f = self._facts
        if f.closest and f.results:
            where = f" {f.filter_label}" if f.filter_label else ""
            self.banner.setText(
                f"Nothing matches “{f.query_label}”{where} closely. These are the nearest "
                "photos; other words or another example photo may find better ones."
            )
            self.banner.show()
        elif f.indexing and f.results:
            done = (
                f"{f.indexed:,} of {f.to_index:,} photos indexed"
                if f.to_index
                else "looking for photos"
            )
            self.banner.setText(
                f"Indexing is under way ({done}): results so far are partial "
                "and will fill in as it goes."
            )
            self.banner.show()
        else:
            self.banner.hide()
        self.update_model_banner()

    def empty_state_key(self) -> str | None:
        """Which empty state shows (None: the grid). For tests and accessibility checks."""
        return (
            self.empty.state.key
            if self.stack.currentWidget() is self.empty and self.empty.state
            else None
        )

    def update_model_banner(self) -> None:
        """The one call to get a model while none answers searches (or while one downloads)."""
        self.model_banner.update_for(self)

    # -- closing --------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.session.close()
        self._save_settings()
        self.model_watcher.stop()
        self.models.cancel()
        self.searcher.cancel()
        self.indexer.shutdown()
        self.loader.shutdown()
        self.pool.waitForDone(10_000)
        self.session.release()
        super().closeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(1180, 780)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Under COMPACT_WIDTH the header's parts give up room, so the search field keeps it."""
        super().resizeEvent(event)
        compact = self.width() < COMPACT_WIDTH
        if compact != self._compact:
            self._compact = compact
            self.search_bar.set_compact(compact)
            self.filters.set_compact(compact)
