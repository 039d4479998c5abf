"""Faults of the machine and rough edges of the command line, run as a user meets them: the real
`photoseek` in a subprocess on a real library (issue #11). Each must end in one line on stderr
that names the problem and the fix, with a documented exit code, and never a traceback.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_cli import REPO, cli, make_photos, ok

from app.cli import library_cmd
from app.cli.faults import EXIT_BROKEN_PIPE, EXIT_DAMAGED, EXIT_STORAGE
from app.cli.library_cmd import EXIT_NO_MODEL, EXIT_USAGE, EXIT_USER


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Path]:
    """One installed model, one folder, indexed in fp32: each test works on a copy of `home`."""
    base = tmp_path_factory.mktemp("faults")
    home, photos = base / "home", base / "photos"
    make_photos(photos)
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    ok(cli(home, "folders", "add", photos))
    ok(cli(home, "index"))
    return {"home": home, "photos": photos.resolve()}


@pytest.fixture
def home(built: dict[str, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(built["home"], copy)
    return copy


def photo(built: dict[str, Path]) -> Path:
    return next(built["photos"].rglob("red_circle_*.jpg"))


def one_line(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The exit code, no traceback, exactly one line on stderr, and that line says `words`."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def error_line(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """As `one_line`, for `index`: its progress lines on stderr come before the error."""
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = "\n".join(line for line in proc.stderr.splitlines() if line.startswith("photoseek"))
    return one_line(
        subprocess.CompletedProcess(proc.args, proc.returncode, "", errors), code, *words
    )


def run_limited(
    home: Path | str, *args: str, preexec: Callable[[], None], cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """`photoseek --data-dir home args` with `preexec` run in the child before it starts."""
    env = {k: v for k, v in os.environ.items() if k != "PHOTOSEEK_HOME"}
    env["PHOTOSEEK_NO_GUI"] = "1"
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(home), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False,
        preexec_fn=preexec,
    )  # fmt: skip


# -- 1. a damaged catalog ------------------------------------------------------------------------


def damage(catalog: Path) -> None:
    """Overwrite the pages that hold the photos table's root and the folders table, as a bad
    sector or a torn copy would (pages picked from the schema: the middle of the file may be
    free pages, which a damage there would leave unnoticed, rightly)."""
    with sqlite3.connect(catalog) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        roots = [r for (r,) in conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name IN ('photos', 'folders')")]  # fmt: skip
    conn.close()
    with catalog.open("r+b") as f:
        for root in roots:
            f.seek((root - 1) * page_size)
            f.write(b"\xde\xad\xbe\xef" * (page_size // 4))


def test_a_damaged_catalog_names_the_file_and_repair_rebuilds_it(
    home: Path, built: dict[str, Path]
) -> None:
    catalog = home / "data" / "catalog.sqlite3"
    damage(catalog)
    for args in (["status"], ["search", "red"]):
        one_line(cli(home, *args), EXIT_DAMAGED, str(catalog), "damaged", "photoseek repair")
    error_line(cli(home, "index"), EXIT_DAMAGED, str(catalog), "photoseek repair")

    repaired = ok(cli(home, "repair"))
    assert "damaged-" in repaired.stdout and "1 folder" in repaired.stdout
    assert [p.name for p in (home / "data").glob("catalog.sqlite3.damaged-*")]
    ok(cli(home, "index"))
    assert "red_circle" in ok(cli(home, "search", "red", "--top", "1")).stdout
    assert "fine" in ok(cli(home, "repair")).stdout


# -- 2. a full disk ------------------------------------------------------------------------------


def file_size_limit(n: int) -> Callable[[], None]:
    """In the child: no file may grow past n bytes, and writing past it fails with EFBIG."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))

    return limit


@pytest.mark.parametrize("args", [["status"], ["search", "red"], ["folders", "list"]])
def test_a_full_disk_is_one_line(home: Path, args: list[str]) -> None:
    proc = run_limited(home, *args, preexec=file_size_limit(1000))
    one_line(proc, EXIT_STORAGE, str(home / "data"), "--data-dir")


