"""What the user can do from the window's menus, its context menu and its empty states: the
menu bar, the dialogs (folders, welcome, models, skipped files, preview), and the actions on
selected photos (open, show in folder, copy path, find similar). Just over 400 lines: one
method per menu entry; the viewer's and the search's actions already live apart
(preview_actions, searching).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from app.core.api import Folder, PlaceCount, PlaceFilter, UserError
from app.ui import file_actions, theme
from app.ui.captions import format_time
from app.ui.duplicates_view import DuplicatesDialog
from app.ui.file_actions import choose_photo
from app.ui.first_run import FirstRunDialog
from app.ui.folders_dialog import FolderList, FoldersDialog, choose_folder
from app.ui.image_query import ImageQuery, is_image_path
from app.ui.models_dialog import ModelsDialog
from app.ui.places_view import PlacesDialog
from app.ui.preferences import PreferencesDialog
from app.ui.preview_actions import PreviewActions
from app.ui.results_model import ResultsModel
from app.ui.skipped_dialog import SkippedDialog
from app.ui.viewer import ViewerDialog
from app.ui.workers import run_in_thread

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

ZOOM_STEP = 16
Keys = QKeySequence.StandardKey | str | list[QKeySequence.StandardKey | str] | None


class WindowActions(QObject):
    """The window's menu bar and the dialogs and photo actions behind it."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.preview = PreviewActions(self)
        self.models_dialog: ModelsDialog | None = None  # the one open Models dialog
        self.preferences: PreferencesDialog | None = None  # the one open Preferences dialog
        self.duplicates: DuplicatesDialog | None = None  # the one open Duplicates view
        # The system pickers; tests put their answer here.
        self.choose_folder: Callable[[QWidget], Path | None] = choose_folder
        self.choose_photo: Callable[[QWidget], Path | None] = choose_photo

    # -- menus ------------------------------------------------------------------------------------

    def _action(
        self,
        menu: QMenu,
        text: str,
        slot: Callable[[], object],
        keys: Keys = None,
        icon: str | None = None,
    ) -> QAction:
        act = QAction(text, self.window)
        if icon:
            act.setIcon(theme.icon(icon))
        if isinstance(keys, list):
            act.setShortcuts([QKeySequence(k) for k in keys])
        elif keys is not None:
            act.setShortcut(QKeySequence(keys))
        act.triggered.connect(lambda _checked=False: slot())
        menu.addAction(act)
        self.window.addAction(act)
        return act

    def build_menus(self) -> None:
        w, action = self.window, self._action
        bar = w.menuBar()
        file_menu = bar.addMenu("&File")
        action(file_menu, "&Add Folder…", self.add_folder, "Ctrl+O", "folder-add")
        action(file_menu, "Photo &Folders…", self.manage_folders, "Ctrl+Shift+O", "folder")
        file_menu.addSeparator()
        action(file_menu, "&Quit", w.close, QKeySequence.StandardKey.Quit)

        edit = bar.addMenu("&Edit")
        action(edit, "&Find", w.focus_search, [QKeySequence.StandardKey.Find, "Ctrl+L"], "search")
        action(edit, "&Paste Image to Search", w.search.paste_image, QKeySequence.StandardKey.Paste)
        action(edit, "Search by P&hoto…", self.search_by_photo, "Ctrl+Shift+P", "photo")
        edit.addSeparator()
        self.copy_action = action(
            edit, "&Copy Path", self.copy_selected_paths, "Ctrl+Shift+C", "copy"
        )
        self.similar_action = action(
            edit, "Find &Similar", self.find_similar_selected, "Ctrl+Shift+F", "similar"
        )
        edit.addSeparator()
        prefs = action(edit, "Pr&eferences…", self.show_preferences, "Ctrl+,")
        prefs.setMenuRole(QAction.MenuRole.PreferencesRole)  # the app menu on macOS

        view = bar.addMenu("&View")
        action(
            view,
            "&Larger Thumbnails",
            lambda: w.set_thumb_size(w.grid.delegate.thumb_size + ZOOM_STEP),
            QKeySequence.StandardKey.ZoomIn,
        )
        action(
            view,
            "&Smaller Thumbnails",
            lambda: w.set_thumb_size(w.grid.delegate.thumb_size - ZOOM_STEP),
            QKeySequence.StandardKey.ZoomOut,
        )
        view.addSeparator()
        action(view, "Sort by &Best Match", lambda: w.search.set_order("relevance"), "Ctrl+1")
        action(view, "Sort by &Date", lambda: w.search.set_order("date"), "Ctrl+2")
        view.addSeparator()
        action(view, "&Places…", self.show_places, "Ctrl+Shift+L", "place")

        lib = bar.addMenu("&Library")
        self.pause_action = action(
            lib, "&Pause Indexing", w.index_status.pause.toggle, None, "pause"
        )
        action(
            lib, "&Rescan Folders", w.session.rescan, QKeySequence.StandardKey.Refresh, "indexing"
        )
        action(lib, "S&kipped Files…", self.show_skipped, None, "skipped")
        action(lib, "Find &Duplicates…", self.show_duplicates, "Ctrl+Shift+D", "copy")
        lib.addSeparator()
        action(lib, "&Models…", self.show_models_dialog, None, "model")

        help_menu = bar.addMenu("&Help")
        action(help_menu, "Open &Log Folder", self.open_logs)
        action(help_menu, "&About PhotoSeek", self.about)

    def empty_action(self, key: str) -> None:
        """A link or button of an empty state or of the notice banner."""
        actions: dict[str, Callable[[], object]] = {
            "add-folder": self.add_folder,
            "manage-folders": self.manage_folders,
            "install-model": self.get_model,
            "clear-search": self.window.search_bar.clear,
            "clear-filters": self.window.filters.clear_filters,
            "skipped": self.show_skipped,
            "open-logs": self.open_logs,
        }
        actions[key]()

    # -- dialogs ----------------------------------------------------------------------------------

    def add_folder(self) -> None:
        """File > Add Folder: the folder picker, then indexing starts (no dialog stays open)."""
        library = self.window.library
        path = self.choose_folder(self.window) if library is not None else None
        if library is None or path is None:
            return
        run_in_thread(
            lambda: library.add_folder(path),
            on_result=self._folder_added,
            on_error=self._folder_failed,
            pool=self.window.pool,
        )

    def _folder_added(self, folder: Folder) -> None:
        self.window.statusBar().showMessage(f"Added {folder.path}; finding its photos…", 6000)
        self.window.session.folder_added(str(folder.path))

    def _folder_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.tell("The folder was not added", str(exc))

    def manage_folders(self) -> FoldersDialog | None:
        library = self.window.library
        if library is None:
            return None
        dialog = FoldersDialog(library, self.window.pool, self.window)
        self.wire_folders(dialog.folders)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def wire_folders(self, folders: FolderList) -> None:
        """A folder list in a dialog: its changes reach the session; its counts follow indexing."""
        folders.added.connect(self.window.session.folder_added)
        folders.removed.connect(self.window.session.folder_removed)
        indexer = self.window.indexer
        for signal in (indexer.progress, indexer.finished, indexer.library_changed):
            signal.connect(folders.refresh_soon)

    def show_welcome(self) -> FirstRunDialog | None:
        library = self.window.library
        if library is None:
            return None
        dialog = FirstRunDialog(library, self.window.pool, self.window.models, parent=self.window)
        dialog.folder_added.connect(self.window.session.folder_added)
        dialog.models_requested.connect(self.show_models_dialog)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self.window.settings, "welcomed", True))
        dialog.open()
        return dialog

    def show_models_dialog(self, select: str | None = None) -> ModelsDialog:
        """Library > Models: the one open Models dialog, raised, with `select` selected."""
        dialog = self.models_dialog
        if dialog is None:
            w = self.window
            dialog = ModelsDialog(
                w.paths,
                w.models,
                w.pool,
                state=w.model_state,
                select=select,
                choose_source=w.choose_source,
                confirm=w.confirm,
                parent=w,
            )
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            w.session.model_state_changed.connect(dialog.set_state)
            dialog.destroyed.connect(lambda *_: setattr(self, "models_dialog", None))
            self.models_dialog = dialog
            dialog.show()
        elif select:
            dialog.select(select)
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def get_model(self) -> ModelsDialog:
        """The one call to get a model: the Models dialog, downloading the default model."""
        dialog = self.show_models_dialog(self.window.default_model)
        if not self.window.models.busy():
            dialog.download(self.window.default_model)
        return dialog

    def show_places(self) -> PlacesDialog | None:
        """View > Places: the places photos were taken in; choosing one shows its photos."""
        library = self.window.library
        if library is None:
            return None
        dialog = PlacesDialog(library, self.window.pool, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.chosen.connect(self.show_place)
        dialog.open()
        return dialog

    def show_place(self, place: PlaceFilter, places: list[PlaceCount]) -> None:
        """All the photos taken at `place`: the place filter set, words and dates cleared."""
        w = self.window
        w.filters.clear_filters()
        w.filters.set_places(places, select=place)
        w.search_bar.clear()
        w.search_now()

    def show_skipped(self) -> SkippedDialog | None:
        library = self.window.library
        if library is None:
            return None
        dialog = SkippedDialog(library, self.window.pool, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_duplicates(self) -> DuplicatesDialog | None:
        """Library > Find Duplicates: the one open Duplicates view, raised."""
        library = self.window.library
        if library is None:
            return None
        dialog = self.duplicates
        if dialog is None:
            dialog = DuplicatesDialog(self.window, library)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.destroyed.connect(lambda *_: setattr(self, "duplicates", None))
            self.duplicates = dialog
            dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def show_preferences(self) -> PreferencesDialog:
        """Edit > Preferences: the one open Preferences dialog, raised."""
        dialog = self.preferences
        if dialog is None:
            dialog = PreferencesDialog(self.window)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.destroyed.connect(lambda *_: setattr(self, "preferences", None))
            self.preferences = dialog
            dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def tell(self, title: str, text: str) -> QMessageBox:
        """A message the user can read and copy, without blocking the window."""
        box = QMessageBox(QMessageBox.Icon.Information, title, text, parent=self.window)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def about(self) -> None:
        from app import __version__

        QMessageBox.about(
            self.window,
            "About PhotoSeek",
            f"<b>PhotoSeek {__version__}</b><br>Find any photo on your own computer "
            "by describing it or by example. Runs locally and privately.",
        )

    def open_logs(self) -> None:
        logs = self.window.paths.logs
        logs.mkdir(parents=True, exist_ok=True)
        if not file_actions.open_folder(logs):
            file_actions.copy_paths([logs])
            self.tell(
                "Log Folder",
                f"No file manager could open the log folder. It is {logs} (the path is on the "
                "clipboard); the log file there is photoseek.log.",
            )

    # -- the selected photos ----------------------------------------------------------------------

    def selected_rows(self) -> list[int]:
        grid = self.window.grid
        rows = sorted(i.row() for i in grid.selectionModel().selectedIndexes())
        if not rows and grid.currentIndex().isValid():
            rows = [grid.currentIndex().row()]
        return rows

    def context_menu(self, index: QModelIndex, pos: QPoint) -> None:
        self.build_context_menu(index).exec(pos)

    def build_context_menu(self, index: QModelIndex) -> QMenu:
        pid = int(index.data(ResultsModel.PhotoIdRole))
        path = Path(index.data(ResultsModel.PathRole))
        moment = index.data(ResultsModel.MomentRole)
        menu = QMenu(self.window)
        menu.setAccessibleName("Photo actions")
        menu.addAction(theme.icon("photo"), "Preview", lambda: self.open_preview(index))
        menu.addAction(theme.icon("open"), "Open", lambda: self.open_path(path))
        if index.data(ResultsModel.KindRole) == "video":
            at = moment or 0
            menu.addAction(
                theme.icon("play"),
                f"Play from {format_time(at)}" if at else "Open in Player",
                lambda: self.preview.open_in_player(path, at),
            )
        menu.addAction(theme.icon("folder"), "Show in Folder", lambda: self.show_path(path))
        menu.addSeparator()
        menu.addAction(
            theme.icon("similar"), "Find Similar", lambda: self.find_similar(pid, path.name, moment)
        )
        menu.addAction(theme.icon("copy"), "Copy Path", self.copy_selected_paths)
        return menu

    def open_preview(self, index: QModelIndex) -> ViewerDialog | None:
        """The viewer over the results, at `index` (see preview_actions.py)."""
        return self.preview.open(index)

    def search_by_photo(self) -> None:
        """Edit > Search by Photo: pick a photo file and find photos like it."""
        path = self.choose_photo(self.window)
        if path is not None:
            self.search_like_file(path)

    def search_like_file(self, path: Path) -> None:
        """Find photos like the photo file `path` (picked, or handed over by another launch)."""
        if not path.is_file() or not is_image_path(path):
            what = "is not a photo PhotoSeek can read" if path.is_file() else "was not found"
            self.window.statusBar().showMessage(f"{path} {what}.", 8000)
            return
        self.window.search.search_by_image(ImageQuery(label=path.name, path=path))

    def find_similar(self, photo_id: int, name: str, moment_ms: int | None = None) -> None:
        """Photos like this one; for a video found at a moment, like that moment."""
        label = f"Like {name}" if moment_ms is None else f"Like {name} at {format_time(moment_ms)}"
        self.window.search.search_by_image(
            ImageQuery(label=label, like_photo_id=photo_id, like_moment_ms=moment_ms)
        )

    def find_similar_selected(self) -> None:
        rows = self.selected_rows()
        if rows:
            hit = self.window.model.hit(rows[0])
            self.find_similar(hit.photo_id, Path(hit.path).name, hit.moment_ms)

    def copy_selected_paths(self) -> None:
        rows = self.selected_rows()
        if rows:
            text = file_actions.copy_paths([Path(self.window.model.hit(r).path) for r in rows])
            count = len(rows)
            self.window.statusBar().showMessage(
                f"Copied {'the path' if count == 1 else f'{count} paths'}: {text.splitlines()[0]}"
                + ("…" if count > 1 else ""),
                4000,
            )

    def open_path(self, path: Path) -> None:
        if not file_actions.open_file(path):
            self.tell("PhotoSeek", file_actions.open_failed_message(path))

    def show_path(self, path: Path) -> None:
        if not file_actions.show_in_folder(path):
            if path.exists():
                file_actions.copy_paths([path])
            self.tell("PhotoSeek", file_actions.show_failed_message(path))
