"""The downloader against a real HTTP server on 127.0.0.1 (Range support, and knobs to cut
connections, ignore Range or fail), with the retry clock faked so backoff costs no time."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.core import download as dl
from app.core.download import (
    ChecksumError,
    DownloadCancelled,
    DownloadError,
    HTTPStatusError,
    OfflineError,
    download,
    fetch_text,
    parse_sha256,
)
from app.core.jobs import JobCancelled


class ArchiveServer:
    """Serves in-memory files over HTTP/1.0 with byte ranges; records every request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict[str, object]] = []
        self.cut_after: dict[str, int] = {}  # path -> bytes to send before hanging up, once
        self.fail: dict[str, list[int]] = {}  # path -> error statuses to answer first
        self.ignore_range = False
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path.lstrip('/')}"

    def hits(self, path: str) -> list[dict[str, object]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == "/" + path.lstrip("/")]

    def bytes_served(self, path: str) -> int:
        return sum(int(r["sent"]) for r in self.hits(path))  # type: ignore[call-overload]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        record: dict[str, object] = {"path": path, "range": h.headers.get("Range"), "sent": 0}
        with self.lock:
            self.requests.append(record)
            fails = self.fail.get(path)
            status = fails.pop(0) if fails else None
            cut = self.cut_after.pop(path, None)
        data = self.files.get(path)
        if status is not None or data is None:
            record["status"] = status or 404
            h.send_response(status or 404)
            h.send_header("Content-Length", "0")
            if status == 503:
                h.send_header("Retry-After", "1")
            h.end_headers()
            return
        start, code = 0, 200
        m = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range") or "")
        if m and not self.ignore_range:
            start, code = int(m.group(1)), 206
            if start >= len(data):
                record["status"] = 416
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
        body = data[start:]
        record["status"] = code
        h.send_response(code)
        h.send_header("Content-Length", str(len(body)))
        if code == 206:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if cut is not None:
            body = body[:cut]
        h.wfile.write(body)
        h.wfile.flush()
        record["sent"] = len(body)


