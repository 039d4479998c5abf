"""`photoseek model install`: export, download or copy a model, verify it, and move it into place
atomically, so a failure at any step leaves the models folder exactly as it was."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import logging
import lzma
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from app.core.download import (
    OfflineError,
    Progress,
    download,
    fetch_text,
    parse_sha256,
)
from app.core.durable import fsync_dir, fsync_tree
from app.core.errors import UserError
from app.core.jobs import JobCancelled
from app.core.modelinfo import (
    MODEL_JSON,
    ModelError,
    ModelInfo,
    read_model_info,
    sha256_file,
    verify_model_dir,
)
from app.core.models import (
    DEFAULT_MODEL,
    REPLACED_PREFIX,
    SETTING_ACTIVE,
    SHA256_SUFFIX,
    STAGING_PREFIX,
    ModelSpec,
    archive_url,
    check_model_name,
    get_spec,
    read_settings,
    recover_interrupted_replace,
    set_active_model,
)
from app.core.paths import Paths

log = logging.getLogger(__name__)

MAX_EXTRACT_BYTES = 16 << 30  # far above any CLIP model; stops a decompression bomb
MAX_MEMBERS = 10_000
STALE_STAGING_S = 3600.0  # staging only lives for one extraction or copy
SPACE_MARGIN = 64 << 20
HUB_PROBE_TIMEOUT_S = 3.0
_COPY_CHUNK = 1 << 20
Method = Literal["auto", "export", "download"]
Cancel = Callable[[], bool]


class ArchiveError(ModelError):
    """The archive or model folder is damaged, unsafe or not a model (retrying won't help)."""


class InstallCancelled(UserError, JobCancelled):
    """The caller cancelled while files were being copied or extracted; nothing was installed."""


def install_model(
    paths: Paths,
    name: str = DEFAULT_MODEL,
    *,
    source: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    should_cancel: Cancel | None = None,
    method: Method = "auto",
) -> Path:
    """Install model `name` into `Paths.models / name` and return that folder.

    `source`: a model folder, a .tar/.tar.gz/.zip archive or an http(s) URL. Without it the model
    is exported (when the export extra is installed; `method` can force "export" or "download")
    or downloaded from the configured URL. An installed model is replaced only with `force`.
    """
    check_model_name(name)
    paths.ensure()
    report: Progress = progress or (lambda done, total, what: None)
    target = paths.models / name
    _tidy(paths, name)
    if not force and (target / MODEL_JSON).is_file():
        log.info("%s is already installed in %s", name, target)
        report(0, 0, "Already installed")
        return target
    stage = _Staging(paths.models, name)
    try:
        model_dir = _obtain(paths, name, source, stage, report, should_cancel, method)
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
    """Write the archive `install_model` accepts (.tar, .tar.gz/.tgz or .zip, chosen by suffix)
    plus its `<archive>.sha256` sidecar; return the archive's SHA-256. Reproducible byte for byte.
    """
    model_dir = Path(model_dir).resolve()
    archive_path = Path(archive_path)
    info = verify_model_dir(model_dir)
    top = model_dir.name
    names = sorted(set(info.files) | {MODEL_JSON})
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
    sidecar = archive_path.with_name(archive_path.name + SHA256_SUFFIX)
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


def _obtain(
    paths: Paths,
    name: str,
    source: str | None,
    stage: _Staging,
    report: Progress,
    should_cancel: Cancel | None,
    method: Method,
) -> Path:
    """Fill `stage` with a verified model folder and return it."""
    if source is not None:
        if re.match(r"https?://", source, re.IGNORECASE):
            return _from_url(
                paths, name, source, stage, report, should_cancel, pinned=None, require_sha=False
            )
        path = Path(source).expanduser()
        if path.is_dir():
            return _copy_folder(path, stage / "model", report, should_cancel)
        if path.is_file():
            _extract(path, stage / "x", report, should_cancel)
            return _verify(_find_root(stage / "x", str(path)), str(path), report)
        raise ModelError(
            f"--from {source}: no such folder or file, and not an http(s) URL. Give "
            "an exported model folder, a model archive (.tar, .tar.gz, .zip) or a URL."
        )
    spec = get_spec(name)
    if method == "export" and not _export_available():
        raise ModelError(
            'Exporting needs the export extra: pip install -e ".[export]" (torch and open_clip).'
        )
    if method == "export" or (method == "auto" and _export_available() and _hub_usable()):
        out = stage / "model"
        try:
            return _export(spec, out, report)
        except Exception as e:
            if method == "export":
                raise
            # The usual cause is an unreachable model hub; the archive download may still work.
            level = logging.INFO if _is_network_error(e) else logging.WARNING
            log.log(
                level,
                "exporting %s failed (%s); downloading it instead",
                name,
                e,
                exc_info=level == logging.WARNING,
            )
            shutil.rmtree(out, ignore_errors=True)
    url = archive_url(paths, name)
    model_dir = _from_url(
        paths, name, url, stage, report, should_cancel, pinned=spec.sha256, require_sha=True
    )
    _check_matches(spec, read_model_info(model_dir), url)
    return model_dir


def _export_available() -> bool:
    """The export extra is installed (checked without importing torch)."""
    return all(importlib.util.find_spec(m) is not None for m in ("open_clip", "torch"))


def _hub_usable() -> bool:
    """Whether exporting can get weights: the hub answers, or HF offline mode (cache only) is on.

    huggingface_hub retries an unreachable hub for about 25 s per file; a 3 s probe lets an
    offline install fail at once instead.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # only the proxy knows; let huggingface_hub try
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as e:
        log.info("model hub %s:%s unreachable (%s); downloading the exported model", host, port, e)
        return False
    return True


def _export(spec: ModelSpec, out: Path, report: Progress) -> Path:
    from app.core.export import export_model  # imports torch; only reached with the extra

    report(0, 0, f"Exporting {spec.name}")
    export_model(spec.arch, spec.pretrained, out, progress=lambda step: report(0, 0, step))
    return _verify(out, f"the model exported to {out}", report)


def _is_network_error(e: BaseException) -> bool:
    seen: BaseException | None = e
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, OSError) or "download" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _from_url(
    paths: Paths,
    name: str,
    url: str,
    stage: _Staging,
    report: Progress,
    should_cancel: Cancel | None,
    *,
    pinned: str | None,
    require_sha: bool,
) -> Path:
    try:
        archive = _download_archive(
            paths, name, url, report, should_cancel, pinned=pinned, require_sha=require_sha
        )
    except OfflineError as e:
        cmd = "photoseek model install" + ("" if name == DEFAULT_MODEL else f" {name}")
        raise OfflineError(
            f"Can't reach {url} ({e.reason}; no internet?). Connect and retry, or install "
            f"from a model folder you already have: {cmd} --from /path/to/{name}",
            url=e.url,
            reason=e.reason,
        ) from e
    try:
        _extract(archive, stage / "x", report, should_cancel)
        model_dir = _verify(_find_root(stage / "x", url), f"the archive from {url}", report)
    except ArchiveError:
        archive.unlink(missing_ok=True)  # bad content: downloading the same bytes again won't help
        raise
    archive.unlink(missing_ok=True)  # installed files are all we keep
    return model_dir


def _download_archive(
    paths: Paths,
    name: str,
    url: str,
    report: Progress,
    should_cancel: Cancel | None,
    *,
    pinned: str | None,
    require_sha: bool,
) -> Path:
    expected = pinned
    if expected is None:
        sidecar = url + SHA256_SUFFIX
        text = fetch_text(sidecar)
        if text is not None:
            expected = parse_sha256(text, sidecar)
        elif require_sha:
            raise ModelError(
                f"{sidecar} does not exist, so the download from {url} can't be "
                "verified. Check the model address (PHOTOSEEK_MODEL_BASE_URL or the "
                "`model_base_url` setting)."
            )
        else:
            log.warning("no %s: relying on the per-file SHA-256 in model.json", sidecar)
    key = expected or hashlib.sha256(url.encode()).hexdigest()
    suffix = next((s for s in (".tar.gz", ".tgz", ".zip") if url.lower().endswith(s)), ".tar")
    dest = paths.cache / "downloads" / f"{name}-{key[:16]}{suffix}"
    return download(
        url,
        dest,
        expected_sha256=expected,
        progress=report,
        should_cancel=should_cancel,
        label=f"Downloading {name}",
    )


def _check_matches(spec: ModelSpec, info: ModelInfo, url: str) -> None:
    if info.arch != spec.arch or (spec.pretrained and info.pretrained != spec.pretrained):
        raise ModelError(
            f"The archive at {url} holds {info.arch} ({info.pretrained}), not "
            f"{spec.name}. Check the model address (PHOTOSEEK_MODEL_URL, "
            "PHOTOSEEK_MODEL_BASE_URL or the `model_base_url` setting)."
        )


def _copy_folder(src: Path, dest: Path, report: Progress, should_cancel: Cancel | None) -> Path:
    """Copy the files model.json lists, checking each one's SHA-256 as it is read."""
    if not (src / MODEL_JSON).is_file():
        raise ModelError(
            f"--from {src}: not a model folder ({MODEL_JSON} is missing). Give the "
            "folder `photoseek model export` wrote, or a model archive."
        )
    info = read_model_info(src)
    rels = [_safe_rel(rel, str(src)) for rel in info.files]
    total = sum((src / r).stat().st_size for r in rels if (src / r).is_file())
    _check_space(dest.parent, total)
    done = 0
    for rel, expected in zip(rels, info.files.values(), strict=True):
        if not (src / rel).is_file():
            raise ModelError(
                f"{src / rel} is missing: the model folder {src} is incomplete. "
                "Export or download it again."
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
        if h.hexdigest() != expected:
            raise ModelError(
                f"{src / rel} does not match the SHA-256 in {src / MODEL_JSON}: "
                "the folder is damaged or was changed after export. Export or "
                "download the model again."
            )
    shutil.copyfile(src / MODEL_JSON, dest / MODEL_JSON)
    return dest


def _verify(root: Path, origin: str, report: Progress) -> Path:
    """Every file model.json lists is present with its SHA-256 (verify_model_dir's check, with a
    message naming where the model came from rather than our temporary folder)."""
    info = read_model_info(root)
    files = [(root / _safe_rel(rel, origin), rel, expected) for rel, expected in info.files.items()]
    total = sum(p.stat().st_size for p, _, _ in files if p.is_file())
    done = 0
    report(done, total, "Verifying")
    for p, rel, expected in files:
        if not p.is_file():
            raise ArchiveError(
                f"{origin} is incomplete: {rel} is missing. Get a complete copy of "
                "the model and retry."
            )
        if sha256_file(p) != expected:
            raise ArchiveError(
                f"{origin} is damaged: {rel} does not match the SHA-256 in its "
                f"{MODEL_JSON}. Get a fresh copy of the model and retry."
            )
        done += p.stat().st_size
        report(done, total, "Verifying")
    return root


def _find_root(extracted: Path, origin: str) -> Path:
    """model.json at the archive's top level, or inside its single top folder."""
    if (extracted / MODEL_JSON).is_file():
        return extracted
    entries = [p for p in extracted.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and (entries[0] / MODEL_JSON).is_file():
        return entries[0]
    raise ArchiveError(
        f"{origin} is not a PhotoSeek model archive: no {MODEL_JSON} at its top "
        "level or in a single top folder."
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
            f"damaged ({e}). Get a fresh copy and retry."
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
    if not force and (target / MODEL_JSON).is_file():
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


def _tidy(paths: Paths, name: str) -> None:
    """Undo what a killed install left behind: restore a set-aside model, drop stale staging."""
    recover_interrupted_replace(paths, name)
    old = paths.models / f"{REPLACED_PREFIX}{name}"
    if old.exists() and (paths.models / name).exists():
        shutil.rmtree(old, ignore_errors=True)
    now = time.time()
    for d in paths.models.glob(f"{STAGING_PREFIX}*"):
        try:
            if now - d.stat().st_mtime > STALE_STAGING_S:
                log.info("removing %s, left by an interrupted install", d)
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue
