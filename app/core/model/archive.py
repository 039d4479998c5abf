"""Model archives: write one (`package_model`: .tar, .tar.gz or .zip, reproducible byte for
byte, with a .sha256 sidecar) and unpack one safely for `install_model`: regular files and
folders only, no absolute paths, `..`, links or devices, and a cap on the unpacked size."""

from __future__ import annotations

import gzip
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from app.core.durable import sha256_file, write_atomic
from app.core.errors import UserError
from app.core.jobs import JobCancelled
from app.core.model.info import MANIFEST, ModelError, describe, read_manifest, verify_model_dir

MAX_EXTRACT_BYTES = 16 << 30  # far above any CLIP model; stops a decompression bomb
MAX_MEMBERS = 10_000
SPACE_MARGIN = 64 << 20
COPY_CHUNK = 1 << 20
Cancel = Callable[[], bool]
Progress = Callable[[int, int, str], None]


class ArchiveError(ModelError):
    """The archive or model folder is damaged, unsafe or not a model (retrying won't help)."""


class InstallCancelled(UserError, JobCancelled):
    """The caller cancelled while files were being copied or extracted; nothing was installed."""


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
                        shutil.copyfileobj(f, dst, COPY_CHUNK)
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
    write_atomic(sidecar, f"{digest}  {archive_path.name}\n".encode())
    return digest


@contextmanager
def _maybe_gzip(out: IO[bytes], gz: bool) -> Iterator[IO[bytes]]:
    if not gz:
        yield out
        return
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as g:
        yield g  # type: ignore[misc]


def extract(archive: Path, dest: Path, report: Progress, should_cancel: Cancel | None) -> None:
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
            plan.append((safe_rel(m.name, str(archive)), m))
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
            plan.append((safe_rel(zi.filename, str(archive)), zi))
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
    check_space(dest, total)
    return total


def _write(
    src: IO[bytes], out: Path, done: int, total: int, report: Progress, should_cancel: Cancel | None
) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(out, "wb") as f:
        while block := src.read(COPY_CHUNK):
            check_cancel(should_cancel)
            written += len(block)
            if done + written > MAX_EXTRACT_BYTES:
                raise ArchiveError(
                    f"Unpacking stopped at {MAX_EXTRACT_BYTES / 1e9:.0f} GB: the "
                    "archive is not a model."
                )
            f.write(block)
            report(done + written, total, "Unpacking")
    return done + written


def safe_rel(name: str, origin: str) -> PurePosixPath:
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


def check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed + SPACE_MARGIN > free:
        raise ModelError(
            f"Not enough disk space in {folder}: the model needs "
            f"{needed / 1e6:.0f} MB, {free / 1e6:.0f} MB are free. Free some space "
            "(or use --data-dir on a larger disk) and retry."
        )


def check_cancel(should_cancel: Cancel | None) -> None:
    if should_cancel is not None and should_cancel():
        raise InstallCancelled("Model install cancelled; nothing was changed.")


def _first_line(e: BaseException) -> str:
    """An error's first line (tarfile lists every method it tried, one a line)."""
    lines = str(e).strip().splitlines()
    return lines[0].rstrip(":") if lines else type(e).__name__
