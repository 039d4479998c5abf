"""Installing a model from a folder, an archive or a real local HTTP server, and finding it again.

The model folders here hold random bytes with a correct model.json: the installer verifies
SHA-256 hashes, not ONNX graphs, so no exporter is needed."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_download import ArchiveServer, closed_port_url

from app.core import download as dl
from app.core.download import ChecksumError, DownloadCancelled, OfflineError
from app.core.install import install_model, package_model
from app.core.modelinfo import (
    ModelError,
    ModelInfo,
    make_model_id,
    read_model_info,
    sha256_file,
    verify_model_dir,
    write_model_info,
)
from app.core.models import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    archive_url,
    installed_models,
    resolve_model_dir,
    set_active_model,
    update_settings,
)
from app.core.paths import Paths

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = f"{DEFAULT_MODEL}.tar"


def make_model_folder(folder: Path, seed: int = 0, arch: str = "ViT-B-32") -> Path:
    """A small model folder: random 'graphs' and tokenizer, and a model.json with their hashes."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    sizes = {"image.onnx": 300_000, "text.onnx": 200_000, "tokenizer/bpe.txt.gz": 20_000}
    for rel, size in sizes.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(rng.randbytes(size))
    files = {rel: sha256_file(folder / rel) for rel in sizes}
    info = ModelInfo(
        model_id=make_model_id(arch, "openai", files),
        arch=arch,
        pretrained="openai",
        embed_dim=512,
        image_size=224,
        mean=(0.48145466, 0.4578275, 0.40821073),
        std=(0.26862954, 0.26130258, 0.27577711),
        interpolation="bicubic",
        resize_mode="shortest",
        context_length=77,
        tokenizer={"kind": "clip-bpe", "file": "tokenizer/bpe.txt.gz"},
        files=files,
    )
    write_model_info(folder, info)
    return folder


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its hash: a model folder's exact state."""
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(paths: Paths) -> list[str]:
    """Anything in the models folder or the download cache that is not an installed model."""
    names = [p.name for p in paths.models.iterdir() if not (p / "model.json").is_file()]
    downloads = paths.cache / "downloads"
    if downloads.is_dir():
        names += [p.name for p in downloads.iterdir()]
    return names


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    for var in ("PHOTOSEEK_MODEL_URL", "PHOTOSEEK_MODEL_BASE_URL", "PHOTOSEEK_HOME"):
        monkeypatch.delenv(var, raising=False)
    return Paths.at(tmp_path / "home").ensure()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model_folder(tmp_path / "src" / DEFAULT_MODEL)


@pytest.fixture
def server(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArchiveServer]:
    s = ArchiveServer()  # after `paths`, which clears the model URL variables
    monkeypatch.setenv("PHOTOSEEK_MODEL_BASE_URL", s.url("v1"))
    yield s
    s.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    calls: list[float] = []
    monkeypatch.setattr(dl, "_sleep", lambda seconds, should_cancel: calls.append(seconds))
    return calls


def publish(server: ArchiveServer, model: Path, tmp_path: Path, *, name: str = ARCHIVE) -> bytes:
    archive = tmp_path / "publish" / name
    archive.parent.mkdir(exist_ok=True)
    package_model(model, archive)
    server.files[f"/v1/{name}"] = archive.read_bytes()
    server.files[f"/v1/{name}.sha256"] = (archive.parent / f"{name}.sha256").read_bytes()
    return archive.read_bytes()


def test_download_installs_and_resolves(server, paths, model, tmp_path, sleeps):
    publish(server, model, tmp_path)
    seen: list[str] = []
    target = install_model(paths, method="download", progress=lambda d, t, w: seen.append(w))
    assert target == paths.models / DEFAULT_MODEL
    assert tree(target) == tree(model)
    assert resolve_model_dir(paths) == target
    assert verify_model_dir(target).model_id == read_model_info(model).model_id
    assert [i.model_id for i in installed_models(paths)] == [read_model_info(model).model_id]
    assert f"Downloading {DEFAULT_MODEL}" in seen
    assert leftovers(paths) == []  # no staging folder, and the archive is not kept
    assert json.loads(paths.settings_file.read_text())["active_model"] == DEFAULT_MODEL


