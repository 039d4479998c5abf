"""Download a repository's model files from the hub resumably, and verify every byte.

Files come through huggingface_hub's cache (so an interrupted download continues on the next
call: the biggest catalog model is ~4 GB) in a worker thread watched by the calling thread: a
deadline, a minimum rate and cancel stop it for real by shutting the live socket down, so a
trickling server cannot hang us. Every file is then checked against its published SHA-256
(LFS) or git blob id.

Over 400 lines on purpose: the watchdog, the watched response body and the resume loop are one
mechanism (the watchdog stops a stall by shutting the socket the body reads from, and the loop
must tell that abort from a cut connection); apart, none of them reads on its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import requests
from urllib3.response import BaseHTTPResponse

from app.core.durable import git_blob_id, sha256_file
from app.core.errors import UserError
from app.core.jobs import JobCancelled
from app.core.model import hub
from app.core.model.hub import (
    MODEL_EXCLUDE,
    MODEL_INCLUDE,
    HubError,
    HubFile,
    HubIntegrityError,
    HubNotFound,
    HubOffline,
    HubStalled,
    RepoSnapshot,
    endpoint,
    offline,
)

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]

_TICK_S = 0.2  # watchdog period: cancel is polled and progress reported at most this often
_JOIN_S = 10.0  # how long an aborted worker may take to unwind (a request's own timeout)
_ETAG_TIMEOUT_S = 10.0
_RETRIES = 3  # attempts in a row that bring no new byte before a file's download gives up
# Bodies are read in pieces this small (huggingface_hub asks for 10 MB): a cut connection loses
# at most this much, and the stall rule sees bytes arrive even at a few kB/s.
_STREAM_CHUNK = 1 << 14
_CONTENT_RANGE = re.compile(r"bytes (\d+)-")


class DownloadCancelled(UserError, JobCancelled):
    """The caller's should_cancel() said stop."""


def download_repo(
    repo_id: str,
    dest: Path,
    *,
    cache_dir: Path,
    revision: str = "main",
    include: Sequence[str] = MODEL_INCLUDE,
    exclude: Sequence[str] = MODEL_EXCLUDE,
    progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
    deadline_s: float = 4 * 3600,
    stall_s: float = 60.0,
    min_rate: float = 1024.0,
) -> RepoSnapshot:
    """Download the selected files of `repo_id` into `dest` (same relative paths) and return the
    snapshot once every file matched its published sha256 (LFS) or git blob sha1.

    Bytes go through huggingface_hub's cache in `cache_dir`, pinned to the resolved commit; an
    interrupted download (cut, stall, cancel, killed process) continues there on the next call.
    Files reach `dest` by hard link where possible (else a copy). Raises HubOffline,
    HubNotFound, HubIntegrityError, HubStalled (less than `min_rate` bytes/s over `stall_s`, or
    `deadline_s` in all) or DownloadCancelled; `dest` is then incomplete and the caller's to
    delete. With HF_HUB_OFFLINE set, a snapshot this function completed before into the same
    `cache_dir` is installed from the cache (verified again); anything else raises HubOffline.
    """
    url = endpoint()
    cache_dir = Path(cache_dir)
    if offline():
        full = hub.recorded_download(cache_dir, repo_id, revision)
        if full is None:
            raise HubOffline(hub.offline_message(url, repo_id, "HF_HUB_OFFLINE is set"))
        log.info("HF_HUB_OFFLINE: installing %s@%s from the cache", repo_id, full.commit[:12])
    else:
        full = hub.list_all(repo_id, revision, 15.0)
    snapshot = hub.narrow(full, include, exclude)
    if not snapshot.files:
        raise HubNotFound(f"{repo_id} at {revision} on {url} has no model files (onnx, config).")
    for f in snapshot.files:
        hub.check_relpath(f.path, repo_id)
    hub.prepare_library()
    watch = _Watch()
    errors: list[BaseException] = []

    def work() -> None:
        with hub.watching(watch):
            try:
                _fetch_all(snapshot, Path(dest), cache_dir, url, watch)
            except BaseException as e:  # handed to the watching thread, which raises it
                errors.append(e)

    worker = threading.Thread(target=work, name="photoseek-hub-download", daemon=True)
    log.info(
        "downloading %s@%s (%d files, %d bytes) from %s",
        *(repo_id, snapshot.commit[:12], len(snapshot.files), snapshot.total_size, url),
    )
    with hub.http_backend():
        worker.start()
        try:
            _watchdog(
                worker, watch, snapshot, progress, should_cancel, deadline_s, stall_s, min_rate
            )
        except BaseException as e:
            watch.abort(e if isinstance(e, Exception) else DownloadCancelled("Download cancelled."))
            worker.join(_JOIN_S)
            if worker.is_alive():
                log.warning(
                    "download thread of %s still running %.0f s after abort", repo_id, _JOIN_S
                )
            raise
    if errors:
        error = _translate(errors[0], snapshot, url)
        if error is errors[0]:
            raise error
        raise error from errors[0]
    hub.record_download(cache_dir, full, revision)
    if progress is not None:
        progress(snapshot.total_size, snapshot.total_size, f"Downloaded {repo_id}")
    log.info("downloaded and verified %s@%s", repo_id, snapshot.commit[:12])
    return snapshot


