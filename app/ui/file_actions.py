"""What the user can do with a result's file: open it, show it in its folder, copy its path.

None of these change the file; a photo to search by is picked here too. Opening goes through QDesktopServices (the user's default app);
"show in folder" selects the file where the platform's file manager allows it.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QWidget

log = logging.getLogger(__name__)


def open_file(path: Path) -> bool:
    """Open with the default application; False when the file is gone or nothing opened it."""
    if not path.exists():
        return False
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


# Players that take a start time on their command line: (program, arguments before the file).
PLAYERS: tuple[tuple[str, Callable[[float], list[str]]], ...] = (
    ("mpv", lambda s: [f"--start={s:.2f}"]),
    ("vlc", lambda s: [f"--start-time={s:.2f}"]),
    ("celluloid", lambda s: [f"--mpv-start={s:.2f}"]),
    ("mplayer", lambda s: ["-ss", f"{s:.2f}"]),
)


def open_in_player(path: Path, t_ms: int = 0) -> bool:
    """Play a video from `t_ms` in a player that takes a start time (mpv, VLC, Celluloid,
    MPlayer) when one is installed, else in the default app (from the start); False when the
    file is gone or nothing opened it."""
    if not path.exists():
        return False
    if t_ms > 0:
        for program, arguments in PLAYERS:
            found = shutil.which(program)
            if found and QProcess.startDetached(found, [*arguments(t_ms / 1000), str(path)])[0]:
                return True
    return open_file(path)


def show_in_folder(path: Path) -> bool:
    """Reveal `path` in the file manager, selected: the FileManager1 D-Bus interface on Linux
    (Nautilus, Dolphin, Nemo, Caja, Thunar...), Explorer on Windows, Finder on macOS; else the
    folder opens. False when the file is gone or nothing could show it."""
    if not path.exists():
        return False
    if sys.platform == "win32":
        return QProcess.startDetached("explorer.exe", [f"/select,{path}"])[0]
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", str(path)])[0]
    return _show_items(path) or open_folder(path.parent)


def open_folder(folder: Path) -> bool:
    """Open `folder` in the file manager; False when nothing opened it."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def _show_items(path: Path) -> bool:
    """org.freedesktop.FileManager1.ShowItems, when a file manager offers it on the session bus."""
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface, QDBusMessage
    except ImportError:  # a Qt built without D-Bus
        return False
    bus = QDBusConnection.sessionBus()
    service = "org.freedesktop.FileManager1"
    if not bus.isConnected():
        return False
    registered = bus.interface().isServiceRegistered(service)
    if not registered.value():
        # D-Bus can start a file manager that is installed but not running.
        activatable = bus.interface().call("ListActivatableNames").arguments()
        if not activatable or service not in activatable[0]:
            return False
    manager = QDBusInterface(service, "/org/freedesktop/FileManager1", service, bus)
    reply = manager.call("ShowItems", [QUrl.fromLocalFile(str(path)).toString()], "")
    if reply.type() == QDBusMessage.MessageType.ErrorMessage:
        log.info("the file manager could not show %s: %s", path, reply.errorMessage())
        return False
    return True


def copy_paths(paths: Sequence[Path]) -> str:
    """Put the paths on the clipboard, one per line; returns the text."""
    text = "\n".join(str(p) for p in paths)
    QGuiApplication.clipboard().setText(text)
    return text


def open_failed_message(path: Path) -> str:
    if not path.exists():
        return missing_message(path)
    return (
        f"No application could open {path.name}. Open it from your file manager instead; "
        f"it is in {path.parent}."
    )


def show_failed_message(path: Path) -> str:
    if not path.exists():
        return missing_message(path)
    return (
        f"No file manager could show {path.name}. It is in {path.parent}; its path is on the "
        "clipboard, to paste into a file manager."
    )


def choose_photo(parent: QWidget) -> Path | None:
    """The platform's file picker for a photo to search by; None when cancelled."""
    from app.core.api import IMAGE_EXTENSIONS

    patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
    chosen, _ = QFileDialog.getOpenFileName(
        parent, "Search by Photo", str(Path.home()), f"Photos ({patterns});;All files (*)"
    )
    return Path(chosen) if chosen else None


def missing_message(path: Path) -> str:
    return (
        f"{path.name} is no longer at {path.parent}. It may have been moved, renamed or "
        "deleted, or its drive is not connected. PhotoSeek will update its index when it "
        "notices the change."
    )
