"""A copy seen large from the Duplicates view: the window's viewer, stepping through the copies of
one group, its requests (Find Similar, a region search, open, show in folder) carried out by the
window as they are from the grid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from app.core.api import DuplicateGroup, Hit, Library
from app.ui.image_query import ImageQuery
from app.ui.results_model import ResultsModel
from app.ui.viewer import ResultSequence, ViewerDialog

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


def group_hits(group: DuplicateGroup) -> list[Hit]:
    """The group's copies as the viewer takes them, keeper first."""
    return [
        Hit(
            photo_id=p.id,
            path=p.path,
            score=0.0,
            capture_time=p.capture_time,
            capture_source=p.capture_source,
            width=p.width,
            height=p.height,
            kind=p.kind,
            duration_ms=p.duration_ms,
        )
        for p in group.members
    ]


def open_copy(
    window: MainWindow, library: Library, group: DuplicateGroup, photo_id: int, parent: QWidget
) -> ViewerDialog:
    """The viewer over `group`'s copies, at `photo_id`."""
    model = ResultsModel()
    model.set_hits(group_hits(group), generation=1, scored=False)
    sequence = ResultSequence(model)
    model.setParent(sequence)
    row = model.row_of(photo_id) or 0
    viewer = ViewerDialog(library, sequence, row, window.pool, parent)
    viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    actions = window.user_actions

    def leave_for_search() -> None:
        viewer.accept()
        window.raise_()
        window.activateWindow()

    def similar(pid: int, t_ms: int | None = None) -> None:
        leave_for_search()
        actions.find_similar(pid, viewer.path.name, t_ms)

    def region(pid: int, path: str, box: tuple[int, int, int, int], crop: QImage) -> None:
        leave_for_search()
        window.search.search_by_image(
            ImageQuery(
                label=f"Part of {Path(path).name}",
                like_photo_id=pid,
                region=box,
                thumb=None if crop.isNull() else crop,
            )
        )

    def frame(label: str, pixels: QImage, box: object, crop: QImage) -> None:
        leave_for_search()
        region_box = box if isinstance(box, tuple) else None
        window.search.search_by_image(
            ImageQuery(
                label=label, pixels=pixels, region=region_box, thumb=None if crop.isNull() else crop
            )
        )

    viewer.find_similar.connect(similar)
    viewer.similar_moment.connect(similar)
    viewer.region_search.connect(region)
    viewer.frame_search.connect(frame)
    viewer.open_player.connect(lambda p, t: actions.preview.open_in_player(Path(p), t))
    viewer.open_file.connect(lambda p: actions.open_path(Path(p)))
    viewer.show_in_folder.connect(lambda p: actions.show_path(Path(p)))
    viewer.open()
    return viewer
