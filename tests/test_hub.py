"""app.core.model.hub and .download with the real huggingface_hub against a local hub (tests/hubserver.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubserver import HubServer, closed_port_endpoint

from app.core.jobs import JobCancelled
from app.core.model import download as dl
from app.core.model import hub
from app.core.model.info import ModelError

REPO = "immich-app/ViT-Tiny__test"

WANTED = {
    "config.json": b'{"embed_dim": 8}',
    "visual/model.onnx": os.urandom(200_000),
    "visual/preprocess_cfg.json": b'{"size": [224, 224]}',
    "visual/Constant_123_attr__value": os.urandom(40_000),
    "visual/0b6a4c1e-8f0e-4e5b-9a43-2f7d3e5c1a90": os.urandom(30_000),
    "visual/weights/block.0.weight": os.urandom(20_000),  # nested external data
    "textual/model.onnx": os.urandom(120_000),
    "textual/model.onnx_data": os.urandom(60_000),
    "textual/tokenizer.json": b'{"model": {}}',
    "textual/tokenizer_config.json": b"{}",
    "textual/special_tokens_map.json": b"{}",
    "textual/vocab.json": b'{"a": 0}',
    "textual/merges.txt": b"#version: 0.2\n",
}
UNWANTED = {
    "README.md": b"# model card",
    ".gitattributes": b"*.onnx filter=lfs\n",
    "visual/model.armnn": b"armnn",
    "textual/model.rknn": b"rknn",
    "visual/rknpu/rk3588/model.rknn": b"rknn",
    "visual/fp16/model.onnx": b"fp16",
    "textual/fp16/model.onnx_data": b"fp16",
}
BIG = "visual/model.onnx"
TOTAL = sum(len(d) for d in WANTED.values())


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # conftest sets it for other tests
    with HubServer({REPO: {**WANTED, **UNWANTED}}) as s:
        monkeypatch.setenv("HF_ENDPOINT", s.endpoint)
        yield s


@pytest.fixture(autouse=True)
def no_download_thread_left() -> Iterator[None]:
    yield
    assert not [t for t in threading.enumerate() if t.name == "photoseek-hub-download"]


def download(tmp_path: Path, **kw: object) -> hub.RepoSnapshot:
    return dl.download_repo(REPO, tmp_path / "dest", cache_dir=tmp_path / "cache", **kw)  # type: ignore[arg-type]


def assert_installed(dest: Path, files: dict[str, bytes] = WANTED) -> None:
    got = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert got == set(files)
    for path, data in files.items():
        assert (dest / path).read_bytes() == data, path


def test_select_is_fnmatch_on_whole_paths() -> None:
    paths = ["config.json", "visual/a/b.weight", "visual/fp16/x", "README.md", "docs/README.md"]
    assert hub.select(paths, ("*",), ("README.md", "*/fp16/*")) == [
        "config.json",
        "visual/a/b.weight",
        "docs/README.md",
    ]
    files = [hub.HubFile("Visual/x", 1, None, "0" * 40), hub.HubFile("visual/x", 1, None, "1")]
    assert hub.select(files, ("visual/*",), (), key=lambda f: f.path) == files[1:]


def test_list_selects_model_files_with_hashes(server: HubServer) -> None:
    snap = hub.list_repo(REPO)
    assert snap.repo_id == REPO and snap.commit == server.commit(REPO)
    assert {f.path for f in snap.files} == set(WANTED)
    assert snap.total_size == TOTAL
    for f in snap.files:
        assert f.size == len(WANTED[f.path])
        if server.is_lfs(f.path):
            assert f.sha256 and len(f.sha256) == 64 and f.blob_id is None
        else:
            assert f.blob_id and len(f.blob_id) == 40 and f.sha256 is None
    everything = hub.list_repo(REPO, include=("*",), exclude=())
    assert {f.path for f in everything.files} == set(WANTED) | set(UNWANTED)


def test_download_verifies_every_file_and_pins_the_commit(
    server: HubServer, tmp_path: Path
) -> None:
    commit = server.commit(REPO)
    new_files = {path: os.urandom(len(data)) for path, data in WANTED.items()}

    def push_new_commit(method: str, path: str) -> None:
        if "/resolve/" in path and server.commit(REPO) == commit:  # changed after the listing
            server.set_files(REPO, new_files)

    server.on_request = push_new_commit
    snap = download(tmp_path)
    assert snap.commit == commit and server.commit(REPO) != commit
    assert_installed(tmp_path / "dest")
    resolves = [p for m, p, _ in server.requests_log if "/resolve/" in p]
    assert resolves and all(f"/resolve/{commit}/" in p for p in resolves)
    assert not [p for p in resolves if any(p.endswith(u) for u in UNWANTED)]


def test_resumes_after_a_cut_connection(server: HubServer, tmp_path: Path) -> None:
    server.cut_after[BIG] = 100_000
    download(tmp_path)
    assert_installed(tmp_path / "dest")
    ranges = [h.get("Range") for h in server.gets(BIG)]
    assert len(ranges) == 2 and ranges[0] is None
    assert ranges[1] is not None and ranges[1].startswith("bytes=")
    assert 0 < int(ranges[1][6:].rstrip("-")) <= 100_000


def test_rerun_resumes_from_the_cache_after_a_stall(server: HubServer, tmp_path: Path) -> None:
    server.hang_after[BIG] = 120_000  # then silence: as good as a killed process for the cache
    t0 = time.monotonic()
    with pytest.raises(hub.HubStalled, match=BIG):
        download(tmp_path, stall_s=1.0)
    assert time.monotonic() - t0 < 6
    reports: list[tuple[int, int, str]] = []
    server.throttle[BIG] = 200_000  # so that progress is reported while it resumes
    download(tmp_path, progress=lambda *r: reports.append(r))
    assert_installed(tmp_path / "dest")
    rng = server.gets(BIG)[-1].get("Range")
    assert rng is not None
    resumed = int(rng[6:].rstrip("-"))
    assert resumed >= 100_000
    before = sum(len(WANTED[p]) for p in sorted(WANTED) if p < BIG)
    during = [done for done, _, what in reports if BIG in what]
    assert during and during[0] >= before + resumed  # bytes from the cache count as done
    assert reports[-1][:2] == (TOTAL, TOTAL)


def test_rerun_resumes_after_the_process_was_killed(server: HubServer, tmp_path: Path) -> None:
    server.throttle[BIG] = 100_000
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from app.core.model import download as dl; "
         "dl.download_repo(sys.argv[1], Path(sys.argv[2]), cache_dir=Path(sys.argv[3]))",
         REPO, str(tmp_path / "dest"), str(tmp_path / "cache")],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "HF_ENDPOINT": server.endpoint},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not server.gets(BIG) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        time.sleep(0.8)  # about 80 kB of the big file arrive
    finally:
        child.kill()
        child.wait()
    assert server.gets(BIG), "the child never asked for the big file"
    server.throttle.clear()
    download(tmp_path)
    assert_installed(tmp_path / "dest")
    rng = server.gets(BIG)[-1].get("Range")
    assert rng is not None and int(rng[6:].rstrip("-")) > 0


def test_corrupt_file_is_refused_and_fetched_afresh_next_time(
    server: HubServer, tmp_path: Path
) -> None:
    server.corrupt.add("textual/model.onnx")
    with pytest.raises(hub.HubIntegrityError, match=r"textual/model.onnx"):
        download(tmp_path)
    assert not (tmp_path / "dest" / "textual/model.onnx").exists()
    server.corrupt.clear()
    download(tmp_path)
    assert_installed(tmp_path / "dest")
    assert len(server.gets("textual/model.onnx")) == 2


def test_corrupt_git_file_is_refused(server: HubServer, tmp_path: Path) -> None:
    server.corrupt.add("textual/vocab.json")
    with pytest.raises(hub.HubIntegrityError, match=r"textual/vocab.json"):
        download(tmp_path)


def test_trickling_server_stalls_in_bounded_time(server: HubServer, tmp_path: Path) -> None:
    server.trickle.add(BIG)
    t0 = time.monotonic()
    with pytest.raises(hub.HubStalled) as info:
        download(tmp_path, stall_s=2.0, min_rate=1024.0)
    assert time.monotonic() - t0 < 8
    assert isinstance(info.value, ModelError) and BIG in str(info.value)


def test_deadline_stops_a_slow_download(server: HubServer, tmp_path: Path) -> None:
    server.trickle.add(BIG)
    t0 = time.monotonic()
    with pytest.raises(hub.HubStalled, match="took over"):
        download(tmp_path, deadline_s=1.0, stall_s=60.0)
    assert time.monotonic() - t0 < 4


def test_cancel_stops_within_a_second(server: HubServer, tmp_path: Path) -> None:
    server.hang_after[BIG] = 50_000
    cancel = threading.Event()
    asked: list[float] = []

    def ask_soon(method: str, path: str) -> None:  # once the big file is on its way
        if method == "GET" and path.endswith(BIG):
            threading.Timer(0.3, lambda: (asked.append(time.monotonic()), cancel.set())).start()

    server.on_request = ask_soon
    with pytest.raises(dl.DownloadCancelled) as info:
        download(tmp_path, should_cancel=cancel.is_set)
    assert asked and time.monotonic() - asked[0] < 1.0
    assert isinstance(info.value, JobCancelled)


@pytest.mark.parametrize("call", ["list", "download"])
def test_offline_mode_fails_fast(
    server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(hub.HubOffline) as info:
        hub.list_repo(REPO) if call == "list" else download(tmp_path)
    assert time.monotonic() - t0 < 1
    message = str(info.value)
    assert server.endpoint in message and "--from FOLDER" in message and "\n" not in message
    assert server.requests_log == []


@pytest.mark.parametrize("call", ["list", "download"])
def test_unreachable_endpoint_fails_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    url = closed_port_endpoint()
    monkeypatch.setenv("HF_ENDPOINT", url)
    t0 = time.monotonic()
    with pytest.raises(hub.HubOffline, match=url.replace(".", r"\.")):
        hub.list_repo(REPO) if call == "list" else download(tmp_path)
    assert time.monotonic() - t0 < 3


def test_offline_mode_installs_a_verified_cached_snapshot(
    server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = download(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    served = len(server.requests_log)
    again = dl.download_repo(REPO, tmp_path / "dest2", cache_dir=tmp_path / "cache")
    assert again == first and len(server.requests_log) == served
    assert_installed(tmp_path / "dest2")
    for blob in (tmp_path / "cache").glob("models--*/blobs/*"):
        blob.unlink()  # the record of a complete download is no longer true
    with pytest.raises(hub.HubOffline, match="--from FOLDER"):
        dl.download_repo(REPO, tmp_path / "dest3", cache_dir=tmp_path / "cache")
    assert len(server.requests_log) == served


def test_unknown_repo_and_revision(server: HubServer, tmp_path: Path) -> None:
    with pytest.raises(hub.HubNotFound, match="immich-app/nope"):
        hub.list_repo("immich-app/nope")
    with pytest.raises(hub.HubNotFound, match="v9"):
        hub.list_repo(REPO, revision="v9")
    with pytest.raises(hub.HubNotFound):
        dl.download_repo("immich-app/nope", tmp_path / "d", cache_dir=tmp_path / "c")


def test_progress_is_monotonic_sparse_and_ends_at_total(server: HubServer, tmp_path: Path) -> None:
    server.cut_after[BIG] = 60_000
    server.throttle[BIG] = 250_000
    reports: list[tuple[float, int, int, str]] = []
    t0 = time.monotonic()
    download(tmp_path, progress=lambda d, t, w: reports.append((time.monotonic(), d, t, w)))
    elapsed = time.monotonic() - t0
    done = [d for _, d, _, _ in reports]
    assert done == sorted(done) and done[-1] == TOTAL
    assert {t for _, _, t, _ in reports} == {TOTAL}
    assert 3 <= len(reports) <= 10 * elapsed + 2
    assert all(REPO in w for *_, w in reports)


def test_library_left_as_we_want_it(server: HubServer) -> None:
    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    hub.list_repo(REPO)
    assert constants.HF_HUB_DISABLE_XET and constants.HF_HUB_DISABLE_TELEMETRY
    assert os.environ["HF_HUB_DISABLE_XET"] and os.environ["HF_HUB_DISABLE_TELEMETRY"]
    assert _http._GLOBAL_BACKEND_FACTORY is _http._default_backend_factory  # restored
