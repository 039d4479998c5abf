"""The PhotoSeek window: search bar and date filters above, the thumbnail grid (or an empty state
that says what is going on) in the middle, results and indexing progress in the status bar.

The window only presents. Searching, indexing and every other library call run in workers
(`app.ui.workers.run_in_thread`); their results arrive as signals on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt, QThreadPool, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPalette,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.api import JobCancelled, ModelError, Paths, UserError
from app.ui import file_actions, theme
from app.ui.empty_state import EmptyStatePage, Facts, state_for
from app.ui.filters import FilterBar
from app.ui.first_run import FirstRunDialog
from app.ui.folders_dialog import FoldersDialog
from app.ui.grid_view import ResultsView
from app.ui.image_query import ImageQuery, from_mime, mime_accepts
from app.ui.index_status import IndexStatus
from app.ui.indexing import IndexController
from app.ui.languages import default_language
from app.ui.model_manager import ModelManager, default_installer
from app.ui.model_panel import default_offer
from app.ui.model_rows import ensure_language, search_note
from app.ui.model_watch import ModelFolderWatcher
from app.ui.models_dialog import ModelsDialog, choose_source_dialog, confirm_dialog
from app.ui.preview import PreviewDialog
from app.ui.results_model import ResultsModel
from app.ui.search_bar import SearchBar
from app.ui.search_controller import Outcome, SearchController, SearchSpec
from app.ui.settings import UiSettings
from app.ui.skipped_dialog import SkippedDialog
from app.ui.thumb_delegate import MAX_SIZE, MIN_SIZE
from app.ui.thumb_loader import ThumbLoader, read_image
from app.ui.workers import run_in_thread

log = logging.getLogger(__name__)

ZOOM_STEP = 16
BROWSE_REFRESH_MS = 2500  # while indexing, an empty or untouched browse grid refreshes this often


def default_open_library(paths: Paths) -> Any:
    from app.core.api import Library

    return Library.open(paths)


def describe_result(outcome: Outcome) -> str:
    """The status bar's summary: "1,204 photos · 3 ms", "Newest 10,000 of 52,113 photos · …"."""
    result = outcome.result
    n = len(result.hits)
    total = getattr(result, "total_candidates", n)
    ms = getattr(result, "elapsed_ms", outcome.elapsed_s * 1000)
    if outcome.spec.closest:
        return f"No close matches · the {n:,} nearest · {ms:.0f} ms"
    if outcome.spec.browsing:
        text = (
            f"{n:,} photo{'s' if n != 1 else ''}"
            if n >= total
            else f"Newest {n:,} of {total:,} photos"
        )
    else:
        text = f"{n:,} match{'es' if n != 1 else ''}"
    return f"{text} · {ms:.0f} ms"


