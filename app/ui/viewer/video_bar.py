"""The bar under a video in the viewer: play or pause from the moment shown, the moments that
matched the search (one click shows each, the best marked), where in the video the picture is,
and "Open in Player" for sound and the whole film.

The moments run in time order, left to right as in the video, so the strip reads like a timeline;
the best match is the one already shown and is marked "best".
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from app.ui import theme
from app.ui.captions import format_time

MAX_MOMENTS = 24  # moments offered in the strip, the best ones (the rest match less well)


class VideoBar(QWidget):
    """Emits `moment_picked(t_ms)`, `play_toggled()` and `open_player()`."""

    moment_picked = Signal(int)
    play_toggled = Signal()
    open_player = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Video")
        self.play_button = QToolButton(self)
        self.play_button.setIcon(theme.icon("play"))
        self.play_button.setText("Play")
        self.play_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.play_button.setToolTip("Play from this moment, without sound (P)")
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_button.clicked.connect(self.play_toggled)
        self.play_button.setText("Pause")  # as wide as its wider word: the bar never shifts
        self.play_button.setMinimumWidth(self.play_button.sizeHint().width())
        self.play_button.setText("Play")
        self.time_label = QLabel(self)
        self.time_label.setAccessibleName("Time in the video")
        self.time_label.setMinimumWidth(96)
        self.title = QLabel("Matching moments:", self)
        self.moment_row = QWidget(self)
        self.moment_layout = QHBoxLayout(self.moment_row)
        self.moment_layout.setContentsMargins(0, 0, 0, 0)
        self.moment_layout.setSpacing(4)
        self.moment_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidget(self.moment_row)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.strip = scroll
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[int, QToolButton] = {}  # t_ms -> its button
        self.player_button = QToolButton(self)
        self.player_button.setIcon(theme.icon("open"))
        self.player_button.setText("Open in Player")
        self.player_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.player_button.setToolTip("Play with sound in your video player, from this moment")
        self.player_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.player_button.clicked.connect(self.open_player)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(8)
        layout.addWidget(self.play_button)
        layout.addWidget(self.time_label)
        layout.addWidget(self.title)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.player_button)
        self._duration: int | None = None

    def set_video(
        self, duration_ms: int | None, moments: list[tuple[int, float]], shown: int
    ) -> None:
        """A new video: its matching moments ((t_ms, score), best first), the one `shown`."""
        self._duration = duration_ms
        for button in self.buttons.values():
            self.group.removeButton(button)
            button.deleteLater()
        self.buttons = {}
        best = moments[0][0] if moments else None
        chosen = sorted(t for t, _ in moments[:MAX_MOMENTS])
        for t_ms in chosen:
            button = QToolButton(self.moment_row)
            text = format_time(t_ms)
            button.setText(f"{text} · best" if t_ms == best else text)
            button.setCheckable(True)
            button.setAutoRaise(False)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setAccessibleName(f"Moment at {text}")
            button.setToolTip(f"Show the video at {text}")
            button.clicked.connect(lambda _c=False, t=t_ms: self.moment_picked.emit(t))
            self.group.addButton(button)
            self.moment_layout.insertWidget(self.moment_layout.count() - 1, button)
            self.buttons[t_ms] = button
        self.title.setVisible(bool(chosen))
        self.strip.setVisible(bool(chosen))
        self.strip.setFixedHeight(self.play_button.sizeHint().height() + 4)
        self.show_time(shown)

    def moments(self) -> list[int]:
        """The moments offered, in the strip's (time) order."""
        return list(self.buttons)

    def show_time(self, t_ms: int) -> None:
        """Where the picture is in the video ("0:12 / 1:05"); its moment's button is checked."""
        total = f" / {format_time(self._duration)}" if self._duration else ""
        self.time_label.setText(f"{format_time(t_ms)}{total}")
        button = self.buttons.get(t_ms)
        if button is not None:
            button.setChecked(True)
        else:
            checked = self.group.checkedButton()
            if checked is not None:  # a time between the moments: none of them is shown
                self.group.setExclusive(False)
                checked.setChecked(False)
                self.group.setExclusive(True)

    def show_playing(self, playing: bool) -> None:
        self.play_button.setIcon(theme.icon("pause" if playing else "play"))
        self.play_button.setText("Pause" if playing else "Play")