def test_a_full_disk_while_indexing_and_for_a_new_library(home: Path, tmp_path: Path) -> None:
    error_line(
        run_limited(home, "index", preexec=file_size_limit(1000)), EXIT_STORAGE, "--data-dir"
    )
    new = tmp_path / "new"
    proc = run_limited(new, "status", preexec=file_size_limit(1000))
    one_line(proc, EXIT_STORAGE, str(new / "data"), "full", "--data-dir")


# -- 3. a read-only data folder ------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """`make(src)`: a read-only view of src (a read-only bind mount as root, chmod otherwise)."""
    mounts: list[Path] = []
    chmods: list[Path] = []

    def make(src: Path) -> Path:
        if os.geteuid() != 0:
            for p in [src, *src.rglob("*")]:
                p.chmod(p.stat().st_mode & ~0o222)
                chmods.append(p)
            return src
        view = tmp_path / f"ro{len(mounts)}"
        view.mkdir()
        for cmd in (["mount", "--bind", src, view], ["mount", "-o", "remount,bind,ro", view]):
            if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", view], capture_output=True, check=False)
                pytest.skip("cannot make a read-only mount here (root without mount rights)")
        mounts.append(view)
        return view

    yield make
    for view in mounts:
        subprocess.run(["umount", view], capture_output=True, check=False)
    for p in chmods:
        p.chmod(p.stat().st_mode | 0o200)


def test_a_read_only_data_folder_is_one_line(
    home: Path, tmp_path: Path, read_only: Callable[[Path], Path]
) -> None:
    ro = read_only(home)
    for args in (["status"], ["search", "red"], ["folders", "list", "--json"]):
        one_line(cli(ro, *args), EXIT_STORAGE, str(ro / "data"), "writable", "--data-dir")
    error_line(cli(ro, "index"), EXIT_STORAGE, "--data-dir")

    parent = tmp_path / "parent"
    parent.mkdir()
    ro_parent = read_only(parent)
    proc = cli(ro_parent / "new", "status")
    one_line(proc, EXIT_STORAGE, str(ro_parent / "new"), "writable", "--data-dir")


# -- 4. --data-dir that cannot be a folder -------------------------------------------------------


