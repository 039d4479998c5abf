"""The `photoseek` library commands, run as a user runs them: `python -m app --data-dir D ...` in
a subprocess, on generated photo folders with EXIF dates, with the trained micro CLIP installed
through `photoseek model install --from`. Checks output, --json and the documented exit codes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from microclip import make_shape_image
from PIL import Image

from app.cli.common import format_moment, parse_moment
from app.cli.library_cmd import (
    EXIT_INTERRUPTED,
    EXIT_NO_MODEL,
    EXIT_USAGE,
    EXIT_USER,
    parse_month,
    parse_region,
    parse_year,
)
from app.cli.progress import format_duration, render

REPO = Path(__file__).resolve().parents[1]

# (colour, shape, year, month) of each photo in the shared library; two of each kind.
PHOTOS = [
    ("red", "circle", 2019, 7), ("red", "circle", 2021, 3),
    ("blue", "square", 2019, 7), ("blue", "square", 2020, 12),
    ("green", "triangle", 2020, 7), ("green", "triangle", 2021, 3),
    ("yellow", "star", 2019, 1), ("yellow", "star", 2021, 7),
]  # fmt: skip


def cli(home: Path, *args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PHOTOSEEK_HOME"}
    env["PHOTOSEEK_NO_GUI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(home), *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def jpeg(color: str, shape: str, seed: int, year: int = 2021, month: int = 6) -> bytes:
    img = make_shape_image(color, shape, 96, np.random.default_rng(seed))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = f"{year}:{month:02d}:15 12:00:00"
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def make_photos(root: Path) -> dict[str, tuple[str, str, int, int]]:
    """The shared library's files, plus two that must be skipped and one that is not a photo."""
    made = {}
    for k, (color, shape, year, month) in enumerate(PHOTOS):
        p = root / str(year) / f"{color}_{shape}_{k}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(jpeg(color, shape, seed=k, year=year, month=month))
        made[str(p)] = (color, shape, year, month)
    (root / "broken.jpg").write_bytes(b"this is not a JPEG at all" * 40)
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not a photo, never catalogued")
    return made


