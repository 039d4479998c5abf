"""`photoseek model install`: download a model from the published catalog (Hugging Face,
`immich-app/<name>`), or copy a model folder or archive the user has; verify every file,
calibrate the model's relevance floor, and move it into place atomically, so a failure at any
step leaves the models folder exactly as it was."""

from __future__ import annotations

import gzip
import hashlib
import logging
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO

from app.core.durable import fsync_dir, fsync_tree
from app.core.errors import UserError
from app.core.jobs import JobCancelled
from app.core.model import hub
from app.core.model.catalog import find_entry
from app.core.model.info import (
    LEGACY_MODEL_JSON,
    MANIFEST,
    Manifest,
    ModelError,
    describe,
    is_ours,
    is_published_layout,
    published_manifest,
    read_manifest,
    sha256_file,
    verify_model_dir,
    write_manifest,
)
from app.core.model.installed import (
    DEFAULT_MODEL,
    REPLACED_PREFIX,
    SETTING_ACTIVE,
    STAGING_PREFIX,
    check_model_name,
    read_settings,
    set_active_model,
    tidy_models_folder,
)
from app.core.model.migrate import convert_legacy
from app.core.paths import Paths

log = logging.getLogger(__name__)

MAX_EXTRACT_BYTES = 16 << 30  # far above any CLIP model; stops a decompression bomb
MAX_MEMBERS = 10_000
SPACE_MARGIN = 64 << 20
_COPY_CHUNK = 1 << 20
HUB_ORGANIZATION = "immich-app"  # publishes ONNX exports of open_clip models
# A download that moves less than HUB_MIN_RATE bytes/s over HUB_STALL_S, or lasts over
# HUB_DEADLINE_S, stops with a message (the biggest catalog model is ~4 GB: 4 h is 280 kB/s).
HUB_STALL_S = 60.0
HUB_MIN_RATE = 1024.0
HUB_DEADLINE_S = 4 * 3600.0
Cancel = Callable[[], bool]
Progress = Callable[[int, int, str], None]


class ArchiveError(ModelError):
    """The archive or model folder is damaged, unsafe or not a model (retrying won't help)."""


class InstallCancelled(UserError, JobCancelled):
    """The caller cancelled while files were being copied or extracted; nothing was installed."""


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
        _put_in_place(paths, model_dir, target, force)
    finally:
        stage.remove()
    if not read_settings(paths).get(SETTING_ACTIVE):
        try:  # the first model installed becomes the active one
            set_active_model(paths, name)
        except OSError as e:
            log.warning("could not record %s as the active model: %s", name, e)
    log.info("installed %s in %s", name, target)
    return target


def package_model(model_dir: Path, archive_path: Path) -> str:
    """Write an archive `install_model(source=...)` accepts (.tar, .tar.gz/.tgz or .zip, chosen
    by suffix) plus its `<archive>.sha256` sidecar; return the archive's SHA-256. Reproducible
    byte for byte."""
    model_dir = Path(model_dir).resolve()
    archive_path = Path(archive_path)
    manifest = read_manifest(model_dir)
    verify_model_dir(model_dir, describe(model_dir, manifest))
    top = model_dir.name
    names = sorted(set(manifest.files) | {MANIFEST})
    tmp = archive_path.with_name(archive_path.name + ".tmp")
    with open(tmp, "wb") as out:
        if archive_path.suffix == ".zip":
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                for rel in names:
                    zi = zipfile.ZipInfo(f"{top}/{rel}", date_time=(1980, 1, 1, 0, 0, 0))
                    zi.compress_type = zipfile.ZIP_DEFLATED
                    zi.external_attr = (stat.S_IFREG | 0o644) << 16
                    zi.file_size = (model_dir / rel).stat().st_size  # lets zipfile pick zip64
                    with open(model_dir / rel, "rb") as f, zf.open(zi, "w") as dst:
                        shutil.copyfileobj(f, dst, _COPY_CHUNK)
        else:
            gz = archive_path.name.endswith((".tar.gz", ".tgz"))
            with (
                _maybe_gzip(out, gz) as stream,
                tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tf,
            ):
                for rel in names:
                    src = model_dir / rel
                    ti = tarfile.TarInfo(f"{top}/{rel}")
                    ti.size = src.stat().st_size
                    ti.mode = 0o644
                    with open(src, "rb") as f:
                        tf.addfile(ti, f)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, archive_path)
    digest = sha256_file(archive_path)
    sidecar = archive_path.with_name(archive_path.name + ".sha256")
    sidecar_tmp = sidecar.with_name(sidecar.name + ".tmp")
    sidecar_tmp.write_text(f"{digest}  {archive_path.name}\n", encoding="utf-8")
    os.replace(sidecar_tmp, sidecar)
    return digest


