"""The active model's options: precision, device and (for a multilingual model) search language.

Three rows of a form, in the Models dialog and in Preferences. They show `ModelFacts` and store
a change through the `ModelManager`, which reloads the model: a change applies at once.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget

from app.ui.languages import default_language, language_name
from app.ui.model_manager import ModelManager
from app.ui.model_rows import ModelFacts


class ModelOptions(QObject):
    """Precision, device and search-language boxes added to `form` (rows of `parent`);
    `show_facts` fills them."""

    def __init__(self, manager: ModelManager, parent: QWidget, form: QFormLayout) -> None:
        super().__init__(parent)
        self.manager = manager
        self.precision_box = QComboBox(parent)
        self.precision_box.setAccessibleName("Precision")
        self.precision_box.addItem("fp32 (exact)", "fp32")
        self.precision_box.addItem("int8 (about twice as fast on a CPU)", "int8")
        self.precision_box.activated.connect(lambda _i: self._setting("precision"))
        self.device_box = QComboBox(parent)
        self.device_box.setAccessibleName("Device")
        self.device_box.activated.connect(lambda _i: self._setting("device"))
        self.language_box = QComboBox(parent)
        self.language_box.setAccessibleName("Search language")
        self.language_box.activated.connect(lambda _i: self._setting("language"))
        self.language_label = QLabel("Search language:", parent)
        form.addRow("Precision:", self.precision_box)
        form.addRow("Device:", self.device_box)
        form.addRow(self.language_label, self.language_box)

    def boxes(self) -> tuple[QComboBox, QComboBox, QComboBox]:
        return self.precision_box, self.device_box, self.language_box

    def set_enabled(self, enabled: bool) -> None:
        for box in self.boxes():
            box.setEnabled(enabled)

    def show_facts(self, facts: ModelFacts) -> None:
        active = facts.active
        for box in self.boxes():
            box.blockSignals(True)
        self.precision_box.setCurrentIndex(max(0, self.precision_box.findData(facts.precision)))
        precisions = self.precision_box.model()
        assert isinstance(precisions, QStandardItemModel)  # a QComboBox's own model
        int8 = precisions.item(1)
        int8.setEnabled(active is None or active.has_int8)
        self.precision_box.setToolTip(
            "" if active is None or active.has_int8 else "This model has no int8 variant."
        )
        self.device_box.clear()
        for device in facts.devices:
            self.device_box.addItem(device, device)
        self.device_box.setCurrentIndex(max(0, self.device_box.findData(facts.device)))
        self.language_box.clear()
        codes = facts.languages or []
        for code in sorted(codes, key=language_name):
            self.language_box.addItem(language_name(code), code)
        chosen = facts.language if facts.language in codes else default_language(codes)
        self.language_box.setCurrentIndex(max(0, self.language_box.findData(chosen)))
        self.language_box.setVisible(bool(codes))
        self.language_label.setVisible(bool(codes))
        for box in self.boxes():
            box.blockSignals(False)

    def _setting(self, which: str) -> None:
        from app.core.api import SETTING_DEVICE, SETTING_LANGUAGE, SETTING_PRECISION

        box, key = {
            "precision": (self.precision_box, SETTING_PRECISION),
            "device": (self.device_box, SETTING_DEVICE),
            "language": (self.language_box, SETTING_LANGUAGE),
        }[which]
        value = box.currentData()
        if value:
            self.manager.update_settings({key: value})
