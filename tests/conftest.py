"""Shared fixtures. Qt runs headless; every test gets its own PHOTOSEEK_HOME.

Model fixtures (`tiny_model_dir`, `vit_b32_dir`) are exported once and cached on disk across
runs, keyed by the source of the code that makes them; they are built in a temporary folder and
renamed into place, so a parallel or killed run never sees half a model. Their files are
read-only: tests must copy a model before changing it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.paths import Paths

try:
    import fcntl
except ImportError:  # Windows: no cross-process lock; a parallel build just does the work twice
    fcntl = None  # type: ignore[assignment]

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # `import microclip` from any test

# The layout cached models are written in: bump it when the folder format changes, so that
# folders cached in an older layout are never reused.
_MODEL_LAYOUT = "immich+photoseek.json-2"
# Files whose source decides what a cached model looks like.
_MODEL_SOURCES = (
    TESTS / "microclip.py",
    TESTS / "families.py",
    *sorted((REPO / "app" / "core" / "model" / "export").glob("*.py")),
    REPO / "app" / "core" / "model" / "info.py",
)


def _cache_key(name: str) -> str:
    import importlib.metadata as md

    h = hashlib.sha256(f"{_MODEL_LAYOUT}\0{name}".encode())
    for p in _MODEL_SOURCES:
        h.update(p.read_bytes())
    for dist in ("torch", "open_clip_torch", "onnx", "onnxruntime", "transformers", "tokenizers"):
        with contextlib.suppress(md.PackageNotFoundError):
            h.update(md.version(dist).encode())
    return f"{name}-{h.hexdigest()[:16]}"


def _cache_root(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("photoseek-models"))
    root = REPO / ".pytest_cache" / "photoseek-models"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cached_model(config: pytest.Config, name: str, build: Callable[[Path], object]) -> Path:
    """The model folder `build(out_dir)` makes, from the disk cache when it is there and intact."""
    root = _cache_root(config)
    target = root / _cache_key(name)
    # One build of a model at a time across processes: parallel runs wait and then reuse the
    # first one's model instead of all training it at once on two cores.
    with open(root / f".{target.name}.lock", "a+b") as lock:
        if fcntl is None:
            return _cached_model_locked(root, target, build)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _cached_model_locked(root, target, build)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_model_locked(root: Path, target: Path, build: Callable[[Path], object]) -> Path:
    from app.core.model.info import ModelError, verify_model_dir

    if target.is_dir():
        try:
            verify_model_dir(target)
            return target
        except ModelError:  # damaged: move it aside and rebuild
            aside = root / f".broken-{uuid.uuid4().hex[:8]}"
            os.replace(target, aside)
            shutil.rmtree(aside, ignore_errors=True)
    work = root / f".build-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        built = work / "model"
        build(built)
        for p in built.rglob("*"):
            if p.is_file():
                p.chmod(0o444)  # folders stay writable-by-owner: the cache must be deletable
        try:
            os.rename(built, target)
        except OSError:
            if not (target / "photoseek.json").is_file():  # not a parallel run's finished model
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def micro_clip_builder(seed: int, pretrained: str, int8: bool) -> Callable[[Path], None]:
    """Builds the micro CLIP (tests/microclip.py) trained from `seed` and exports it."""

    def build(out: Path) -> None:
        import microclip

        from app.core.model.export.exporter import export_from_model

        model = microclip.train_micro_clip(steps=microclip.TRAIN_STEPS, seed=seed)
        export_from_model(
            model,
            arch="micro-clip",
            pretrained=pretrained,
            out_dir=out,
            preprocess_cfg=microclip.preprocess_cfg(),
            int8=int8,
        )

    return build


@pytest.fixture(scope="session")
def tiny_model_dir(pytestconfig: pytest.Config) -> Path:
    """The TRAINED micro CLIP (tests/microclip.py) exported with int8: knows "a red circle"."""
    return cached_model(pytestconfig, "micro-clip", micro_clip_builder(0, "shapes", int8=True))


@pytest.fixture(scope="session")
def second_model_dir(pytestconfig: pytest.Config) -> Path:
    """The micro CLIP trained from another seed: the same captions, other weights and id."""
    build = micro_clip_builder(1, "shapes-b", int8=False)
    return cached_model(pytestconfig, "micro-clip-seed1", build)


@pytest.fixture(scope="session")
def vit_b32_dir(pytestconfig: pytest.Config) -> Path:
    """ViT-B-32 with random weights (seed 0), exported with int8: real size, meaningless output."""

    def build(out: Path) -> None:
        from app.core.model.export.exporter import export_model

        export_model("ViT-B-32", None, out, random_init=True, int8=True, seed=0)

    return cached_model(pytestconfig, "vit-b-32-random", build)


@pytest.fixture(scope="session")
def family_model_dir(pytestconfig: pytest.Config) -> Callable[..., Path]:
    """`get(kind, immich_style=True) -> Path`: a tiny random-init model of a family
    (tests/families.py: "clip", "siglip", "siglip2", "xlm-roberta", "nllb"), installed
    (with photoseek.json), cached on disk like the other model fixtures. Immich style: written
    as Immich's exporter writes its hub repositories (families.immich_repo_files gives them)."""

    def get(kind: str, immich_style: bool = True) -> Path:
        import families

        style = "immich" if immich_style else "export"
        return cached_model(
            pytestconfig,
            f"family-{kind}-{style}",
            lambda out: families.build_family_model(kind, out, immich_style=immich_style),
        )

    return get


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    """A fresh PhotoSeek data folder (tests that need other paths define their own)."""
    return Paths.at(tmp_path / "home")


@pytest.fixture
def encoder(tiny_model_dir: Path) -> Iterator[Any]:
    """The real encoder on the tiny model, counting its calls (test_indexer.CountingEncoder)."""
    from test_indexer import CountingEncoder

    enc = CountingEncoder(tiny_model_dir, device="cpu", threads=1)
    yield enc
    enc.close()
