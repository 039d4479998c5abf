"""One window per data folder: a second `photoseek` hands its request to the running one and exits.

The running window listens on a local socket (a Unix socket or a Windows named pipe) whose name
is derived from the data folder, so two libraries (`--data-dir`) still get a window each. A
second launch connects, sends one JSON line (what it was asked to do) and waits for the reply;
the first raises its window and does it ("find similar to this photo"). A socket left behind by
a crash answers nobody: the next launch removes it and listens in its place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QObject, Qt, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

log = logging.getLogger(__name__)

CONNECT_MS = 1500
REPLY_MS = 3000
ACK = b"ok\n"
MAX_REQUEST = 64 * 1024
TOKEN_VAR = "XDG_ACTIVATION_TOKEN"  # Qt's Wayland plugin activates a window with it


@dataclass(frozen=True)
class LaunchRequest:
    """What a launch asks the window to do: show itself, and maybe find photos like `similar`.
    `activation_token`: the launcher's XDG_ACTIVATION_TOKEN, which lets a Wayland compositor
    hand the focus to the window raised on the launch's behalf."""

    similar: Path | None = None
    activation_token: str | None = None

    @classmethod
    def here(cls, similar: Path | None = None) -> LaunchRequest:
        """This process's launch (its activation token from the environment)."""
        return cls(similar=similar, activation_token=os.environ.get(TOKEN_VAR) or None)

    def to_bytes(self) -> bytes:
        data = {
            "similar": str(self.similar) if self.similar else None,
            "activation_token": self.activation_token,
        }
        return json.dumps(data).encode() + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes) -> LaunchRequest:
        data = json.loads(raw.decode())
        if not isinstance(data, dict):
            raise ValueError("not a launch request")
        similar, token = data.get("similar"), data.get("activation_token")
        return cls(
            similar=Path(similar) if isinstance(similar, str) and similar else None,
            activation_token=token if isinstance(token, str) and token else None,
        )


def server_name(data_dir: Path) -> str:
    """The socket's name for the library in `data_dir` (per user: the path is in the home)."""
    key = os.path.normcase(str(Path(data_dir).expanduser().resolve()))
    return f"photoseek-{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def forward(name: str, request: LaunchRequest) -> bool:
    """Hand `request` to the window listening on `name`; False when no window answers."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        return False
    try:
        socket.write(QByteArray(request.to_bytes()))
        if not socket.waitForBytesWritten(REPLY_MS):
            return False
        reply = b""
        while not reply.endswith(b"\n") and socket.waitForReadyRead(REPLY_MS):
            reply += bytes(socket.readAll().data())
        return reply == ACK
    finally:
        socket.disconnectFromServer()


class InstanceServer(QObject):
    """Listens for later launches on `name`; emits `requested(LaunchRequest)` for each."""

    requested = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytearray] = {}  # open connections, what they sent

    def listen(self) -> bool:
        """Start listening; a socket left by a crashed window is removed first."""
        if self._server.listen(self.name):
            return True
        if self._server.serverError() == QAbstractSocket.SocketError.AddressInUseError:
            log.info("removing a stale instance socket %s", self.name)
            QLocalServer.removeServer(self.name)
            if self._server.listen(self.name):
                return True
        log.warning("other launches cannot reach this window: %s", self._server.errorString())
        return False

    def close(self) -> None:
        """Stop listening and drop connections still open."""
        self._server.close()
        for socket in list(self._buffers):
            self._drop(socket)

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._buffers[socket] = bytearray()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._drop(s))

    def _drop(self, socket: QLocalSocket) -> None:
        if self._buffers.pop(socket, None) is not None:
            socket.readyRead.disconnect()
            socket.disconnected.disconnect()
            socket.abort()
            socket.deleteLater()

    def _read(self, socket: QLocalSocket) -> None:
        buffer = self._buffers.get(socket)
        if buffer is None:
            return
        buffer.extend(bytes(socket.readAll().data()))
        if len(buffer) > MAX_REQUEST:
            self._drop(socket)
            return
        if not buffer.endswith(b"\n"):
            return
        try:
            request = LaunchRequest.from_bytes(bytes(buffer))
        except (ValueError, UnicodeDecodeError):
            log.warning("ignored a malformed request from another launch")
            self._drop(socket)
            return
        socket.write(QByteArray(ACK))
        socket.flush()
        self.requested.emit(request)


def claim(data_dir: Path, request: LaunchRequest) -> InstanceServer | None:
    """Become the library's one window (the listening server), or hand `request` to the window
    that already is and return None."""
    name = server_name(data_dir)
    if forward(name, request):
        log.info("PhotoSeek is already open on %s; handed over %s", data_dir, request)
        return None
    server = InstanceServer(name)
    server.listen()
    return server


def present(window: MainWindow, request: LaunchRequest) -> None:
    """Bring `window` to the front and do what the launch asked."""
    if request.activation_token:
        os.environ[TOKEN_VAR] = request.activation_token  # used (and cleared) by activateWindow
    if window.isMinimized():
        window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()
    QApplication.alert(window)  # where the desktop refuses to hand over focus, the taskbar says
    if request.similar is not None:
        window.user_actions.search_like_file(request.similar)
