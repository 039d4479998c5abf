"""Error reporting: a rotating log file, Qt's messages in it, a crash dialog naming the log for
bugs, a plain message without a traceback for problems the user can fix."""

from __future__ import annotations

import logging
import sys
import threading

import pytest
from PySide6.QtCore import QTimer, qWarning
from PySide6.QtWidgets import QApplication, QMessageBox
from qt_helpers import strict_qt_fixture  # noqa: F401

from app.core.errors import UserError
from app.core.logs import setup_logging
from app.ui import crash


@pytest.fixture
def log_file(tmp_path):
    path = setup_logging(tmp_path / "logs")
    yield path
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "baseFilename", None) == str(path):
            root.removeHandler(handler)
            handler.close()


@pytest.fixture
def reporter(log_file):
    saved = sys.excepthook, threading.excepthook
    rep = crash.install(log_file, lambda: None)
    yield rep
    sys.excepthook, threading.excepthook = saved
    crash.qInstallMessageHandler(None)


def modal_text_when_shown(qtbot, found: list[str]) -> None:
    """Close the next modal dialog once it shows, remembering what it said."""

    def check() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, check)
            return
        if isinstance(dialog, crash.CrashDialog):
            found.append(dialog.report())
        elif isinstance(dialog, QMessageBox):
            found.append("message:" + dialog.text())
        dialog.close()

    QTimer.singleShot(0, check)


def test_log_file_receives_records(log_file):
    logging.getLogger("app.test").info("hello %s", "log")
    for h in logging.getLogger().handlers:
        h.flush()
    assert "hello log" in log_file.read_text()


def test_qt_messages_are_routed_into_the_log(reporter, log_file, strict_qt):
    strict_qt.allow("a Qt complaint")
    qWarning("a Qt complaint")
    for h in logging.getLogger().handlers:
        h.flush()
    assert "WARNING" in log_file.read_text() and "a Qt complaint" in log_file.read_text()


def test_a_bug_opens_the_crash_dialog_with_traceback_and_log_path(
    qtbot, reporter, log_file, strict_qt
):
    strict_qt.allow("unexpected error")
    found: list[str] = []
    modal_text_when_shown(qtbot, found)
    try:
        raise RuntimeError("index exploded")
    except RuntimeError as e:
        sys.excepthook(type(e), e, e.__traceback__)
    qtbot.waitUntil(lambda: bool(found))
    assert "Traceback" in found[0] and "RuntimeError: index exploded" in found[0]
    assert str(log_file) in found[0]


def test_a_user_error_is_a_plain_message(qtbot, reporter, strict_qt):
    strict_qt.allow("Folder not found")
    found: list[str] = []
    modal_text_when_shown(qtbot, found)
    err = UserError("Folder not found: /nowhere. Connect its drive.")
    sys.excepthook(UserError, err, None)
    qtbot.waitUntil(lambda: bool(found))
    assert found == ["message:Folder not found: /nowhere. Connect its drive."]


def test_a_bug_in_another_thread_is_shown_on_the_gui_thread(qtbot, reporter, strict_qt):
    strict_qt.allow("unexpected error")
    found: list[str] = []
    modal_text_when_shown(qtbot, found)

    def boom() -> None:
        raise ValueError("from a thread")

    thread = threading.Thread(target=boom)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(found))
    assert "ValueError: from a thread" in found[0]


def test_crash_dialog_is_accessible(qtbot, tmp_path):
    dialog = crash.CrashDialog("Traceback: x", tmp_path / "photoseek.log")
    qtbot.addWidget(dialog)
    assert dialog.accessibleName() and dialog.details.accessibleName()
    assert "photoseek.log" in dialog.report()