def hits_of(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    return json.loads(ok(proc).stdout)["hits"]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[dict]:
    """An installed model, one folder added and indexed once for the whole module."""
    base = tmp_path_factory.mktemp("cli")
    home, photos = base / "home", base / "photos"
    made = make_photos(photos)
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    added = ok(cli(home, "folders", "add", photos))
    assert str(photos.resolve()) in added.stdout
    indexed = ok(cli(home, "index"))
    yield {"home": home, "photos": photos.resolve(), "made": made, "index": indexed}


# -- folders ---------------------------------------------------------------------------------


def test_folders_add_list_remove(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    (b / "inner").mkdir(parents=True)
    (a / "keep.jpg").write_bytes(jpeg("red", "circle", 1))
    ok(cli(home, "folders", "add", a, b))
    listed = json.loads(ok(cli(home, "folders", "list", "--json")).stdout)
    assert [f["path"] for f in listed] == [str(a.resolve()), str(b.resolve())]
    assert all(f["available"] for f in listed)

    again = cli(home, "folders", "add", b / "inner")  # inside a folder already added
    assert again.returncode == EXIT_USER
    assert str(b / "inner") in again.stderr and "Traceback" not in again.stderr

    gone = cli(home, "folders", "add", tmp_path / "nope")
    assert gone.returncode == EXIT_USER
    assert "not found" in gone.stderr.lower() and str(tmp_path / "nope") in gone.stderr

    ok(cli(home, "folders", "remove", a))
    text = ok(cli(home, "folders", "list")).stdout
    assert str(b.resolve()) in text and str(a.resolve()) not in text
    assert (a / "keep.jpg").is_file()  # removing a folder never touches its files

    unknown = cli(home, "folders", "remove", tmp_path / "never-added")
    assert unknown.returncode == EXIT_USER and "never-added" in unknown.stderr


# -- index -----------------------------------------------------------------------------------


def test_index_reports_counts_and_a_rescan_finds_nothing_new(library: dict) -> None:
    first = library["index"].stdout
    assert "8 new" in first and "2 skipped" in first, first
    assert "status --skipped" in first
    again = ok(cli(library["home"], "index")).stdout
    assert "0 new" in again and "8 unchanged" in again, again
    assert "0 skipped" in again and "2 still skipped" in again, again  # known, not counted anew


def test_index_without_a_model_or_without_folders(tmp_path: Path, tiny_model_dir: Path) -> None:
    home = tmp_path / "home"
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(jpeg("red", "circle", 3))
    ok(cli(home, "folders", "add", photos))  # folders work without a model
    for args in (("index",), ("search", "a red circle"), ("similar", photos / "a.jpg")):
        proc = cli(home, *args)
        assert proc.returncode == EXIT_NO_MODEL, (args, proc.stderr)
        assert "photoseek model install" in proc.stderr and "Traceback" not in proc.stderr
    bad_model = cli(home, "index", "--model", tmp_path / "no-such-model-dir")
    assert bad_model.returncode == EXIT_NO_MODEL and "no-such-model-dir" in bad_model.stderr

    other = tmp_path / "other"
    ok(cli(other, "model", "install", "--from", tiny_model_dir))
    empty = cli(other, "index")
    assert empty.returncode == EXIT_USER and "folders add" in empty.stderr


def test_ctrl_c_cancels_cleanly_and_the_next_run_resumes(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """SIGINT during a run stops it after the current batch with exit 130 and a hint; the next
    run encodes only what is left."""
    home, photos = tmp_path / "home", tmp_path / "photos"
    n = 200
    for k in range(n):
        p = photos / f"d{k % 4}" / f"p{k:03d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(jpeg(("red", "blue")[k % 2], ("circle", "star")[k % 2], seed=100 + k))
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    ok(cli(home, "folders", "add", photos))
    env = {k: v for k, v in os.environ.items() if k != "PHOTOSEEK_HOME"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(home), "index"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    while line and not re.search(r"\] \d+/\d+", line):  # the first progress line of indexing
        line = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    err = line + err
    if proc.returncode == 0:  # finished before the signal landed: nothing to resume
        pytest.fail(f"the run ended before Ctrl+C could stop it; make it longer\n{err}")
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "run `photoseek index` again to resume" in err
    found = re.search(r"(\d+) new", err)
    done = int(found.group(1)) if found else 0
    assert 0 <= done < n
    resumed = ok(cli(home, "index")).stdout
    assert f"{n - done} new" in resumed and f"{done} unchanged" in resumed, resumed


# -- search ----------------------------------------------------------------------------------


def test_search_text_ranks_the_matching_photo_first(library: dict) -> None:
    for color, shape in (("red", "circle"), ("blue", "square"), ("yellow", "star")):
        hits = hits_of(cli(library["home"], "search", f"a {color} {shape}", "--json", "--top", "3"))
        assert hits, f"no hits for a {color} {shape}"
        assert Path(hits[0]["path"]).name.startswith(f"{color}_{shape}_"), hits
        assert hits[0]["score"] >= hits[-1]["score"]


def test_search_human_output_is_score_date_path(library: dict) -> None:
    out = ok(cli(library["home"], "search", "a green triangle", "--top", "2")).stdout
    lines = out.strip().splitlines()
    assert 1 <= len(lines) <= 2
    for line in lines:
        score, date, path = line.split(maxsplit=2)
        float(score)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date)
        assert path in library["made"]
    assert "green_triangle" in lines[0]


def test_search_filters_return_exactly_the_passing_photos(library: dict) -> None:
    made = library["made"]
    home = library["home"]
    # Browsing (no text) lists every passing photo, so the sets can be compared exactly.
    for args, keep in (
        (("--year", "2019"), lambda y, m: y == 2019),
        (("--month", "july"), lambda y, m: m == 7),
        (("--year", "2021", "--month", "3"), lambda y, m: y == 2021 and m == 3),
        (("--folder", library["photos"] / "2020"), lambda y, m: y == 2020),
    ):
        hits = hits_of(cli(home, "search", *args, "--json", "--top", "50"))
        expected = {p for p, (_, _, y, m) in made.items() if keep(y, m)}
        assert {h["path"] for h in hits} == expected, args
    # With text, a filter keeps only passing photos, best first.
    hits = hits_of(cli(home, "search", "a red circle", "--year", "2021", "--json"))
    assert hits and all(h["capture_time"].startswith("2021-") for h in hits)
    assert Path(hits[0]["path"]).name.startswith("red_circle_")
    dated = hits_of(cli(home, "search", "--year", "2019", "--order", "date", "--json"))
    times = [h["capture_time"] for h in dated]
    assert times == sorted(times, reverse=True)


def test_search_negative_terms_and_image_queries(library: dict, tmp_path: Path) -> None:
    home = library["home"]
    neg = json.loads(ok(cli(home, "search", "a red circle -blue", "--json")).stdout)
    assert neg["negative_terms"] == ["blue"]
    names = [Path(h["path"]).name for h in neg["hits"]]
    assert names[0].startswith("red_circle_")
    blue = [i for i, name in enumerate(names) if name.startswith("blue_")]
    assert blue == list(range(len(names) - len(blue), len(names)))  # pushed to the end

    probe = tmp_path / "probe.jpg"  # outside the library
    probe.write_bytes(jpeg("yellow", "star", seed=999))
    hits = hits_of(cli(home, "search", "--image", probe, "--json", "--top", "3"))
    assert Path(hits[0]["path"]).name.startswith("yellow_star_")

    # A region: the left half of a picture whose right half is noise.
    img = Image.new("RGB", (192, 96), (0, 0, 0))
    img.paste(make_shape_image("blue", "square", 96, np.random.default_rng(5)), (0, 0))
    img.paste(Image.fromarray(np.random.default_rng(6).integers(0, 255, (96, 96, 3), np.uint8)),
              (96, 0))  # fmt: skip
    wide = tmp_path / "wide.png"
    img.save(wide)
    hits = hits_of(cli(home, "search", "--image", wide, "--region", "0,0,96,96", "--json"))
    assert Path(hits[0]["path"]).name.startswith("blue_square_")

    both = hits_of(cli(home, "search", "a red circle", "--image", probe, "--image-weight", "0",
                       "--json", "--top", "1"))  # fmt: skip
    assert Path(both[0]["path"]).name.startswith("red_circle_")


def test_similar_uses_library_photos_and_outside_files(library: dict, tmp_path: Path) -> None:
    home = library["home"]
    own = next(p for p, v in library["made"].items() if v[:2] == ("green", "triangle"))
    out = json.loads(ok(cli(home, "similar", own, "--json", "--top", "3")).stdout)
    assert "like_photo_id" in out["query"]
    assert out["source"]["path"] == own  # pinned apart, labelled, as the window shows it
    assert own not in [h["path"] for h in out["hits"]] and out["count"] == 3
    assert Path(out["hits"][0]["path"]).name.startswith("green_triangle_")
    lines = ok(cli(home, "similar", own, "--top", "2")).stdout.splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "source" and lines[0].endswith(own)

    outside = tmp_path / "copy.jpg"
    shutil.copy(own, outside)
    out = json.loads(ok(cli(home, "similar", outside, "--json", "--top", "1")).stdout)
    assert out["query"] == {"image": str(outside.resolve())} and out["source"] is None
    assert out["hits"][0]["path"] == own  # the same picture, found by encoding the file

    missing = cli(home, "similar", tmp_path / "nope.jpg")
    assert missing.returncode == EXIT_USER and "nope.jpg" in missing.stderr


def test_min_score_and_all_set_or_lift_the_floor(library: dict) -> None:
    """--min-score is a raw cosine floor, --all lifts the floor; the photos under it are
    counted, in the JSON and in one line on stderr."""
    home = library["home"]
    floored = json.loads(ok(cli(home, "search", "a red circle", "--min-score", "0.5",
                                "--json")).stdout)  # fmt: skip
    names = [Path(h["path"]).name for h in floored["hits"]]
    assert names and all(n.startswith("red_circle_") for n in names)
    assert floored["cosine_floor"] == 0.5 and floored["floor"] is not None
    assert floored["weaker"] == len(PHOTOS) - len(names)
    everything = json.loads(ok(cli(home, "search", "a red circle", "--all", "--json")).stdout)
    assert everything["count"] == len(PHOTOS) and everything["weaker"] == 0
    assert everything["floor"] is None and everything["cosine_floor"] is None
    text = ok(cli(home, "search", "a red circle", "--min-score", "0.5"))
    assert len(text.stdout.strip().splitlines()) == len(names)
    weaker = len(PHOTOS) - len(names)
    assert f"{weaker} weaker matches hidden" in text.stderr and "--all" in text.stderr
    assert "weaker" not in ok(cli(home, "search", "a red circle", "--all")).stderr
    own = next(p for p, v in library["made"].items() if v[:2] == ("green", "triangle"))
    near = json.loads(ok(cli(home, "similar", own, "--min-score", "0.99", "--json")).stdout)
    assert near["count"] <= 1 and near["weaker"] >= len(PHOTOS) - 2
    both = cli(home, "search", "x", "--all", "--min-score", "0.2")
    assert both.returncode == EXIT_USAGE and "not allowed with" in both.stderr


def test_search_shows_the_nearest_when_nothing_clears_the_floor(
    library: dict, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """A model whose declared floor no photo reaches: `search` lists the --top nearest photos
    and says they are the nearest, not close matches (--json: "nearest": true)."""
    from app.core.model.info import MANIFEST

    strict = tmp_path / "strict-model"
    shutil.copytree(tiny_model_dir, strict)
    for p in strict.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    info = json.loads((strict / MANIFEST).read_text())
    (strict / MANIFEST).write_text(json.dumps({**info, "relevance_floor": 0.9999}))
    home = library["home"]
    out = json.loads(ok(cli(home, "search", "a red circle", "--model", strict, "--top", "3",
                            "--json")).stdout)  # fmt: skip
    assert out["nearest"] is True and out["count"] == 3 and out["weaker"] == 0
    everything = json.loads(ok(cli(home, "search", "a red circle", "--all", "--top", "3",
                                   "--json")).stdout)  # fmt: skip
    assert [h["path"] for h in out["hits"]] == [h["path"] for h in everything["hits"]]
    assert everything["nearest"] is False
    text = ok(cli(home, "search", "a red circle", "--model", strict, "--top", "3"))
    assert len(text.stdout.strip().splitlines()) == 3
    assert "nearest photos, not close matches" in text.stderr
    floored = json.loads(ok(cli(home, "search", "a red circle", "--model", strict,
                                "--min-score", "0.9999", "--json")).stdout)  # fmt: skip
    assert floored["count"] == 0 and floored["nearest"] is False  # a floor of your own holds


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("search", "x", "--region", "1,2,3"), EXIT_USAGE, "x,y,w,h"),
        (("search", "x", "--region", "a,b,c,d"), EXIT_USAGE, "x,y,w,h"),
        (("search", "x", "--region", "0,0,0,5"), EXIT_USAGE, "width and height"),
        (("search", "x", "--year", "19"), EXIT_USAGE, "not a year"),
        (("search", "x", "--year", "2019-05"), EXIT_USAGE, "not a year"),
        (("search", "x", "--month", "13"), EXIT_USAGE, "not a month"),
        (("search", "x", "--top", "0"), EXIT_USAGE, "positive"),
        (("search", "x", "--image-weight", "2"), EXIT_USAGE, "weight"),
        (("search",), EXIT_USAGE, "Nothing to search for"),
        (("search", "x", "--region", "0,0,5,5"), EXIT_USAGE, "--region needs --image"),
        (("search", "--image", "missing.jpg"), EXIT_USER, "no such file"),
        (("frobnicate",), EXIT_USAGE, "invalid choice"),
    ],
)
def test_malformed_arguments_are_refused_before_anything_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    says: str,
) -> None:
    """In-process (the same `main` the console script runs): these never open the library."""
    from app.cli import main

    try:
        got = main(["--data-dir", str(tmp_path / "home"), *args])
    except SystemExit as e:  # argparse's own usage errors
        got = e.code
    assert got == code
    assert says in capsys.readouterr().err
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("search", "x", "--folder", "/not/in/the/library"), "not in your library"),
        (("index", "/not/in/the/library"), "not in a folder of your library"),
        (("search", "x", "--image", "notes.txt"), "not an image"),
        (("search", "x", "--image", "red.jpg", "--region", "500,500,10,10"), "does not overlap"),
    ],
)
def test_bad_input_gets_a_clear_message_and_exit_code(
    library: dict, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "red.jpg").write_bytes(jpeg("red", "circle", 1))
    args = tuple(str(tmp_path / a) if a in ("notes.txt", "red.jpg") else a for a in args)
    proc = cli(library["home"], *args)
    assert proc.returncode == EXIT_USER, proc.stderr
    assert says in proc.stderr
    assert "Traceback" not in proc.stderr