@contextmanager
def _maybe_gzip(out: IO[bytes], gz: bool) -> Iterator[IO[bytes]]:
    if not gz:
        yield out
        return
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as g:
        yield g  # type: ignore[misc]


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
    snap = hub.download_repo(
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
        _extract(src, stage / "x", report, should_cancel)
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
        import json

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
        rels = [
            p.relative_to(src).as_posix()
            for p in sorted(src.rglob("*"))
            if p.is_file() and not is_ours(p.relative_to(src))
        ]
        rels = hub.select(rels, hub.MODEL_INCLUDE, hub.MODEL_EXCLUDE)
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
    rels = [_safe_rel(rel, origin) for rel in files]
    total = sum((src / r).stat().st_size for r in rels if (src / r).is_file())
    dest.mkdir(parents=True, exist_ok=True)
    _check_space(dest, total)
    done = 0
    for rel, expected in zip(rels, files.values(), strict=True):
        if not (src / rel).is_file():
            raise ArchiveError(
                f"{origin} is incomplete: {rel} is missing. Get a complete copy of the model "
                "and retry."
            )
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        with open(src / rel, "rb") as f_in, open(out, "wb") as f_out:
            while block := f_in.read(_COPY_CHUNK):
                _check_cancel(should_cancel)
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


# --- safe extraction ---------------------------------------------------------------------------


def _extract(archive: Path, dest: Path, report: Progress, should_cancel: Cancel | None) -> None:
    """Unpack regular files and folders only; reject absolute paths, `..`, links and devices,
    and archives that would unpack to more than MAX_EXTRACT_BYTES."""
    with open(archive, "rb") as f:
        magic = f.read(4)
    try:
        if magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            _extract_zip(archive, dest, report, should_cancel)
        else:
            _extract_tar(archive, dest, report, should_cancel)
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        gzip.BadGzipFile,
        EOFError,
        zlib.error,
        lzma.LZMAError,
    ) as e:
        raise ArchiveError(
            f"{archive} is not a model archive (.tar, .tar.gz or .zip) or it is "
            f"damaged ({_first_line(e)}). Get a fresh copy and retry."
        ) from e
    except OSError as e:
        raise ModelError(
            f"Can't unpack {archive} into {dest.parent} ({e.strerror or e}). Check "
            "the free disk space and retry."
        ) from e


def _extract_tar(archive: Path, dest: Path, report: Progress, should_cancel: Cancel | None) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        plan = []
        for m in members:
            if not (m.isfile() or m.isdir()):
                raise _unsafe(archive, m.name, "a link or special file")
            plan.append((_safe_rel(m.name, str(archive)), m))
        total = _check_sizes(archive, [m.size for _, m in plan if m.isfile()], dest)
        done = 0
        for rel, m in plan:
            if m.isdir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            src = tf.extractfile(m)
            if src is None:
                raise _unsafe(archive, m.name, "an unreadable entry")
            with src:
                done = _write(src, dest / rel, done, total, report, should_cancel)


