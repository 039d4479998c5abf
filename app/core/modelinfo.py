"""model.json: what a model folder holds and how to feed it. Shared by exporter, installer and
encoder; an index is tied to `model_id`."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import UserError

MODEL_JSON = "model.json"
FORMAT_VERSION = 1


class ModelError(UserError):
    """A model folder is missing, incomplete or corrupt; the message says what to do."""


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    arch: str
    pretrained: str | None
    embed_dim: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str  # "bicubic" | "bilinear"
    resize_mode: str  # "shortest" (resize short side + centre crop) | "squash" | "longest"
    context_length: int
    tokenizer: dict[str, Any]  # {"kind": "clip-bpe", "file": ...} or {"kind": "hf", "file": ...}
    image_model: str = "image.onnx"
    text_model: str = "text.onnx"
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # "int8" -> {...}
    logit_scale: float = 100.0
    relevance_floor: float | None = None
    random_init: bool = False
    exported_with: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        known = {f for f in cls.__dataclass_fields__}
        d = {k: v for k, v in d.items() if k in known}
        d["mean"] = tuple(d["mean"])
        d["std"] = tuple(d["std"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def make_model_id(arch: str, pretrained: str | None, file_hashes: dict[str, str]) -> str:
    """Content-addressed: the same weights exported twice give the same id."""
    h = hashlib.sha256()
    for name in sorted(file_hashes):
        h.update(name.encode() + b"\0" + file_hashes[name].encode() + b"\0")
    tag = pretrained or "random"
    return f"{arch}-{tag}-{h.hexdigest()[:12]}"


def read_model_info(model_dir: Path) -> ModelInfo:
    path = Path(model_dir) / MODEL_JSON
    if not path.is_file():
        raise ModelError(
            f"No model at {model_dir} ({MODEL_JSON} is missing). "
            "Run `photoseek model install`, or point --model at an exported model folder."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ModelInfo.from_dict(data)
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(
            f"{path} is not a valid PhotoSeek model description ({e}). "
            "Reinstall the model with `photoseek model install --force`."
        ) from e


def write_model_info(model_dir: Path, info: ModelInfo) -> None:
    """Atomic write: a kill leaves either the old model.json or the new one."""
    path = Path(model_dir) / MODEL_JSON
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info.to_dict(), f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def verify_model_dir(model_dir: Path, info: ModelInfo | None = None) -> ModelInfo:
    """Check every listed file against its SHA-256; raise ModelError naming the bad file."""
    info = info or read_model_info(model_dir)
    for rel, expected in info.files.items():
        p = Path(model_dir) / rel
        if not p.is_file():
            raise ModelError(
                f"Model file {p} is missing. Reinstall with `photoseek model install --force`."
            )
        if sha256_file(p) != expected:
            raise ModelError(
                f"Model file {p} is corrupt (SHA-256 mismatch). Reinstall with "
                "`photoseek model install --force`."
            )
    return info