# -- status ----------------------------------------------------------------------------------


def test_status_shows_counts_model_and_skipped_files(library: dict) -> None:
    home, photos = library["home"], library["photos"]
    data = json.loads(ok(cli(home, "status", "--json")).stdout)
    assert (data["photos"], data["indexed"], data["skipped"], data["pending"]) == (10, 8, 2, 0)
    assert data["model"] and data["provider"] == "CPUExecutionProvider"
    assert data["folders"] == [
        {"id": data["folders"][0]["id"], "path": str(photos), "available": True, "photo_count": 8}
    ]
    reasons = {Path(s["path"]).name: s["reason"] for s in data["skipped_files"]}
    assert set(reasons) == {"broken.jpg", "empty.jpg"}
    assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["broken.jpg"]

    text = ok(cli(home, "status")).stdout
    assert "skipped files (2)" in text
    assert f"{photos / 'empty.jpg'}: {reasons['empty.jpg']}" in text
    assert "CPUExecutionProvider" in text and data["model"] in text
    log = Path(data["log"])  # the file every command and the window write (app.core.logs)
    assert log == home / "logs" / "photoseek.log" and log.is_file() and str(log) in text


def test_status_without_a_model_still_works(tmp_path: Path) -> None:
    data = json.loads(ok(cli(tmp_path / "home", "status", "--json")).stdout)
    assert data["model"] is None and data["photos"] == 0
    assert "model install" in ok(cli(tmp_path / "home", "status")).stdout


