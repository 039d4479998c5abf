"""The viewer, opened over the window's results, and what it asks the window to do: a region
search, Find Similar (of a photo or a video's moment), a video frame searched as an image, and
the file in its app, its folder or a video player."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QImage

from app.ui import file_actions
from app.ui.captions import format_time
from app.ui.image_query import ImageQuery
from app.ui.viewer import ResultSequence, ViewerDialog

if TYPE_CHECKING:
    from app.ui.actions import WindowActions


class PreviewActions:
    """The viewer's side of the window's actions (`WindowActions.preview`)."""

    def __init__(self, actions: WindowActions) -> None:
        self.actions = actions
        self.window = actions.window

    def open(self, index: QModelIndex) -> ViewerDialog | None:
        """Open the viewer at `index`; its requests are carried out here."""
        library = self.window.library
        if not index.isValid() or library is None:
            return None
        dialog = ViewerDialog(
            library,
            ResultSequence(self.window.model, self.window.grid),
            index.row(),
            self.window.pool,
            self.window,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.find_similar.connect(lambda pid: self._similar_from_preview(dialog, pid))
        dialog.region_search.connect(
            lambda pid, path, box, crop: self._region_search(dialog, pid, path, box, crop)
        )
        dialog.similar_moment.connect(lambda pid, t: self._similar_moment(dialog, pid, t))
        dialog.frame_search.connect(
            lambda label, frame, box, crop: self._frame_search(dialog, label, frame, box, crop)
        )
        dialog.open_player.connect(lambda p, t: self.open_in_player(Path(p), t))
        dialog.open_file.connect(lambda p: self.actions.open_path(Path(p)))
        dialog.show_in_folder.connect(lambda p: self.actions.show_path(Path(p)))
        dialog.open()
        return dialog

    def _similar_from_preview(self, dialog: ViewerDialog, photo_id: int) -> None:
        dialog.accept()
        self.actions.find_similar(photo_id, dialog.path.name)

    def _similar_moment(self, dialog: ViewerDialog, photo_id: int, t_ms: int) -> None:
        dialog.accept()
        self.actions.find_similar(photo_id, dialog.path.name, t_ms)

    def _frame_search(
        self,
        dialog: ViewerDialog,
        label: str,
        frame: QImage,
        box: tuple[int, int, int, int] | None,
        crop: QImage,
    ) -> None:
        """A video's frame searched as an image: a box on it, or the whole frame."""
        dialog.accept()
        thumb = None if crop.isNull() else crop
        self.window.search.search_by_image(
            ImageQuery(label=label, pixels=frame, region=box, thumb=thumb)
        )

    def open_in_player(self, path: Path, t_ms: int) -> None:
        """A video in the system's player (with sound), from `t_ms` where the player can."""
        if not file_actions.open_in_player(path, t_ms):
            self.actions.tell("PhotoSeek", file_actions.open_failed_message(path))
        elif t_ms >= 1000:
            self.window.statusBar().showMessage(
                f"Opened {path.name}; the moment is at {format_time(t_ms)}.", 8000
            )

    def _region_search(
        self,
        dialog: ViewerDialog,
        photo_id: int,
        path: str,
        box: tuple[int, int, int, int],
        crop: QImage,
    ) -> None:
        """A box dragged over a photo in the preview: find that object in other photos."""
        dialog.accept()
        x, y, width, height = box
        query = ImageQuery(
            label=f"Part of {Path(path).name}",
            like_photo_id=photo_id,
            region=(x, y, width, height),
            thumb=None if crop.isNull() else crop,
        )
        self.window.search.search_by_image(query)
