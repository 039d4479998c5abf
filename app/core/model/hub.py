"""The Hugging Face hub (immich-app/<NAME>), the listing side: which files a repository holds
at one commit (sizes and published hashes), our record of downloads that completed (for
HF_HUB_OFFLINE), and huggingface_hub set up to go through our watched HTTP adapter.
The download itself, resumable and watched, is `app.core.model.download`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Protocol, TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from app.core.durable import write_atomic
from app.core.model.info import ModelError

log = logging.getLogger(__name__)

T = TypeVar("T")

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
_MANIFESTS = ".photoseek-hub"  # in cache_dir: listings of downloads that completed and verified


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
    return narrow(list_all(repo_id, revision, timeout_s), include, exclude)


# Listing ----------------------------------------------------------------------------------------


def list_all(repo_id: str, revision: str, timeout_s: float) -> RepoSnapshot:
    """Every file of the repository at `revision`, with sizes and hashes."""
    url = endpoint()
    if offline():
        raise HubOffline(offline_message(url, repo_id, "HF_HUB_OFFLINE is set"))
    prepare_library()
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        with http_backend():
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
        raise HubOffline(offline_message(url, repo_id, why_failed(e))) from e
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


def narrow(full: RepoSnapshot, include: Sequence[str], exclude: Sequence[str]) -> RepoSnapshot:
    files = select(full.files, include, exclude, key=lambda f: f.path)
    return RepoSnapshot(full.repo_id, full.commit, tuple(files))


def offline_message(url: str, repo_id: str, why: str) -> str:
    name = repo_id.rsplit("/", 1)[-1]
    return (
        f"Cannot reach the model hub at {url} ({why}): connect to the internet and try again, "
        f"or install a model folder you have: photoseek model install {name} --from FOLDER"
    )


def why_failed(e: BaseException) -> str:
    for cause in (e, e.__cause__, e.__context__):
        if isinstance(cause, requests.Timeout):
            return "no answer in time"
        if isinstance(cause, requests.ConnectionError):
            return "connection failed"
        if cause is not None and "offline mode" in str(cause).lower():
            return "HF_HUB_OFFLINE is set"
    return type(e).__name__


def check_relpath(path: str, repo_id: str) -> None:
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


def record_download(cache_dir: Path, full: RepoSnapshot, revision: str) -> None:
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


def recorded_download(cache_dir: Path, repo_id: str, revision: str) -> RepoSnapshot | None:
    try:
        data = json.loads(_manifest_path(cache_dir, repo_id, revision).read_text(encoding="utf-8"))
        files = tuple(HubFile(**f) for f in data["files"])
        return RepoSnapshot(data["repo_id"], data["commit"], files)
    except (OSError, ValueError, KeyError, TypeError):
        return None


# huggingface_hub set-up -------------------------------------------------------------------------


def prepare_library() -> None:
    """Make huggingface_hub agree with our settings now: it reads its environment variables
    once, at import, into `constants`, and reads those attributes at call time."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    from huggingface_hub import constants
    from huggingface_hub.utils.tqdm import disable_progress_bars, tqdm

    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.HF_HUB_DISABLE_XET = True  # plain HTTP(S) that the watchdog can see and stop
    constants.HF_HUB_ENABLE_HF_TRANSFER = False  # hf_transfer neither resumes nor can be watched
    constants.HF_HUB_OFFLINE = offline()
    disable_progress_bars("huggingface_hub.http_get")
    tqdm.monitor_interval = 0  # even a disabled bar would start tqdm's monitor thread


_backend_lock = threading.Lock()
_backend_users = 0


@contextmanager
def http_backend() -> Iterator[None]:
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


class Watcher(Protocol):
    """What a download running on this thread lets the adapter do (`download._Watch`)."""

    def check(self) -> None:
        """Raise if the download was aborted."""

    def opened(self, response: requests.Response) -> None:
        """Take over a streamed response's body, to count and stop it."""


class _WatchedAdapter(HTTPAdapter):
    """A plain adapter, except on a thread that runs one of our downloads: there it refuses new
    requests once aborted and hands each streamed body to the download's `Watcher`."""

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


_WATCHES: dict[int, Watcher] = {}


@contextmanager
def watching(watch: Watcher) -> Iterator[None]:
    """Route this thread's requests through `watch` while the block runs."""
    ident = threading.get_ident()
    _WATCHES[ident] = watch
    try:
        yield
    finally:
        _WATCHES.pop(ident, None)
