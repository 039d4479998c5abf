"""Runs searches off the GUI thread, one at a time, and lets only the newest one through.

Every request gets a generation number. While a search runs, newer requests replace each other
in a one-slot queue; when the running one ends, only the latest waiting one starts. Results of a
search the user has already replaced are dropped.

When attached to the results model (`attach_results`), the controller tells it how many weaker
matches each shown search hid, and re-runs that search without the floor when the user asks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, QThreadPool, Signal

from app.core.api import Library, PlaceFilter, Query, SearchResult, Understanding
from app.ui.image_query import ImageQuery
from app.ui.workers import Worker, run_in_thread

if TYPE_CHECKING:
    from app.ui.results_model import ResultsModel

log = logging.getLogger(__name__)

SEARCH_TOP_K = 2_000
# Browsing lists the whole library for the timeline and its scrubber; 100,000 photos take ~0.75 s
# to read in the worker and ~0.13 s to lay out (bench/RESULTS.md, Session 5).
BROWSE_TOP_K = 200_000
CLOSEST_K = 48  # when nothing clears the relevance floor, show this many nearest photos


@dataclass(frozen=True)
class SearchSpec:
    """What the window asks for, in UI terms; `build_query` turns it into an engine `Query`."""

    text: str = ""
    image: ImageQuery | None = None
    image_weight: float = 0.5
    year: int | None = None
    month: int | None = None
    order: Literal["relevance", "date"] = "relevance"
    kind: Literal["all", "photo", "video"] = "all"
    everything: bool = False  # no relevance floor: the user asked for the weaker matches too
    place: PlaceFilter | None = None
    ignore: tuple[str, ...] = ()  # spans of the text whose chips the user removed

    @property
    def browsing(self) -> bool:
        """No words and no image: the grid lists the library, newest first."""
        return not self.text and self.image is None


def build_query(spec: SearchSpec, understood: Understanding | None = None) -> Query:
    """The engine `Query` for `spec`. Runs in the worker (pasted pixels get encoded here).
    A typed or example-photo search asks for the CLOSEST_K nearest photos when none clears
    the relevance floor (flagged `SearchResult.nearest`), in the same search. With
    `understood`, its words are the query and the place and dates it named replace the
    filters' (a chip the user sees and can remove)."""
    image = spec.image
    u = understood
    if u is not None:
        text = u.text
        spec = replace(
            spec,
            text=text,
            place=u.place if u.place is not None else spec.place,
            year=u.year if u.year is not None else spec.year,
            month=u.month if u.month is not None else spec.month,
        )
    return Query(
        text=spec.text or None,
        image=image.engine_image() if image is not None else None,
        image_weight=spec.image_weight if (image is not None and spec.text) else 1.0,
        region=image.region if image is not None else None,
        like_photo_id=image.like_photo_id if image is not None else None,
        like_moment_ms=image.like_moment_ms if image is not None else None,
        year=spec.year,
        month=spec.month,
        kind=spec.kind,
        place=spec.place,
        order="date" if spec.browsing else spec.order,
        top_k=BROWSE_TOP_K if spec.browsing else SEARCH_TOP_K,
        min_score=float("-inf") if spec.everything else None,
        nearest_k=0 if spec.browsing else CLOSEST_K,
    )


@dataclass(frozen=True)
class Outcome:
    generation: int
    spec: SearchSpec
    result: SearchResult
    elapsed_s: float
    understood: Understanding | None = None  # what the typed words named (the chips)

    @property
    def browsing(self) -> bool:
        """Nothing to rank by: no image, and no words left once places and dates are taken."""
        words = self.understood.text if self.understood is not None else self.spec.text
        return not words and self.spec.image is None


class SearchController(QObject):
    """`submit(spec)` → `finished(Outcome)` or `failed(generation, spec, exc)`, newest only."""

    finished = Signal(object)  # Outcome
    failed = Signal(int, object, object)  # generation, spec, exception
    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._library: Library | None = None
        self.generation = 0
        self._running: Worker | None = None
        self._waiting: tuple[int, SearchSpec] | None = None
        self._results: ResultsModel | None = None  # the model showing our results, once attached
        self._shown: tuple[int, SearchSpec] | None = None  # the last search handed over

    def set_library(self, library: Library) -> None:
        self._library = library

    def attach_results(self, model: ResultsModel) -> None:
        """Let `model` (a ResultsModel) offer the weaker matches of the searches it shows."""
        self._results = model
        model.show_weaker_requested.connect(self.show_weaker)

    def show_weaker(self, generation: int) -> int | None:
        """Run the search shown as `generation` again without the floor; its generation, or
        None when that search is no longer the one on screen."""
        shown = self._shown
        if shown is None or shown[0] != generation:
            return None
        return self.submit(replace(shown[1], everything=True))

    def submit(self, spec: SearchSpec) -> int:
        """Ask for `spec`; returns its generation. Older requests' results will be dropped."""
        self.generation += 1
        if self._running is not None:
            self._waiting = (self.generation, spec)
        else:
            self._start(self.generation, spec)
        return self.generation

    def busy(self) -> bool:
        return self._running is not None

    def cancel(self) -> None:
        """Forget every request (the window is closing or the library is being replaced)."""
        self.generation += 1
        self._waiting = None
        if self._running is not None:
            self._running.cancel()
            self._running = None
            self.busy_changed.emit(False)

    def _start(self, generation: int, spec: SearchSpec) -> None:
        library = self._library
        if library is None:
            return

        def work() -> tuple[SearchResult, float, Understanding | None]:
            t0 = time.perf_counter()
            understood = library.understand(spec.text, ignore=spec.ignore) if spec.text else None
            result = library.search(build_query(spec, understood))
            return result, time.perf_counter() - t0, understood

        was_busy = self._running is not None
        self._running = run_in_thread(
            work,
            on_result=lambda value: self._done(generation, spec, value),
            on_error=lambda exc: self._error(generation, spec, exc),
            on_finished=self._next,
            pool=self._pool,
            priority=10,  # before thumbnails and previews
        )
        if not was_busy:
            self.busy_changed.emit(True)

    def _done(
        self,
        generation: int,
        spec: SearchSpec,
        value: tuple[SearchResult, float, Understanding | None],
    ) -> None:
        if generation != self.generation:
            log.debug("dropping results of replaced search %s", generation)
            return
        result, elapsed, understood = value
        self._shown = (generation, spec)
        outcome = Outcome(generation, spec, result, elapsed, understood)
        self.finished.emit(outcome)
        model = self._results
        if model is not None and model.generation == generation:  # the window showed these
            model.set_weaker(0 if outcome.browsing else result.weaker)

    def _error(self, generation: int, spec: SearchSpec, exc: BaseException) -> None:
        if generation == self.generation:
            self.failed.emit(generation, spec, exc)
        else:
            log.debug("replaced search %s failed: %s", generation, exc)

    def _next(self) -> None:
        self._running = None
        if self._waiting is not None:
            generation, spec = self._waiting
            self._waiting = None
            self._start(generation, spec)
        else:
            self.busy_changed.emit(False)
