"""`photoseek duplicates`, run as a user runs it (a subprocess on a real data folder with the
micro CLIP installed): groups, the keeper marked, the space, --exact, --json; it never moves;
progress on stderr and a clean stop on Ctrl+C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import REPO, cli, ok

from app.cli.common import EXIT_INTERRUPTED
from app.core.duplicates.calibration import load_originals


def test_duplicates_lists_groups_and_moves_nothing(tmp_path: Path, tiny_model_dir: Path) -> None:
    home, photos = tmp_path / "home", tmp_path / "photos"
    photos.mkdir()
    originals = load_originals(max_side=256)
    originals[0].save(photos / "beach.jpg", "JPEG", quality=92)
    shutil.copy2(photos / "beach.jpg", photos / "beach (1).jpg")
    originals[0].resize((128, 96)).save(photos / "beach small.jpg", "JPEG", quality=80)
    originals[5].save(photos / "other.jpg", "JPEG", quality=92)
    before = {p.name: p.read_bytes() for p in photos.iterdir()}

    empty = ok(cli(home, "duplicates", "--exact"))  # no folder yet: nothing to compare
    assert "No identical files found." in empty.stdout
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    ok(cli(home, "folders", "add", photos))
    ok(cli(home, "index"))

    text = ok(cli(home, "duplicates")).stdout
    assert "1 group, 2 copies" in text
    assert "Keep the highest resolution, then the oldest." in text
    keep = [line for line in text.splitlines() if line.startswith("  keep  ")]
    w, h = originals[0].size
    assert len(keep) == 1 and f"/beach.jpg  ({w} x {h}," in keep[0]  # ties: the shorter name
    assert "smaller: 128 x 96" in text and "Nothing was moved." in text

    data = json.loads(ok(cli(home, "duplicates", "--json")).stdout)
    (group,) = data["groups"]
    assert group["kind"] == "near" and len(group["members"]) == 3
    assert [m["keep"] for m in group["members"]] == [True, False, False]
    small = next(m for m in group["members"] if m["path"].endswith("beach small.jpg"))
    assert (
        data["reclaim_bytes"]
        == group["reclaim_bytes"]
        == sum(m["size"] for m in group["members"][1:])
    )
    assert small["differs"].startswith("smaller: 128 x 96")

    exact = json.loads(ok(cli(home, "duplicates", "--exact", "--json")).stdout)
    (same,) = exact["groups"]
    assert exact["exact_only"] and same["kind"] == "exact"
    assert {Path(m["path"]).name for m in same["members"]} == {"beach.jpg", "beach (1).jpg"}
    assert [m["differs"] for m in same["members"]] == [None, "identical file"]

    (photos / "keep").mkdir()
    shutil.move(photos / "beach (1).jpg", photos / "keep" / "beach (1).jpg")
    ok(cli(home, "index"))
    preferred = json.loads(
        ok(cli(home, "duplicates", "--exact", "--json", "--prefer", photos / "keep")).stdout
    )
    assert preferred["rule"].endswith("then one in photos/keep")
    assert preferred["groups"][0]["keeper"] == str(photos / "keep" / "beach (1).jpg")
    del before["beach (1).jpg"]
    before["keep"] = b""
    now = {p.name: p.read_bytes() if p.is_file() else b"" for p in photos.iterdir()}
    assert now == before  # nothing moved by listing


def test_progress_goes_to_stderr_and_ctrl_c_stops_cleanly(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """The first look calibrates the model: its stages and counts on stderr (a line each tenth
    into a pipe), only the answer on stdout; Ctrl+C during it exits 130, keeps no thresholds,
    and the next run finds the groups."""
    photos = tmp_path / "photos"
    photos.mkdir()
    originals = load_originals(max_side=256)
    for k, img in enumerate(originals[:6]):
        img.save(photos / f"p{k}.jpg", "JPEG", quality=92)
        img.resize((128, 96)).save(photos / f"p{k} small.jpg", "JPEG", quality=80)
    shutil.copy2(photos / "p0.jpg", photos / "p0 (1).jpg")
    homes = tmp_path / "stopped", tmp_path / "home"
    for home in homes:
        ok(cli(home, "model", "install", "--from", tiny_model_dir))
        ok(cli(home, "folders", "add", photos))
        ok(cli(home, "index"))

    done = ok(cli(homes[1], "duplicates", "--json"))
    data = json.loads(done.stdout)  # stdout holds the answer alone
    assert len(data["groups"]) == 6
    lines = done.stderr.splitlines()
    for stage in ("Preparing the model", "Checking identical files", "Finding similar photos"):
        said = [line for line in lines if line.startswith(stage)]
        assert 2 <= len(said) <= 11, (stage, said)  # its start, each tenth, its end
        total = re.search(r"/([\d,]+) ", said[-1])
        assert total and said[-1].endswith(f"{total.group(1)}/{total.group(1)} 100%"), said
    assert "Finding similar photos" in done.stderr and "/13 100%" in done.stderr

    env = {k: v for k, v in os.environ.items() if k != "PHOTOSEEK_HOME"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(homes[0]), "duplicates"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    while line and not line.startswith("Preparing the model"):
        line = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.fail(f"the run ended before Ctrl+C could stop it; make it longer\n{err}")
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Stopped looking for duplicates. Nothing was changed" in err
    assert "Traceback" not in err and out == ""
    assert not list(homes[0].rglob("duplicates/*.json"))  # no thresholds from part of the set
    again = json.loads(ok(cli(homes[0], "duplicates", "--json")).stdout)
    assert again == data | {"groups": again["groups"]} and len(again["groups"]) == 6
    assert [[m["path"] for m in g["members"]] for g in again["groups"]] == [
        [m["path"] for m in g["members"]] for g in data["groups"]
    ]
