"""The viewer's toolbar: stepping, zoom, region search, Find Similar, the file, the details panel
and full screen. It lays the tools out; the viewer connects them."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolBar, QToolButton, QWidget

from app.ui import theme

COMPACT_BELOW = 1040  # window width under which the labelled tools show their icons only


class ViewerToolbar(QToolBar):
    """Its actions (`next_action`, `fit_action`, ...) and labels (`position`, `zoom_label`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMovable(False)
        self.setIconSize(QSize(20, 20))
        self.setAccessibleName("Viewer tools")
        self.labelled: list[QToolButton] = []  # buttons that lose their text when narrow
        self.previous_action = self._act("Previous", "previous", "Previous photo (Left arrow)")
        self.next_action = self._act("Next", "next", "Next photo (Right arrow)")
        self.position = self._label(84, "Position in the results")
        self.addSeparator()
        self.fit_action = self._act("Fit", "", "Fit the window (F or 0)")
        self.actual_action = self._act(
            "1:1", "", "Actual size: one photo pixel per screen pixel (1)"
        )
        self.zoom_out_action = self._act("Zoom Out", "zoom-out", "Zoom out (-)")
        self.zoom_label = self._label(56, "Zoom")
        self.zoom_in_action = self._act("Zoom In", "zoom-in", "Zoom in (+)")
        self.addSeparator()
        self.region_action = self._act(
            "Select Region",
            "region",
            "Draw a box over part of the photo to search for it (R, or Shift+drag)",
            label=True,
        )
        self.region_action.setCheckable(True)
        self.search_action = self._act(
            "Search Region", "search", "Find the boxed part in other photos (Enter)", label=True
        )
        self.search_action.setEnabled(False)
        self.similar_action = self._act(
            "Find Similar", "similar", "Photos that look like this one (Ctrl+Shift+F)", label=True
        )
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.addWidget(spacer)
        self.open_action = self._act("Open", "open", "Open in the default app")
        self.folder_action = self._act("Show in Folder", "folder", "Show the file in its folder")
        self.info_action = self._act("Details", "info", "Show or hide the details (I)")
        self.info_action.setCheckable(True)
        self.full_action = self._act("Full Screen", "fullscreen", "Full screen (F11)")
        self.full_action.setCheckable(True)

    def _act(self, text: str, icon: str, tip: str, *, label: bool = False) -> QAction:
        act = QAction(theme.icon(icon), text, self) if icon else QAction(text, self)
        act.setToolTip(tip)
        self.addAction(act)
        button = self.widgetForAction(act)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay the viewer's
        if isinstance(button, QToolButton) and not icon:
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        elif isinstance(button, QToolButton) and label:
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.labelled.append(button)
        return act

    def _label(self, width: int, name: str) -> QLabel:
        label = QLabel(self)
        label.setMinimumWidth(width)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setAccessibleName(name)
        self.addWidget(label)
        return label

    def fit_width(self, width: int) -> None:
        """In a narrow window the labelled tools show only their icons, so that every tool stays
        on the bar rather than behind its overflow arrow."""
        style = Qt.ToolButtonStyle
        compact = width < COMPACT_BELOW
        for button in self.labelled:
            button.setToolButtonStyle(
                style.ToolButtonIconOnly if compact else style.ToolButtonTextBesideIcon
            )

    def show_full_screen(self, full: bool) -> None:
        self.full_action.setChecked(full)
        self.full_action.setIcon(theme.icon("fullscreen-exit" if full else "fullscreen"))
