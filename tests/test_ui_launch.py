"""Launching: one window per data folder (a second launch, a real process over a real local
socket, hands its request to the first), and the start-up states in their order ("Opening your
library…" until the photos show, never "No photos" on the way)."""

# ruff: noqa: F811  (the fixtures imported from test_ui_window are parameters here)
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QDir
from qt_helpers import shape_photos, strict_qt_fixture  # noqa: F401
from test_ui_window import (  # noqa: F401  (fixtures)
    indexed_library,
    make_window,
    paths,
    photo_dir,
    wait_for_search,
    window,
)

from app.core.library import Library
from app.core.paths import Paths
from app.ui import single_instance
from app.ui.image_query import ImageQuery
from app.ui.single_instance import InstanceServer, LaunchRequest, claim, server_name

REPO = Path(__file__).resolve().parents[1]


def second_launch(*args: str, **environ: str) -> subprocess.Popen[str]:
    """`photoseek ARGS` in a new process, as a user's second launch would run it."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO), **environ}
    env.pop("PHOTOSEEK_NO_GUI", None)
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_each_data_folder_has_its_own_socket_name(tmp_path):
    a, b = server_name(tmp_path / "a"), server_name(tmp_path / "b")
    assert a != b and a.startswith("photoseek-")
    assert server_name(tmp_path / "a" / ".." / "a") == a  # the folder, however it is spelled


def test_a_second_launch_hands_its_photo_to_the_open_window(qtbot, window, paths, photo_dir):
    """`photoseek --data-dir X PHOTO` while a window is open on X: the window raises and finds
    photos like PHOTO; the second process exits 0 without opening a window."""
    server = claim(paths.data, LaunchRequest())
    assert server is not None
    server.requested.connect(lambda r: single_instance.present(window, r))
    photo = sorted(photo_dir.rglob("green-star*.jpg"))[0]
    home = paths.data.parent  # what --data-dir names
    process = None
    try:
        with qtbot.waitSignal(server.requested, timeout=60_000) as got:
            process = second_launch("--data-dir", str(home), str(photo))
        assert got.args[0] == LaunchRequest(similar=photo)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0, out
        assert "already open" in out
        qtbot.waitUntil(lambda: window.search_bar.image() is not None)
        assert window.search_bar.image().path == photo
        qtbot.waitUntil(
            lambda: not window.searcher.busy() and window.model.total() > 0, timeout=15_000
        )
        assert window.result_label.text().endswith("ms")
    finally:
        server.close()
        if process is not None and process.poll() is None:
            process.kill()
            process.communicate()


def test_the_similar_option_is_forwarded_too(qtbot, tmp_path):
    home = tmp_path / "lib"
    server = claim(Paths.at(home).ensure().data, LaunchRequest())
    assert server is not None
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(b"not decoded by the launcher")
    process = None
    try:
        with qtbot.waitSignal(server.requested, timeout=60_000) as got:
            process = second_launch(
                "--data-dir", str(home), "--similar", str(photo), XDG_ACTIVATION_TOKEN="launcher-7"
            )
        assert got.args[0] == LaunchRequest(similar=photo, activation_token="launcher-7")
        assert process.wait(timeout=60) == 0
    finally:
        server.close()
        if process is not None and process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes leave no file behind")
def test_a_socket_left_by_a_crash_is_replaced(qtbot, tmp_path):
    data = tmp_path / "lib"
    name = server_name(data)
    stale = Path(QDir.tempPath()) / name
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))  # bound, never listening: what a killed window leaves behind
    leftover.close()
    assert stale.exists()
    server = claim(data, LaunchRequest())
    try:
        assert server is not None
        with qtbot.waitSignal(server.requested, timeout=10_000) as got:
            done = threading.Thread(
                target=lambda: single_instance.forward(name, LaunchRequest(similar=tmp_path))
            )
            done.start()
        done.join(10)
        assert got.args[0].similar == tmp_path
    finally:
        server.close()


def test_a_lone_launch_claims_the_socket(qtbot, tmp_path):
    data = tmp_path / "lib"
    first = claim(data, LaunchRequest())
    assert isinstance(first, InstanceServer)
    first.close()
    again = claim(data, LaunchRequest())  # the first window closed: the next one takes over
    assert again is not None
    again.close()


# -- start-up states -----------------------------------------------------------------------------


def test_startup_says_opening_until_the_photos_show(qtbot, paths, indexed_library, tiny_model_dir):
    """Before the library is open the window says so; it never claims "No photos found" while
    the catalog is being read, and the photos show as soon as they are in."""
    indexed_library.close()
    gate = threading.Event()

    def open_library(p: Paths) -> Library:
        gate.wait(30)
        return Library.open(p, model_dir=tiny_model_dir, device="cpu")

    window = make_window(qtbot, paths, None, open_library=open_library)
    seen: list[str] = []
    window.empty.shown.connect(seen.append)
    try:
        assert window.empty_state_key() == "opening"
        assert window.empty.title.text() == "Opening your library…"
        gate.set()
        qtbot.waitUntil(lambda: window.model.total() == 32, timeout=30_000)
        qtbot.waitUntil(lambda: window.empty_state_key() is None, timeout=10_000)
        assert seen == [], seen  # no other empty state on the way
        qtbot.waitUntil(lambda: not window.indexer.running, timeout=30_000)
        assert seen == [] and window.empty_state_key() is None
    finally:
        gate.set()
        window.close()


def test_a_new_library_goes_from_opening_to_add_folders(qtbot, paths, tiny_model_dir):
    opener = lambda p: Library.open(p, model_dir=tiny_model_dir)  # noqa: E731
    window = make_window(qtbot, paths, None, open_library=opener)
    seen: list[str] = []
    window.empty.shown.connect(seen.append)
    try:
        assert window.empty_state_key() == "opening"
        qtbot.waitUntil(lambda: window.empty_state_key() == "no-folders", timeout=15_000)
        assert seen == ["no-folders"]
    finally:
        window.close()


def test_a_first_launch_with_a_photo_opens_searching_like_it(qtbot, tmp_path, monkeypatch):
    """`photoseek PHOTO` with no window open: the window opens with PHOTO as the example."""
    import logging

    from PySide6.QtCore import QTimer, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from app.cli import main as cli_main
    from app.ui.main_window import MainWindow

    monkeypatch.delenv("PHOTOSEEK_NO_GUI", raising=False)
    photo = shape_photos(tmp_path / "elsewhere", [("red", "circle", datetime(2020, 5, 6))])[0]
    home = tmp_path / "home"
    seen: dict[str, object] = {}
    saved_hooks = sys.excepthook, threading.excepthook
    saved_level = logging.getLogger().level

    def look_and_close() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        window = next((w for w in windows if isinstance(w, MainWindow)), None)
        if window is None or window.library is None or window.searcher.busy():
            QTimer.singleShot(50, look_and_close)
            return
        seen["image"] = window.search_bar.image()
        for w in windows:
            w.close()

    QTimer.singleShot(0, look_and_close)
    try:
        code = cli_main(["--data-dir", str(home), str(photo)])
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
    image = seen["image"]
    assert isinstance(image, ImageQuery) and image.path == photo.resolve()
