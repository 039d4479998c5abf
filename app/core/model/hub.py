"""Ready ONNX models from the Hugging Face hub (immich-app/<NAME>): list a repository at one
commit, download the wanted files resumably through huggingface_hub, and verify every byte.

Downloads run in a worker thread watched by the calling thread: a deadline, a minimum rate and
cancel stop it for real by shutting the live socket down, so a trickling server cannot hang us.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from app.core.durable import write_atomic
from app.core.errors import UserError
from app.core.jobs import JobCancelled
from app.core.model.info import ModelError

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[int, int, str], None]

DEFAULT_ENDPOINT = "https://huggingface.co"
# fnmatch patterns on the whole posix path; `*` also matches "/", so "visual/*" is recursive.
MODEL_INCLUDE: tuple[str, ...] = ("config.json", "visual/*", "textual/*")
MODEL_EXCLUDE: tuple[str, ...] = (
    "*.armnn",
    "*.rknn",
    "*/rknpu/*",
    "*/fp16/*",
    "README.md",
    ".gitattributes",
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_TICK_S = 0.2  # watchdog period: cancel is polled and progress reported at most this often
_JOIN_S = 10.0  # how long an aborted worker may take to unwind (a request's own timeout)
_ETAG_TIMEOUT_S = 10.0
_RETRIES = 3  # attempts in a row that bring no new byte before a file's download gives up
_HASH_CHUNK = 1 << 20
# Bodies are read in pieces this small (huggingface_hub asks for 10 MB): a cut connection loses
# at most this much, and the stall rule sees bytes arrive even at a few kB/s.
_STREAM_CHUNK = 1 << 14
_MANIFESTS = ".photoseek-hub"  # in cache_dir: listings of downloads that completed and verified
_CONTENT_RANGE = re.compile(r"bytes (\d+)-")


class HubError(ModelError):
    """The hub could not give us the model; the message says why and what to do."""


class HubOffline(HubError):
    """No network, the endpoint does not answer, or HF_HUB_OFFLINE is set."""


class HubNotFound(HubError):
    """The repository, revision or a file does not exist (or is private)."""


class HubIntegrityError(HubError):
    """A downloaded file does not match its published hash; it was removed from the cache."""


class HubStalled(HubError):
    """The server sent too little for too long, or the whole download ran past its deadline."""


class DownloadCancelled(UserError, JobCancelled):
    """The caller's should_cancel() said stop."""


@dataclass(frozen=True)
class HubFile:
    path: str  # repo-relative, posix
    size: int
    sha256: str | None  # the LFS sha256 when the file is in LFS
    blob_id: str | None  # git blob sha1 for files in git


@dataclass(frozen=True)
class RepoSnapshot:
    repo_id: str
    commit: str  # the resolved commit sha
    files: tuple[HubFile, ...]  # only the files selected by the patterns

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def endpoint() -> str:
    """The hub's base URL from HF_ENDPOINT, read now (huggingface_hub reads it at import)."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or DEFAULT_ENDPOINT


def offline() -> bool:
    """Whether HF_HUB_OFFLINE is set now ("1", "true", "yes", "on")."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def select(
    paths: Iterable[T],
    include: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    key: Callable[[T], str] | None = None,
) -> list[T]:
    """The items whose path (`key(item)`, else `str(item)`) matches an `include` pattern and no
    `exclude` pattern. Patterns are case-sensitive fnmatch on the whole path; `*` matches "/"."""

    def wanted(path: str) -> bool:
        return any(fnmatchcase(path, p) for p in include) and not any(
            fnmatchcase(path, p) for p in exclude
        )

    return [item for item in paths if wanted(key(item) if key is not None else str(item))]


