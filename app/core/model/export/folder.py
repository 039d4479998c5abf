"""The exporter's output folder: staged next to its destination and swapped in whole, so a kill
never leaves half a model, and nothing but a previous model (or an empty folder) is replaced."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from app.core.durable import fsync_dir
from app.core.model.export.graphs import ExportError
from app.core.model.info import (
    LEGACY_MODEL_JSON,
    MANIFEST,
    ModelError,
    is_published_layout,
    read_manifest,
)

log = logging.getLogger(__name__)


def staging_dir(out_dir: Path) -> Path:
    """A fresh hidden sibling of `out_dir` to build in (same filesystem, so rename is atomic)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(out_dir)
    stage = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    return stage


def check_target(out_dir: Path) -> None:
    """Refuse to replace anything but an empty folder or a previous model: one with our
    manifest (photoseek.json), a published one without it yet, or PhotoSeek 0.1's model.json."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a folder; choose another --out.")
    if not any(out_dir.iterdir()):
        return
    if (out_dir / MANIFEST).is_file():
        read_manifest(out_dir)  # raises ModelError if it is not a readable manifest
        return
    if (out_dir / LEGACY_MODEL_JSON).is_file():
        _check_legacy(out_dir / LEGACY_MODEL_JSON)
        return
    if not is_published_layout(out_dir):
        raise ExportError(
            f"{out_dir} is not empty and holds no PhotoSeek model; choose another "
            "--out or empty it first."
        )


def _check_legacy(path: Path) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path} is unreadable ({e}); choose another --out.") from e
    if not isinstance(data, dict) or not data.get("model_id"):
        raise ModelError(f"{path} is not a PhotoSeek model description; choose another --out.")


def remove_dead_partials(out_dir: Path) -> None:
    """Clean up after exports that were killed (POSIX, by dead pid): delete their staging
    folders, and put back a previous model caught moved aside mid-swap if nothing replaced it."""
    if os.name != "posix":
        return
    for kind in ("old", "partial"):  # "old" first: a restored model must win over a cleanup
        for p in out_dir.parent.glob(f".{out_dir.name}.{kind}-*"):
            pid = p.name.rsplit(f".{kind}-", 1)[1].split("-", 1)[0]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            if kind == "old" and not out_dir.exists():
                log.warning("restoring %s, moved aside by an export that was killed", out_dir)
                os.replace(p, out_dir)
            else:
                log.info("removing %s, left by an export that was killed", p)
                shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists under another user, or unknowable: leave its files alone
    return True


def move_into_place(stage: Path, out_dir: Path) -> None:
    """Swap the finished folder in; an old model is moved aside first and removed after (a kill
    between the two renames is repaired by the next export's `remove_dead_partials`)."""
    check_target(out_dir)
    old = None
    if out_dir.exists():
        if any(out_dir.iterdir()):
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(out_dir, old)
        else:
            out_dir.rmdir()
    os.replace(stage, out_dir)
    fsync_dir(out_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
