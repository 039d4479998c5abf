"""The strip under the search bar that offers a search model while none answers searches (and
shows the download while one comes): one sentence and one button."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from app.ui import theme

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


class ModelBanner(QWidget):
    """`update_for(window)` says what the window's state asks for; `clicked` when pressed."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.setAccessibleName("Search model")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 12, 6)
        row.addWidget(theme.IconLabel("model", 20, self))
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.text, 1)
        self.button = QPushButton(self)
        self.button.clicked.connect(self.clicked)
        row.addWidget(self.button)
        self.hide()

    def update_for(self, window: MainWindow) -> None:
        m, facts = window.models, window.facts
        if m.busy():
            p = m.last_progress
            self.text.setText(
                f"Getting the search model {m.current}: {p.text() if p else 'starting…'}"
            )
            self.button.setText("Show Progress")
        elif window.library is None or facts.has_model or facts.opening:
            self.hide()
            return
        elif m.last_error:
            self.text.setText(f"The search model could not be installed: {m.last_error}")
            self.button.setText("Try Again")
        else:
            shown = facts.photos + facts.pending
            self.text.setText(
                ("Your photos are shown newest first. " if shown else "")
                + "To search your photos by words or by an example photo, get a search model: "
                "downloaded once, it runs on this computer."
            )
            self.button.setText(window.model_offer)
        self.setVisible(window.empty_state_key() != "no-model")

    def act_for(self, window: MainWindow) -> None:
        """The button: show the download, try again, or get the default model."""
        actions, models = window.user_actions, window.models
        if models.busy():
            actions.show_models_dialog()
        elif models.last_error:
            models.last_error = None
            # Maybe it was installed meanwhile (`photoseek model install`); else download again
            # (an interrupted download resumes where it stopped).
            window.session.reload_model(
                lambda state: None if state.serving else actions.get_model()
            )
        else:
            actions.get_model()
