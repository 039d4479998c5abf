"""Installing a model from a folder (ours, PhotoSeek 0.1's, or an immich-app repository's files)
or an archive, converting models installed by 0.1, and choosing, finding and removing models.

The model folders here hold random bytes for graphs with real config files: the installer
verifies hashes and reads configs, it does not run graphs (calibrate=False). Downloads from the
hub are tested in test_model_hub.py against a local hub server."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from app.core.durable import sha256_file, write_json_atomic
from app.core.model.info import (
    MANIFEST,
    Manifest,
    ModelError,
    core_files,
    hash_files,
    is_ours,
    make_model_id,
    read_manifest,
    read_model_info,
    write_manifest,
)
from app.core.model.install import install_model, package_model
from app.core.model.installed import (
    DEFAULT_MODEL,
    SETTING_ACTIVE,
    installed_models,
    migrate_installed,
    read_settings,
    remove_model,
    resolve_model_dir,
    set_active_model,
)
from app.core.model.migrate import convert_legacy
from app.core.paths import Paths

REPO = Path(__file__).resolve().parents[1]
MERGES = "#version: 0.2\n" + "\n".join(f"a{i} b{i}" for i in range(48894)) + "\n"


def make_published(folder: Path, seed: int = 0, junk: bool = False) -> Path:
    """The files of an immich-app repository (CLIP family), graphs as random bytes."""
    rng = random.Random(seed)
    (folder / "visual").mkdir(parents=True)
    (folder / "textual").mkdir()
    (folder / "visual" / "model.onnx").write_bytes(rng.randbytes(300_000))
    (folder / "textual" / "model.onnx").write_bytes(rng.randbytes(200_000))
    (folder / "textual" / "merges.txt").write_text(MERGES, encoding="utf-8")
    write_json_atomic(folder / "config.json", {"embed_dim": 512, "vision_cfg": {"image_size": 224},
                                        "text_cfg": {"context_length": 77}})  # fmt: skip
    write_json_atomic(folder / "visual" / "preprocess_cfg.json",
               {"size": [224, 224], "mean": [0.48145466, 0.4578275, 0.40821073],
                "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic",
                "resize_mode": "shortest"})  # fmt: skip
    if junk:  # what a repository also holds and we never want
        (folder / "README.md").write_text("# model")
        (folder / "visual" / "model.armnn").write_bytes(b"arm")
        (folder / "textual" / "fp16").mkdir()
        (folder / "textual" / "fp16" / "model.armnn").write_bytes(b"arm16")
    return folder


def make_model_folder(folder: Path, seed: int = 0) -> Path:
    """An installed-style model folder: the published files plus photoseek.json."""
    make_published(folder, seed)
    hashes = hash_files(folder)
    write_manifest(folder, Manifest(
        model_id=make_model_id("ViT-B-32", "openai", {k: hashes[k] for k in core_files(folder)}),
        files=hashes, name=folder.name, arch="ViT-B-32", pretrained="openai",
        source={"kind": "export"}))  # fmt: skip
    return folder


def make_legacy_folder(folder: Path, seed: int = 0) -> Path:
    """A model as PhotoSeek 0.1 installed it: image.onnx, text.onnx, the gzipped BPE list and
    model.json (format 1)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    (folder / "image.onnx").write_bytes(rng.randbytes(300_000))
    (folder / "text.onnx").write_bytes(rng.randbytes(200_000))
    (folder / "image.int8.onnx").write_bytes(rng.randbytes(100_000))
    (folder / "text.int8.onnx").write_bytes(rng.randbytes(70_000))
    with gzip.open(folder / "bpe_simple_vocab_16e6.txt.gz", "wt", encoding="utf-8") as f:
        f.write('"bpe_simple_vocab_16e6.txt#version: 0.2\n' + MERGES.split("\n", 1)[1])
    files = {p.name: sha256_file(p) for p in folder.iterdir()}
    legacy = {
        "model_id": "ViT-B-32-openai-0123456789ab", "arch": "ViT-B-32", "pretrained": "openai",
        "embed_dim": 512, "image_size": 224, "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic",
        "resize_mode": "shortest", "context_length": 77,
        "tokenizer": {"kind": "clip-bpe", "file": "bpe_simple_vocab_16e6.txt.gz",
                      "clean": "lower"},
        "image_model": "image.onnx", "text_model": "text.onnx", "files": files,
        "variants": {"int8": {"image_model": "image.int8.onnx", "text_model": "text.int8.onnx",
                              "cosine_to_fp32": {"image": 0.999, "text": 0.998}}},
        "logit_scale": 100.0, "relevance_floor": None, "random_init": False,
        "exported_with": {"opset": 17}, "format": 1,
    }  # fmt: skip
    (folder / "model.json").write_text(json.dumps(legacy))
    return folder


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its hash: a folder's exact state."""
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not is_ours(p.relative_to(folder))
    }


