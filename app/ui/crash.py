"""Where errors go in the window: Qt's own messages into the log file, and two kinds of dialog.

Problems the user can fix (`UserError`) get a plain message with no traceback. Anything else is
a bug: it is logged with its traceback and shown in a crash dialog that names the log file, so a
bug report can include it (qutebrowser's KnownError/BugError split, Vorta's ExceptionDialog).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import (
    QMessageLogContext,
    QObject,
    Qt,
    QtMsgType,
    QUrl,
    Signal,
    Slot,
    qInstallMessageHandler,
)
from PySide6.QtGui import QDesktopServices, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.api import UserError

log = logging.getLogger(__name__)
qt_log = logging.getLogger("qt")

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def qt_message_handler(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Qt's warnings and errors go to the `qt` logger instead of stderr."""
    where = f" ({context.file}:{context.line})" if context.file else ""
    qt_log.log(_QT_LEVELS.get(kind, logging.WARNING), "%s%s", message, where)


class CrashDialog(QDialog):
    """Says that PhotoSeek hit a bug, shows the traceback and where the log file is."""

    def __init__(self, details: str, log_file: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PhotoSeek ran into a problem")
        self.setAccessibleName("Crash report")
        intro = QLabel(
            "<b>Something went wrong inside PhotoSeek.</b> This is a bug, not something you did. "
            "Your photos are safe: PhotoSeek never changes them.<br><br>"
            "Please report it with the details below"
            + (
                f" and the log file:<br><a href='{QUrl.fromLocalFile(str(log_file)).toString()}'>"
                f"{log_file}</a>"
                if log_file
                else "."
            )
        )
        intro.setWordWrap(True)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        intro.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Error details")
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setMinimumSize(560, 220)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy Details", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.report()))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)
        self._log_file = log_file

    def report(self) -> str:
        return f"{self.details.toPlainText()}\nLog file: {self._log_file}\n"


class ErrorReporter(QObject):
    """The excepthook target. Exceptions from any thread are shown on the GUI thread."""

    _show = Signal(object, str)  # exception, formatted traceback

    def __init__(self, log_file: Path | None, parent_window: Callable[[], QWidget | None]) -> None:
        super().__init__()
        self.log_file = log_file
        self._parent_window = parent_window
        self._showing = False
        self._show.connect(self._present)

    def excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        text = "".join(traceback.format_exception(kind, exc, tb))
        if isinstance(exc, UserError):
            log.warning("%s", exc)
        else:
            log.error("unexpected error\n%s", text)
        self._show.emit(exc, text)  # queued when raised outside the GUI thread

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(object, str)
    def _present(self, exc: BaseException, text: str) -> None:
        parent = self._parent_window()
        if isinstance(exc, UserError):
            QMessageBox.warning(parent, "PhotoSeek", str(exc))
            return
        if self._showing:  # one dialog at a time; the rest are in the log
            return
        self._showing = True
        try:
            CrashDialog(text, self.log_file, parent).exec()
        finally:
            self._showing = False


def install(log_file: Path | None, parent_window: Callable[[], QWidget | None]) -> ErrorReporter:
    """Route Qt messages to logging and uncaught exceptions to dialogs; keep the result alive."""
    qInstallMessageHandler(qt_message_handler)
    reporter = ErrorReporter(log_file, parent_window)
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.thread_excepthook
    return reporter
