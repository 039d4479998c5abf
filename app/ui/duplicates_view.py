"""Library ▸ Find Duplicates: copies of the same photo, grouped, with the space each group holds,
the copy to keep suggested by a rule the user can change, and the others moved to the desktop's
trash only when the user asks and confirms.

Grouping runs on a worker (the window's pool) and newest wins: a change of rule or of "Only exact
copies" cancels the one under way and starts a new one; while it runs the busy page shows its
stage and progress (duplicates_busy.py) and Cancel, or closing the view, stops it. The list (duplicates_list.py) builds
its cards as it scrolls. The selection (photo ids) lives here, not in the cards: it covers groups
not built yet, and it survives a move that rebuilds a card.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
)

from app.core.api import (
    ChangeSummary,
    DuplicateGroup,
    DuplicateProgress,
    IndexReport,
    JobControl,
    Library,
    TrashResult,
    UserError,
)
from app.ui import theme
from app.ui.duplicates_busy import BusyPage
from app.ui.duplicates_groups import (
    Found,
    after_move,
    empty_state,
    find,
    stopped_state,
    suggested_selection,
)
from app.ui.duplicates_list import GroupList
from app.ui.duplicates_notice import Notice
from app.ui.duplicates_preview import open_copy
from app.ui.duplicates_rule import RuleBar
from app.ui.duplicates_trash import open_trash, open_trash_failed
from app.ui.duplicates_words import (
    confirm_details,
    confirm_text,
    move_button_text,
    selection_text,
    summary_text,
    trash_name,
)
from app.ui.empty_state import EmptyState, EmptyStatePage
from app.ui.workers import Worker, run_in_thread

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


class DuplicatesDialog(QDialog):
    """The Duplicates view over `window`'s library."""

    def __init__(self, window: MainWindow, library: Library) -> None:
        super().__init__(window)
        self.main = window
        self.library = library
        self.groups: list[DuplicateGroup] = []
        self.selected: set[int] = set()
        self.found: Found | None = None
        self._generation = 0
        self._worker: Worker | None = None
        self._control: JobControl | None = None
        self._mover: Worker | None = None
        self.setWindowTitle("Duplicates")
        self.setAccessibleName("Duplicates")
        self.setSizeGripEnabled(True)
        self.resize(1000, 720)
        self._build()
        self.finished.connect(lambda _r: self._stop())
        window.installEventFilter(self)  # the window closing stops the work before the library
        window.session.model_state_changed.connect(self._model_changed)
        window.indexer.library_changed.connect(self._library_changed)
        window.indexer.finished.connect(self._library_changed)
        self.refresh()

    def _rule_changed(self) -> None:
        """The rule or the toggle changed (or Look Again): kept for next time, grouped again."""
        self.main.settings.duplicates_rule = self.rules.saved()
        self.refresh()

    # -- layout -----------------------------------------------------------------------------------

    def _build(self) -> None:
        self.summary = theme.make_heading(QLabel("Duplicates", self), 1.3)
        self.rules = RuleBar(self)
        self.rules.restore(*self.main.settings.duplicates_rule)
        self.rules.changed.connect(self._rule_changed)

        self.notice = Notice(self)
        self.notice.link.connect(self._notice_link)

        self.busy = BusyPage(self)
        self.busy.cancel_requested.connect(self.cancel_looking)
        self.empty = EmptyStatePage(self)
        self.empty.action.connect(self._empty_action)
        self.list = GroupList(self.library, self)
        self.list.toggled.connect(self._toggled)
        self.list.open_requested.connect(self._open_copy)
        self.list.keep_only.connect(self.keep_only)
        self.list.keep_all.connect(self.keep_all)
        self.list.show_folder.connect(lambda p: self.main.user_actions.show_path(Path(p)))
        self.stack = QStackedWidget(self)
        for page in (self.busy, self.empty, self.list):
            self.stack.addWidget(page)

        self.selection_label = QLabel(self)
        self.suggest_button = QPushButton("Select Suggested", self)
        self.suggest_button.setToolTip("Every copy but the suggested keeper of each group")
        self.suggest_button.clicked.connect(self.select_suggested)
        self.none_button = QPushButton("Select None", self)
        self.none_button.clicked.connect(lambda: self._set_selection(set()))
        self.move_button = QPushButton(move_button_text(0), self)
        self.move_button.setIcon(theme.icon("trash"))
        self.move_button.clicked.connect(self.move_selected)
        close = QPushButton("Close", self)
        close.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.selection_label, 1)
        bottom.addWidget(self.suggest_button)
        bottom.addWidget(self.none_button)
        bottom.addSpacing(12)
        bottom.addWidget(self.move_button)
        bottom.addWidget(close)
        QShortcut(QKeySequence.StandardKey.Delete, self, self.move_selected)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.rules)
        layout.addWidget(self.notice)
        layout.addWidget(self.stack, 1)
        layout.addLayout(bottom)

    # -- grouping ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Group the library again with the rule and the toggle as they are now."""
        self._cancel_worker()
        generation, library = self._generation, self.library
        control = self._control = JobControl()
        exact, rule = self.rules.exact_only(), self.rules.rule()
        self.rules.show_rule()
        count = self.found.photos if self.found is not None else None
        among = f" among {count:,} photos" if count else ""
        self.busy.start(f"Looking for duplicates{among}…")
        self.stack.setCurrentWidget(self.busy)
        self.summary.setText("Duplicates")
        self._worker = run_in_thread(
            lambda report: find(library, exact, rule, report, control),
            on_result=lambda found: self._found(generation, found),
            on_error=lambda exc: self._failed(generation, exc),
            on_progress=lambda p: self._progress(generation, p),
            pool=self.main.pool,
            owner=self,
        )
        self._update_buttons()

    def _cancel_worker(self) -> None:
        """Stop the grouping under way (at its next batch) and drop whatever it would say."""
        self._generation += 1
        if self._control is not None:
            self._control.cancel()
        if self._worker is not None:
            self._worker.cancel()
        self._worker = self._control = None

    def cancel_looking(self) -> None:
        """Cancel: the grouping stops; the view says so and offers Look Again."""
        if self._worker is None:
            return
        self._cancel_worker()
        self.groups = []
        self.list.show_groups([], set())
        self.empty.show_state(stopped_state())
        self.stack.setCurrentWidget(self.empty)
        self._update_buttons()

    def _progress(self, generation: int, p: DuplicateProgress) -> None:
        if generation == self._generation:
            self.busy.show_progress(p)

    def busy_now(self) -> bool:
        """True while a grouping or a move is under way."""
        return any(w is not None and not w.done for w in (self._worker, self._mover))

    def _found(self, generation: int, found: Found) -> None:
        if generation != self._generation:
            return
        self._worker = self._control = None
        self.found = found
        self.rules.fill_folders(found.folders, found.groups)
        if not found.has_model:
            self.notice.say(
                "No search model is installed, so only exact copies (identical files) are "
                "found. With a model, resized, re-saved and edited copies are found too.",
                ("Get a Model", "get-model"),
            )
        elif self.notice.key == "get-model":
            self.notice.clear()
        self._show_groups(found.groups)

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._worker = self._control = None
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.groups = []
        self.list.show_groups([], set())
        self.empty.show_state(
            EmptyState("error", "warning", "Duplicates could not be found", str(exc), ())
        )
        self.stack.setCurrentWidget(self.empty)
        self._update_buttons()

    def _show_groups(self, groups: list[DuplicateGroup]) -> None:
        self.groups = list(groups)
        self.selected = suggested_selection(self.groups)
        self.list.watched = self.found.folders if self.found is not None else []
        self.list.show_groups(self.groups, self.selected)
        self._show_list_or_empty()

    def _show_list_or_empty(self) -> None:
        found = self.found
        if self.groups or found is None:
            self.summary.setText(summary_text(self.groups))
            self.stack.setCurrentWidget(self.list)
        else:
            self.summary.setText("Duplicates")
            self.empty.show_state(empty_state(found))
            self.stack.setCurrentWidget(self.empty)
        self._update_buttons()

    # -- the copies -----------------------------------------------------------------------------

    def _open_copy(self, group: DuplicateGroup, photo_id: int) -> None:
        open_copy(self.main, self.library, group, photo_id, self)

    # -- the selection ----------------------------------------------------------------------------

    def _toggled(self, photo_id: int, selected: bool) -> None:
        if selected:
            self.selected.add(photo_id)
        else:
            self.selected.discard(photo_id)
        self._update_buttons()

    def _set_selection(self, selected: set[int]) -> None:
        self.selected = selected
        self.list.set_selected(selected)
        self._update_buttons()

    def select_suggested(self) -> None:
        """Every copy but each group's suggested keeper, as the view first shows them."""
        self._set_selection(suggested_selection(self.groups))

    def keep_only(self, photo_id: int) -> None:
        """Keep this copy of its group and select the others."""
        for group in self.groups:
            ids = {p.id for p in group.members}
            if photo_id in ids:
                self._set_selection((self.selected - ids) | (ids - {photo_id}))
                return

    def keep_all(self, group: DuplicateGroup) -> None:
        self._set_selection(self.selected - {p.id for p in group.members})

    def selection(self) -> tuple[list[int], int]:
        """The selected copies (in the groups' order) and their size in bytes."""
        photos = [p for g in self.groups for p in g.members if p.id in self.selected]
        return [p.id for p in photos], sum(p.size for p in photos)

    def _update_buttons(self) -> None:
        ids, size = self.selection()
        busy = self.busy_now()
        shown = bool(ids) and self.stack.currentWidget() is self.list
        self.move_button.setText(move_button_text(len(ids) if shown else 0))
        self.move_button.setEnabled(bool(ids) and not busy)
        self.suggest_button.setEnabled(bool(self.groups) and not busy)
        self.none_button.setEnabled(bool(ids) and not busy)
        self.selection_label.setText(f"{selection_text(len(ids), size)} selected" if shown else "")
        self.rules.set_enabled(self._mover is not None, self.found is None or self.found.has_model)

    # -- moving to the trash ----------------------------------------------------------------------

    def confirm(self, count: int, size: int, whole_groups: int) -> bool:
        """Ask before anything moves; True only on "Move N to Trash"."""
        title = f"Move to {trash_name()}"
        box = QMessageBox(QMessageBox.Icon.Question, title, confirm_text(count, size))
        box.setParent(self, box.windowFlags())
        box.setInformativeText(confirm_details(whole_groups))
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.button(QMessageBox.StandardButton.Yes).setText(move_button_text(count))
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Yes

    def move_selected(self) -> None:
        """Move the selected copies to the trash, after the user confirms (on a worker)."""
        ids, size = self.selection()
        if not ids or self.busy_now():
            return
        whole = sum(1 for g in self.groups if all(p.id in self.selected for p in g.members))
        if not self.confirm(len(ids), size, whole):
            return
        library = self.library
        self.notice.say(f"Moving {selection_text(len(ids), size)} to the {trash_name()}…")
        self._mover = run_in_thread(
            lambda: library.move_to_trash(ids),
            on_result=self._moved,
            on_error=self._move_failed,
            pool=self.main.pool,
            owner=self,
        )
        self._update_buttons()

    def _moved(self, result: TrashResult) -> None:
        self._mover = None
        paths = {str(p.id): p.path for g in self.groups for p in g.members}  # a failure by id
        result = replace(result, failed=tuple((paths.get(f, f), why) for f, why in result.failed))
        groups, changed = after_move(self.groups, set(result.moved))
        self.selected &= {p.id for g in groups for p in g.members}
        self.groups = groups
        self.list.selected = self.selected
        self.list.apply_move(changed, groups)
        if self.found is not None:
            self.found = Found(
                groups,
                self.found.photos - len(result.moved),
                self.found.pending,
                self.found.exact_only,
                self.found.has_model,
                self.found.folders,
            )
        self.notice.show_result(result)
        self._show_list_or_empty()
        if result.moved:  # the grid and the counts lose the moved photos
            self.main.session.refresh_facts()
            self.main.search_now()

    def _move_failed(self, exc: BaseException) -> None:
        self._mover = None
        self._update_buttons()
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.notice.say(f"Nothing was moved: {exc}", warn=True)

    def _notice_link(self, key: str) -> None:
        if key == "open-trash" and not open_trash():
            self.notice.say(open_trash_failed(), warn=True)
        elif key == "get-model":
            self.main.user_actions.get_model()

    def _empty_action(self, key: str) -> None:
        if key == "exact-off":
            self.rules.exact_box.setChecked(False)
        elif key == "get-model":
            self.main.user_actions.get_model()
        elif key == "look-again":
            self.refresh()

    def _model_changed(self, _state: object) -> None:
        """A model arrived or left: near copies can (or can no longer) be looked for."""
        if self.found is not None and self.found.has_model != self.library.has_model:
            self.refresh()

    def _library_changed(self, change: ChangeSummary | IndexReport) -> None:
        """New or changed photos (indexed or seen by the watcher): the groups may be out of date."""
        if self.found is not None and (change.added or change.updated or change.moved):
            self.rules.stale.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.main and event.type() == QEvent.Type.Close:
            self._stop()
        return False

    def _stop(self) -> None:
        self._cancel_worker()
        if self._mover is not None:
            self._mover.cancel()
        self.list.shutdown()
