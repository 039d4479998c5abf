"""One log file for every entry point (app.core.logs): a CLI command writes the window's
photoseek.log, a native crash leaves its Python stack beside it, and an unwritable log folder
never stops a command."""

from __future__ import annotations

import logging
import logging.handlers
import os
import subprocess
import sys
from pathlib import Path

from app.core import logs

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def test_a_cli_command_writes_the_same_log_file_as_the_window(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    home = tmp_path / "home"
    proc = run("-m", "app", "--data-dir", str(home), "folders", "add", str(photos))
    assert proc.returncode == 0, proc.stderr
    text = (home / "logs" / logs.LOG_NAME).read_text(encoding="utf-8")
    assert f"added folder {photos}" in text
    assert proc.stderr == ""  # the log's INFO lines stay out of the terminal


def test_a_native_crash_leaves_its_stack_in_the_log_folder(tmp_path: Path) -> None:
    code = (
        "import faulthandler, sys\n"
        "from pathlib import Path\n"
        "from app.core.logs import setup_logging\n"
        "Path(sys.argv[1]).mkdir()  # the window makes its folders first (Paths.ensure)\n"
        "setup_logging(Path(sys.argv[1]))\n"
        "faulthandler._sigsegv()\n"
    )
    proc = run("-c", code, str(tmp_path / "logs"))
    assert proc.returncode != 0
    native = (tmp_path / "logs" / logs.NATIVE_LOG_NAME).read_text(encoding="utf-8")
    assert "Segmentation fault" in native and "<string>" in native


def test_a_file_where_the_log_folder_should_be_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "logs").write_text("not a folder")
    assert logs.setup_logging(tmp_path / "home" / "logs") is None
    photos = tmp_path / "photos"
    photos.mkdir()
    proc = run("-m", "app", "--data-dir", str(tmp_path / "home"), "folders", "add", str(photos))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(tmp_path / "home" / "logs") in proc.stderr and "Move that file away" in proc.stderr


def test_a_refused_command_leaves_no_data_folder(tmp_path: Path) -> None:
    """The log folder is made by the first record written, not by setting up logging."""
    proc = run("-m", "app", "--data-dir", str(tmp_path / "home"), "search")
    assert proc.returncode == 2 and not (tmp_path / "home").exists()


def test_setup_is_idempotent_and_keeps_one_log_file(tmp_path: Path) -> None:
    root = logging.getLogger()
    try:
        first = logs.setup_logging(tmp_path / "a")
        assert logs.setup_logging(tmp_path / "a") == first
        second = logs.setup_logging(tmp_path / "b")
        ours = [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
        assert [Path(h.baseFilename) for h in ours] == [second] == [logs.log_file()]
    finally:
        for h in list(root.handlers):
            if isinstance(h, logs._LogFile):
                root.removeHandler(h)
                h.close()
