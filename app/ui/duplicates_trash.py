"""The desktop's trash, from the Duplicates view: open it where the desktop has a way to (the
trash:/// location of GIO and KIO file managers on Linux, Finder's Trash on macOS, the Recycle
Bin on Windows), and say where it is on disk when nothing can show it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices


def home_trash() -> Path:
    """The freedesktop.org home trash ($XDG_DATA_HOME/Trash) where moved photos from the home
    drive go on Linux; photos on another drive go to a .Trash-<uid> folder at its top."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "Trash"


def open_trash(platform: str = sys.platform) -> bool:
    """Show the trash in the file manager; False when nothing could."""
    if platform == "win32":
        return bool(QProcess.startDetached("explorer.exe", ["shell:RecycleBinFolder"])[0])
    if platform == "darwin":
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path.home() / ".Trash")))
    if QDesktopServices.openUrl(QUrl("trash:///")):
        return True
    files = home_trash() / "files"
    return files.is_dir() and QDesktopServices.openUrl(QUrl.fromLocalFile(str(files)))


def open_trash_failed(platform: str = sys.platform) -> str:
    """What to say when no file manager could show the trash."""
    if platform == "win32":
        return "Windows could not open the Recycle Bin; it is on the desktop and in Explorer."
    if platform == "darwin":
        return "Finder could not open the Trash; it is at the end of the Dock."
    return (
        "No file manager could open the Trash. The photos are in "
        f"{home_trash() / 'files'} (or a .Trash folder at the top of another drive); your "
        "file manager's Trash can restore them."
    )
