"""The window's library session: opening and closing the library, the model that answers
searches, indexing and watcher events, and the status facts (counts, years) they change.

Every library call runs in a worker; this controller turns their outcomes into what the window
shows. It holds the window to update its widgets, as the window's other controllers do.
Just over 400 lines: each library outcome (opened, model state, index run, watcher change,
places and years) has its handler here, so the order they reach the window reads in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.api import (
    ChangeSummary,
    IndexProgress,
    IndexReport,
    JobCancelled,
    Library,
    LibraryStatus,
    ModelState,
    Paths,
    PlaceCount,
    PlaceFilter,
    UserError,
)
from app.ui import theme
from app.ui.languages import default_language
from app.ui.model_rows import ensure_language, search_note
from app.ui.workers import run_in_thread

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

log = logging.getLogger(__name__)

BROWSE_REFRESH_MS = 2500  # while indexing, an empty or untouched browse grid refreshes this often


def default_open_library(paths: Paths) -> Library:
    return Library.open(paths)


class LibrarySession(QObject):
    """The open library (None while it opens or after it failed) and its model state."""

    model_state_changed = Signal(object)  # the library's ModelState after a reload

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.library: Library | None = None
        self.model_state: ModelState | None = None  # once known
        self.closing = False
        self._wanted_year: int | None = None
        self._wanted_month: int | None = None
        self._wanted_place: PlaceFilter | None = None
        self._searched = False  # the first search has answered
        self._status_known = False  # the first counts are in
        self._refresh_timer = QTimer(self, interval=BROWSE_REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_while_indexing)
        indexer = window.indexer
        indexer.progress.connect(self._index_progress)
        indexer.running_changed.connect(self._index_running)
        indexer.finished.connect(self._index_finished)
        indexer.failed.connect(self._index_failed)
        indexer.library_changed.connect(self._library_changed)
        indexer.watch_failed.connect(self._watch_failed)

    def open(
        self,
        library: Library | None,
        open_library: Callable[[Paths], Library],
        year: int | None,
        month: int | None,
        place: PlaceFilter | None = None,
    ) -> None:
        """Take `library`, or open one in a worker; then select `year`/`month`/`place` if they
        exist."""
        self._wanted_year, self._wanted_month, self._wanted_place = year, month, place
        if library is not None:
            QTimer.singleShot(0, lambda: self._library_ready(library))
        else:
            paths = self.window.paths
            run_in_thread(
                lambda: open_library(paths),
                on_result=self._library_ready,
                on_error=self._library_failed,
                pool=self.window.pool,
            )

    def _library_ready(self, library: Library) -> None:
        if self.closing:
            library.close()
            return
        self.library = library
        self.window.loader.set_fetch(library.thumbnail, library.frame)
        self.window.searcher.set_library(library)
        # "Opening your library…" stays until the first counts and photos are in (`_opened`):
        # never a flash of "No photos" while they load.
        self.window.set_facts(open_error=None, needs_model=False)
        self.reload_years(
            select_year=self._wanted_year,
            select_month=self._wanted_month,
            select_place=self._wanted_place,
            search=True,
        )
        run_in_thread(
            library.status,
            on_result=self._first_status,
            on_error=self._failed,
            pool=self.window.pool,
        )
        run_in_thread(
            library.model_state,
            on_result=self._model_state_loaded,
            on_error=self._model_failed,
            pool=self.window.pool,
        )

    def _library_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, UserError):
            raise exc
        self.window.set_facts(opening=False, open_error=str(exc))

    def searched(self) -> None:
        """A search has answered (the window shows its outcome): the library is open."""
        self._searched = True
        self._opened()

    def _opened(self) -> None:
        if self._searched and self._status_known and self.window.facts.opening:
            self.window.set_facts(opening=False)

    def _failed(self, exc: BaseException) -> None:
        """A library call that is not a search: a problem the user can fix goes to the status
        line; anything else is a bug for the crash dialog."""
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self._searched = self._status_known = True  # nothing more is coming: stop "Opening…"
        self._opened()
        self.window.statusBar().showMessage(f"The library could not be read: {exc}", 15000)

    def _first_status(self, status: LibraryStatus) -> None:
        """The library is open: start indexing and watching, or welcome a first-time user."""
        self._status_loaded(status)
        if self.library is None:
            return
        if status.folders:
            self.window.indexer.start(self.library)
        self.window.indexer.watch(self.library)
        if self.window.welcome and not status.folders and not self.window.settings.welcomed:
            QTimer.singleShot(0, self.window.user_actions.show_welcome)

    def _status_loaded(self, status: LibraryStatus) -> None:
        self.window.index_status.set_skipped(status.skipped)
        self.window.set_facts(
            folders=len(status.folders),
            photos=status.indexed,
            pending=status.pending,
            has_model=status.has_model,
        )
        self._status_known = True
        self._opened()

    def refresh_facts(self) -> None:
        """Counts, folders and the date filters, after anything changed the library."""
        if self.library is None:
            return
        run_in_thread(
            self.library.status,
            on_result=self._status_loaded,
            on_error=self._failed,
            pool=self.window.pool,
        )
        self.reload_years()

    def reload_years(
        self,
        select_year: int | None = None,
        select_month: int | None = None,
        select_place: PlaceFilter | None = None,
        search: bool = False,
    ) -> None:
        """Fill the date and place filters; search again when the selection changed (or
        `search`)."""
        library = self.library
        filters = self.window.filters
        YearsMonths = tuple[
            list[tuple[int, int]], list[tuple[int, int]], int | None, list[PlaceCount]
        ]

        def work() -> YearsMonths:
            assert library is not None
            years = library.years()
            year = select_year if select_year is not None else filters.year()
            if year is not None and year not in {y for y, _ in years}:
                year = None
            return years, library.months(year), year, library.places()

        def done(value: YearsMonths) -> None:
            years, months, year, places = value
            before = (filters.year(), filters.month(), filters.place())
            filters.set_years(years, select=year)
            filters.set_months(months, select=select_month)
            filters.set_places(places, select=select_place)
            after = (filters.year(), filters.month(), filters.place())
            if after != before or select_year is not None or search:
                self.window.search_now()

        if library is not None:
            run_in_thread(work, on_result=done, on_error=self._failed, pool=self.window.pool)

    def load_months(self, year: int | None) -> None:
        library = self.library
        if library is None:
            return

        def done(months: list[tuple[int, int]]) -> None:
            if self.window.filters.year() == year:
                self.window.filters.set_months(months)
                self.window.search_now()

        run_in_thread(
            lambda: library.months(year),
            on_result=done,
            on_error=self._failed,
            pool=self.window.pool,
        )

    # -- indexing ---------------------------------------------------------------------------------

    def rescan(self) -> None:
        """F5: take up a model installed meanwhile, then bring the library up to date."""
        if self.library is not None:
            self.reload_model()
            self.window.indexer.start(self.library)

    def folder_added(self, path: str) -> None:
        self.refresh_facts()
        if self.library is not None:
            self.window.indexer.start(self.library, [Path(path)])

    def folder_removed(self, _path: str) -> None:
        self.refresh_facts()
        self.window.search_now()

    def _index_running(self, running: bool) -> None:
        self.window.index_status.set_running(running)
        self.window.user_actions.pause_action.setEnabled(running)
        self.window.set_facts(indexing=running)
        if running:
            self._refresh_timer.start()
        else:
            self._refresh_timer.stop()

    def _index_progress(self, progress: IndexProgress) -> None:
        self.window.index_status.set_progress(progress)
        if progress.skipped:
            self.window.index_status.set_skipped(progress.skipped)
        if progress.phase != "scanning":
            self.window.set_facts(indexed=progress.done, to_index=progress.total)

    def _index_finished(self, report: IndexReport) -> None:
        log.info("indexing finished: %s", report)
        self.refresh_facts()
        self._refresh_model_state()  # a chosen model that has encoded everything now serves
        self.window.search_now()

    def _index_failed(self, exc: BaseException) -> None:
        if isinstance(exc, JobCancelled):
            return
        if isinstance(exc, UserError):
            self.window.statusBar().showMessage(f"Indexing stopped: {exc}", 15000)
            return
        raise exc

    def _watch_failed(self, message: str) -> None:
        """The watcher could not follow a folder: say so; indexing (F5) still catches up."""
        self.window.statusBar().showMessage(message, 15000)

    def _library_changed(self, summary: ChangeSummary) -> None:
        log.info("folders changed: %s", summary)
        self.refresh_facts()
        if self.window.last_spec.browsing or summary.deleted or summary.moved:
            self.window.search_now()

    def _refresh_while_indexing(self) -> None:
        """Browsing while indexing: show new photos as they arrive, unless the user is busy."""
        grid = self.window.grid
        untouched = (
            grid.verticalScrollBar().value() == 0 and not grid.selectionModel().hasSelection()
        )
        if self.window.last_spec.browsing and untouched and not self.window.searcher.busy():
            self.window.search_now()
        if self.model_state is not None and self.model_state.switching:
            self._refresh_model_state()

    def pause_toggled(self, paused: bool) -> None:
        if paused:
            self.window.indexer.pause()
        else:
            self.window.indexer.resume()
        action = self.window.user_actions.pause_action
        action.setText("&Resume Indexing" if paused else "&Pause Indexing")
        action.setIcon(theme.icon("play" if paused else "pause"))

    # -- the model --------------------------------------------------------------------------------

    def reload_model(self, then: Callable[[ModelState], object] | None = None) -> None:
        """Take up models installed, removed or chosen (here or by `photoseek model`); search
        keeps answering meanwhile. Then index for the chosen model if it needs it."""
        library = self.library
        if library is None:
            return

        def loaded(state: ModelState) -> None:
            if library is self.library:
                self._model_state_loaded(state, start_index=True)
                if then is not None:
                    then(state)

        run_in_thread(
            library.reload_model,
            on_result=loaded,
            on_error=self._model_failed,
            pool=self.window.pool,
        )

    def _refresh_model_state(self) -> None:
        library = self.library
        if library is None:
            return

        def loaded(state: ModelState) -> None:
            if library is self.library:
                self._model_state_loaded(state)

        run_in_thread(
            library.model_state,
            on_result=loaded,
            on_error=self._model_failed,
            pool=self.window.pool,
        )

    def _model_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.window.statusBar().showMessage(f"The search model could not be loaded: {exc}", 15000)

    def _model_state_loaded(self, state: ModelState, start_index: bool = False) -> None:
        before = self.model_state
        self.model_state = state
        served_before = before.serving if before is not None else None
        self.window.set_facts(has_model=state.serving is not None)
        note = search_note(state)
        self.window.model_label.setText(note)
        self.window.model_label.setVisible(bool(note))
        self.window.index_status.set_model(state.active if state.switching else None)
        self.window.update_model_banner()
        self.model_state_changed.emit(state)
        if start_index and self.library and state.active and state.encoded < state.total:
            self.window.indexer.start(self.library)  # encodes what the chosen model has not seen
        if state.serving != served_before and before is not None:
            log.info("search now uses %s", state.serving)
            self.refresh_facts()
            self.window.search_now()
        if state.active and (before is None or before.active != state.active):
            self._default_language()

    def _default_language(self) -> None:
        """A multilingual model searches in the UI's language until the user picks another."""
        paths = self.window.paths

        def done(changed: bool) -> None:
            if changed:
                self.reload_model()

        run_in_thread(
            lambda: ensure_language(paths, default_language),
            on_result=done,
            on_error=self._language_failed,
            pool=self.window.pool,
        )

    def _language_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.window.statusBar().showMessage(
            f"No search language was set ({exc}); choose one in Library > Models.", 15000
        )

    # -- closing ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the timer and close the library (after the window's workers have ended)."""
        self.closing = True
        self._refresh_timer.stop()

    def release(self) -> None:
        if self.library is not None:
            self.library.close()
            self.library = None