def list_repo(
    repo_id: str,
    *,
    revision: str = "main",
    include: Sequence[str] = MODEL_INCLUDE,
    exclude: Sequence[str] = MODEL_EXCLUDE,
    timeout_s: float = 15.0,
) -> RepoSnapshot:
    """The files of `repo_id` at `revision` (resolved to its commit) that the patterns select."""
    return _narrow(_list_all(repo_id, revision, timeout_s), include, exclude)


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
        full = _read_manifest(cache_dir, repo_id, revision)
        if full is None:
            raise HubOffline(_offline_message(url, repo_id, "HF_HUB_OFFLINE is set"))
        log.info("HF_HUB_OFFLINE: installing %s@%s from the cache", repo_id, full.commit[:12])
    else:
        full = _list_all(repo_id, revision, 15.0)
    snapshot = _narrow(full, include, exclude)
    if not snapshot.files:
        raise HubNotFound(f"{repo_id} at {revision} on {url} has no model files (onnx, config).")
    for f in snapshot.files:
        _check_relpath(f.path, repo_id)
    _prepare_library()
    watch = _Watch()
    errors: list[BaseException] = []

    def work() -> None:
        with _watching(watch):
            try:
                _fetch_all(snapshot, Path(dest), cache_dir, url, watch)
            except BaseException as e:  # handed to the watching thread, which raises it
                errors.append(e)

    worker = threading.Thread(target=work, name="photoseek-hub-download", daemon=True)
    log.info(
        "downloading %s@%s (%d files, %d bytes) from %s",
        *(repo_id, snapshot.commit[:12], len(snapshot.files), snapshot.total_size, url),
    )
    with _backend():
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
    _write_manifest(cache_dir, full, revision)
    if progress is not None:
        progress(snapshot.total_size, snapshot.total_size, f"Downloaded {repo_id}")
    log.info("downloaded and verified %s@%s", repo_id, snapshot.commit[:12])
    return snapshot


# Listing ----------------------------------------------------------------------------------------


def _list_all(repo_id: str, revision: str, timeout_s: float) -> RepoSnapshot:
    """Every file of the repository at `revision`, with sizes and hashes."""
    url = endpoint()
    if offline():
        raise HubOffline(_offline_message(url, repo_id, "HF_HUB_OFFLINE is set"))
    _prepare_library()
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        with _backend():
            info = HfApi(endpoint=url).model_info(
                repo_id, revision=revision, files_metadata=True, timeout=timeout_s
            )
    except RevisionNotFoundError:
        raise HubNotFound(f"{repo_id} has no revision {revision!r} on {url}.") from None
    except RepositoryNotFoundError:
        raise HubNotFound(f"No model {repo_id} on {url} (or it is private).") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise HubError(f"{url} answered {status} for {repo_id}; try again later.") from e
    except (requests.ConnectionError, requests.Timeout, OfflineModeIsEnabled) as e:
        raise HubOffline(_offline_message(url, repo_id, _why(e))) from e
    if not info.sha:
        raise HubError(f"{url} did not say which commit {repo_id}@{revision} is.")
    files = tuple(
        HubFile(
            path=s.rfilename,
            size=s.lfs.size if s.lfs is not None else (s.size or 0),
            sha256=s.lfs.sha256 if s.lfs is not None else None,
            blob_id=s.blob_id if s.lfs is None else None,
        )
        for s in info.siblings or ()
    )
    return RepoSnapshot(repo_id, info.sha, files)


def _narrow(full: RepoSnapshot, include: Sequence[str], exclude: Sequence[str]) -> RepoSnapshot:
    files = select(full.files, include, exclude, key=lambda f: f.path)
    return RepoSnapshot(full.repo_id, full.commit, tuple(files))


def _offline_message(url: str, repo_id: str, why: str) -> str:
    name = repo_id.rsplit("/", 1)[-1]
    return (
        f"Cannot reach the model hub at {url} ({why}): connect to the internet and try again, "
        f"or install a model folder you have: photoseek model install {name} --from FOLDER"
    )


def _why(e: BaseException) -> str:
    for cause in (e, e.__cause__, e.__context__):
        if isinstance(cause, requests.Timeout):
            return "no answer in time"
        if isinstance(cause, requests.ConnectionError):
            return "connection failed"
        if cause is not None and "offline mode" in str(cause).lower():
            return "HF_HUB_OFFLINE is set"
    return type(e).__name__


def _check_relpath(path: str, repo_id: str) -> None:
    p = PurePosixPath(path)
    if (
        p.is_absolute()
        or not p.parts
        or any(s in ("", ".", "..") for s in p.parts)
        or ("\\" in path or ":" in path)
    ):
        raise HubError(f"{repo_id} lists a file with an unsafe path: {path!r}; not installing it.")


# The cache's own record of complete downloads (for HF_HUB_OFFLINE) -----------------------------


def _manifest_path(cache_dir: Path, repo_id: str, revision: str) -> Path:
    return cache_dir / _MANIFESTS / repo_id.replace("/", "--") / f"{quote(revision, safe='')}.json"


