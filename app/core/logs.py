"""The log file, set up once for every entry point: the window, each CLI command, the benchmarks.

Everything PhotoSeek and its libraries log at INFO and above goes to `<logs>/photoseek.log`
(1 MB, three old copies kept), so a bug report from the window or from `photoseek index` has
the same file to attach. A crash in native code (onnxruntime, Qt, hnswlib) leaves its Python
stack in `<logs>/photoseek-native.log` through faulthandler, since no traceback can be printed
by then. The terminal shows only what the CLI chooses to print (warnings, and more with -v).
"""

from __future__ import annotations

import faulthandler
import io
import logging
import logging.handlers
from pathlib import Path
from typing import Any, TextIO

LOG_NAME = "photoseek.log"
NATIVE_LOG_NAME = "photoseek-native.log"
_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger(__name__)


class _LogFile(logging.handlers.RotatingFileHandler):
    """The handler `setup_logging` installs: makes its folder when it first writes, turns on
    the native-crash record there, and never prints "--- Logging error ---" (a full disk or a
    read-only folder is the command's to report, once, in its own words)."""

    def _open(self) -> io.TextIOWrapper:  # logging's hook, called for the first record
        folder = Path(self.baseFilename).parent
        folder.mkdir(parents=True, exist_ok=True)
        stream = super()._open()
        _enable_faulthandler(folder)
        return stream

    def handleError(self, record: logging.LogRecord) -> None:
        """The record is lost; the file is tried again for the next one."""


_native: TextIO | None = None  # kept open: faulthandler writes to its descriptor when it dies


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path | None:
    """Log to `log_dir/photoseek.log` and record native crashes beside it; returns the log
    file's path, or None when `log_dir` cannot be a folder. Nothing is created until the first
    record is written (a command refused for its arguments leaves no data folder behind), and
    a log that cannot be written is dropped silently: logging never stops or clutters a
    command. Calling it again is harmless."""
    if log_dir.exists() and not log_dir.is_dir():
        return None
    path = log_dir / LOG_NAME
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _LogFile)]
    if not any(h.baseFilename == str(path) for h in ours):
        handler = _LogFile(path, maxBytes=1 << 20, backupCount=3, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.setLevel(level)
        for old in ours:  # one log file per process: the data folder it last opened
            root.removeHandler(old)
            old.close()
        root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        for other in root.handlers:  # console handlers keep the verbosity they had (-v flags)
            if other.level == logging.NOTSET and not isinstance(other, logging.FileHandler):
                other.setLevel(root.level or logging.WARNING)
        root.setLevel(level)
    if log_dir.is_dir():
        _enable_faulthandler(log_dir)
    return path


def log_file() -> Path | None:
    """The log file the root logger writes to, once `setup_logging` has run."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _LogFile):
            return Path(handler.baseFilename)
    return None


def record_bug(exc: BaseException) -> Path | None:
    """Write `exc` with its traceback to the log file only (the terminal shows one line, made
    by the caller); returns the file, or None when no log file is open."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _LogFile):
            record = log.makeRecord(
                log.name, logging.ERROR, __file__, 0, "internal error", (), _exc_info(exc)
            )
            handler.handle(record)
            return Path(handler.baseFilename)
    return None


def _exc_info(exc: BaseException) -> tuple[type[BaseException], BaseException, Any]:
    return type(exc), exc, exc.__traceback__


def _enable_faulthandler(log_dir: Path) -> None:
    path = log_dir / NATIVE_LOG_NAME
    global _native
    if _native is not None and not _native.closed and Path(_native.name) == path:
        return
    try:
        native = path.open("a", encoding="utf-8")
    except OSError as e:
        log.debug("cannot record native crashes in %s: %s", path, e)
        return
    faulthandler.enable(native, all_threads=True)
    if _native is not None:
        _native.close()
    _native = native
