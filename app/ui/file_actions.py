"""What the user can do with a result's file: open it, show it in its folder, copy its path.

None of these change the file. Opening goes through QDesktopServices (the user's default app);
"show in folder" selects the file where the platform's file manager allows it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

log = logging.getLogger(__name__)


def open_file(path: Path) -> bool:
    """Open with the default application; False when the file is gone or nothing opened it."""
    if not path.exists():
        return False
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def show_in_folder(path: Path) -> bool:
    """Reveal `path` in the file manager (selected on Windows and macOS; the folder elsewhere)."""
    if not path.exists():
        return False
    if sys.platform == "win32":
        return QProcess.startDetached("explorer.exe", [f"/select,{path}"])[0]
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", str(path)])[0]
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


def copy_paths(paths: Sequence[Path]) -> str:
    """Put the paths on the clipboard, one per line; returns the text."""
    text = "\n".join(str(p) for p in paths)
    QGuiApplication.clipboard().setText(text)
    return text


def missing_message(path: Path) -> str:
    return (
        f"{path.name} is no longer at {path.parent}. It may have been moved, renamed or "
        "deleted, or its drive is not connected. PhotoSeek will update its index when it "
        "notices the change."
    )