def _write_manifest(cache_dir: Path, full: RepoSnapshot, revision: str) -> None:
    data = {
        "repo_id": full.repo_id,
        "commit": full.commit,
        "files": [asdict(f) for f in full.files],
    }
    for rev in {revision, full.commit}:
        path = _manifest_path(cache_dir, full.repo_id, rev)
        try:
            write_atomic(path, json.dumps(data).encode(), durable=False)
        except OSError as e:  # only offline reuse is lost
            log.warning("could not record the download of %s in %s: %s", full.repo_id, path, e)


def _read_manifest(cache_dir: Path, repo_id: str, revision: str) -> RepoSnapshot | None:
    try:
        data = json.loads(_manifest_path(cache_dir, repo_id, revision).read_text(encoding="utf-8"))
        files = tuple(HubFile(**f) for f in data["files"])
        return RepoSnapshot(data["repo_id"], data["commit"], files)
    except (OSError, ValueError, KeyError, TypeError):
        return None


# huggingface_hub set-up -------------------------------------------------------------------------


def _prepare_library() -> None:
    """Make huggingface_hub agree with our settings now: it reads its environment variables
    once, at import, into `constants`, and reads those attributes at call time."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars, tqdm

    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.HF_HUB_DISABLE_XET = True  # plain HTTP(S) that the watchdog can see and stop
    constants.HF_HUB_ENABLE_HF_TRANSFER = False  # hf_transfer neither resumes nor can be watched
    constants.HF_HUB_OFFLINE = offline()
    disable_progress_bars("huggingface_hub.http_get")
    tqdm.monitor_interval = 0  # even a disabled bar would start tqdm's monitor thread


_backend_lock = threading.Lock()
_backend_users = 0


@contextmanager
def _backend() -> Iterator[None]:
    """huggingface_hub's requests go through `_WatchedAdapter` while any of our calls runs; its
    default session factory comes back when the last one ends."""
    global _backend_users
    from huggingface_hub import configure_http_backend

    with _backend_lock:
        if _backend_users == 0:
            configure_http_backend(backend_factory=_new_session)
        _backend_users += 1
    try:
        yield
    finally:
        with _backend_lock:
            _backend_users -= 1
            if _backend_users == 0:
                configure_http_backend()


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Aborted(Exception):
    """Unwinds the worker after the watchdog aborted it (no requests/hf class: never retried)."""


class _WatchedAdapter(HTTPAdapter):
    """A plain adapter, except on a thread that runs one of our downloads: there it refuses new
    requests once aborted and hands each streamed body to the download's `_Watch`."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        from huggingface_hub import constants
        from huggingface_hub.errors import OfflineModeIsEnabled

        if constants.HF_HUB_OFFLINE:  # what huggingface_hub's own session does
            raise OfflineModeIsEnabled(f"Cannot reach {request.url}: offline mode is enabled.")
        watch = _WATCHES.get(threading.get_ident())
        if watch is not None:
            watch.check()
        response = super().send(request, stream, timeout, verify, cert, proxies)
        if watch is not None and stream and request.method == "GET":
            watch.opened(response)
        return response


_WATCHES: dict[int, _Watch] = {}


@contextmanager
def _watching(watch: _Watch) -> Iterator[None]:
    ident = threading.get_ident()
    _WATCHES[ident] = watch
    try:
        yield
    finally:
        _WATCHES.pop(ident, None)


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

    def opened(self, response: Any) -> None:
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

    def __init__(self, raw: Any, watch: _Watch) -> None:
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


def _socket_of(raw: Any) -> socket.socket | None:
    for chain in (("connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        obj = raw
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
        h, want = hashlib.sha256(), f.sha256
    elif f.blob_id:
        h, want = hashlib.sha1(b"blob %d\0" % f.size), f.blob_id
    else:
        raise HubIntegrityError(f"{repo_id} publishes no hash for {f.path}; cannot verify it.")
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            watch.check()
            h.update(chunk)
            size += len(chunk)
    if size != f.size or h.hexdigest() != want.lower():
        raise HubIntegrityError(
            f"{f.path} from {repo_id} does not match its published hash ({h.hexdigest()[:12]}..., "
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
        return HubOffline(_offline_message(url, repo_id, f"connection lost: {_why(e)}"))
    if isinstance(e, (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError)):
        return HubNotFound(f"{repo_id}@{snapshot.commit[:12]} on {url}: {str(e).splitlines()[0]}")
    if isinstance(e, HfHubHTTPError):
        status = e.response.status_code if e.response is not None else "?"
        return HubError(f"{url} answered {status} while downloading {repo_id}; try again later.")
    return e