def same_model(a: Path, b: Path) -> bool:
    """The same files and model id (the manifests differ in where the model came from)."""
    files = {k: v for k, v in tree(a).items() if k != MANIFEST}
    return files == {k: v for k, v in tree(b).items() if k != MANIFEST} and (
        read_manifest(a).model_id == read_manifest(b).model_id
    )


def leftovers(paths: Paths) -> list[str]:
    """Anything in the models folder that is not an installed model."""
    return [p.name for p in paths.models.iterdir() if not (p / MANIFEST).is_file()]


def install(paths: Paths, name: str | None = None, **kw: object) -> Path:
    return install_model(paths, name, calibrate=False, **kw)  # type: ignore[arg-type]


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.delenv("PHOTOSEEK_HOME", raising=False)
    return Paths.at(tmp_path / "home").ensure()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model_folder(tmp_path / "src" / DEFAULT_MODEL)


# --- from a folder ------------------------------------------------------------------------------


def test_install_from_a_local_folder_leaves_it_untouched(paths, model):
    before = tree(model)
    target = install(paths, source=str(model))
    assert target == paths.models / DEFAULT_MODEL
    assert tree(model) == before
    assert {k: v for k, v in tree(target).items() if k != MANIFEST} == {
        k: v for k, v in before.items() if k != MANIFEST
    }
    info = read_model_info(target)
    assert (info.name, info.family, info.embed_dim, info.image_size) == (
        DEFAULT_MODEL,
        "clip",
        512,
        224,
    )
    assert info.source["installed_from"] == str(model)
    assert read_settings(paths)[SETTING_ACTIVE] == DEFAULT_MODEL  # the first one is active
    assert leftovers(paths) == []


def test_damaged_local_folder_is_rejected_naming_the_file(paths, model):
    (model / "visual" / "model.onnx").write_bytes(b"changed")
    with pytest.raises(ModelError, match=r"visual/model.onnx"):
        install(paths, source=str(model))
    assert list(paths.models.iterdir()) == []


def test_folder_that_is_no_model_is_rejected(paths, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ModelError, match="not a model folder"):
        install(paths, source=str(photos))
    with pytest.raises(ModelError, match="no such folder or file"):
        install(paths, source=str(tmp_path / "nowhere"))
    assert list(paths.models.iterdir()) == []


def test_published_files_without_a_manifest_install_without_the_junk(paths, tmp_path):
    src = make_published(tmp_path / "dl" / "ViT-B-16-SigLIP2__webli", junk=True)
    target = install(paths, source=str(src))
    assert target.name == "ViT-B-16-SigLIP2__webli"
    assert sorted(tree(target)) == sorted([
        "config.json", MANIFEST, "textual/merges.txt", "textual/model.onnx",
        "visual/model.onnx", "visual/preprocess_cfg.json"])  # fmt: skip
    m = read_manifest(target)
    assert m.files == hash_files(target)
    assert (m.arch, m.pretrained) == ("ViT-B-16-SigLIP2", "webli")


def test_legacy_folder_is_converted_keeping_its_model_id(paths, tmp_path):
    src = make_legacy_folder(tmp_path / "old" / "ViT-B-32-openai")
    before = tree(src)
    target = install(paths, source=str(src))
    assert tree(src) == before  # the user's copy is only read
    info = read_model_info(target)
    assert info.model_id == "ViT-B-32-openai-0123456789ab"
    assert info.variants["int8"]["image_model"] == "visual/model.int8.onnx"
    assert sha256_file(target / "visual" / "model.onnx") == sha256_file(src / "image.onnx")
    assert (target / "textual" / "merges.txt").read_text(encoding="utf-8") == MERGES
    assert not (target / "model.json").exists()


