"""A local stand-in for the Hugging Face hub: enough of its protocol for huggingface_hub 0.36.

Serves in-memory repositories over plain HTTP on 127.0.0.1, the way `hf_hub_download` and
`HfApi.model_info(files_metadata=True)` talk to huggingface.co, with knobs for the faults a
real network has (a cut connection, a trickle, a hang, corrupt bytes). Use it as a context
manager and put `.endpoint` in HF_ENDPOINT:

    with HubServer({"immich-app/tiny": {"config.json": b"{}"}}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

Files = dict[str, bytes]

_TEXT_SUFFIXES = (".json", ".txt", ".md", ".gitattributes")


def default_lfs(path: str) -> bool:
    """Like the immich repositories: text files in git, everything else (weights) in LFS."""
    return not path.endswith(_TEXT_SUFFIXES)


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob: what the hub reports as blobId and ETag for git files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    oid = hashlib.sha256(data).hexdigest()
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode()
    )


def folder_files(folder: Path, prefix: str = "") -> Files:
    """Every file under `folder` as {prefix + relative posix path: bytes}, to serve a model folder."""
    return {
        prefix + p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class HubServer:
    """A threaded HTTP server on 127.0.0.1 (port 0) serving `repos` as hub repositories.

    Faults (each a public attribute, changeable while serving):
    - `cut_after[path] = n`: the next GET of `path` sends n body bytes and closes (once).
    - `hang_after[path] = n`: the next GET sends n body bytes, then nothing until close (once).
    - `trickle`: GETs of these paths send one byte every `trickle_interval` seconds.
    - `corrupt`: these paths are served with different bytes of the advertised size.
    - `throttle[path] = bytes_per_s`: GETs of `path` are sent no faster than that.
    `requests_log` records (method, path with query, headers) for every request, and
    `on_request(method, path)`, when set, runs before each one is answered.
    """

    def __init__(
        self,
        repos: Mapping[str, Files],
        lfs: Callable[[str], bool] | Collection[str] | None = None,
    ) -> None:
        if lfs is None:
            self._is_lfs: Callable[[str], bool] = default_lfs
        elif callable(lfs):
            self._is_lfs = lfs
        else:
            lfs_paths = frozenset(lfs)
            self._is_lfs = lfs_paths.__contains__
        self._lock = threading.Lock()
        self._heads: dict[str, str] = {}  # repo -> commit of "main"
        self._commits: dict[tuple[str, str], Files] = {}  # (repo, commit) -> files
        for repo_id, files in repos.items():
            self.set_files(repo_id, files)
        self.cut_after: dict[str, int] = {}
        self.hang_after: dict[str, int] = {}
        self.trickle: set[str] = set()
        self.trickle_interval = 2.0
        self.corrupt: set[str] = set()
        self.throttle: dict[str, int] = {}
        self.on_request: Callable[[str, str], None] | None = None
        self.requests_log: list[tuple[str, str, dict[str, str]]] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Repositories -------------------------------------------------------------------------------

    def set_files(self, repo_id: str, files: Mapping[str, bytes]) -> str:
        """Make `files` the new head commit of `repo_id` (old commits stay servable); its sha."""
        commit = secrets.token_hex(20)
        with self._lock:
            self._commits[(repo_id, commit)] = dict(files)
            self._heads[repo_id] = commit
        return commit

    def commit(self, repo_id: str) -> str:
        return self._heads[repo_id]

    def files(self, repo_id: str, commit: str | None = None) -> Files:
        return self._commits[(repo_id, commit or self._heads[repo_id])]

    def is_lfs(self, path: str) -> bool:
        return self._is_lfs(path)

    def gets(self, path_suffix: str) -> list[dict[str, str]]:
        """Headers of every GET whose URL path ends with `path_suffix`."""
        return [
            h
            for m, p, h in self.requests_log
            if m == "GET" and p.split("?")[0].endswith(path_suffix)
        ]

    def sibling(self, path: str, data: bytes) -> dict[str, Any]:
        if not self._is_lfs(path):
            return {"rfilename": path, "size": len(data), "blobId": git_blob_sha1(data)}
        pointer = lfs_pointer(data)
        return {
            "rfilename": path,
            "size": len(data),
            "blobId": git_blob_sha1(pointer),
            "lfs": {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": len(pointer),
            },
        }

    def _resolve(self, repo_id: str, revision: str) -> tuple[str, Files] | str:
        """(commit, files), or the X-Error-Code to answer with."""
        with self._lock:
            if repo_id not in self._heads:
                return "RepoNotFound"
            commit = self._heads[repo_id] if revision == "main" else revision
            files = self._commits.get((repo_id, commit))
        return (commit, files) if files is not None else "RevisionNotFound"

    # Serving ------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "use HubServer as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubServer:
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hubserver"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+?)(?:/revision/(?P<rev>[^/]+))?$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_hub: HubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read requests_log instead

    def do_HEAD(self) -> None:
        self._handle(body=False)

    def do_GET(self) -> None:
        self._handle(body=True)

    def _handle(self, *, body: bool) -> None:
        hub = self.server_hub
        hub.requests_log.append((self.command, self.path, dict(self.headers.items())))
        if hub.on_request is not None:
            hub.on_request(self.command, self.path)
        url_path = unquote(urlsplit(self.path).path)
        if m := _API.match(url_path):
            self._api(m["repo"], m["rev"] or "main", body=body)
        elif m := _RESOLVE.match(url_path):
            self._resolve(m["repo"], m["rev"], m["path"], body=body)
        else:
            self._error(404, "RepoNotFound", {})

    def _error(self, status: int, code: str, extra: dict[str, str]) -> None:
        payload = json.dumps({"error": code}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _api(self, repo_id: str, revision: str, *, body: bool) -> None:
        hub = self.server_hub
        found = hub._resolve(repo_id, revision)
        if isinstance(found, str):
            self._error(404, found, {})
            return
        commit, files = found
        info = {
            "id": repo_id,
            "modelId": repo_id,
            "sha": commit,
            "private": False,
            "siblings": [hub.sibling(p, d) for p, d in sorted(files.items())],
        }
        payload = json.dumps(info).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _resolve(self, repo_id: str, revision: str, path: str, *, body: bool) -> None:
        hub = self.server_hub
        found = hub._resolve(repo_id, revision)
        if isinstance(found, str):
            self._error(404, found, {})
            return
        commit, files = found
        if path not in files:
            self._error(404, "EntryNotFound", {"X-Repo-Commit": commit})
            return
        data = files[path]
        if path in hub.corrupt:
            data = bytes(b ^ 0x5A for b in data) if data else data
        size = len(data)
        start, end = 0, size - 1
        status = 200
        if (rng := self.headers.get("Range")) and (m := _RANGE.match(rng.strip())):
            start = int(m[1])
            end = min(int(m[2]), size - 1) if m[2] else size - 1
            if start >= size:
                self._error(416, "RangeNotSatisfiable", {"Content-Range": f"bytes */{size}"})
                return
            status = 206
        self.send_response(status)
        sib = hub.sibling(path, files[path])
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{sib["blobId"]}"')
        if "lfs" in sib:
            self.send_header("X-Linked-Etag", f'"{sib["lfs"]["sha256"]}"')
            self.send_header("X-Linked-Size", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if body:
            self._send_body(path, data[start : end + 1])

    def _send_body(self, path: str, data: bytes) -> None:
        hub = self.server_hub
        with hub._lock:
            cut = hub.cut_after.pop(path, None)
            hang = hub.hang_after.pop(path, None)
        try:
            if cut is not None:
                self.wfile.write(data[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            if hang is not None:
                self.wfile.write(data[:hang])
                self.wfile.flush()
                hub._stopping.wait()
                self.close_connection = True
                return
            if path in hub.trickle:
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    if hub._stopping.wait(hub.trickle_interval):
                        break
                self.close_connection = True
                return
            rate = hub.throttle.get(path)
            piece = 1 << 16 if rate is None else max(1, min(1 << 14, rate // 10))
            for chunk in _chunks(data, piece):
                self.wfile.write(chunk)
                if rate is not None:
                    self.wfile.flush()
                    if hub._stopping.wait(len(chunk) / rate):
                        break
        except OSError:  # the client went away (it was told to: cancel, stall)
            self.close_connection = True


def _chunks(data: bytes, n: int) -> Iterator[bytes]:
    for i in range(0, len(data), n):
        yield data[i : i + n]


def closed_port_endpoint() -> str:
    """An http endpoint on 127.0.0.1 where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
