"""No socket outside an explicit model download: indexing, searching (places and duplicates too),
watching and the window,
each alive past onnxruntime's telemetry delay (~10 s after a session starts), open no network
socket at all. Checked at the system-call level with strace, so sockets opened by C++ libraries
(onnxruntime's telemetry does its DNS queries there) are seen too, not only Python's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from places_photos import SPOTS, gps_jpeg
from test_indexer import make_folder

from app.core.model.install import install_model
from app.core.paths import Paths

REPO = Path(__file__).resolve().parents[1]
PAST_TELEMETRY_S = 15  # onnxruntime's telemetry DNS queries came ~10 s after session start
INET = re.compile(r"socket\((AF_INET|AF_INET6)\b|connect\(\d+, \{sa_family=AF_INET")

CORE = f"""
import sys, time
from pathlib import Path
from app.core.library import Library, Query
from app.core.paths import Paths
lib = Library.open(Paths.at(Path(sys.argv[1])), device="cpu")
lib.index()
assert lib.search(Query(text="a red circle", top_k=3)).hits
seen = lib.understand("a red circle in Lisbon 2019")  # places: an offline gazetteer, no lookups
assert seen.place is not None and lib.places()
assert lib.search(Query(text=seen.text, place=seen.place, year=seen.year, top_k=3)).hits
lib.duplicates()
watcher = lib.watch()
(Path(sys.argv[2]) / "new.txt").write_text("not a photo")
time.sleep({PAST_TELEMETRY_S})
assert lib.search(Query(text="a blue square", top_k=3)).hits
watcher.stop()
lib.close()
print("ok")
"""

WINDOW = f"""
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from app.core.library import Library
from app.core.paths import Paths
from app.ui.app import create_application
from app.ui.main_window import MainWindow
app = create_application()
paths = Paths.at(Path(sys.argv[1]))
window = MainWindow(paths, Library.open(paths, device="cpu"), welcome=False)
window.show()
def search():
    window.search_bar.edit.setText("a red circle in Lisbon")
    window.search_bar.search_now()
QTimer.singleShot(1000, search)
QTimer.singleShot({PAST_TELEMETRY_S * 1000}, window.close)
QTimer.singleShot({PAST_TELEMETRY_S * 1000 + 500}, app.quit)
app.exec()
print("ok")
"""


def network_syscalls(tmp_path: Path, code: str, *args: str) -> list[str]:
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is needed to watch for network sockets: apt-get install strace")
    log = tmp_path / f"strace-{len(list(tmp_path.glob('strace-*')))}.log"
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY",)}
    env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=socket,connect", "-o", str(log),
         sys.executable, "-c", code, *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
    return [line for line in log.read_text().splitlines() if INET.search(line)]


@pytest.fixture
def library(tmp_path: Path, tiny_model_dir: Path) -> tuple[Path, Path]:
    home, photos = tmp_path / "home", tmp_path / "photos"
    make_folder(photos)
    gps_jpeg(photos / "lisbon.jpg", "red", "circle", 3, at=SPOTS["lisbon"])
    paths = Paths.at(home).ensure()
    install_model(paths, "micro", source=tiny_model_dir, calibrate=False)
    from app.core.library import Library

    with Library.open(paths, device="cpu") as lib:
        lib.add_folder(photos)
    return home, photos


def test_index_search_and_watch_open_no_network_socket(library, tmp_path: Path) -> None:
    home, photos = library
    assert network_syscalls(tmp_path, CORE, str(home), str(photos)) == []


def test_the_window_opens_no_network_socket(library, tmp_path: Path) -> None:
    home, _ = library
    assert network_syscalls(tmp_path, WINDOW, str(home)) == []


def test_the_check_sees_what_onnxruntime_telemetry_would_do(tmp_path: Path) -> None:
    """The strace check is not blind: a plain UDP socket to a resolver is caught."""
    code = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.connect(('127.0.0.1', 53)); print('ok')"
    )
    assert network_syscalls(tmp_path, code)