# --- from an archive ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".zip"])
def test_install_from_a_local_archive_keeps_the_models_own_name(paths, tmp_path, suffix):
    src = make_model_folder(tmp_path / "src" / "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k")
    archive = tmp_path / f"model{suffix}"
    digest = package_model(src, archive)
    assert package_model(src, tmp_path / f"again{suffix}") == digest  # reproducible
    target = install(paths, source=str(archive))
    assert target.name == "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k"
    assert same_model(target, src)
    assert leftovers(paths) == []
    named = install(paths, "mine", source=str(archive))
    assert named == paths.models / "mine"


def test_force_replaces_only_when_the_new_model_is_complete(paths, model, tmp_path):
    install(paths, source=str(model))
    old = tree(paths.models / DEFAULT_MODEL)
    newer = make_model_folder(tmp_path / "newer" / DEFAULT_MODEL, seed=1)
    bad = tmp_path / "bad.tar"
    package_model(newer, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))

    with pytest.raises(ModelError, match="damaged"):
        install(paths, source=str(bad), force=True)
    assert tree(paths.models / DEFAULT_MODEL) == old
    assert leftovers(paths) == []

    with pytest.raises(ModelError, match=r"different model named .* already installed"):
        install(paths, source=str(newer))
    assert tree(paths.models / DEFAULT_MODEL) == old  # not forced: kept
    assert install(paths, source=str(model)) == paths.models / DEFAULT_MODEL  # same: no-op

    install(paths, source=str(newer), force=True)
    assert same_model(paths.models / DEFAULT_MODEL, newer)
    assert leftovers(paths) == []


def test_from_a_missing_source_fails_even_when_the_name_is_installed(paths, model, tmp_path):
    install(paths, source=str(model))
    with pytest.raises(ModelError, match="no such folder or file"):
        install(paths, DEFAULT_MODEL, source=str(tmp_path / "missing"))


