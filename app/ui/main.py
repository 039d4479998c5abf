"""`photoseek` with no command: set up logging and error reporting, open the window, run."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from app.core.api import Paths, setup_logging

log = logging.getLogger(__name__)


def display_problem() -> str | None:
    """A plain message when no screen is available (Qt would otherwise abort)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run PhotoSeek from a "
            "desktop session, or use the command line: `photoseek --help`."
        )
    return None


def run_gui(paths: Paths, similar: Path | None = None) -> int:
    """Open the PhotoSeek window over the library in `paths` (searching for photos like
    `similar`), or hand that to the window already open on it; returns the exit code."""
    problem = display_problem()
    if problem:
        print(f"photoseek: {problem}", file=sys.stderr)
        return 2
    paths.ensure()
    from app.ui import crash, single_instance
    from app.ui.app import create_application

    log_file = setup_logging(paths.logs)
    app = create_application()
    request = single_instance.LaunchRequest.here(similar)
    server = single_instance.claim(paths.data, request)
    if server is None:
        print("PhotoSeek is already open; its window was brought to the front.")
        return 0
    from app.ui.main_window import MainWindow

    window: MainWindow | None = None
    reporter = crash.install(log_file, lambda: window)
    log.info("PhotoSeek starting; data in %s, log in %s", paths.data, log_file)
    window = MainWindow(paths)
    shown = window
    server.requested.connect(lambda r: single_instance.present(shown, r))
    window.show()
    if similar is not None:
        single_instance.present(window, request)
    code = app.exec()
    server.close()
    del reporter
    log.info("PhotoSeek closed (%s)", code)
    return int(code)
