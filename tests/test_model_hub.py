"""Installing models from the published catalog: the real huggingface_hub client against a local
hub (tests/hubserver.py, HF_ENDPOINT) serving the trained micro CLIP in the immich-app layout,
through `install_model` and the `photoseek model install` command as a user runs it."""

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

from app.core.durable import sha256_file
from app.core.jobs import JobCancelled
from app.core.library import Library, Query
from app.core.model import install as install_mod
from app.core.model.hub import HubIntegrityError, HubOffline, HubStalled
from app.core.model.info import MANIFEST, ModelError, is_ours, read_model_info
from app.core.model.install import install_model
from app.core.model.installed import DEFAULT_MODEL, active_model_name
from app.core.paths import Paths

ROOT = Path(__file__).resolve().parents[1]
REPO = f"immich-app/{DEFAULT_MODEL}"
BIG = "visual/model.onnx"
JUNK = {
    "README.md": b"# ViT-B-32__openai\nONNX exports for Immich.\n",
    ".gitattributes": b"*.onnx filter=lfs diff=lfs merge=lfs -text\n",
    "visual/model.armnn": b"armnn" * 1000,
    "textual/fp16/model.armnn": b"armnn16" * 1000,
    "visual/rknpu/rk3588/model.rknn": b"rknn" * 1000,
}


def published(model_dir: Path) -> dict[str, bytes]:
    """A model folder's files as its immich-app repository holds them (no manifest of ours)."""
    files = {
        p.relative_to(model_dir).as_posix(): p.read_bytes()
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and not is_ours(p.relative_to(model_dir)) and p.name != MANIFEST
    }
    return {**files, **JUNK}


@pytest.fixture
def server(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # conftest sets it for other tests
    with HubServer({REPO: published(tiny_model_dir)}) as s:
        monkeypatch.setenv("HF_ENDPOINT", s.endpoint)
        yield s


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.at(tmp_path / "home").ensure()


def nothing_installed(paths: Paths) -> bool:
    return [p.name for p in paths.models.iterdir()] == []


def test_install_from_the_hub_verifies_records_and_calibrates(
    server: HubServer, paths: Paths, tiny_model_dir: Path, tmp_path: Path
) -> None:
    reports: list[tuple[int, int, str]] = []
    target = install_model(paths, progress=lambda *r: reports.append(r))
    assert target == paths.models / DEFAULT_MODEL
    info = read_model_info(target)
    assert info.source == {
        "kind": "hub",
        "repo": REPO,
        "commit": server.commit(REPO),
        "endpoint": server.endpoint,
    }
    for rel, digest in info.files.items():
        assert sha256_file(target / rel) == digest
    assert sha256_file(target / BIG) == sha256_file(tiny_model_dir / BIG)
    assert not (target / "README.md").exists() and not (target / "visual" / "model.armnn").exists()
    assert not [g for g in server.requests_log if "armnn" in g[1] or "rknn" in g[1]]
    assert info.relevance_floor is not None and info.floor_calibration["n"] > 10
    assert active_model_name(paths) == DEFAULT_MODEL
    downloads = [(d, t) for d, t, what in reports if what.startswith("Download")]
    assert downloads[-1] == (downloads[-1][1], downloads[-1][1]) and downloads[-1][1] > 0
    assert [d for d, _ in downloads] == sorted(d for d, _ in downloads)
    assert any(what.startswith("Calibrating") for _, _, what in reports)

    # The installed model searches.
    import microclip
    import numpy as np

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i, (c, s) in enumerate(microclip.all_pairs() * 2):
        microclip.make_shape_image(c, s, 96, rng).save(photos / f"{i:02d}-{c}-{s}.jpg")
    with Library.open(paths, device="cpu") as lib:
        lib.add_folder(photos)
        lib.index()
        hits = lib.search(Query(text="a red circle", top_k=2)).hits
        assert hits and all("red-circle" in Path(h.path).name for h in hits)

    # Installing it again does not download again.
    before = len(server.requests_log)
    assert install_model(paths) == target
    assert len(server.requests_log) == before


def test_a_file_that_does_not_match_its_hash_installs_nothing(
    server: HubServer, paths: Paths
) -> None:
    server.corrupt.add(BIG)
    with pytest.raises(HubIntegrityError, match=BIG):
        install_model(paths, calibrate=False)
    assert nothing_installed(paths)


def test_cancel_installs_nothing_and_the_next_install_resumes(
    server: HubServer, paths: Paths
) -> None:
    server.hang_after[BIG] = 20_000
    cancel = threading.Event()
    server.on_request = lambda method, path: (
        threading.Timer(0.5, cancel.set).start() if BIG in path and method == "GET" else None
    )
    t0 = time.monotonic()
    with pytest.raises(JobCancelled):
        install_model(paths, should_cancel=cancel.is_set, calibrate=False)
    assert time.monotonic() - t0 < 10
    assert nothing_installed(paths)
    server.on_request = None
    install_model(paths, calibrate=False)
    rng = server.gets(BIG)[-1].get("Range")
    assert rng is not None and int(rng[6:].rstrip("-")) > 0  # resumed, not restarted
    assert (paths.models / DEFAULT_MODEL / MANIFEST).is_file()


def test_a_stalled_server_stops_in_bounded_time(
    server: HubServer, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(install_mod, "HUB_STALL_S", 2.0)
    server.trickle.add(BIG)
    t0 = time.monotonic()
    with pytest.raises(HubStalled) as err:
        install_model(paths, calibrate=False)
    assert time.monotonic() - t0 < 10
    assert "slow" in str(err.value).lower() or "stalled" in str(err.value).lower()
    assert nothing_installed(paths)


def test_offline_fails_at_once_and_says_what_to_do(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(HubOffline) as err:
        install_model(paths)
    assert "--from" in str(err.value)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint())
    with pytest.raises(HubOffline):
        install_model(paths, "nllb-clip-base-siglip__v1")
    assert time.monotonic() - t0 < 10
    assert nothing_installed(paths)


def test_a_repository_without_a_model_is_refused(paths: Paths, monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    files = {"config.json": b"{}", "visual/preprocess_cfg.json": b"{}", "README.md": b"x"}
    with HubServer({"immich-app/buffalo_l": files}) as s:
        monkeypatch.setenv("HF_ENDPOINT", s.endpoint)
        with pytest.raises(ModelError, match="does not hold an ONNX CLIP model"):
            install_model(paths, "buffalo_l", calibrate=False)
    assert nothing_installed(paths)


def test_cli_install_shows_progress_and_lists_the_model(server: HubServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSEEK_")}
    env["HF_ENDPOINT"] = server.endpoint

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "d"), *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    proc = cli("model", "install")
    assert proc.returncode == 0, proc.stderr
    assert f"Installed {DEFAULT_MODEL}" in proc.stdout
    assert "100.0%" in proc.stderr and "Traceback" not in proc.stderr
    listed = cli("model", "list")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(DEFAULT_MODEL))
    assert "active" in row

    env["HF_HUB_OFFLINE"] = "1"
    proc = cli("model", "install", "ViT-B-32-SigLIP2-256__webli")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