def _tar_with(member: tarfile.TarInfo, payload: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ok = tarfile.TarInfo("m/photoseek.json")
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
        install(paths, source=str(archive))
    assert list(paths.models.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()
    assert not list(paths.data.rglob("evil.txt"))


def test_unsafe_zip_is_rejected(paths, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("m/photoseek.json", "{}")
        zf.writestr("../evil.txt", "evil")
    with pytest.raises(ModelError, match="outside the model folder"):
        install(paths, source=str(archive))
    assert list(paths.models.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_archive_bomb_is_refused_before_unpacking(paths, tmp_path, monkeypatch):
    from app.core.model import archive

    monkeypatch.setattr(archive, "MAX_EXTRACT_BYTES", 1000)
    archive = tmp_path / "big.tar"
    archive.write_bytes(_tar_with(_member("m/big.bin", size=2000), b"x" * 2000))
    with pytest.raises(ModelError, match="far more than a model"):
        install(paths, source=str(archive))
    assert list(paths.models.iterdir()) == []


def test_not_an_archive_is_rejected(paths, tmp_path):
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff" + os.urandom(2000))
    with pytest.raises(ModelError, match="not a model archive"):
        install(paths, source=str(junk))
    assert list(paths.models.iterdir()) == []


def test_invalid_names(paths, model):
    with pytest.raises(ModelError, match="not a valid model name"):
        install(paths, "../escape", source=str(model))
    assert list(paths.models.iterdir()) == []


def test_resolve_without_a_model_says_how_to_install(paths):
    with pytest.raises(ModelError) as err:
        resolve_model_dir(paths)
    assert "photoseek model install" in str(err.value) and "Library > Models" in str(err.value)


def test_active_model_choice_and_removal(paths, model, tmp_path):
    other = make_model_folder(tmp_path / "o" / "other", seed=2)
    install(paths, "mine", source=str(model))
    install(paths, "other", source=str(other))
    assert resolve_model_dir(paths) == paths.models / "mine"  # the first install is active
    set_active_model(paths, "other")
    assert resolve_model_dir(paths) == paths.models / "other"
    assert resolve_model_dir(paths, "mine") == paths.models / "mine"
    assert [m.name for m in installed_models(paths)] == ["mine", "other"]
    with pytest.raises(ModelError, match="not installed"):
        set_active_model(paths, "ViT-B-16__openai")
    with pytest.raises(ModelError, match="Installed: mine, other"):
        resolve_model_dir(paths, "ViT-B-16__openai")
    remove_model(paths, "other")
    assert SETTING_ACTIVE not in read_settings(paths)
    assert [m.name for m in installed_models(paths)] == ["mine"]
    assert resolve_model_dir(paths) == paths.models / "mine"
    with pytest.raises(ModelError, match="not installed"):
        remove_model(paths, "other")


def test_interrupted_replace_is_recovered(paths, model):
    target = install(paths, source=str(model))
    before = tree(target)
    os.replace(target, paths.models / f".old@{DEFAULT_MODEL}")  # killed between the two renames
    assert resolve_model_dir(paths) == target
    assert tree(target) == before


def test_installed_legacy_models_are_converted_in_place(paths, tmp_path):
    legacy = make_legacy_folder(paths.models / "ViT-B-32-openai")
    graph = sha256_file(legacy / "image.onnx")
    assert installed_models(paths) == []  # not readable until converted
    assert migrate_installed(paths) == ["ViT-B-32-openai"]
    info = read_model_info(paths.models / "ViT-B-32-openai")
    assert info.model_id == "ViT-B-32-openai-0123456789ab"
    assert sha256_file(paths.models / "ViT-B-32-openai" / "visual" / "model.onnx") == graph
    assert migrate_installed(paths) == []  # once
    assert leftovers(paths) == []


def test_a_conversion_killed_midway_leaves_the_old_model(paths, tmp_path):
    legacy = make_legacy_folder(paths.models / "ViT-B-32-openai")
    before = tree(legacy)
    # Killed after building the new folder, before the swap: only our staging is left over.
    convert_legacy(legacy, paths.models / ".migrating@ViT-B-32-openai@999999")
    assert tree(legacy) == before
    # Killed between the two renames: the old folder set aside, the new one not yet in place.
    os.replace(legacy, paths.models / ".old@ViT-B-32-openai")
    assert migrate_installed(paths) == ["ViT-B-32-openai"]
    assert read_model_info(paths.models / "ViT-B-32-openai").model_id.endswith("0123456789ab")


def run_cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSEEK_")}
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_install_list_use_remove(tmp_path, tiny_model_dir):
    """The real micro model (installing runs it: the relevance floor is calibrated)."""
    data = tmp_path / "cli"
    run = run_cli(data, "model", "install", DEFAULT_MODEL, "--from", str(tiny_model_dir))
    assert run.returncode == 0, run.stderr
    target = Paths.at(data).models / DEFAULT_MODEL
    assert f"Installed {DEFAULT_MODEL} in {target}" in run.stdout
    assert read_model_info(target).relevance_floor is not None
    other = ("ViT-B-16-SigLIP2__webli", "--from", str(tiny_model_dir), "--no-activate")
    assert run_cli(data, "model", "install", *other).returncode == 0

    listed = run_cli(data, "model", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(DEFAULT_MODEL))
    assert "active" in row
    assert "nllb-clip-base-siglip__v1" in listed.stdout and "recall" in listed.stdout.lower()
    rows = json.loads(run_cli(data, "model", "list", "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name[DEFAULT_MODEL]["active"] and by_name["ViT-B-16-SigLIP2__webli"]["installed"]

    assert run_cli(data, "model", "use", "ViT-B-16-SigLIP2__webli").returncode == 0
    assert read_settings(Paths.at(data))[SETTING_ACTIVE] == "ViT-B-16-SigLIP2__webli"
    gone = run_cli(data, "model", "remove", "ViT-B-16-SigLIP2__webli")
    assert gone.returncode == 0 and not (Paths.at(data).models / "ViT-B-16-SigLIP2__webli").exists()

    missing = run_cli(data, "model", "install", "x", "--from", str(tmp_path / "missing"))
    assert missing.returncode == 1
    assert "no such folder or file" in missing.stderr and "Traceback" not in missing.stderr


def test_package_model_refuses_a_damaged_folder(model, tmp_path):
    (model / "visual" / "model.onnx").write_bytes(b"changed")
    with pytest.raises(ModelError, match="corrupt"):
        package_model(model, tmp_path / "out.tar")
    assert not (tmp_path / "out.tar").exists()
