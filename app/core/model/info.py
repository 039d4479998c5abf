"""The model folder: one layout for every model, however it arrived (downloaded from the hub,
exported here, copied from a folder or an archive), read by one loader.

The layout is the one the Immich project publishes its ONNX CLIP exports in (`immich-app/<name>`
on Hugging Face), plus our own manifest:

    config.json                   open_clip's model config (embed_dim, vision_cfg, text_cfg)
    visual/model.onnx             image tower: float32 [N, 3, S, S] -> embedding [N, D]
    visual/preprocess_cfg.json    size, mean, std, interpolation, resize_mode (open_clip's)
    textual/model.onnx            text tower: token ids [N, L] (+ attention_mask) -> [N, D]
    textual/tokenizer.json ...    the tokenizer: HF `tokenizers` JSON, or CLIP's merges.txt
    visual|textual/model.int8.onnx    optional int8 variants (our exports)
    photoseek.json                the manifest: SHA-256 of every file, model id, where the
                                  model came from (hub repo and commit), calibrated floor

The tokenizer family is read from the model's own files (config.json's text_cfg and
textual/tokenizer_config.json), never from its name. `ModelInfo` is the in-memory description
every other module uses. Folders written by PhotoSeek 0.1 (image.onnx, text.onnx, model.json)
are migrated to this layout by `app.core.model.migrate`, keeping their model id (and so their
vectors).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.core.durable import sha256_file, write_json_atomic
from app.core.errors import UserError

MANIFEST = "photoseek.json"
CONFIG = "config.json"
IMAGE_MODEL = "visual/model.onnx"
PREPROCESS_CFG = "visual/preprocess_cfg.json"
TEXT_MODEL = "textual/model.onnx"
TOKENIZER_JSON = "textual/tokenizer.json"
TOKENIZER_CONFIG = "textual/tokenizer_config.json"
CLIP_MERGES = "textual/merges.txt"
INT8_IMAGE_MODEL = "visual/model.int8.onnx"
INT8_TEXT_MODEL = "textual/model.int8.onnx"
FORMAT_VERSION = 2
LEGACY_MODEL_JSON = "model.json"  # PhotoSeek 0.1's manifest (format 1)
# open_clip's defaults for what a config leaves out (open_clip.transform.PreprocessCfg).
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_CONTEXT = 77
REINSTALL = "Remove it and install it again (Library > Models, or `photoseek model install NAME`)."


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
    # {"kind": "clip-bpe", "file": ..., "clean": ...} or {"kind": "hf", "file": ..., "pad_id":
    # ..., "clean": ..., "languages": "flores" (NLLB: a language-code token starts the text)}
    tokenizer: dict[str, Any]
    image_model: str = IMAGE_MODEL
    text_model: str = TEXT_MODEL
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # "int8" -> {...}
    logit_scale: float = 100.0
    relevance_floor: float | None = None
    random_init: bool = False
    exported_with: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION
    name: str = ""
    family: str = "clip"  # clip | siglip | xlm-roberta | nllb-siglip | hf (another HF text tower)
    source: dict[str, Any] = field(default_factory=dict)  # {"kind": "hub", "repo", "commit"} ...
    floor_calibration: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """photoseek.json: what we know about a folder beyond the published files."""

    model_id: str
    files: dict[str, str]
    name: str = ""
    arch: str = ""
    pretrained: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    relevance_floor: float | None = None
    floor_calibration: dict[str, Any] = field(default_factory=dict)
    logit_scale: float | None = None
    random_init: bool = False
    exported_with: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, d: Any, where: Path) -> Manifest:
        if not isinstance(d, dict):
            raise ModelError(
                f"{where} is not a PhotoSeek model manifest (not an object). {REINSTALL}"
            )
        known = set(cls.__dataclass_fields__)
        d = {k: v for k, v in d.items() if k in known}
        for key, kind in (("files", dict), ("source", dict), ("variants", dict)):
            if key in d and not isinstance(d[key], kind):
                raise ModelError(f"{where}: `{key}` must be an object. {REINSTALL}")
        if not isinstance(d.get("model_id"), str) or not d["model_id"]:
            raise ModelError(f"{where} has no model id. {REINSTALL}")
        if not all(
            isinstance(k, str) and isinstance(v, str) for k, v in d.get("files", {}).items()
        ):
            raise ModelError(f"{where}: `files` must map paths to SHA-256 strings. {REINSTALL}")
        floor = d.get("relevance_floor")
        if floor is not None and not isinstance(floor, (int, float)):
            raise ModelError(f"{where}: `relevance_floor` must be a number. {REINSTALL}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_model_id(arch: str, pretrained: str | None, file_hashes: dict[str, str]) -> str:
    """Content-addressed: the same weights exported twice give the same id."""
    h = hashlib.sha256()
    for name in sorted(file_hashes):
        h.update(name.encode() + b"\0" + file_hashes[name].encode() + b"\0")
    tag = pretrained or "random"
    return f"{arch}-{tag}-{h.hexdigest()[:12]}"


def core_files(model_dir: Path) -> list[str]:
    """The files that define a model's embedding space (its id is a hash of them)."""
    files = [IMAGE_MODEL, TEXT_MODEL, PREPROCESS_CFG, CONFIG]
    for rel in (TOKENIZER_JSON, CLIP_MERGES):
        if (Path(model_dir) / rel).is_file():
            files.append(rel)
    return files


