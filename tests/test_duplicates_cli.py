"""`photoseek duplicates`, run as a user runs it (a subprocess on a real data folder with the
micro CLIP installed): groups, the keeper marked, the space, --exact, --json; it never moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from test_cli import cli, ok

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