@pytest.mark.export
def test_export_extra_without_the_hub_falls_back_to_download(
    server, paths, model, tmp_path, sleeps, caplog
):
    """The real exporter runs (torch, open_clip) but HF_HUB_OFFLINE=1 keeps the weights away."""
    publish(server, model, tmp_path)
    seen: list[str] = []
    with caplog.at_level(logging.INFO, logger="app.core.install"):
        target = install_model(paths, progress=lambda d, t, w: seen.append(w))
    assert seen[0] == f"Exporting {DEFAULT_MODEL}"
    assert f"Downloading {DEFAULT_MODEL}" in seen
    assert "downloading it instead" in caplog.text
    assert tree(target) == tree(model)
    assert leftovers(paths) == []


def test_unreachable_hub_skips_the_export(server, paths, model, tmp_path, monkeypatch, sleeps):
    """Without HF offline mode, an unreachable hub would cost ~50 s of huggingface_hub retries."""
    publish(server, model, tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    seen: list[str] = []
    target = install_model(paths, progress=lambda d, t, w: seen.append(w))
    assert f"Exporting {DEFAULT_MODEL}" not in seen
    assert f"Downloading {DEFAULT_MODEL}" in seen
    assert tree(target) == tree(model)


@pytest.mark.export
def test_real_exported_model_round_trip(server, paths, tmp_path, tiny_model_dir, sleeps):
    """The exporter's own folder packs, downloads, installs and runs under onnxruntime."""
    import numpy as np
    import onnxruntime as ort

    archive = tmp_path / "tiny.tar"
    package_model(tiny_model_dir, archive)
    server.files["/tiny.tar"] = archive.read_bytes()
    server.files["/tiny.tar.sha256"] = (tmp_path / "tiny.tar.sha256").read_bytes()
    target = install_model(paths, "micro-clip", source=server.url("tiny.tar"))
    assert resolve_model_dir(paths, "micro-clip") == target
    info = verify_model_dir(target)
    assert info.model_id == read_model_info(tiny_model_dir).model_id
    session = ort.InferenceSession(
        str(target / info.image_model), providers=["CPUExecutionProvider"]
    )
    pixels = np.zeros((2, 3, info.image_size, info.image_size), np.float32)
    (out,) = session.run(None, {"pixels": pixels})
    assert out.shape == (2, info.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-4)


def test_already_installed_returns_at_once(server, paths, model, tmp_path, sleeps):
    publish(server, model, tmp_path)
    install_model(paths, method="download")
    before = len(server.requests)
    seen: list[str] = []
    assert (
        install_model(paths, method="download", progress=lambda d, t, w: seen.append(w))
        == paths.models / DEFAULT_MODEL
    )
    assert len(server.requests) == before
    assert seen == ["Already installed"]


def test_corrupted_archive_is_rejected(server, paths, model, tmp_path, sleeps):
    data = bytearray(publish(server, model, tmp_path))
    data[len(data) // 2] ^= 0xFF
    server.files[f"/v1/{ARCHIVE}"] = bytes(data)
    with pytest.raises(ChecksumError, match="corrupt"):
        install_model(paths, method="download")
    assert list(paths.models.iterdir()) == []
    assert leftovers(paths) == []
    with pytest.raises(ModelError, match="not installed"):
        resolve_model_dir(paths)


def test_wrong_sidecar_hash_is_rejected(server, paths, model, tmp_path, sleeps):
    publish(server, model, tmp_path)
    server.files[f"/v1/{ARCHIVE}.sha256"] = f"{'0' * 64}  {ARCHIVE}\n".encode()
    with pytest.raises(ChecksumError):
        install_model(paths, method="download")
    assert list(paths.models.iterdir()) == []
    assert leftovers(paths) == []


def test_missing_sidecar_refuses_an_unverifiable_download(server, paths, model, tmp_path):
    publish(server, model, tmp_path)
    del server.files[f"/v1/{ARCHIVE}.sha256"]
    with pytest.raises(ModelError, match="can't be verified"):
        install_model(paths, method="download")
    assert server.hits(f"v1/{ARCHIVE}") == []
    assert list(paths.models.iterdir()) == []


def test_damaged_file_inside_an_unhashed_archive_is_rejected(server, paths, model, tmp_path):
    data = bytearray(publish(server, model, tmp_path))
    data[len(data) // 2] ^= 0xFF  # lands inside image.onnx's bytes: the tar still reads
    server.files["/other/m.tar"] = bytes(data)  # --from URL with no sidecar
    with pytest.raises(ModelError, match="damaged: image.onnx"):
        install_model(paths, source=server.url("other/m.tar"))
    assert list(paths.models.iterdir()) == []
    assert leftovers(paths) == []


def test_interrupted_download_resumes(server, paths, model, tmp_path, sleeps):
    size = len(publish(server, model, tmp_path))
    server.cut_after[f"/v1/{ARCHIVE}"] = 200_000
    during: set[str] = set()

    def watch(done: int, total: int, what: str) -> None:
        if what.startswith("Downloading"):
            during.update(p.name for p in paths.models.iterdir())

    install_model(paths, method="download", progress=watch)
    assert during == set()  # nothing in the models folder while downloading: a kill leaves none
    assert tree(paths.models / DEFAULT_MODEL) == tree(model)
    assert [r["range"] for r in server.hits(f"v1/{ARCHIVE}")] == [None, "bytes=200000-"]
    assert server.bytes_served(f"v1/{ARCHIVE}") == size  # resumed, not downloaded twice
    assert leftovers(paths) == []


def test_cancel_mid_download_installs_nothing_and_resumes_later(
    server, paths, model, tmp_path, sleeps
):
    size = len(publish(server, model, tmp_path))
    checks = iter(range(1000))
    with pytest.raises(DownloadCancelled):
        install_model(paths, method="download", should_cancel=lambda: next(checks) >= 3)
    assert list(paths.models.iterdir()) == []
    (part,) = (paths.cache / "downloads").iterdir()
    kept = part.stat().st_size
    assert part.name.endswith(".part") and 0 < kept < size

    install_model(paths, method="download")
    assert tree(paths.models / DEFAULT_MODEL) == tree(model)
    resumed = server.hits(f"v1/{ARCHIVE}")[-1]
    assert resumed["range"] == f"bytes={kept}-"
    assert resumed["sent"] == size - kept
    assert leftovers(paths) == []


@pytest.mark.parametrize("where", ["closed port", "unknown host"])
def test_offline_fails_at_once_and_points_at_from(where, paths, monkeypatch, sleeps):
    url = closed_port_url() if where == "closed port" else "http://nonexistent.invalid/ViT.tar"
    monkeypatch.setenv("PHOTOSEEK_MODEL_URL", url)
    with pytest.raises(OfflineError) as err:
        install_model(paths, method="download")
    message = str(err.value)
    assert url in message
    assert f"photoseek model install --from /path/to/{DEFAULT_MODEL}" in message
    assert sleeps == []  # no retries, no backoff
    assert list(paths.models.iterdir()) == []


def test_offline_source_url_fails_at_once(paths, sleeps):
    url = closed_port_url()
    with pytest.raises(OfflineError, match="--from"):
        install_model(paths, "mine", source=url)
    assert sleeps == []
    assert list(paths.models.iterdir()) == []


def test_install_from_a_local_folder_leaves_it_untouched(paths, model):
    before = tree(model)
    target = install_model(paths, source=str(model))
    assert tree(target) == before
    assert tree(model) == before
    assert resolve_model_dir(paths) == target


def test_damaged_local_folder_is_rejected_naming_the_file(paths, model):
    with open(model / "text.onnx", "r+b") as f:
        f.write(b"XX")
    with pytest.raises(ModelError, match=r"text\.onnx does not match the SHA-256"):
        install_model(paths, source=str(model))
    assert list(paths.models.iterdir()) == []


def test_folder_without_model_json_is_rejected(paths, tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(ModelError, match="not a model folder"):
        install_model(paths, source=str(tmp_path / "photos"))
    with pytest.raises(ModelError, match="no such folder or file"):
        install_model(paths, source=str(tmp_path / "nowhere"))


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".zip"])
def test_install_from_a_local_archive(paths, model, tmp_path, suffix):
    archive = tmp_path / f"model{suffix}"
    digest = package_model(model, archive)
    assert digest == sha256_file(archive)
    assert package_model(model, tmp_path / f"again{suffix}") == digest  # reproducible
    target = install_model(paths, source=str(archive))
    assert tree(target) == tree(model)
    assert leftovers(paths) == []


def test_force_replaces_only_when_the_new_model_is_complete(paths, model, tmp_path):
    install_model(paths, source=str(model))
    old = tree(paths.models / DEFAULT_MODEL)
    newer = make_model_folder(tmp_path / "newer" / DEFAULT_MODEL, seed=1)
    bad = tmp_path / "bad.tar"
    package_model(newer, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))

    with pytest.raises(ModelError, match="damaged"):
        install_model(paths, source=str(bad), force=True)
    assert tree(paths.models / DEFAULT_MODEL) == old
    assert leftovers(paths) == []

    assert install_model(paths, source=str(newer)) == paths.models / DEFAULT_MODEL
    assert tree(paths.models / DEFAULT_MODEL) == old  # not forced: kept

    install_model(paths, source=str(newer), force=True)
    assert tree(paths.models / DEFAULT_MODEL) == tree(newer)
    assert leftovers(paths) == []


def _tar_with(member: tarfile.TarInfo, payload: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ok = tarfile.TarInfo("m/model.json")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"{}"))
        tf.addfile(member, io.BytesIO(payload) if payload else None)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 4) -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type = kind
    if kind == tarfile.REGTYPE:
        m.size = size
    else:
        m.linkname = "/etc/passwd"
    return m


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("m/../../evil.txt"), "outside the model folder"),
        (_member("../evil.txt"), "outside the model folder"),
        (_member("/tmp/evil.txt"), "absolute"),
        (_member("m/link", tarfile.SYMTYPE), "link"),
        (_member("m/hard", tarfile.LNKTYPE), "link"),
    ],
    ids=["dotdot", "parent", "absolute", "symlink", "hardlink"],
)
def test_unsafe_tar_archives_are_rejected(paths, tmp_path, member, reason):
    archive = tmp_path / "evil.tar"
    archive.write_bytes(_tar_with(member, b"evil" if member.isfile() else b""))
    with pytest.raises(ModelError, match=reason):
        install_model(paths, source=str(archive))
    assert list(paths.models.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()
    assert not list(paths.data.rglob("evil.txt"))


def test_unsafe_zip_is_rejected(paths, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("m/model.json", "{}")
        zf.writestr("../evil.txt", "evil")
    with pytest.raises(ModelError, match="outside the model folder"):
        install_model(paths, source=str(archive))
    assert list(paths.models.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_archive_bomb_is_refused_before_unpacking(paths, tmp_path, monkeypatch):
    from app.core import install

    monkeypatch.setattr(install, "MAX_EXTRACT_BYTES", 1000)
    archive = tmp_path / "big.tar"
    archive.write_bytes(_tar_with(_member("m/big.bin", size=2000), b"x" * 2000))
    with pytest.raises(ModelError, match="far more than a model"):
        install_model(paths, source=str(archive))
    assert list(paths.models.iterdir()) == []


def test_not_an_archive_is_rejected(paths, tmp_path):
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff" + os.urandom(2000))
    with pytest.raises(ModelError, match="not a model archive"):
        install_model(paths, source=str(junk))
    assert list(paths.models.iterdir()) == []


def test_registry_download_must_hold_the_named_model(server, paths, tmp_path, sleeps):
    publish(server, make_model_folder(tmp_path / "b16", arch="ViT-B-16"), tmp_path)
    with pytest.raises(ModelError, match="holds ViT-B-16"):
        install_model(paths, method="download")
    assert list(paths.models.iterdir()) == []


def test_unknown_and_invalid_names(paths, model):
    with pytest.raises(ModelError, match="Unknown model 'ViT-H-99'"):
        install_model(paths, "ViT-H-99")
    with pytest.raises(ModelError, match="not a valid model name"):
        install_model(paths, "../escape", source=str(model))
    assert list(paths.models.iterdir()) == []


def test_resolve_without_a_model_says_how_to_install(paths):
    with pytest.raises(ModelError) as err:
        resolve_model_dir(paths)
    assert "photoseek model install" in str(err.value)
    assert "--from FOLDER" in str(err.value)


def test_active_model_choice(paths, model, tmp_path):
    other = make_model_folder(tmp_path / "o" / "other", seed=2, arch="ViT-B-16")
    install_model(paths, "mine", source=str(model))
    install_model(paths, "other", source=str(other))
    assert resolve_model_dir(paths) == paths.models / "mine"  # the first install is active
    set_active_model(paths, "other")
    assert resolve_model_dir(paths) == paths.models / "other"
    assert resolve_model_dir(paths, "mine") == paths.models / "mine"
    assert [i.arch for i in installed_models(paths)] == ["ViT-B-32", "ViT-B-16"]
    with pytest.raises(ModelError, match="not installed"):
        set_active_model(paths, "ViT-B-16-openai")
    with pytest.raises(ModelError, match="Installed: mine, other"):
        resolve_model_dir(paths, "ViT-B-16-openai")


def test_interrupted_replace_is_recovered(paths, model):
    target = install_model(paths, source=str(model))
    before = tree(target)
    os.replace(target, paths.models / f".old@{DEFAULT_MODEL}")  # killed between the two renames
    assert resolve_model_dir(paths) == target
    assert tree(target) == before


def test_archive_url_configuration(paths, monkeypatch):
    assert archive_url(paths, "X") == f"{DEFAULT_BASE_URL}/X.tar"
    update_settings(paths, {"model_base_url": "https://mirror.example/m/"})
    assert archive_url(paths, "X") == "https://mirror.example/m/X.tar"
    monkeypatch.setenv("PHOTOSEEK_MODEL_BASE_URL", "http://lan/models")
    assert archive_url(paths, "X") == "http://lan/models/X.tar"
    monkeypatch.setenv("PHOTOSEEK_MODEL_URL", "http://lan/{name}.tar.gz")
    assert archive_url(paths, "X") == "http://lan/X.tar.gz"


def test_cli_install_from_folder(tmp_path, model):
    data = tmp_path / "cli"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSEEK_")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--data-dir",
            str(data),
            "model",
            "install",
            "--from",
            str(model),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    target = Paths.at(data).models / DEFAULT_MODEL
    assert f"Installed {DEFAULT_MODEL} in {target}" in run.stdout
    assert tree(target) == tree(model)

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--data-dir",
            str(data),
            "model",
            "install",
            "x",
            "--from",
            str(tmp_path / "missing"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "no such folder or file" in run.stderr
    assert "Traceback" not in run.stderr


def test_package_model_refuses_a_damaged_folder(model, tmp_path):
    (model / "image.onnx").write_bytes(b"changed")
    with pytest.raises(ModelError, match="corrupt"):
        package_model(model, tmp_path / "out.tar")
    assert not (tmp_path / "out.tar").exists()