class _Aborted(Exception):
    """Unwinds the worker after the watchdog aborted it (no requests/hf class: never retried)."""


# The download and its watchdog ------------------------------------------------------------------


class _Watch:
    """What the worker thread and the watchdog share: bytes so far, the file in progress, the
    live response bodies, and the abort that stops them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.reason: BaseException | None = None
        self._live: list[_WatchedBody] = []
        self.received = 0  # bytes off the network, all files
        self.done_files = 0  # bytes of files finished and verified
        self.file_offset = 0  # where the current response starts in its file (bytes resumed)
        self.file_read = 0  # bytes of the current response so far
        self.current = ""
        self.phase = 0  # changes when a file starts or verifies: the stall window restarts
        self.networking = False

    def check(self) -> None:
        if self._stop.is_set():
            raise _Aborted

    def sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Aborted

    def abort(self, reason: BaseException) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self._stop.set()
            live = list(self._live)
        for body in live:
            body.shut()

    def begin(self, path: str) -> None:
        with self._lock:
            self.current, self.file_offset, self.file_read = path, 0, 0
            self.networking = True
            self.phase += 1

    def verifying(self) -> None:
        with self._lock:
            self.networking = False
            self.phase += 1

    def finished(self, size: int) -> None:
        with self._lock:
            self.done_files += size
            self.file_offset = self.file_read = 0

    def opened(self, response: requests.Response) -> None:
        start = 0
        if response.status_code == 206:
            m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            start = int(m[1]) if m else 0
        body = _WatchedBody(response.raw, self)
        response.raw = body
        with self._lock:
            self.file_offset, self.file_read = start, 0
            self._live.append(body)
            aborted = self._stop.is_set()
        if aborted:
            body.shut()

    def closed(self, body: _WatchedBody) -> None:
        with self._lock:
            if body in self._live:
                self._live.remove(body)

    def count(self, n: int) -> None:
        with self._lock:
            self.received += n
            self.file_read += n

    def state(self) -> tuple[int, int, str, int, bool]:
        with self._lock:
            done = self.done_files + self.file_offset + self.file_read
            return self.received, done, self.current, self.phase, self.networking


class _WatchedBody:
    """A response body (urllib3's) that counts its bytes and stops when the watch aborts."""

    def __init__(self, raw: BaseHTTPResponse, watch: _Watch) -> None:
        self._raw = raw
        self._watch = watch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        try:
            piece = min(amt or _STREAM_CHUNK, _STREAM_CHUNK)
            for chunk in self._raw.stream(piece, decode_content=decode_content):
                self._watch.check()
                self._watch.count(len(chunk))
                yield chunk
            self._watch.check()
        except _Aborted:
            raise
        except Exception:
            self._watch.check()  # a socket we shut down fails the read: the abort is the cause
            raise
        finally:
            self._watch.closed(self)

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data: bytes = self._raw.read(*args, **kwargs)
        self._watch.check()
        self._watch.count(len(data))
        return data

    def shut(self) -> None:
        """Wake a read blocked on this body's socket (another thread's) by shutting it down."""
        sock = _socket_of(self._raw)
        if sock is not None:
            with contextlib.suppress(OSError):  # the base method, so TLS state is left alone
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _socket_of(raw: BaseHTTPResponse) -> socket.socket | None:
    for chain in (("connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        obj: object = raw
        for attr in chain:
            obj = getattr(obj, attr, None)
        if isinstance(obj, socket.socket):
            return obj
    return None


def _watchdog(
    worker: threading.Thread,
    watch: _Watch,
    snapshot: RepoSnapshot,
    progress: Progress | None,
    should_cancel: Callable[[], bool] | None,
    deadline_s: float,
    stall_s: float,
    min_rate: float,
) -> None:
    """Until the worker ends: report progress, and abort it on cancel, deadline or stall."""
    repo_id, total = snapshot.repo_id, snapshot.total_size
    start = time.monotonic()
    window: deque[tuple[float, int]] = deque()
    window_phase = -1
    reported = -1
    while True:
        worker.join(_TICK_S)
        if not worker.is_alive():
            return
        now = time.monotonic()
        received, done, current, phase, networking = watch.state()
        reason: BaseException | None = None
        if should_cancel is not None and should_cancel():
            reason = DownloadCancelled(f"Download of {repo_id} cancelled.")
        elif now - start > deadline_s:
            reason = HubStalled(
                f"Downloading {repo_id} from {endpoint()} took over {deadline_s / 60:.0f} min; "
                "stopped. Run the install again to continue where it stopped."
            )
        else:
            if phase != window_phase or not networking:
                window.clear()
                window_phase = phase
            if networking:
                window.append((now, received))
                while len(window) > 1 and window[1][0] <= now - stall_s:
                    window.popleft()
                t0, r0 = window[0]
                if now - t0 >= stall_s and received - r0 < min_rate * (now - t0):
                    reason = HubStalled(
                        f"The download of {repo_id} ({current}) from {endpoint()} stalled: "
                        f"{received - r0} bytes in {now - t0:.0f} s. Check the connection and run "
                        "the install again; it continues where it stopped."
                    )
        if reason is not None:
            log.info("stopping the download of %s: %s", repo_id, reason)
            raise reason
        if progress is not None:
            done = min(max(done, reported), total)
            progress(done, total, f"Downloading {repo_id} ({current})")
            reported = done


def _fetch_all(
    snapshot: RepoSnapshot, dest: Path, cache_dir: Path, url: str, watch: _Watch
) -> None:
    for f in snapshot.files:
        watch.begin(f.path)
        cached = _fetch_one(snapshot, f, cache_dir, url, watch)
        watch.verifying()
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = Path(os.path.realpath(cached))
        target.unlink(missing_ok=True)
        try:
            os.link(blob, target)
        except OSError:
            shutil.copyfile(blob, target)
        try:
            _verify(target, f, snapshot.repo_id, watch)
        except HubIntegrityError:
            for p in (target, Path(cached), blob):  # the next call downloads it afresh
                p.unlink(missing_ok=True)
            raise
        watch.finished(f.size)


def _fetch_one(
    snapshot: RepoSnapshot, f: HubFile, cache_dir: Path, url: str, watch: _Watch
) -> Path:
    """The file in the cache, resuming after a cut connection as long as bytes keep coming."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.file_download import repo_folder_name

    fruitless = 0
    while True:
        watch.check()
        before = watch.state()[0]
        try:
            return Path(
                hf_hub_download(
                    snapshot.repo_id,
                    f.path,
                    revision=snapshot.commit,
                    cache_dir=cache_dir,
                    endpoint=url,
                    etag_timeout=_ETAG_TIMEOUT_S,
                )
            )
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.ConnectionError,
            requests.Timeout,
        ) as e:
            watch.check()
            fruitless = 0 if watch.state()[0] > before else fruitless + 1
            if fruitless >= _RETRIES:
                raise
            log.info("connection lost while downloading %s (%s); resuming", f.path, e)
            watch.sleep(0.5 * fruitless)
        except OSError as e:
            if "Consistency check failed" not in str(e):
                raise
            etag = f.sha256 or f.blob_id or ""
            folder = repo_folder_name(repo_id=snapshot.repo_id, repo_type="model")
            (cache_dir / folder / "blobs" / f"{etag}.incomplete").unlink(missing_ok=True)
            raise HubIntegrityError(
                f"{f.path} from {snapshot.repo_id} arrived with the wrong size; it was removed. "
                "Run the install again to download it afresh."
            ) from e


def _verify(path: Path, f: HubFile, repo_id: str, watch: _Watch) -> None:
    """Raise HubIntegrityError unless `path` has the size and hash the hub published for it."""
    if f.sha256:
        digest, want = sha256_file, f.sha256
    elif f.blob_id:
        digest, want = git_blob_id, f.blob_id
    else:
        raise HubIntegrityError(f"{repo_id} publishes no hash for {f.path}; cannot verify it.")
    size = path.stat().st_size
    got = digest(path, each=watch.check)
    if size != f.size or got != want.lower():
        raise HubIntegrityError(
            f"{f.path} from {repo_id} does not match its published hash ({got[:12]}..., "
            f"{size} bytes; expected {want[:12]}..., {f.size} bytes); it was removed. "
            "Run the install again to download it afresh."
        )


def _translate(e: BaseException, snapshot: RepoSnapshot, url: str) -> BaseException:
    """The worker's exception as one of ours, with a message a user can act on."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id = snapshot.repo_id
    if isinstance(e, (UserError, _Aborted)) or not isinstance(e, Exception):
        return e
    lost = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    if isinstance(e, (LocalEntryNotFoundError, OfflineModeIsEnabled, *lost)):
        return HubOffline(
            hub.offline_message(url, repo_id, f"connection lost: {hub.why_failed(e)}")
        )
    if isinstance(e, (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError)):
        return HubNotFound(f"{repo_id}@{snapshot.commit[:12]} on {url}: {str(e).splitlines()[0]}")
    if isinstance(e, HfHubHTTPError):
        status = e.response.status_code if e.response is not None else "?"
        return HubError(f"{url} answered {status} while downloading {repo_id}; try again later.")
    return e
