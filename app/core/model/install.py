"""`photoseek model install`: download a model from the published catalog (Hugging Face,
`immich-app/<name>`), or copy a model folder or archive the user has; verify every file,
calibrate the model's relevance floor, and move it into place atomically, so a failure at any
step leaves the models folder exactly as it was.

Each source (the hub, a folder, an archive that `app.core.model.archive` unpacks) ends as a
checked folder with a manifest in a staging folder beside the models; `_put_in_place` swaps it
in, setting a replaced model aside until the new one is there."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from app.core.durable import fsync_tree
from app.core.model import archive, download, hub
from app.core.model.archive import ArchiveError, InstallCancelled, package_model
from app.core.model.catalog import find_entry
from app.core.model.info import (
    LEGACY_MODEL_JSON,
    MANIFEST,
    Manifest,
    ModelError,
    describe,
    is_published_layout,
    model_files,
    published_manifest,
    read_manifest,
    write_manifest,
)
from app.core.model.installed import (
    DEFAULT_MODEL,
    SETTING_ACTIVE,
    STAGING_PREFIX,
    check_model_name,
    read_settings,
    set_active_model,
    tidy_models_folder,
)
from app.core.model.migrate import convert_legacy, swap_in
from app.core.paths import Paths

__all__ = ["ArchiveError", "InstallCancelled", "install_model", "package_model"]

log = logging.getLogger(__name__)

HUB_ORGANIZATION = "immich-app"  # publishes ONNX exports of open_clip models
# A download that moves less than HUB_MIN_RATE bytes/s over HUB_STALL_S, or lasts over
# HUB_DEADLINE_S, stops with a message (the biggest catalog model is ~4 GB: 4 h is 280 kB/s).
HUB_STALL_S = 60.0
HUB_MIN_RATE = 1024.0
HUB_DEADLINE_S = 4 * 3600.0
Cancel = Callable[[], bool]
Progress = Callable[[int, int, str], None]


def install_model(
    paths: Paths,
    name: str | None = None,
    *,
    source: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    should_cancel: Cancel | None = None,
    calibrate: bool = True,
    revision: str = "main",
) -> Path:
    """Install a model into `Paths.models / name` and return that folder.

    Without `source`, `name` (default: the catalog's default model) is downloaded from the hub
    repository `immich-app/<name>`. `source` is a model folder (ours, PhotoSeek 0.1's, or the
    published files of an immich-app repository) or a .tar/.tar.gz/.zip of one; the name then
    defaults to the one its files carry. The source is always checked in full; an installed
    model of the same name is replaced only with `force` (the same model again is a no-op).
    """
    paths.ensure()
    report: Progress = progress or (lambda done, total, what: None)
    if source is None:
        name = check_model_name(name or DEFAULT_MODEL)
    elif name is not None:
        check_model_name(name)
    tidy_models_folder(paths)
    if source is None and name and (paths.models / name / MANIFEST).is_file() and not force:
        log.info("%s is already installed", name)
        report(0, 0, "Already installed")
        return paths.models / name
    stage = _Staging(paths.models, name or "from")
    try:
        if source is None:
            assert name is not None
            model_dir = _download(paths, name, stage, report, should_cancel, revision)
        else:
            model_dir = _from_source(Path(source).expanduser(), stage, report, should_cancel)
        manifest = read_manifest(model_dir)
        name = check_model_name(name or manifest.name or model_dir.name)
        manifest = replace(manifest, name=name)
        target = paths.models / name
        if (target / MANIFEST).is_file() and not force:
            installed = read_manifest(target)
            if installed.model_id == manifest.model_id:
                log.info("%s is already installed (same model)", name)
                report(0, 0, "Already installed")
                return target
            raise ModelError(
                f"A different model named {name} is already installed. Replace it with "
                f"`photoseek model install {name} --from {source} --force`, or give this one "
                "another name."
            )
        if calibrate and manifest.relevance_floor is None:
            manifest = _calibrate(model_dir, manifest, report)
        write_manifest(model_dir, manifest)
        fsync_tree(model_dir)
        _put_in_place(model_dir, target, force)
    finally:
        stage.remove()
    if not read_settings(paths).get(SETTING_ACTIVE):
        try:  # the first model installed becomes the active one
            set_active_model(paths, name)
        except OSError as e:
            log.warning("could not record %s as the active model: %s", name, e)
    log.info("installed %s in %s", name, target)
    return target


class _Staging:
    """A temporary folder in Paths.models (the target's filesystem, so the final rename is
    atomic), made on first use: a download killed halfway leaves no empty folder behind."""

    def __init__(self, root: Path, name: str) -> None:
        self._root = root
        self._prefix = f"{STAGING_PREFIX}{name}@"
        self._dir: Path | None = None

    def __truediv__(self, rel: str) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._root))
        return self._dir / rel

    def remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


# --- getting the files -------------------------------------------------------------------------


def _download(
    paths: Paths,
    name: str,
    stage: _Staging,
    report: Progress,
    should_cancel: Cancel | None,
    revision: str,
) -> Path:
    """The published repository `immich-app/<name>` into the stage, every file verified."""
    entry = find_entry(name)
    repo = entry.repo if entry is not None else f"{HUB_ORGANIZATION}/{name}"
    out = stage / "model"
    out.mkdir(parents=True, exist_ok=True)
    snap = download.download_repo(
        repo,
        out,
        cache_dir=paths.cache / "hub",
        revision=revision,
        progress=report,
        should_cancel=should_cancel,
        deadline_s=HUB_DEADLINE_S,
        stall_s=HUB_STALL_S,
        min_rate=HUB_MIN_RATE,
    )
    if not is_published_layout(out):
        raise ModelError(
            f"{repo} (commit {snap.commit[:12]}) does not hold an ONNX CLIP model in the layout "
            "PhotoSeek reads (config.json, visual/model.onnx, textual/model.onnx). Choose a "
            "model from `photoseek model list`."
        )
    source = {"kind": "hub", "repo": repo, "commit": snap.commit, "endpoint": hub.endpoint()}
    # LFS files came with their SHA-256 (checked by the download); the small git files are
    # hashed here.
    verified = {f.path: f.sha256 for f in snap.files if f.sha256}
    manifest = published_manifest(out, name, source, verified)
    describe(out, manifest)  # the config files make sense, or ModelError now
    write_manifest(out, manifest)
    return out


def _from_source(
    src: Path, stage: _Staging, report: Progress, should_cancel: Cancel | None
) -> Path:
    if src.is_dir():
        return _from_folder(src, stage, report, should_cancel)
    if src.is_file():
        archive.extract(src, stage / "x", report, should_cancel)
        root = _find_root(stage / "x", str(src))
        model = _from_folder(root, stage, report, should_cancel, origin=str(src))
        stem = re.sub(r"\.(tar\.gz|tgz|tar|zip)$", "", src.name, flags=re.IGNORECASE)
        manifest = read_manifest(model)
        if not manifest.name or manifest.name in ("x", "model"):
            write_manifest(model, replace(manifest, name=root.name if root.name != "x" else stem))
        return model
    raise ModelError(
        f"--from {src}: no such folder or file. Give a model folder (one `photoseek model "
        "export` wrote, or the files of an immich-app model repository) or a .tar/.tar.gz/.zip "
        "of one."
    )


def _from_folder(
    src: Path,
    stage: _Staging,
    report: Progress,
    should_cancel: Cancel | None,
    origin: str | None = None,
) -> Path:
    """Copy a model folder in any of the layouts we read into the stage, checked, with a
    manifest. The source is only read."""
    origin = origin or str(src)
    out = stage / "model"
    if (src / MANIFEST).is_file():
        manifest = read_manifest(src)
        _copy_checked(src, out, manifest.files, report, should_cancel, origin)
        shutil.copyfile(src / MANIFEST, out / MANIFEST)
        manifest = replace(
            manifest,
            name=manifest.name or src.name,
            source={**manifest.source, "installed_from": origin},
        )
    elif (src / LEGACY_MODEL_JSON).is_file():
        legacy = stage / "legacy"
        try:
            files = json.loads((src / LEGACY_MODEL_JSON).read_text(encoding="utf-8"))["files"]
            if not isinstance(files, dict):
                raise TypeError("files is not an object")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ArchiveError(
                f"{origin}: its {LEGACY_MODEL_JSON} is unreadable ({e}). Get a fresh copy."
            ) from e
        _copy_checked(src, legacy, files, report, should_cancel, origin)
        shutil.copyfile(src / LEGACY_MODEL_JSON, legacy / LEGACY_MODEL_JSON)
        manifest = convert_legacy(legacy, out)
        manifest = replace(manifest, name=src.name, source={"kind": "folder", "from": origin})
    elif is_published_layout(src):
        rels = hub.select(model_files(src), hub.MODEL_INCLUDE, hub.MODEL_EXCLUDE)
        _copy_checked(src, out, dict.fromkeys(rels, ""), report, should_cancel, origin)
        manifest = published_manifest(out, src.name, {"kind": "folder", "from": origin})
    else:
        raise ModelError(
            f"--from {origin}: not a model folder (no {MANIFEST}, no config.json with "
            "visual/model.onnx and textual/model.onnx). Give the folder `photoseek model "
            "export` wrote, the files of an immich-app model repository, or an archive of one."
        )
    # Every file was hashed as it was copied (or just now); what is left to check is that the
    # config files describe a model we can run.
    describe(out, manifest)
    write_manifest(out, manifest)
    return out


def _copy_checked(
    src: Path,
    dest: Path,
    files: dict[str, str],
    report: Progress,
    should_cancel: Cancel | None,
    origin: str,
) -> None:
    """Copy `files` (relative path -> SHA-256, or "" for not known), checking each hash as it
    is read; ArchiveError names a missing or damaged file."""
    rels = [archive.safe_rel(rel, origin) for rel in files]
    total = sum((src / r).stat().st_size for r in rels if (src / r).is_file())
    dest.mkdir(parents=True, exist_ok=True)
    archive.check_space(dest, total)
    done = 0
    for rel, expected in zip(rels, files.values(), strict=True):
        if not (src / rel).is_file():
            raise ArchiveError(
                f"{origin} is incomplete: {rel} is missing. Get a complete copy of the model "
                "and retry."
            )
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()  # hashed as it is copied: each byte is read once, not twice
        with open(src / rel, "rb") as f_in, open(out, "wb") as f_out:
            while block := f_in.read(archive.COPY_CHUNK):
                archive.check_cancel(should_cancel)
                h.update(block)
                f_out.write(block)
                done += len(block)
                report(done, total, "Copying model files")
        if expected and h.hexdigest() != expected:
            raise ArchiveError(
                f"{origin} is damaged: {rel} does not match the SHA-256 recorded for it. Get a "
                "fresh copy of the model and retry."
            )


def _find_root(extracted: Path, origin: str) -> Path:
    """The model at the archive's top level, or inside its single top folder."""

    def holds_model(d: Path) -> bool:
        return (
            (d / MANIFEST).is_file() or (d / LEGACY_MODEL_JSON).is_file() or is_published_layout(d)
        )

    if holds_model(extracted):
        return extracted
    entries = [p for p in extracted.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and holds_model(entries[0]):
        return entries[0]
    raise ArchiveError(
        f"{origin} is not a model archive: no model folder at its top level or in a single "
        "top folder."
    )


def _calibrate(model_dir: Path, manifest: Manifest, report: Progress) -> Manifest:
    """The model's relevance floor, measured here with its real weights (app.core.model.calibrate)."""
    from app.core.model.calibrate import calibrate_floor
    from app.core.model.encoder import Encoder

    report(0, 0, "Calibrating the relevance floor")
    write_manifest(model_dir, manifest)  # what the encoder reads (hashes checked already)
    with Encoder(model_dir, device="cpu", verify=False) as enc:
        result = calibrate_floor(enc)
    log.info("%s: relevance floor %.4f (%s)", manifest.name, result.floor, result.rule)
    return replace(
        manifest, relevance_floor=float(result.floor), floor_calibration=result.to_dict()
    )


# --- moving into place -------------------------------------------------------------------------


def _put_in_place(model_dir: Path, target: Path, force: bool) -> None:
    """Rename the finished folder into place (migrate.swap_in: a crash leaves either the old
    model or the new one), unless another process installed one meanwhile and not `force`."""
    if target.exists() and not force and (target / MANIFEST).is_file():
        log.info("%s was installed meanwhile by another process; keeping it", target)
        return
    try:
        swap_in(model_dir, target)
    except OSError as e:
        raise ModelError(
            f"Can't move the model into {target} ({e.strerror or e}). If PhotoSeek is "
            "running, close it and retry."
        ) from e