def _extract_zip(archive: Path, dest: Path, report: Progress, should_cancel: Cancel | None) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        plan = []
        for zi in infos:
            mode = zi.external_attr >> 16
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise _unsafe(archive, zi.filename, "a link or special file")
            plan.append((_safe_rel(zi.filename, str(archive)), zi))
        total = _check_sizes(archive, [zi.file_size for _, zi in plan if not zi.is_dir()], dest)
        done = 0
        for rel, zi in plan:
            if zi.is_dir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(zi) as src:
                done = _write(src, dest / rel, done, total, report, should_cancel)


def _check_sizes(archive: Path, sizes: list[int], dest: Path) -> int:
    if len(sizes) > MAX_MEMBERS:
        raise ArchiveError(
            f"{archive} holds {len(sizes)} files, far more than a model has; refusing to unpack it."
        )
    total = sum(sizes)
    if total > MAX_EXTRACT_BYTES:
        raise ArchiveError(
            f"{archive} would unpack to {total / 1e9:.1f} GB, far more than a model; "
            "refusing to unpack it."
        )
    dest.mkdir(parents=True, exist_ok=True)
    _check_space(dest, total)
    return total


def _write(
    src: IO[bytes], out: Path, done: int, total: int, report: Progress, should_cancel: Cancel | None
) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(out, "wb") as f:
        while block := src.read(_COPY_CHUNK):
            _check_cancel(should_cancel)
            written += len(block)
            if done + written > MAX_EXTRACT_BYTES:
                raise ArchiveError(
                    f"Unpacking stopped at {MAX_EXTRACT_BYTES / 1e9:.0f} GB: the "
                    "archive is not a model."
                )
            f.write(block)
            report(done + written, total, "Unpacking")
    return done + written


def _safe_rel(name: str, origin: str) -> PurePosixPath:
    """A relative path with no `..`, no drive and no leading slash, or ModelError."""
    if "\\" in name or "\0" in name or name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise _unsafe(origin, name, "an absolute or Windows-style path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        raise _unsafe(origin, name, "a path outside the model folder")
    return PurePosixPath(*parts)


def _unsafe(origin: str | Path, name: str, what: str) -> ArchiveError:
    return ArchiveError(
        f"{origin} contains {what} ({name!r}); refusing to install it. Get the "
        "model from a trusted source."
    )


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed + SPACE_MARGIN > free:
        raise ModelError(
            f"Not enough disk space in {folder}: the model needs "
            f"{needed / 1e6:.0f} MB, {free / 1e6:.0f} MB are free. Free some space "
            "(or use --data-dir on a larger disk) and retry."
        )


def _check_cancel(should_cancel: Cancel | None) -> None:
    if should_cancel is not None and should_cancel():
        raise InstallCancelled("Model install cancelled; nothing was changed.")


# --- moving into place -------------------------------------------------------------------------


def _put_in_place(paths: Paths, model_dir: Path, target: Path, force: bool) -> None:
    """Rename the finished folder into place; a replaced one is set aside until the new one is
    there, so a crash leaves either the old model or the new one (see recover_interrupted_replace).
    """
    if not target.exists():
        _rename(model_dir, target)
        return
    if not force and (target / MANIFEST).is_file():
        log.info("%s was installed meanwhile by another process; keeping it", target)
        return
    old = paths.models / f"{REPLACED_PREFIX}{target.name}"
    shutil.rmtree(old, ignore_errors=True)
    _rename(target, old)
    try:
        _rename(model_dir, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _rename(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as e:
        raise ModelError(
            f"Can't move the model into {dst} ({e.strerror or e}). If PhotoSeek is "
            "running, close it and retry."
        ) from e
    fsync_dir(dst.parent)


def _first_line(e: BaseException) -> str:
    """An error's first line (tarfile lists every method it tried, one a line)."""
    lines = str(e).strip().splitlines()
    return lines[0].rstrip(":") if lines else type(e).__name__