def is_model_dir(path: Path) -> bool:
    """Holds an installed model in this layout (our manifest is written last)."""
    return (Path(path) / MANIFEST).is_file()


def is_published_layout(path: Path) -> bool:
    """Holds the published files (as downloaded from an immich-app repository), with or
    without our manifest."""
    path = Path(path)
    return all((path / rel).is_file() for rel in (CONFIG, IMAGE_MODEL, TEXT_MODEL))


def is_legacy_model_dir(path: Path) -> bool:
    path = Path(path)
    return (path / LEGACY_MODEL_JSON).is_file() and not (path / MANIFEST).is_file()


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{what} {path} is missing. {REINSTALL}") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{what} {path} is unreadable ({e}). {REINSTALL}") from e


def _obj(value: Any, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelError(f"{path} is not a JSON object. {REINSTALL}")
    return value


def read_manifest(model_dir: Path) -> Manifest:
    path = Path(model_dir) / MANIFEST
    if not path.is_file():
        raise ModelError(
            f"No model at {model_dir} ({MANIFEST} is missing). Install one from Library > "
            "Models or with `photoseek model install`."
        )
    return Manifest.from_dict(_load_json(path, "Model manifest"), path)


def write_manifest(model_dir: Path, manifest: Manifest) -> None:
    write_json_atomic(Path(model_dir) / MANIFEST, manifest.to_dict())


def read_model_info(model_dir: Path) -> ModelInfo:
    """Describe the model in `model_dir` from its own files; ModelError says what is wrong."""
    model_dir = Path(model_dir)
    if is_legacy_model_dir(model_dir):
        raise ModelError(
            f"{model_dir} holds a model in PhotoSeek 0.1's format; it is converted when the app "
            "or `photoseek model list` starts. Run either once, or reinstall the model."
        )
    manifest = read_manifest(model_dir)
    return describe(model_dir, manifest)


def describe(model_dir: Path, manifest: Manifest) -> ModelInfo:
    """ModelInfo from the published config files plus `manifest`."""
    model_dir = Path(model_dir)
    config = _obj(_load_json(model_dir / CONFIG, "Model config"), model_dir / CONFIG)
    pre = _obj(
        _load_json(model_dir / PREPROCESS_CFG, "Preprocessing config"), model_dir / PREPROCESS_CFG
    )
    text_cfg = config.get("text_cfg") or {}
    if not isinstance(text_cfg, dict):
        raise ModelError(f"{model_dir / CONFIG}: text_cfg is not an object. {REINSTALL}")
    try:
        embed_dim = int(config["embed_dim"])
        size = pre.get("size", (config.get("vision_cfg") or {}).get("image_size"))
        if isinstance(size, (list, tuple)):
            if len(set(size)) != 1:
                raise ModelError(f"{model_dir}: non-square input size {size} is not supported.")
            size = size[0]
        image_size = int(size)  # type: ignore[arg-type]  # None raises TypeError below
        mean = triple(pre.get("mean", OPENAI_MEAN))
        std = triple(pre.get("std", OPENAI_STD))
        context = int(text_cfg.get("context_length", DEFAULT_CONTEXT))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{model_dir}: the model config is incomplete ({e}). {REINSTALL}") from e
    interpolation = str(pre.get("interpolation", "bicubic")).lower()
    resize_mode = str(pre.get("resize_mode", "shortest")).lower()
    if interpolation not in ("bicubic", "bilinear", "nearest", "lanczos"):
        raise ModelError(f"{model_dir}: unknown interpolation {interpolation!r}. {REINSTALL}")
    if resize_mode not in ("shortest", "squash", "longest"):
        raise ModelError(f"{model_dir}: unknown resize mode {resize_mode!r}. {REINSTALL}")
    family, tokenizer = _tokenizer_cfg(model_dir, text_cfg)
    name = manifest.name or model_dir.name
    arch, _, tag = name.partition("__")
    return ModelInfo(
        model_id=manifest.model_id,
        arch=manifest.arch or arch,
        pretrained=manifest.pretrained if manifest.arch else (tag or None),
        embed_dim=embed_dim,
        image_size=image_size,
        mean=mean,
        std=std,
        interpolation=interpolation,
        resize_mode=resize_mode,
        context_length=context,
        tokenizer=tokenizer,
        files=dict(manifest.files),
        variants=dict(manifest.variants),
        logit_scale=float(manifest.logit_scale or 100.0),
        relevance_floor=manifest.relevance_floor,
        random_init=manifest.random_init,
        exported_with=dict(manifest.exported_with),
        name=name,
        family=family,
        source=dict(manifest.source),
        floor_calibration=dict(manifest.floor_calibration),
    )


def _tokenizer_cfg(model_dir: Path, text_cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The family and tokenizer description, from config.json's text_cfg and the tokenizer's
    own tokenizer_config.json (open_clip: an HF text tower or HF tokenizer name means an HF
    tokenizer; otherwise CLIP's BPE)."""
    kwargs = text_cfg.get("tokenizer_kwargs") or {}
    if not isinstance(kwargs, dict):
        kwargs = {}
    hf_model = str(text_cfg.get("hf_model_name") or "")
    hf_tok = str(text_cfg.get("hf_tokenizer_name") or hf_model)
    if not hf_tok:
        if not (model_dir / CLIP_MERGES).is_file():
            raise ModelError(f"Tokenizer file {model_dir / CLIP_MERGES} is missing. {REINSTALL}")
        clean = str(kwargs.get("clean", "lower"))
        return "clip", {"kind": "clip-bpe", "file": CLIP_MERGES, "clean": clean}
    if not (model_dir / TOKENIZER_JSON).is_file():
        raise ModelError(f"Tokenizer file {model_dir / TOKENIZER_JSON} is missing. {REINSTALL}")
    tcfg: dict[str, Any] = {}
    if (model_dir / TOKENIZER_CONFIG).is_file():
        tcfg = _obj(
            _load_json(model_dir / TOKENIZER_CONFIG, "Tokenizer config"),
            model_dir / TOKENIZER_CONFIG,
        )
    tok: dict[str, Any] = {
        "kind": "hf",
        "file": TOKENIZER_JSON,
        "clean": str(kwargs.get("clean", "whitespace")),
        "strip_sep_token": bool(kwargs.get("strip_sep_token", False)),
    }
    for key in ("pad_token", "sep_token", "bos_token", "eos_token"):
        text = _token_text(tcfg.get(key))
        if text is not None:
            tok[key] = text
    for key in ("add_bos_token", "add_eos_token"):
        if isinstance(tcfg.get(key), bool):
            tok[key] = tcfg[key]
    if tcfg.get("padding_side") in ("left", "right"):
        tok["padding_side"] = tcfg["padding_side"]
    if isinstance(tcfg.get("tokenizer_class"), str):
        tok["tokenizer_class"] = tcfg["tokenizer_class"]
    tok_class = str(tcfg.get("tokenizer_class") or "").lower()
    if tok_class.startswith("nllb"):
        tok["languages"] = "flores"
        family = "nllb-siglip"
    elif tok_class.startswith("xlmroberta") or "xlm-roberta" in hf_tok.lower():
        family = "xlm-roberta"
    elif not hf_model:
        family = "siglip"  # an open_clip text tower with an HF tokenizer: SigLIP / SigLIP2
    else:
        family = "hf"
    return family, tok


def _token_text(value: Any) -> str | None:
    """A token in tokenizer_config.json: a string, or {"content": ...} (AddedToken)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def triple(v: Any) -> tuple[float, float, float]:
    """Per-channel mean or std as three floats (one value stands for all three)."""
    if isinstance(v, (int, float)):
        v = [v]
    t = tuple(float(x) for x in v)
    if len(t) == 1:
        t = t * 3
    if len(t) != 3:
        raise ValueError(f"expected 3 channel values, got {v}")
    return t[0], t[1], t[2]


def is_ours(rel: Path) -> bool:
    """A path in a model folder that PhotoSeek keeps for itself (a dot-name at any level:
    `.verified.json`, `.optimized/`), not part of the model."""
    return any(part.startswith(".") for part in Path(rel).parts)


def model_files(model_dir: Path) -> list[str]:
    """Every file of the model in the folder (not the manifest, not our dot-paths), posix
    relative paths in sorted order."""
    model_dir = Path(model_dir)
    return [
        p.relative_to(model_dir).as_posix()
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not is_ours(p.relative_to(model_dir))
    ]


def hash_files(model_dir: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """SHA-256 of every model file in the folder; hashes in `known` (already verified, e.g. by
    the hub download) are taken as they are."""
    known = known or {}
    return {
        rel: known.get(rel) or sha256_file(Path(model_dir) / rel) for rel in model_files(model_dir)
    }


def published_manifest(
    model_dir: Path,
    name: str,
    source: dict[str, Any],
    known: dict[str, str] | None = None,
    **extra: Any,
) -> Manifest:
    """The manifest of a folder of published files named `<arch>__<pretrained tag>` (the
    immich-app naming): every file hashed, the model id from the core files."""
    files = hash_files(model_dir, known)
    arch, _, tag = name.partition("__")
    core = {k: files[k] for k in core_files(model_dir)}
    return Manifest(
        model_id=make_model_id(arch, tag or None, core),
        files=files,
        name=name,
        arch=arch,
        pretrained=tag or None,
        source=source,
        **extra,
    )


def verify_model_dir(model_dir: Path, info: ModelInfo | None = None) -> ModelInfo:
    """Check every listed file against its SHA-256; raise ModelError naming the bad file."""
    info = info or read_model_info(model_dir)
    for rel, expected in info.files.items():
        p = Path(model_dir) / rel
        if not p.is_file():
            raise ModelError(f"Model file {p} is missing. {REINSTALL}")
        if sha256_file(p) != expected:
            raise ModelError(f"Model file {p} is corrupt (SHA-256 mismatch). {REINSTALL}")
    return info