@pytest.fixture
def server() -> Iterator[ArchiveServer]:
    s = ArchiveServer()
    yield s
    s.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry clock: records backoff delays instead of sleeping."""
    calls: list[float] = []
    monkeypatch.setattr(dl, "_sleep", lambda seconds, should_cancel: calls.append(seconds))
    return calls


@pytest.fixture
def blob() -> bytes:
    return bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: many 64 KiB chunks


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/model.tar"


def test_download_verifies_and_reports_progress(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    seen: list[tuple[int, int, str]] = []
    dest = download(
        server.url("m.tar"),
        tmp_path / "m.tar",
        expected_sha256=sha(blob),
        progress=lambda d, t, w: seen.append((d, t, w)),
    )
    assert dest.read_bytes() == blob
    assert not (tmp_path / "m.tar.part").exists()
    assert seen[-1][:2] == (len(blob), len(blob))
    assert all(t == len(blob) for _, t, _ in seen)
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)
    assert sleeps == []


def test_interrupted_download_resumes_on_next_call(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    server.cut_after["/m.tar"] = 300_000
    dest = tmp_path / "m.tar"
    with pytest.raises(DownloadError, match="resumes where it stopped"):
        download(server.url("m.tar"), dest, expected_sha256=sha(blob), retries=0)
    assert (tmp_path / "m.tar.part").stat().st_size == 300_000
    assert not dest.exists()

    download(server.url("m.tar"), dest, expected_sha256=sha(blob), retries=0)
    assert dest.read_bytes() == blob
    ranges = [r["range"] for r in server.hits("m.tar")]
    assert ranges == [None, "bytes=300000-"]
    assert server.bytes_served("m.tar") == len(blob)


def test_dropped_connection_is_retried_from_where_it_stopped(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    server.cut_after["/m.tar"] = 123_457
    download(server.url("m.tar"), tmp_path / "m.tar", expected_sha256=sha(blob), backoff=0.5)
    assert (tmp_path / "m.tar").read_bytes() == blob
    assert [r["range"] for r in server.hits("m.tar")] == [None, "bytes=123457-"]
    assert server.bytes_served("m.tar") == len(blob)
    assert sleeps == [0.5]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    server.ignore_range = True
    (tmp_path / "m.tar.part").write_bytes(b"\0" * 5000)  # would corrupt the file if appended to
    download(server.url("m.tar"), tmp_path / "m.tar", expected_sha256=sha(blob))
    assert (tmp_path / "m.tar").read_bytes() == blob
    assert [r["range"] for r in server.hits("m.tar")] == ["bytes=5000-"]


def test_complete_part_answered_416_is_not_downloaded_again(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    (tmp_path / "m.tar.part").write_bytes(blob)  # killed after the last byte, before the rename
    download(server.url("m.tar"), tmp_path / "m.tar", expected_sha256=sha(blob))
    assert (tmp_path / "m.tar").read_bytes() == blob
    assert [r["status"] for r in server.hits("m.tar")] == [416]
    assert server.bytes_served("m.tar") == 0


def test_oversized_part_answered_416_starts_over(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    (tmp_path / "m.tar.part").write_bytes(blob + b"junk")
    download(server.url("m.tar"), tmp_path / "m.tar", expected_sha256=sha(blob))
    assert (tmp_path / "m.tar").read_bytes() == blob
    assert [r["status"] for r in server.hits("m.tar")] == [416, 200]


def test_checksum_mismatch_deletes_the_partial_file(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    with pytest.raises(ChecksumError, match="SHA-256") as err:
        download(server.url("m.tar"), tmp_path / "m.tar", expected_sha256=sha(b"other"))
    assert server.url("m.tar") in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_fails_without_retries(server, tmp_path, sleeps):
    with pytest.raises(HTTPStatusError, match="HTTP 404") as err:
        download(server.url("nothing.tar"), tmp_path / "n.tar")
    assert err.value.status == 404
    assert len(server.hits("nothing.tar")) == 1
    assert sleeps == []


def test_server_errors_are_retried_with_backoff(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    server.fail["/m.tar"] = [503, 502]
    download(server.url("m.tar"), tmp_path / "m.tar", expected_sha256=sha(blob), backoff=0.25)
    assert (tmp_path / "m.tar").read_bytes() == blob
    assert [r["status"] for r in server.hits("m.tar")] == [503, 502, 200]
    assert sleeps == [1.0, 0.5]  # Retry-After: 1 beats the first 0.25 s backoff


def test_persistent_server_errors_give_up(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    server.fail["/m.tar"] = [500] * 10
    with pytest.raises(DownloadError, match="failed after 3 attempts"):
        download(server.url("m.tar"), tmp_path / "m.tar", retries=2, backoff=0.0)
    assert len(server.hits("m.tar")) == 3


@pytest.mark.parametrize("where", ["closed port", "unknown host"])
def test_unreachable_host_fails_at_once(where, tmp_path, sleeps):
    url = closed_port_url() if where == "closed port" else "http://nonexistent.invalid/m.tar"
    with pytest.raises(OfflineError, match="Can't reach") as err:
        download(url, tmp_path / "m.tar")
    assert url in str(err.value)
    assert sleeps == []  # no retry, no backoff: the user hears about it straight away
    assert not (tmp_path / "m.tar.part").exists()


def test_cancel_keeps_the_partial_file_for_the_next_call(server, tmp_path, blob, sleeps):
    server.files["/m.tar"] = blob
    checks = iter(range(1000))
    with pytest.raises(DownloadCancelled) as err:
        download(server.url("m.tar"), tmp_path / "m.tar", should_cancel=lambda: next(checks) >= 4)
    assert isinstance(err.value, JobCancelled)
    kept = (tmp_path / "m.tar.part").stat().st_size
    assert 0 < kept < len(blob)
    download(server.url("m.tar"), tmp_path / "m.tar", expected_sha256=sha(blob))
    assert (tmp_path / "m.tar").read_bytes() == blob
    assert server.hits("m.tar")[-1]["range"] == f"bytes={kept}-"


def test_fetch_text_and_sidecar_parsing(server):
    digest = sha(b"x")
    server.files["/m.tar.sha256"] = f"{digest}  m.tar\n".encode()
    text = fetch_text(server.url("m.tar.sha256"))
    assert text is not None
    assert parse_sha256(text, "sidecar") == digest
    assert parse_sha256(digest.upper(), "sidecar") == digest
    assert fetch_text(server.url("missing.sha256")) is None
    with pytest.raises(DownloadError, match="does not contain a SHA-256"):
        parse_sha256("<html>not found</html>", "sidecar")


def test_not_a_http_url_is_refused(tmp_path):
    with pytest.raises(DownloadError, match="not an http"):
        download("ftp://example.org/m.tar", tmp_path / "m.tar")


def test_already_downloaded_file_is_reused(server, tmp_path, blob):
    (tmp_path / "m.tar").write_bytes(blob)
    download(server.url("m.tar"), tmp_path / "m.tar", expected_sha256=sha(blob))
    assert server.hits("m.tar") == []


def test_part_path_is_next_to_the_destination(tmp_path: Path):
    assert dl.part_path(tmp_path / "a.tar") == tmp_path / "a.tar.part"