class MainWindow(QMainWindow):
    """The main window over one `Library` (given, or opened in a worker by `open_library`).

    `installer`, `choose_source` and `confirm` are seams for tests: the model download, the
    file picker of "Install from Folder or Archive" and the removal question."""

    model_state_changed = Signal(object)  # the library's ModelState after a reload

    def __init__(
        self,
        paths: Paths,
        library: Any = None,
        *,
        settings: UiSettings | None = None,
        open_library: Callable[[Paths], Any] = default_open_library,
        welcome: bool = True,
        installer: Callable[..., Path] = default_installer,
        choose_source: Callable[[QWidget, str], str | None] = choose_source_dialog,
        confirm: Callable[[QWidget, str], bool] = confirm_dialog,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self._choose_source = choose_source
        self._confirm = confirm
        self.library: Any = None
        self.model_state: Any = None  # the library's ModelState, once known
        self._models_dialog: ModelsDialog | None = None
        self.settings = settings or UiSettings(paths.config / "window.ini")
        self._open_library = open_library
        self._welcome = welcome
        self._last_spec = SearchSpec()
        self._closing = False
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)  # indexing, search, and small library calls side by side
        self.models = ModelManager(paths, self.pool, installer, self)
        self.default_model, self.model_offer = default_offer()
        self._facts = Facts(opening=True, model_offer=self.model_offer)

        self.setWindowTitle("PhotoSeek")
        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        self.setMinimumSize(640, 420)
        self._build()
        self._build_menus()
        self._restore_settings()

        self.searcher = SearchController(self.pool, self)
        self.searcher.attach_results(self.model)  # "Show N weaker matches" re-runs the query
        self.searcher.finished.connect(self._search_finished)
        self.searcher.failed.connect(self._search_failed)
        self.indexer = IndexController(self.pool, self)
        self.indexer.progress.connect(self._index_progress)
        self.indexer.running_changed.connect(self._index_running)
        self.indexer.finished.connect(self._index_finished)
        self.indexer.failed.connect(self._index_failed)
        self.indexer.library_changed.connect(self._library_changed)
        self.models.changed.connect(self.reload_model)
        for signal in (self.models.busy_changed, self.models.progress, self.models.failed):
            signal.connect(lambda *_: self._update_model_banner())
        self.models.cancelled.connect(lambda *_: self._update_model_banner())
        self.model_watcher = ModelFolderWatcher(paths.ensure(), parent=self)
        self.model_watcher.changed.connect(self.reload_model)
        self._refresh_timer = QTimer(self, interval=BROWSE_REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_while_indexing)

        self.search_bar.setFocus()
        if library is not None:
            QTimer.singleShot(0, lambda: self._library_ready(library))
        else:
            self._apply_facts()
            run_in_thread(
                lambda: self._open_library(self.paths),
                on_result=self._library_ready,
                on_error=self._library_failed,
                pool=self.pool,
            )

    # -- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.search_bar = SearchBar(self)
        self.search_bar.search_requested.connect(self.search_now)
        self.filters = FilterBar(self)
        self.filters.changed.connect(self.search_now)
        self.filters.year_changed.connect(self._load_months)
        header = QWidget(self)
        row = QHBoxLayout(header)
        row.setContentsMargins(10, 8, 10, 8)
        row.setSpacing(8)
        row.addWidget(self.search_bar, 1)
        row.addWidget(self.filters)

        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setContentsMargins(12, 6, 12, 6)
        self.banner.setAutoFillBackground(True)
        self.banner.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.banner.setAccessibleName("Notice")
        self.banner.linkActivated.connect(self._empty_action)
        self.banner.hide()

        self.model_banner = QWidget(self)
        self.model_banner.setAutoFillBackground(True)
        self.model_banner.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.model_banner.setAccessibleName("Search model")
        mrow = QHBoxLayout(self.model_banner)
        mrow.setContentsMargins(12, 6, 12, 6)
        mrow.addWidget(theme.IconLabel("model", 20, self.model_banner))
        self.model_banner_text = QLabel(self.model_banner)
        self.model_banner_text.setWordWrap(True)
        self.model_banner_text.setTextFormat(Qt.TextFormat.PlainText)
        self.model_banner_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        mrow.addWidget(self.model_banner_text, 1)
        self.model_button = QPushButton(self.model_banner)
        self.model_button.clicked.connect(self._model_banner_clicked)
        mrow.addWidget(self.model_button)
        self.model_banner.hide()

        self.loader = ThumbLoader(lambda pid: None, parent=self)
        self.model = ResultsModel(self.loader, self)
        self.grid = ResultsView(self)
        self.grid.setModel(self.model)
        self.grid.open_requested.connect(self.open_preview)
        self.grid.menu_requested.connect(self._context_menu)
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
        self.empty.action.connect(self._empty_action)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.empty)

        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(header)
        column.addWidget(self.model_banner)
        column.addWidget(self.banner)
        column.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        status = self.statusBar()
        self.result_label = QLabel(self)
        self.result_label.setAccessibleName("Search results summary")
        self.result_label.setContentsMargins(8, 0, 0, 0)
        status.addWidget(self.result_label, 1)
        self.model_label = QLabel(self)
        self.model_label.setAccessibleName("Which model answers searches")
        self.model_label.hide()
        status.addPermanentWidget(self.model_label)
        self.index_status = IndexStatus(self)
        self.index_status.pause_toggled.connect(self._pause_toggled)
        self.index_status.show_skipped.connect(self.show_skipped)
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
        QWidget.setTabOrder(self.filters.month_box, self.filters.order_box)
        QWidget.setTabOrder(self.filters.order_box, self.grid)

    def _build_menus(self) -> None:
        def action(
            menu: QMenu,
            text: str,
            slot: Callable[[], Any],
            keys: QKeySequence.StandardKey | str | list[Any] | None = None,
            icon: str | None = None,
        ) -> QAction:
            act = QAction(text, self)
            if icon:
                act.setIcon(theme.icon(icon))
            if isinstance(keys, list):
                act.setShortcuts([QKeySequence(k) for k in keys])
            elif keys is not None:
                act.setShortcut(QKeySequence(keys))
            act.triggered.connect(lambda _checked=False: slot())
            menu.addAction(act)
            self.addAction(act)
            return act

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        action(file_menu, "&Add Folder…", self.add_folder, "Ctrl+O", "folder-add")
        action(file_menu, "Photo &Folders…", self.manage_folders, "Ctrl+Shift+O", "folder")
        file_menu.addSeparator()
        action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit = bar.addMenu("&Edit")
        action(
            edit, "&Find", self.focus_search, [QKeySequence.StandardKey.Find, "Ctrl+L"], "search"
        )
        action(edit, "&Paste Image to Search", self.paste_image, QKeySequence.StandardKey.Paste)
        edit.addSeparator()
        self.copy_action = action(
            edit, "&Copy Path", self.copy_selected_paths, "Ctrl+Shift+C", "copy"
        )
        self.similar_action = action(
            edit, "Find &Similar", self.find_similar_selected, "Ctrl+Shift+F", "similar"
        )

        view = bar.addMenu("&View")
        action(
            view,
            "&Larger Thumbnails",
            lambda: self.set_thumb_size(self.grid.delegate.thumb_size + ZOOM_STEP),
            QKeySequence.StandardKey.ZoomIn,
        )
        action(
            view,
            "&Smaller Thumbnails",
            lambda: self.set_thumb_size(self.grid.delegate.thumb_size - ZOOM_STEP),
            QKeySequence.StandardKey.ZoomOut,
        )
        view.addSeparator()
        action(view, "Sort by &Best Match", lambda: self._set_order("relevance"), "Ctrl+1")
        action(view, "Sort by &Date", lambda: self._set_order("date"), "Ctrl+2")

        lib = bar.addMenu("&Library")
        self.pause_action = action(lib, "&Pause Indexing", self._toggle_pause, None, "pause")
        action(lib, "&Rescan Folders", self.rescan, QKeySequence.StandardKey.Refresh, "indexing")
        action(lib, "S&kipped Files…", self.show_skipped, None, "skipped")
        lib.addSeparator()
        action(lib, "&Models…", self.show_models_dialog, None, "model")

        help_menu = bar.addMenu("&Help")
        action(help_menu, "Open &Log Folder", self._open_logs)
        action(help_menu, "&About PhotoSeek", self._about)

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
        self.search_bar.set_image_weight(s.image_weight)
        self._wanted_year, self._wanted_month = s.year, s.month

    def _save_settings(self) -> None:
        s = self.settings
        s.geometry = self.saveGeometry()
        s.window_state = self.saveState()
        s.thumb_size = self.grid.delegate.thumb_size
        s.year, s.month = self.filters.year(), self.filters.month()
        s.order = self.filters.order()
        s.image_weight = self.search_bar.image_weight()
        s.sync()

    # -- library lifecycle ----------------------------------------------------------------------

    def _library_ready(self, library: Any) -> None:
        if self._closing:
            library.close()
            return
        self.library = library
        self.loader.set_fetch(library.thumbnail)
        self.searcher.set_library(library)
        self._set_facts(opening=False, open_error=None, needs_model=False)
        self._reload_years(select_year=self._wanted_year, select_month=self._wanted_month)
        run_in_thread(library.status, on_result=self._first_status, pool=self.pool)
        run_in_thread(library.model_state, on_result=self._model_state_loaded, pool=self.pool)

    def _library_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, UserError):
            raise exc
        self._set_facts(opening=False, open_error=str(exc))

    def _first_status(self, status: Any) -> None:
        """The library is open: start indexing and watching, or welcome a first-time user."""
        self._status_loaded(status)
        if self.library is None:
            return
        if status.folders:
            self.indexer.start(self.library)
        self.indexer.watch(self.library)
        if self._welcome and not status.folders and not self.settings.welcomed:
            QTimer.singleShot(0, self.show_welcome)

    def _status_loaded(self, status: Any) -> None:
        self.index_status.set_skipped(status.skipped)
        self._set_facts(
            folders=len(status.folders),
            photos=status.indexed,
            pending=status.pending,
            has_model=status.has_model,
        )

    def _refresh_library_facts(self) -> None:
        """Counts, folders and the date filters, after anything changed the library."""
        if self.library is None:
            return
        run_in_thread(self.library.status, on_result=self._status_loaded, pool=self.pool)
        self._reload_years()

    def _reload_years(
        self, select_year: int | None = None, select_month: int | None = None
    ) -> None:
        library = self.library

        def work() -> tuple[list[tuple[int, int]], list[tuple[int, int]], int | None]:
            years = library.years()
            year = select_year if select_year is not None else self.filters.year()
            if year is not None and year not in {y for y, _ in years}:
                year = None
            return years, library.months(year), year

        def done(value: tuple[list[tuple[int, int]], list[tuple[int, int]], int | None]) -> None:
            years, months, year = value
            before = (self.filters.year(), self.filters.month())
            self.filters.set_years(years, select=year)
            self.filters.set_months(months, select=select_month)
            if (self.filters.year(), self.filters.month()) != before or select_year is not None:
                self.search_now()

        if library is not None:
            run_in_thread(work, on_result=done, pool=self.pool)

    def _load_months(self, year: int | None) -> None:
        library = self.library
        if library is None:
            return

        def done(months: list[tuple[int, int]]) -> None:
            if self.filters.year() == year:
                self.filters.set_months(months)
                self.search_now()

        run_in_thread(lambda: library.months(year), on_result=done, pool=self.pool)

    # -- searching ------------------------------------------------------------------------------

    def current_spec(self) -> SearchSpec:
        return SearchSpec(
            text=self.search_bar.text(),
            image=self.search_bar.image(),
            image_weight=self.search_bar.image_weight(),
            year=self.filters.year(),
            month=self.filters.month(),
            order=self.filters.order(),
        )

    def search_now(self) -> None:
        """Run the search the bar and filters describe (results replace the current ones)."""
        spec = self.current_spec()
        self.filters.set_order_enabled(not spec.browsing)
        if self.library is None:
            return
        self._last_spec = spec
        self.searcher.submit(spec)
        self.result_label.setText("Searching…")

    def _search_finished(self, outcome: Outcome) -> None:
        result = outcome.result
        spec = outcome.spec
        if not result.hits and not spec.browsing and not spec.closest and result.total_candidates:
            # Nothing clears the relevance floor: show the nearest photos, clearly labelled,
            # rather than an empty grid for a query the user just typed.
            self._last_spec = replace(spec, closest=True)
            self.searcher.submit(self._last_spec)
            return
        current = self.grid.currentIndex()
        keep = current.data(ResultsModel.PhotoIdRole) if current.isValid() else None
        self.model.set_hits(result.hits, outcome.generation)
        if keep is not None:
            row = self.model.row_of(keep)
            if row is not None:
                self.grid.setCurrentIndex(self.model.index(row, 0))
        n = len(result.hits)
        self.result_label.setText(describe_result(outcome))
        self._set_facts(
            results=n,
            needs_model=False,
            search_error=None,
            browsing=outcome.spec.browsing,
            query_label=self._query_label(outcome.spec),
            filter_label=self.filters.describe(),
            closest=spec.closest,
        )

    def _search_failed(self, _generation: int, spec: SearchSpec, exc: BaseException) -> None:
        self.model.clear(self.searcher.generation)
        self.result_label.setText("")
        facts = dict(
            results=0,
            closest=False,
            browsing=spec.browsing,
            query_label=self._query_label(spec),
            filter_label=self.filters.describe(),
        )
        if isinstance(exc, ModelError):
            self._set_facts(needs_model=True, search_error=None, **facts)
            self.reload_model()  # a model installed by `photoseek model install` is used at once
        elif isinstance(exc, UserError):
            self._set_facts(needs_model=False, search_error=str(exc), **facts)
        else:
            raise exc

    @staticmethod
    def _query_label(spec: SearchSpec) -> str:
        parts = [spec.text] if spec.text else []
        if spec.image is not None:
            parts.append(spec.image.label)
        return " + ".join(parts)

    def focus_search(self) -> None:
        self.search_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_bar.edit.selectAll()

    def search_by_image(self, query: ImageQuery) -> None:
        """Show `query` as the chip and search by it (with the words already typed)."""
        self.search_bar.set_image(query)
        self._load_chip_preview(query)

    def _load_chip_preview(self, query: ImageQuery) -> None:
        if query.preview is not None:
            return
        library = self.library

        def work() -> QImage | None:
            if query.like_photo_id is not None:
                path = library.thumbnail(query.like_photo_id) if library else None
                return read_image(path, 64) if path else None
            return read_image(query.path, 64) if query.path else None

        def show(image: QImage | None) -> None:
            if image is not None:
                self.search_bar.set_chip_preview(query, image)

        run_in_thread(
            work,
            on_result=show,
            on_error=lambda e: log.info("no chip preview: %s", e),
            pool=self.pool,
        )

    def _set_order(self, order: str) -> None:
        self.filters.set_order(order)
        self.search_now()

    # -- drag and drop, paste -------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if mime_accepts(event.mimeData()) and event.source() is None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if mime_accepts(event.mimeData()) and event.source() is None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        query = from_mime(event.mimeData())
        if query is None:
            self.statusBar().showMessage(
                "That is not a photo PhotoSeek can search by. Drop a JPEG, PNG, HEIC or WebP file.",
                6000,
            )
            return
        event.acceptProposedAction()
        self.search_by_image(query)

    def paste_image(self) -> None:
        query = from_mime(QGuiApplication.clipboard().mimeData())
        if query is None:
            self.statusBar().showMessage(
                "The clipboard holds no image. Copy a photo or an image file first.", 6000
            )
            return
        self.search_by_image(query)

    # -- results --------------------------------------------------------------------------------

    def selected_rows(self) -> list[int]:
        rows = sorted(i.row() for i in self.grid.selectionModel().selectedIndexes())
        if not rows and self.grid.currentIndex().isValid():
            rows = [self.grid.currentIndex().row()]
        return rows

    def _context_menu(self, index: QModelIndex, pos: QPoint) -> None:
        menu = self.build_context_menu(index)
        menu.exec(pos)

    def build_context_menu(self, index: QModelIndex) -> QMenu:
        pid = int(index.data(ResultsModel.PhotoIdRole))
        path = Path(index.data(ResultsModel.PathRole))
        menu = QMenu(self)
        menu.setAccessibleName("Photo actions")
        menu.addAction(theme.icon("photo"), "Preview", lambda: self.open_preview(index))
        menu.addAction(theme.icon("open"), "Open", lambda: self.open_path(path))
        menu.addAction(theme.icon("folder"), "Show in Folder", lambda: self.show_path(path))
        menu.addSeparator()
        menu.addAction(
            theme.icon("similar"), "Find Similar", lambda: self.find_similar(pid, path.name)
        )
        menu.addAction(theme.icon("copy"), "Copy Path", self.copy_selected_paths)
        return menu

    def open_preview(self, index: QModelIndex) -> PreviewDialog | None:
        if not index.isValid() or self.library is None:
            return None
        dialog = PreviewDialog(
            self.library,
            int(index.data(ResultsModel.PhotoIdRole)),
            index.data(ResultsModel.PathRole),
            self.pool,
            self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.find_similar.connect(self._similar_from_preview)
        dialog.region_search.connect(self._region_search)
        dialog.open_file.connect(lambda p: self.open_path(Path(p)))
        dialog.show_in_folder.connect(lambda p: self.show_path(Path(p)))
        dialog.open()
        return dialog

    def _similar_from_preview(self, photo_id: int) -> None:
        dialog = self.sender()
        if isinstance(dialog, PreviewDialog):
            dialog.accept()
            self.find_similar(photo_id, dialog.path.name)

    def _region_search(self, photo_id: int, path: str, box: tuple, crop: QImage) -> None:
        """A box dragged over a photo in the preview: find that object in other photos."""
        dialog = self.sender()
        if isinstance(dialog, PreviewDialog):
            dialog.accept()
        query = ImageQuery(
            label=f"Part of {Path(path).name}",
            like_photo_id=photo_id,
            region=tuple(box),
            thumb=None if crop.isNull() else crop,
        )
        self.search_by_image(query)

    def find_similar(self, photo_id: int, name: str) -> None:
        self.search_by_image(ImageQuery(label=f"Like {name}", like_photo_id=photo_id))

    def find_similar_selected(self) -> None:
        rows = self.selected_rows()
        if rows:
            hit = self.model.hit(rows[0])
            self.find_similar(hit.photo_id, Path(hit.path).name)

    def copy_selected_paths(self) -> None:
        rows = self.selected_rows()
        if rows:
            text = file_actions.copy_paths([Path(self.model.hit(r).path) for r in rows])
            count = len(rows)
            self.statusBar().showMessage(
                f"Copied {'the path' if count == 1 else f'{count} paths'}: {text.splitlines()[0]}"
                + ("…" if count > 1 else ""),
                4000,
            )

    def open_path(self, path: Path) -> None:
        if not file_actions.open_file(path):
            self._file_problem(path)

    def show_path(self, path: Path) -> None:
        if not file_actions.show_in_folder(path):
            self._file_problem(path)

    def _file_problem(self, path: Path) -> None:
        if path.exists():
            QMessageBox.information(
                self,
                "PhotoSeek",
                f"No application could open {path.name}. Open it from your "
                f"file manager instead; it is in {path.parent}.",
            )
        else:
            QMessageBox.information(self, "PhotoSeek", file_actions.missing_message(path))

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
        self.model.set_thumb_side(round(size * self.devicePixelRatioF()))

    # -- indexing -------------------------------------------------------------------------------

    def rescan(self) -> None:
        """F5: take up a model installed meanwhile, then bring the library up to date."""
        if self.library is not None:
            self.reload_model()
            self.indexer.start(self.library)

    def _index_running(self, running: bool) -> None:
        self.index_status.set_running(running)
        self.pause_action.setEnabled(running)
        self._set_facts(indexing=running)
        if running:
            self._refresh_timer.start()
        else:
            self._refresh_timer.stop()

    def _index_progress(self, progress: Any) -> None:
        self.index_status.set_progress(progress)
        if getattr(progress, "skipped", 0):
            self.index_status.set_skipped(progress.skipped)
        if progress.phase != "scanning":
            self._set_facts(indexed=progress.done, to_index=progress.total)

    def _index_finished(self, report: Any) -> None:
        log.info("indexing finished: %s", report)
        self._refresh_library_facts()
        self._refresh_model_state()  # a chosen model that has encoded everything now serves
        self.search_now()

    def _index_failed(self, exc: BaseException) -> None:
        if isinstance(exc, JobCancelled):
            return
        if isinstance(exc, UserError):
            self.statusBar().showMessage(f"Indexing stopped: {exc}", 15000)
            return
        raise exc

    def _library_changed(self, summary: Any) -> None:
        log.info("folders changed: %s", summary)
        self._refresh_library_facts()
        if self._last_spec.browsing or summary.deleted or summary.moved:
            self.search_now()

    def _refresh_while_indexing(self) -> None:
        """Browsing while indexing: show new photos as they arrive, unless the user is busy."""
        untouched = (
            self.grid.verticalScrollBar().value() == 0
            and not self.grid.selectionModel().hasSelection()
        )
        if self._last_spec.browsing and untouched and not self.searcher.busy():
            self.search_now()
        if self.model_state is not None and self.model_state.switching:
            self._refresh_model_state()

    def _pause_toggled(self, paused: bool) -> None:
        if paused:
            self.indexer.pause()
        else:
            self.indexer.resume()
        self.pause_action.setText("&Resume Indexing" if paused else "&Pause Indexing")
        self.pause_action.setIcon(theme.icon("play" if paused else "pause"))

    def _toggle_pause(self) -> None:
        self.index_status.pause.toggle()

    # -- dialogs --------------------------------------------------------------------------------

    def add_folder(self) -> None:
        if self.library is None:
            return
        dialog = FoldersDialog(self.library, self.pool, self)
        self._wire_folders(dialog.folders)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        dialog.folders.add()

    def manage_folders(self) -> FoldersDialog | None:
        if self.library is None:
            return None
        dialog = FoldersDialog(self.library, self.pool, self)
        self._wire_folders(dialog.folders)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _wire_folders(self, folders: Any) -> None:
        folders.added.connect(self._folder_added)
        folders.removed.connect(self._folder_removed)

    def _folder_removed(self, _path: str) -> None:
        self._refresh_library_facts()
        self.search_now()

    def _folder_added(self, path: str) -> None:
        self._refresh_library_facts()
        if self.library is not None:
            self.indexer.start(self.library, [Path(path)])

    def show_welcome(self) -> FirstRunDialog | None:
        if self.library is None:
            return None
        dialog = FirstRunDialog(self.library, self.pool, self.models, parent=self)
        dialog.folder_added.connect(self._folder_added)
        dialog.models_requested.connect(self.show_models_dialog)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self.settings, "welcomed", True))
        dialog.open()
        return dialog

    def show_models_dialog(self, select: str | None = None) -> ModelsDialog:
        """Library > Models: the one open Models dialog, raised, with `select` selected."""
        dialog = self._models_dialog
        if dialog is None:
            dialog = ModelsDialog(
                self.paths,
                self.models,
                self.pool,
                state=self.model_state,
                select=select,
                choose_source=self._choose_source,
                confirm=self._confirm,
                parent=self,
            )
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.model_state_changed.connect(dialog.set_state)
            dialog.destroyed.connect(lambda *_: setattr(self, "_models_dialog", None))
            self._models_dialog = dialog
            dialog.show()
        elif select:
            dialog.select(select)
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def get_model(self) -> ModelsDialog:
        """The one call to get a model: the Models dialog, downloading the default model."""
        dialog = self.show_models_dialog(self.default_model)
        if not self.models.busy():
            dialog.download(self.default_model)
        return dialog

    # -- the model ------------------------------------------------------------------------------

    def reload_model(self, then: Callable[[Any], None] | None = None) -> None:
        """Take up models installed, removed or chosen (here or by `photoseek model`); search
        keeps answering meanwhile. Then index for the chosen model if it needs it."""
        library = self.library
        if library is None:
            return

        def loaded(state: Any) -> None:
            if library is self.library:
                self._model_state_loaded(state, start_index=True)
                if then is not None:
                    then(state)

        run_in_thread(
            library.reload_model, on_result=loaded, on_error=self._model_failed, pool=self.pool
        )

    def _refresh_model_state(self) -> None:
        library = self.library
        if library is not None:
            run_in_thread(
                library.model_state,
                on_result=lambda s: library is self.library and self._model_state_loaded(s),
                pool=self.pool,
            )

    def _model_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.statusBar().showMessage(f"The search model could not be loaded: {exc}", 15000)

    def _model_state_loaded(self, state: Any, start_index: bool = False) -> None:
        before = self.model_state
        self.model_state = state
        served_before = before.serving if before is not None else None
        self._set_facts(has_model=state.serving is not None)
        note = search_note(state)
        self.model_label.setText(note)
        self.model_label.setVisible(bool(note))
        self.index_status.set_model(state.active if state.switching else None)
        self._update_model_banner()
        self.model_state_changed.emit(state)
        if start_index and state.active and state.encoded < state.total:
            self.indexer.start(self.library)  # encodes what the chosen model has not seen
        if state.serving != served_before and before is not None:
            log.info("search now uses %s", state.serving)
            self._refresh_library_facts()
            self.search_now()
        if state.active and (before is None or before.active != state.active):
            self._default_language()

    def _default_language(self) -> None:
        """A multilingual model searches in the UI's language until the user picks another."""
        paths = self.paths

        def done(changed: bool) -> None:
            if changed:
                self.reload_model()

        run_in_thread(
            lambda: ensure_language(paths, default_language),
            on_result=done,
            on_error=lambda e: log.info("no default search language: %s", e),
            pool=self.pool,
        )

    def _update_model_banner(self) -> None:
        """The one call to get a model while none answers searches (or while one downloads)."""
        m = self.models
        if m.busy():
            p = m.last_progress
            self.model_banner_text.setText(
                f"Getting the search model {m.current}: {p.text() if p else 'starting…'}"
            )
            self.model_button.setText("Show Progress")
        elif self.library is None or self._facts.has_model or self._facts.opening:
            self.model_banner.hide()
            return
        elif m.last_error:
            self.model_banner_text.setText(
                f"The search model could not be installed: {m.last_error}"
            )
            self.model_button.setText("Try Again")
        else:
            shown = self._facts.photos + self._facts.pending
            self.model_banner_text.setText(
                ("Your photos are shown newest first. " if shown else "")
                + "To search your photos by words or by an example photo, get a search model: "
                "downloaded once, it runs on this computer."
            )
            self.model_button.setText(self.model_offer)
        self.model_banner.setVisible(self.empty_state_key() != "no-model")

    def _model_banner_clicked(self) -> None:
        if self.models.busy():
            self.show_models_dialog()
        elif self.models.last_error:
            self.models.last_error = None
            # Maybe it was installed meanwhile (`photoseek model install`); else download again
            # (an interrupted download resumes where it stopped).
            self.reload_model(lambda state: None if state.serving else self.get_model())
        else:
            self.get_model()

    def show_skipped(self) -> SkippedDialog | None:
        if self.library is None:
            return None
        dialog = SkippedDialog(self.library, self.pool, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _about(self) -> None:
        from app import __version__

        QMessageBox.about(
            self,
            "About PhotoSeek",
            f"<b>PhotoSeek {__version__}</b><br>Find any photo on your own computer "
            "by describing it or by example. Runs locally and privately.",
        )

    def _open_logs(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.paths.logs)))

    # -- empty states ---------------------------------------------------------------------------

    def _set_facts(self, **changes: Any) -> None:
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
        self._update_model_banner()

    def _empty_action(self, key: str) -> None:
        actions: dict[str, Callable[[], Any]] = {
            "add-folder": self.add_folder,
            "manage-folders": self.manage_folders,
            "install-model": self.get_model,
            "clear-search": self.search_bar.clear,
            "clear-filters": self.filters.clear_filters,
            "skipped": self.show_skipped,
            "open-logs": self._open_logs,
        }
        actions[key]()

    def empty_state_key(self) -> str | None:
        """Which empty state shows (None: the grid). For tests and accessibility checks."""
        return (
            self.empty.state.key
            if self.stack.currentWidget() is self.empty and self.empty.state
            else None
        )

    # -- closing --------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closing = True
        self._save_settings()
        self.model_watcher.stop()
        self.models.cancel()
        self._refresh_timer.stop()
        self.searcher.cancel()
        self.indexer.shutdown()
        self.loader.shutdown()
        self.pool.waitForDone(10_000)
        if self.library is not None:
            self.library.close()
            self.library = None
        super().closeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(1180, 780)
