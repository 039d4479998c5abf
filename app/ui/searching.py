"""The window's searches: what the search bar, the filters and a dropped or pasted image ask for,
and how an outcome shows (the grid, the summary in the status bar, the empty states)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QDropEvent, QGuiApplication, QImage

from app.core.api import ModelError, Understanding, UserError
from app.ui.captions import counted
from app.ui.image_query import ImageQuery, from_mime, is_video_path
from app.ui.image_reader import qimage_from_pil, read_image
from app.ui.results_model import ResultsModel
from app.ui.search_controller import Outcome, SearchSpec
from app.ui.workers import run_in_thread

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


def describe_result(outcome: Outcome) -> str:
    """The status bar's summary: "1,204 photos · 3 ms", "Newest 10,000 of 52,113 photos · …"."""
    result = outcome.result
    n = len(result.hits)
    total = result.total_candidates
    ms = result.elapsed_ms
    if result.nearest:
        return f"No close matches · the {n:,} nearest · {ms:.0f} ms"
    if outcome.browsing:
        videos = sum(1 for h in result.hits if h.kind == "video")
        what = counted(n - videos, videos)
        text = what if n >= total else f"Newest {n:,} of {total:,} photos"
    else:
        text = f"{n:,} match{'es' if n != 1 else ''}"
    return f"{text} · {ms:.0f} ms"


def query_label(spec: SearchSpec, understood: Understanding | None = None) -> str:
    """What was searched for, as the empty states and the banner name it: the words left once
    a place or a date was taken from them ("red things", not "red things in Barcelona")."""
    words = understood.text if understood is not None and understood.chips else spec.text
    parts = [words] if words else []
    if spec.image is not None:
        parts.append(spec.image.label)
    return " + ".join(parts)


class SearchPresenter(QObject):
    """Turns the window's inputs into `SearchSpec`s for its `SearchController`, and shows what
    comes back."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        window.searcher.finished.connect(self.show_outcome)
        window.searcher.failed.connect(self.show_failure)

    def current_spec(self) -> SearchSpec:
        text = self.window.search_bar.text()
        return SearchSpec(
            text=text,
            image=self.window.search_bar.image(),
            image_weight=self.window.search_bar.image_weight(),
            year=self.window.filters.year(),
            month=self.window.filters.month(),
            order=self.window.filters.order(),
            kind=self.window.filters.kind(),
            everything=self.window.settings.all_matches,
            place=self.window.filters.place(),
            ignore=self.window.chips.ignored(text),
        )

    def set_all_matches(self, everything: bool) -> None:
        """Preferences: every photo best first, or close matches with the weaker on request."""
        self.window.settings.all_matches = everything
        self.search_now()

    def search_now(self) -> None:
        """Run the search the bar and filters describe (results replace the current ones)."""
        spec = self.current_spec()
        self.window.filters.set_order_enabled(not spec.browsing)
        if self.window.library is None:
            return
        self.window.last_spec = spec
        self.window.searcher.submit(spec)
        self.window.result_label.setText("Searching…")

    def show_outcome(self, outcome: Outcome) -> None:
        result = outcome.result
        spec = outcome.spec
        current = self.window.grid.currentIndex()
        keep = current.data(ResultsModel.PhotoIdRole) if current.isValid() else None
        by_date = outcome.browsing or spec.order == "date"  # a timeline, under month headers
        self.window.filters.set_order_enabled(not outcome.browsing)  # "Lisbon": nothing to rank
        self.window.chips.show_understanding(outcome.understood)
        self.window.model.set_hits(
            result.hits,
            outcome.generation,
            scored=not outcome.browsing,
            by_date=by_date,
            source=None if by_date else result.source,  # Find Similar's photo, pinned first
        )
        if keep is not None:
            row = self.window.model.row_of(keep)
            if row is not None:
                self.window.grid.setCurrentIndex(self.window.model.index(row, 0))
        self.window.result_label.setText(describe_result(outcome))
        self.window.set_facts(
            results=len(result.hits),
            needs_model=False,
            search_error=None,
            browsing=outcome.browsing,
            query_label=query_label(spec, outcome.understood),
            filter_label=self.window.filters.describe(outcome.understood),
            kind=spec.kind,
            closest=result.nearest,  # nothing cleared the floor: the nearest, clearly labelled
        )
        self.window.session.searched()

    def show_failure(self, _generation: int, spec: SearchSpec, exc: BaseException) -> None:
        self.window.model.clear(self.window.searcher.generation)
        self.window.result_label.setText("")
        self.window.chips.show_understanding(None)
        if not isinstance(exc, (ModelError, UserError)):
            raise exc  # a bug: the crash dialog
        needs_model = isinstance(exc, ModelError)
        self.window.set_facts(
            results=0,
            closest=False,
            browsing=spec.browsing,
            query_label=query_label(spec),
            filter_label=self.window.filters.describe(),
            kind=spec.kind,
            needs_model=needs_model,
            search_error=None if needs_model else str(exc),
        )
        self.window.session.searched()
        if needs_model:
            # a model installed meanwhile (`photoseek model install`) answers at once
            self.window.session.reload_model()

    def set_order(self, order: str) -> None:
        self.window.filters.set_order(order)
        self.search_now()

    def search_by_image(self, query: ImageQuery) -> None:
        """Show `query` as the chip and search by it (with the words already typed)."""
        self.window.search_bar.set_image(query)
        if query.preview is not None:
            return
        library = self.window.library

        def work() -> QImage | None:
            if query.like_photo_id is not None and query.like_moment_ms is not None and library:
                return qimage_from_pil(library.frame(query.like_photo_id, query.like_moment_ms, 64))
            if query.like_photo_id is not None:
                path = library.thumbnail(query.like_photo_id) if library else None
                return read_image(path, 64) if path else None
            if query.path is not None and is_video_path(query.path):
                # A video's picture: its thumbnail when it is in the library, else none.
                known = library.photo_by_path(query.path) if library else None
                path = library.thumbnail(known.id) if library and known else None
                return read_image(path, 64) if path else None
            return read_image(query.path, 64) if query.path else None

        def show(image: QImage | None) -> None:
            if image is not None:
                self.window.search_bar.set_chip_preview(query, image)

        def failed(exc: BaseException) -> None:
            if not isinstance(exc, (UserError, OSError)):
                raise exc
            self.window.statusBar().showMessage(f"No preview of {query.label}: {exc}", 6000)

        run_in_thread(work, on_result=show, on_error=failed, pool=self.window.pool)

    # -- drop and paste ------------------------------------------------------------------------

    def drop(self, event: QDropEvent) -> None:
        query = from_mime(event.mimeData())
        if query is None:
            self.window.statusBar().showMessage(
                "That is not a photo PhotoSeek can search by. Drop a JPEG, PNG, HEIC or WebP file.",
                6000,
            )
            return
        event.acceptProposedAction()
        self.search_by_image(query)

    def paste_image(self) -> None:
        query = from_mime(QGuiApplication.clipboard().mimeData())
        if query is None:
            self.window.statusBar().showMessage(
                "The clipboard holds no image. Copy a photo or an image file first.", 6000
            )
            return
        self.search_by_image(query)
