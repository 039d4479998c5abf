"""The Duplicates view's rule bar: the keeper rule in words ("Keeping the highest resolution, then
the oldest"), the order and the preferred folder that change it, "Only exact copies", and Look
Again (with a word when photos were added or changed since the groups were found)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from app.core.api import DuplicateGroup, KeeperRule
from app.ui.duplicates_groups import folder_choices
from app.ui.duplicates_words import ORDERS, folder_label, rule_text


class RuleBar(QWidget):
    """Emits `changed()` when the user changes the rule or the toggle, or asks to look again."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rule_label = QLabel(self)
        self.rule_label.setAccessibleName("Which copy is kept")
        self.rule_label.setWordWrap(True)
        self.order_box = QComboBox(self)
        self.order_box.setAccessibleName("Keep first")
        for label, order in ORDERS:
            self.order_box.addItem(label, order)
        self.folder_box = QComboBox(self)
        self.folder_box.setAccessibleName("Preferred folder")
        self.folder_box.addItem("No preferred folder", "")
        self.folder_box.setMaximumWidth(280)
        self.folder_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.exact_box = QCheckBox("Only exact copies", self)
        self.stale = QLabel("Photos were added or changed since.", self)
        self.stale.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stale.hide()
        self.refresh_button = QPushButton("Look Again", self)
        self.refresh_button.setToolTip("Group the library's photos again (after indexing, say)")
        for signal in (self.order_box.activated, self.folder_box.activated):
            signal.connect(lambda _i: self.changed.emit())
        self.exact_box.toggled.connect(lambda _on: self.changed.emit())
        self.refresh_button.clicked.connect(self.changed)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.rule_label, 1)
        row.addWidget(QLabel("Keep:", self))
        row.addWidget(self.order_box)
        row.addWidget(self.folder_box)
        row.addSpacing(12)
        row.addWidget(self.exact_box)
        row.addWidget(self.stale)
        row.addWidget(self.refresh_button)
        self.show_rule()

    def rule(self) -> KeeperRule:
        folder = str(self.folder_box.currentData() or "")
        return KeeperRule(
            order=tuple(self.order_box.currentData()), preferred_folders=(folder,) if folder else ()
        )

    def exact_only(self) -> bool:
        return self.exact_box.isChecked()

    def saved(self) -> tuple[tuple[str, ...], str, bool]:
        """The choices as the settings keep them: (order, preferred folder, exact only)."""
        rule = self.rule()
        return (
            rule.order,
            rule.preferred_folders[0] if rule.preferred_folders else "",
            (self.exact_only()),
        )

    def restore(self, order: tuple[str, ...], folder: str, exact: bool) -> None:
        """The choices of an earlier session (an order no longer offered is ignored; the folder
        is offered even before the first groups arrive). Emits nothing."""
        for i in range(self.order_box.count()):
            if tuple(self.order_box.itemData(i)) == order:
                self.order_box.setCurrentIndex(i)
        if folder:
            self.fill_folders([], [], folder)
        with QSignalBlocker(self.exact_box):
            self.exact_box.setChecked(exact)
        self.show_rule()

    def show_rule(self) -> None:
        """The rule in words, as the next grouping applies it; the groups are current again."""
        self.rule_label.setText(rule_text(self.rule()))
        self.stale.hide()

    def fill_folders(
        self, watched: Sequence[str], groups: Sequence[DuplicateGroup], chosen: str | None = None
    ) -> None:
        """The preferred-folder choices: watched folders and those copies were found in; the
        one chosen now (or `chosen`) stays chosen."""
        current = chosen if chosen is not None else str(self.folder_box.currentData() or "")
        self.folder_box.clear()
        self.folder_box.addItem("No preferred folder", "")
        for folder in folder_choices(watched, groups, current):
            self.folder_box.addItem(folder_label(folder, watched), folder)
            self.folder_box.setItemData(
                self.folder_box.count() - 1, folder, Qt.ItemDataRole.ToolTipRole
            )
        self.folder_box.setCurrentIndex(max(0, self.folder_box.findData(current)))

    def set_enabled(self, moving: bool, has_model: bool) -> None:
        """Nothing changes while a move runs; without a model only exact copies are found."""
        for widget in (self.order_box, self.folder_box, self.refresh_button):
            widget.setEnabled(not moving)
        self.exact_box.setEnabled(not moving and has_model)
        self.exact_box.setToolTip(
            "Only identical files; leave out resized, re-saved and edited ones"
            if has_model
            else "Without a search model only exact copies can be found"
        )