# -- watch -----------------------------------------------------------------------------------


def test_watch_prints_changes_until_ctrl_c(tmp_path: Path, tiny_model_dir: Path) -> None:
    home, photos = tmp_path / "home", tmp_path / "photos"
    photos.mkdir()
    (photos / "first.jpg").write_bytes(jpeg("red", "circle", 1))
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    ok(cli(home, "folders", "add", photos))
    env = {k: v for k, v in os.environ.items() if k != "PHOTOSEEK_HOME"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(home), "watch"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        for x in stdout:
            seen.append(x)
            lines.put(x)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def wait_for(pattern: str, deadline_s: float = 60) -> str:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            if re.search(pattern, line):
                return line
        proc.kill()
        pytest.fail(f"no line matching {pattern!r}; stderr:\n{proc.stderr.read()}")  # type: ignore[union-attr]

    try:
        assert "1 new" in wait_for(r"^Up to date")
        wait_for(r"^Watching ")
        (photos / "second.jpg").write_bytes(jpeg("blue", "square", 2))
        wait_for(r"1 added")
        (photos / "first.jpg").unlink()
        wait_for(r"1 removed")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    reader.join(timeout=10)
    assert proc.returncode == 0
    assert "Stopped watching." in "".join(seen)
    status = json.loads(ok(cli(home, "status", "--json")).stdout)
    assert (status["photos"], status["indexed"]) == (1, 1)


# -- pieces ----------------------------------------------------------------------------------


def test_argument_parsers() -> None:
    assert parse_moment("0:12") == 12_000 and parse_moment("1:02:03.5") == 3_723_500
    assert parse_moment("7.25") == 7250 and format_moment(12_900) == "0:12"
    assert format_moment(3_723_000) == "1:02:03"
    with pytest.raises(argparse.ArgumentTypeError):
        parse_moment("a:b")
    assert parse_year("2021") == 2021
    assert parse_month("07") == 7 and parse_month("Sept") == 9 and parse_month("dec") == 12
    assert parse_region("10,20,30.5,40") == (10, 20, 30, 40)
    assert format_duration(None) == "--:--" and format_duration(3725) == "1:02:05"
    line = render(5, 10, 2.5, 2.0, "/photos/a/very/long/path/to/IMG_0042.jpg", width=80)
    assert len(line) <= 80 and "5/10" in line and "2.5 photos/s" in line and "0:02" in line
    assert line.endswith("IMG_0042.jpg")


# -- videos (#14): moments written straight into the catalog ---------------------------------


def test_search_and_similar_show_a_video_at_its_moment(tmp_path: Path, tiny_model_dir: Path):
    """A video whose moment at 0:12 holds the red circle's vector: `--type` filters exactly,
    the moment follows the path, --json carries kind, duration and moments, `similar --at`."""
    from app.core.catalog.catalog import Catalog
    from app.core.photos.metadata import PhotoMeta

    home, photos = tmp_path / "home", tmp_path / "photos"
    photos.mkdir()
    for k, (color, shape) in enumerate([("red", "circle"), ("blue", "square")]):
        (photos / f"{color}_{shape}.jpg").write_bytes(jpeg(color, shape, seed=k))
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    ok(cli(home, "folders", "add", photos))
    ok(cli(home, "index"))
    clip = photos / "clip.mp4"
    clip.write_bytes(b"not decoded here")
    with Catalog(home / "data" / "catalog.sqlite3") as cat:
        (model,) = cat.models()
        red = cat.photo_by_path(photos.resolve() / "red_circle.jpg")
        blue = cat.photo_by_path(photos.resolve() / "blue_square.jpg")
        meta = PhotoMeta(
            path=str(clip.resolve()), size=16, mtime_ns=1, fingerprint="clip", width=64,
            height=48, capture_time=None, capture_offset=None, capture_source="file_mtime",
            camera_make=None, camera_model=None, kind="video", duration_ms=20_000,
        )  # fmt: skip
        (vid,) = cat.upsert_photos([meta])
        moments = [(0, cat.embedding(blue.id, model)), (12_000, cat.embedding(red.id, model))]
        cat.put_moments(vid, model, moments)

    out = json.loads(ok(cli(home, "search", "a red circle", "--all", "--json")).stdout)
    video = next(h for h in out["hits"] if h["kind"] == "video")
    assert [h["path"] for h in out["hits"]].count(str(clip.resolve())) == 1
    assert (video["duration_ms"], video["moment_ms"]) == (20_000, 12_000)
    assert video["moments"][0][0] == 12_000 and out["query"]["type"] == "all"
    only = hits_of(cli(home, "search", "a red circle", "--all", "--json", "--type", "video"))
    assert [h["path"] for h in only] == [str(clip.resolve())]
    photos_only = hits_of(cli(home, "search", "a red circle", "--all", "--json", "--type", "photo"))
    assert {h["kind"] for h in photos_only} == {"photo"} and len(photos_only) == 2
    lines = ok(cli(home, "search", "a red circle", "--all", "--type", "video")).stdout.splitlines()
    assert lines[0].endswith(f"{clip.resolve()}  0:12")
    browse = hits_of(cli(home, "search", "--type", "video", "--json"))
    assert [(h["kind"], h["moment_ms"]) for h in browse] == [("video", None)]

    near = json.loads(ok(cli(home, "similar", clip, "--at", "0:11", "--json", "--all")).stdout)
    assert near["source"]["path"] == str(clip.resolve()) and near["query"]["at_ms"] == 11_000
    assert near["hits"][0]["path"] == str(photos.resolve() / "red_circle.jpg")
    refused = cli(home, "similar", photos / "red_circle.jpg", "--at", "0:12")
    assert refused.returncode == EXIT_USAGE and "--at" in refused.stderr
    bad = cli(home, "search", "x", "--type", "audio")
    assert bad.returncode == EXIT_USAGE
