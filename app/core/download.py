"""Resumable HTTP(S) download with SHA-256 check, progress and cancel, on urllib alone (no extra
dependency). A partial file `<dest>.part` survives failures so the next call resumes it."""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from app import __version__
from app.core.errors import UserError
from app.core.jobs import JobCancelled

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
T = TypeVar("T")

CHUNK = 1 << 16
DEFAULT_TIMEOUT = 15.0
USER_AGENT = f"PhotoSeek/{__version__} (+https://github.com/photoseek/photoseek)"
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0
# Failing to connect at all means "no network" (or a wrong host): retrying would only make the
# user wait, so these fail at once. Errors after a connection was made are retried.
_OFFLINE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
)


class DownloadError(UserError):
    """A download failed; the message names the URL and what to do."""


class OfflineError(DownloadError):
    """The server cannot be reached at all: no network, unknown host, connection refused."""

    def __init__(self, message: str, *, url: str, reason: str) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason


class HTTPStatusError(DownloadError):
    """The server answered with an error status that retrying will not fix (404, 403, 416...)."""

    def __init__(self, message: str, *, status: int, content_range: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.content_range = content_range


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected SHA-256 (the partial file is deleted)."""


class DownloadCancelled(DownloadError, JobCancelled):
    """The caller cancelled; the partial file is kept so the next call resumes it."""


class _Transient(Exception):
    """A failure worth retrying (dropped connection, 5xx); `retry_after` is the server's hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download(
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None = None,
    progress: Progress | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    should_cancel: Callable[[], bool] | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    label: str | None = None,
) -> Path:
    """Download `url` to `dest` (atomically renamed from `dest.part` once complete and verified).

    Resumes an existing `.part` with an HTTP Range request; retries transient failures with
    exponential backoff; fails at once with OfflineError when the host cannot be reached.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = expected_sha256.strip().lower() if expected_sha256 else None
    label = label or f"Downloading {dest.name}"
    if expected and dest.is_file() and _hash_file(dest).hexdigest() == expected:
        log.info("%s already downloaded to %s", url, dest)
        return dest
    part = part_path(dest)
    state = _PartState(part)
    _with_retries(
        lambda: _fetch_once(url, state, timeout, progress, should_cancel, label),
        url=url,
        retries=retries,
        backoff=backoff,
        should_cancel=should_cancel,
    )
    digest = state.hexdigest()
    if expected and digest != expected:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"The file downloaded from {url} is corrupt or not the expected version (SHA-256 "
            f"{digest}, expected {expected}). It was deleted; run the same command again to "
            "download it afresh."
        )
    os.replace(part, dest)
    log.info("downloaded %s to %s (sha256 %s)", url, dest, digest)
    return dest


def fetch_text(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = 1 << 16,
    retries: int = 2,
    backoff: float = 1.0,
) -> str | None:
    """A small text resource (a `.sha256` sidecar); None when the server says it does not exist."""

    def once() -> str | None:
        try:
            resp = _open(url, {}, timeout)
        except HTTPStatusError as e:
            if e.status in (404, 410):
                return None
            raise
        with resp:
            try:
                data = resp.read(max_bytes + 1)
            except (OSError, http.client.HTTPException) as e:
                raise _Transient(f"connection lost: {e}") from e
        if len(data) > max_bytes:
            raise DownloadError(f"{url} is larger than {max_bytes} bytes; expected a short text.")
        return data.decode("utf-8", errors="replace")

    return _with_retries(once, url=url, retries=retries, backoff=backoff, should_cancel=None)


def parse_sha256(text: str, source: str) -> str:
    """The hash in a `sha256sum`-style line (`<64 hex>  name`) or a bare hash."""
    m = re.match(r"\s*([0-9a-fA-F]{64})\b", text)
    if not m:
        raise DownloadError(f"{source} does not contain a SHA-256 hash (expected 64 hex digits).")
    return m.group(1).lower()


class _PartState:
    """The partial file and a running SHA-256 of its bytes, so resuming does not rehash twice."""

    def __init__(self, part: Path) -> None:
        self.part = part
        self._hash = hashlib.sha256()
        self._count = 0

    def size(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def sync(self) -> int:
        """Bring the running hash in line with the file on disk; return its size."""
        size = self.size()
        if size != self._count:
            self._hash = _hash_file(self.part) if size else hashlib.sha256()
            self._count = size
        return size

    def reset(self) -> None:
        self.part.unlink(missing_ok=True)
        self._hash = hashlib.sha256()
        self._count = 0

    def update(self, block: bytes) -> None:
        self._hash.update(block)
        self._count += len(block)

    def hexdigest(self) -> str:
        self.sync()
        return self._hash.hexdigest()


def _with_retries(
    fn: Callable[[], T],
    *,
    url: str,
    retries: int,
    backoff: float,
    should_cancel: Callable[[], bool] | None,
) -> T:
    attempt = 0
    while True:
        try:
            return fn()
        except _Transient as e:
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"Downloading {url} failed after {attempt} attempts ({e}). Check your "
                    "connection and run the same command again: it resumes where it stopped."
                ) from e
            delay = backoff * 2 ** (attempt - 1)
            if e.retry_after is not None:
                delay = max(delay, min(e.retry_after, MAX_RETRY_AFTER_S))
            log.warning("%s: %s; retry %d of %d in %.1f s", url, e, attempt, retries, delay)
            _sleep(delay, should_cancel)


def _sleep(seconds: float, should_cancel: Callable[[], bool] | None) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if should_cancel is not None and should_cancel():
            raise DownloadCancelled("Download cancelled; run the command again to resume it.")
        time.sleep(min(left, 0.1))


def _fetch_once(
    url: str,
    state: _PartState,
    timeout: float,
    progress: Progress | None,
    should_cancel: Callable[[], bool] | None,
    label: str,
) -> None:
    """One request: append the missing bytes to the partial file or start it over."""
    while True:
        offset = state.sync()
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            resp = _open(url, headers, timeout)
        except HTTPStatusError as e:
            if e.status == 416 and offset:
                total = _range_total(e.content_range)
                if total == offset:
                    return  # the partial file already holds every byte
                log.info("%s: server refused to resume at %d; starting over", url, offset)
                state.reset()
                continue
            raise
        with resp:
            length = _int_header(resp.headers.get("Content-Length"))
            if offset and resp.status == 206:
                start, total = _parse_content_range(resp.headers.get("Content-Range"))
                if start != offset:
                    log.info("%s: server resumed at %s, not %d; starting over", url, start, offset)
                    state.reset()
                    continue
            elif resp.status == 200:
                if offset:
                    log.info("%s: server ignored the resume request; starting over", url)
                    state.reset()
                    offset = 0
                total = length or 0
            else:
                raise DownloadError(f"{url} answered HTTP {resp.status} {resp.reason}, not a file.")
            if total == 0 and length is not None:
                total = offset + length
            _check_space(state.part.parent, (total - offset) if total else 0, url)
            received = _stream(resp, state, offset, total, progress, should_cancel, label)
        short = (length is not None and received < length) or offset + received < total
        if short:  # urllib does not raise when the server hangs up early
            raise _Transient(f"connection closed after {offset + received} of {total} bytes")
        return


def _stream(
    resp: http.client.HTTPResponse,
    state: _PartState,
    offset: int,
    total: int,
    progress: Progress | None,
    should_cancel: Callable[[], bool] | None,
    label: str,
) -> int:
    received = 0
    last_report = 0.0
    with open(state.part, "ab" if offset else "wb") as f:
        try:
            while True:
                if should_cancel is not None and should_cancel():
                    raise DownloadCancelled(
                        "Download cancelled; run the command again to resume it."
                    )
                try:
                    block = resp.read(CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise _Transient(f"connection lost after {offset + received} bytes: {e}") from e
                if not block:
                    break
                try:
                    f.write(block)
                except OSError as e:
                    raise _disk_error(e, state.part) from e
                state.update(block)
                received += len(block)
                now = time.monotonic()
                if progress is not None and now - last_report >= 0.1:
                    last_report = now
                    progress(offset + received, total, label)
        finally:
            try:  # keep what arrived, so the next call resumes from it
                f.flush()
                os.fsync(f.fileno())
            except OSError:
                log.debug("could not flush %s", state.part, exc_info=True)
    if progress is not None:
        progress(offset + received, total, label)
    return received


def _open(url: str, headers: dict[str, str], timeout: float) -> http.client.HTTPResponse:
    """urlopen with errors sorted into offline (at once), transient (retry) and final ones."""
    if not re.match(r"https?://", url, re.IGNORECASE):
        raise DownloadError(f"{url} is not an http(s) URL.")
    req = urllib.request.Request(
        url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers}
    )
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        with e:
            status, content_range = e.code, e.headers.get("Content-Range")
            retry_after = _int_header(e.headers.get("Retry-After"))
        if status in TRANSIENT_HTTP:
            raise _Transient(
                f"HTTP {status}", None if retry_after is None else float(retry_after)
            ) from e
        raise HTTPStatusError(
            f"{url} answered HTTP {status} {e.reason}. Check the address (setting "
            "`model_base_url`, or PHOTOSEEK_MODEL_URL / PHOTOSEEK_MODEL_BASE_URL).",
            status=status,
            content_range=content_range,
        ) from e
    except urllib.error.URLError as e:
        raise _connect_error(url, e.reason) from e
    except (OSError, http.client.HTTPException) as e:
        raise _Transient(f"no answer: {e}") from e
    return resp  # type: ignore[no-any-return]


def _connect_error(url: str, reason: object) -> Exception:
    if isinstance(reason, ssl.SSLError):
        return DownloadError(
            f"Secure connection to {url} failed ({reason}). Check the address "
            "and the system clock, then retry."
        )
    offline = isinstance(reason, (socket.gaierror, TimeoutError)) or (
        isinstance(reason, OSError) and reason.errno in _OFFLINE_ERRNOS
    )
    if offline:
        why = _describe(reason)
        return OfflineError(
            f"Can't reach {url} ({why}; no internet?). Connect and retry.", url=url, reason=why
        )
    if isinstance(reason, OSError):
        return _Transient(f"connection failed: {reason}")
    return DownloadError(f"Can't download {url}: {reason}.")


def _describe(reason: object) -> str:
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    if isinstance(reason, TimeoutError):
        return "connection timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    return str(getattr(reason, "strerror", None) or reason)


def _check_space(folder: Path, needed: int, url: str) -> None:
    if needed <= 0:
        return
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(
            f"Not enough disk space in {folder} to download {url}: {needed / 1e6:.0f} MB needed, "
            f"{free / 1e6:.0f} MB free. Free some space (or use --data-dir on a larger disk) "
            "and retry."
        )


def _disk_error(e: OSError, path: Path) -> DownloadError:
    if e.errno == errno.ENOSPC:
        return DownloadError(
            f"The disk holding {path} is full. Free some space and run the "
            "same command again: it resumes where it stopped."
        )
    return DownloadError(f"Can't write {path}: {e.strerror or e}.")


def _hash_file(path: Path) -> hashlib._Hash:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _parse_content_range(value: str | None) -> tuple[int | None, int]:
    """`bytes START-END/TOTAL` -> (START, TOTAL or 0 when unknown)."""
    m = re.match(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)", value or "")
    if not m:
        return None, 0
    return int(m.group(1)), (0 if m.group(3) == "*" else int(m.group(3)))


def _range_total(value: str | None) -> int | None:
    """The TOTAL of a 416 answer's `bytes */TOTAL`, if given."""
    m = re.match(r"\s*bytes\s+\*/(\d+)", value or "")
    return int(m.group(1)) if m else None