def test_data_dir_that_is_a_file_or_empty(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    one_line(cli(a_file, "status"), EXIT_USER, str(a_file), "is a file", "folder")
    one_line(cli(a_file / "below", "status"), EXIT_USER, str(a_file), "--data-dir")
    empty = run_limited("", "status", preexec=lambda: None, cwd=tmp_path)
    one_line(empty, EXIT_USER, "--data-dir is empty")
    assert list(tmp_path.iterdir()) == [a_file]  # nothing made in the current folder


# -- 5. --region numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["inf,0,10,10", "0,0,1e400,10", "nan,0,10,10", "1,2,3"])
def test_region_numbers_are_checked(built: dict[str, Path], region: str) -> None:
    proc = cli(built["home"], "search", "--image", photo(built), "--region", region)
    one_line(proc, EXIT_USAGE, "--region", "x,y,w,h")


# -- 6. output into a closed pipe ----------------------------------------------------------------

PIPED = [
    ["search", "red", "--all"],
    ["similar", "{photo}", "--all"],
    ["status", "--skipped"],
    ["folders", "list", "--json"],
]


@pytest.mark.parametrize("args", PIPED, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("read_first", [False, True], ids=["closed", "head"])
def test_a_closed_pipe_ends_quietly(built: dict[str, Path], args: list[str], read_first: bool) -> None:  # fmt: skip
    """`photoseek ... | head -1`: no traceback, no message, exit 141 when output was lost."""
    env = {k: v for k, v in os.environ.items() if k != "PHOTOSEEK_HOME"}
    env["PHOTOSEEK_NO_GUI"] = "1"
    argv = [a.replace("{photo}", str(photo(built))) for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(built["home"]), *argv],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    if read_first:
        assert proc.stdout.readline()
    proc.stdout.close()  # the reader is gone
    err = proc.stderr.read()
    code = proc.wait(timeout=180)
    assert err == ""
    # Closed before any output: the write fails for sure. After a line: the rest may have fit
    # into the pipe before it closed, and then nothing was lost.
    assert code == EXIT_BROKEN_PIPE if not read_first else code in (0, EXIT_BROKEN_PIPE)


# -- 7. a broken model manifest ------------------------------------------------------------------


@pytest.mark.parametrize("manifest", ["[]", '{"model_id": "x", "files": ["a.onnx"]}'])
def test_a_broken_manifest_is_one_line(home: Path, manifest: str) -> None:
    (target,) = [p for p in (home / "data" / "models").iterdir() if (p / "photoseek.json").exists()]
    (target / "photoseek.json").write_text(manifest)
    status = ok(cli(home, "status"))
    assert "photoseek.json" in status.stdout and "Traceback" not in status.stderr
    one_line(cli(home, "search", "red"), EXIT_NO_MODEL, "photoseek.json", "install it again")
    listed = ok(cli(home, "model", "list"))
    assert "photoseek.json" in listed.stdout and "Traceback" not in listed.stderr


# -- 8. rough edges of the command line ----------------------------------------------------------


def test_a_query_may_start_with_a_dash(built: dict[str, Path]) -> None:
    for args in (["-people"], ["--", "-people"], ["-people", "red", "--top", "2"]):
        proc = ok(cli(built["home"], "search", *args))
        assert "excluding: people" in proc.stderr and "Traceback" not in proc.stderr
    one_line(cli(built["home"], "search", "red", "--bogus"), EXIT_USAGE, "--bogus")


def test_year_out_of_range_gives_the_range(built: dict[str, Path]) -> None:
    one_line(cli(built["home"], "search", "--year", "3000"), EXIT_USAGE, "1800", "2999")


def test_a_precision_not_indexed_yet_says_how_to_index(built: dict[str, Path]) -> None:
    for args in (["search", "red"], ["similar", str(photo(built))]):
        proc = cli(built["home"], *args, "--precision", "int8")
        one_line(proc, EXIT_USER, "not indexed", "photoseek index --precision int8")


@pytest.mark.parametrize("folder", ["/proc", "/sys", "/dev", "/etc/ssl"])
def test_system_folders_are_refused(tmp_path: Path, folder: str) -> None:
    one_line(cli(tmp_path / "home", "folders", "add", folder), EXIT_USER, folder, "system folder")


def test_a_whole_disk_needs_force(tmp_path: Path) -> None:
    one_line(cli(tmp_path / "home", "folders", "add", "/"), EXIT_USER, "whole disk", "--force")


def test_help_gives_the_defaults(built: dict[str, Path]) -> None:
    text = " ".join(ok(cli(built["home"], "search", "--help")).stdout.split())
    assert "calibrated relevance floor" in text and "default 0.5" in text and "-- -people" in text


# -- 9. exit codes in one place ------------------------------------------------------------------


def test_every_exit_code_is_documented() -> None:
    readme = (REPO / "README.md").read_text()
    doc = library_cmd.__doc__ or ""
    for code in (0, 1, 2, 3, EXIT_STORAGE, EXIT_DAMAGED, 70, 130, EXIT_BROKEN_PIPE):
        assert f"\n    {code} " in doc, code
        assert f"| {code} " in readme, code


def test_a_bug_is_one_line_and_its_traceback_goes_to_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last line of defence, called directly: a bug in a command cannot be made on purpose
    in the real CLI."""
    import argparse

    from app.cli import run_command
    from app.cli.faults import EXIT_BUG
    from app.core.logs import LOG_NAME
    from app.core.paths import Paths

    def broken(args: argparse.Namespace, paths: Paths) -> int:
        raise AttributeError("'list' object has no attribute 'get'")

    paths = Paths.at(tmp_path / "home")
    code = run_command(argparse.Namespace(func=broken), paths)
    err = capsys.readouterr().err
    log_file = paths.logs / LOG_NAME
    assert code == EXIT_BUG and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "internal error" in err and str(log_file) in err
    assert "Traceback" in log_file.read_text() and "def broken" not in err
