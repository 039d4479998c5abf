"""`photoseek` with no command opens the real window over the user's library, logs to a file,
and says plainly when there is no display."""

from __future__ import annotations

import logging
import sys
import threading

from PySide6.QtCore import QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication
from qt_helpers import strict_qt_fixture  # noqa: F401

from app.cli import main as cli_main
from app.ui.first_run import FirstRunDialog
from app.ui.main import display_problem
from app.ui.main_window import MainWindow


def test_photoseek_without_a_command_opens_the_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOSEEK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PHOTOSEEK_NO_GUI", raising=False)
    seen: dict[str, object] = {}
    saved_hooks = sys.excepthook, threading.excepthook
    saved_level = logging.getLogger().level

    def look_and_close() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        window = next((w for w in windows if isinstance(w, MainWindow)), None)
        if (
            window is None
            or window.library is None
            or not any(isinstance(w, FirstRunDialog) for w in windows)
        ):
            QTimer.singleShot(50, look_and_close)
            return
        seen["title"] = window.windowTitle()
        seen["empty"] = window.empty_state_key()
        for w in windows:
            w.close()

    QTimer.singleShot(0, look_and_close)
    try:
        code = cli_main([])
    finally:
        sys.excepthook, threading.excepthook = saved_hooks
        qInstallMessageHandler(None)
        root = logging.getLogger()
        for handler in [
            h for h in root.handlers if str(tmp_path) in getattr(h, "baseFilename", "")
        ]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved_level)
    assert code == 0
    assert seen["title"] == "PhotoSeek"
    assert seen["empty"] == "no-folders"  # a first run: the welcome dialog and the empty state
    log = tmp_path / "home" / "logs" / "photoseek.log"
    assert "PhotoSeek starting" in log.read_text()
    assert (tmp_path / "home" / "config" / "window.ini").is_file()


def test_no_display_is_reported_in_plain_words(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in display_problem()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert display_problem() is None
