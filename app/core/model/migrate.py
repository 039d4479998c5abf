"""Models installed by PhotoSeek 0.1 (image.onnx, text.onnx, model.json) to today's layout.

The model id is kept, so the vectors already stored under it stay valid and nothing is
re-encoded. The new folder is built beside the old one from hard links (no copy of the graphs
where the filesystem allows it) and swapped in with two renames; a kill at any point leaves the
old folder or the new one (`models.recover_interrupted_replace` puts a set-aside one back).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from app.core.durable import fsync_dir, fsync_tree, sha256_file, write_json_atomic
from app.core.model.info import (
    CLIP_MERGES,
    CONFIG,
    IMAGE_MODEL,
    INT8_IMAGE_MODEL,
    INT8_TEXT_MODEL,
    LEGACY_MODEL_JSON,
    PREPROCESS_CFG,
    TEXT_MODEL,
    TOKENIZER_CONFIG,
    TOKENIZER_JSON,
    Manifest,
    ModelError,
    is_legacy_model_dir,
    write_manifest,
)

log = logging.getLogger(__name__)

MIGRATING_PREFIX = ".migrating@"
REPLACED_PREFIX = ".old@"


def migrate_legacy(model_dir: Path) -> bool:
    """Convert `model_dir` in place if it holds a 0.1 model; True if it did."""
    model_dir = Path(model_dir)
    if not is_legacy_model_dir(model_dir):
        return False
    stage = model_dir.parent / f"{MIGRATING_PREFIX}{model_dir.name}@{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        convert_legacy(model_dir, stage)
        fsync_tree(stage)
        swap_in(stage, model_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    log.info("converted %s to the current model layout", model_dir)
    return True


def swap_in(new: Path, target: Path) -> None:
    """Rename the finished folder `new` to `target`. A `target` already there is set aside as
    `.old@<name>` until the new one is in (and put back if that rename fails), so a crash
    leaves the old folder or the new one (installed.recover_interrupted_replace)."""
    old = target.parent / f"{REPLACED_PREFIX}{target.name}"
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        try:
            os.replace(new, target)
        except BaseException:
            os.replace(old, target)
            raise
    else:
        os.replace(new, target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def convert_legacy(src: Path, dest: Path) -> Manifest:
    """Write the current layout of the 0.1 model in `src` into the new folder `dest`."""
    legacy = _read_legacy(src)
    dest.mkdir(parents=True)
    (dest / "visual").mkdir()
    (dest / "textual").mkdir()
    hashes: dict[str, str] = {}
    files = legacy.get("files") or {}

    def place(rel_src: str, rel_dest: str) -> None:
        _link_or_copy(src / rel_src, dest / rel_dest)
        known = files.get(rel_src)
        hashes[rel_dest] = known if isinstance(known, str) else sha256_file(dest / rel_dest)

    place(str(legacy.get("image_model", "image.onnx")), IMAGE_MODEL)
    place(str(legacy.get("text_model", "text.onnx")), TEXT_MODEL)
    variants: dict[str, dict[str, Any]] = {}
    int8 = (legacy.get("variants") or {}).get("int8")
    if isinstance(int8, dict) and (src / str(int8.get("image_model", ""))).is_file():
        place(str(int8["image_model"]), INT8_IMAGE_MODEL)
        place(str(int8["text_model"]), INT8_TEXT_MODEL)
        variants["int8"] = {
            **{k: v for k, v in int8.items() if k not in ("image_model", "text_model")},
            "image_model": INT8_IMAGE_MODEL,
            "text_model": INT8_TEXT_MODEL,
        }

    tok = legacy.get("tokenizer") or {}
    text_cfg: dict[str, Any] = {"context_length": int(legacy.get("context_length", 77))}
    if tok.get("kind") == "clip-bpe":
        _write_merges(
            src / str(tok.get("file", "bpe_simple_vocab_16e6.txt.gz")), dest / CLIP_MERGES
        )
        text_cfg["tokenizer_kwargs"] = {"clean": str(tok.get("clean", "lower"))}
    elif tok.get("kind") == "hf":
        place(str(tok.get("file", "tokenizer.json")), TOKENIZER_JSON)
        text_cfg["hf_tokenizer_name"] = str(legacy.get("arch", "migrated"))
        text_cfg["tokenizer_kwargs"] = {
            "clean": str(tok.get("clean", "whitespace")),
            "strip_sep_token": bool(tok.get("strip_sep_token", False)),
        }
        tcfg: dict[str, Any] = {"pad_token": _token_of(dest / TOKENIZER_JSON, tok.get("pad_id", 0))}
        if tok.get("strip_sep_token"):
            tcfg["sep_token"] = _token_of(dest / TOKENIZER_JSON, tok.get("sep_id"))
        write_json_atomic(dest / TOKENIZER_CONFIG, tcfg)
    else:
        raise ModelError(
            f"{src / LEGACY_MODEL_JSON}: unknown tokenizer {tok!r}; reinstall the model."
        )

    write_json_atomic(
        dest / CONFIG,
        {
            "embed_dim": int(legacy["embed_dim"]),
            "vision_cfg": {"image_size": int(legacy["image_size"])},
            "text_cfg": text_cfg,
        },
    )
    write_json_atomic(
        dest / PREPROCESS_CFG,
        {
            "size": int(legacy["image_size"]),
            "mode": "RGB",
            "mean": list(legacy["mean"]),
            "std": list(legacy["std"]),
            "interpolation": str(legacy.get("interpolation", "bicubic")),
            "resize_mode": str(legacy.get("resize_mode", "shortest")),
            "fill_color": 0,
        },
    )
    for rel in (CONFIG, PREPROCESS_CFG, CLIP_MERGES, TOKENIZER_CONFIG):
        if (dest / rel).is_file():
            hashes[rel] = sha256_file(dest / rel)
    manifest = Manifest(
        model_id=str(legacy["model_id"]),  # kept: the stored vectors belong to it
        files=dict(sorted(hashes.items())),
        name=src.name,
        arch=str(legacy.get("arch", "")),
        pretrained=legacy.get("pretrained"),
        source={"kind": "migrated", "from_format": int(legacy.get("format", 1))},
        variants=variants,
        relevance_floor=legacy.get("relevance_floor"),
        logit_scale=legacy.get("logit_scale"),
        random_init=bool(legacy.get("random_init", False)),
        exported_with=dict(legacy.get("exported_with") or {}),
    )
    write_manifest(dest, manifest)
    return manifest


def _read_legacy(src: Path) -> dict[str, Any]:
    path = src / LEGACY_MODEL_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(
            f"{path} is unreadable ({e}); remove the model and install it again."
        ) from e
    needed = ("model_id", "embed_dim", "image_size", "mean", "std", "tokenizer")
    if not isinstance(data, dict) or not all(k in data for k in needed):
        raise ModelError(
            f"{path} is not a PhotoSeek 0.1 model description; remove the model and install it again."
        )
    return data


def _link_or_copy(src: Path, dest: Path) -> None:
    if not src.is_file():
        raise ModelError(f"Model file {src} is missing; remove the model and install it again.")
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _write_merges(bpe_gz: Path, dest: Path) -> None:
    """open_clip's gzipped BPE list to the merges.txt a published CLIP tokenizer carries."""
    from app.core.model.tokenizer import read_bpe_merges

    merges = read_bpe_merges(bpe_gz)
    dest.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def _token_of(tokenizer_json: Path, token_id: Any) -> str:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    text: str | None = tok.id_to_token(int(token_id or 0))
    if text is None:
        raise ModelError(f"{tokenizer_json} has no token {token_id}; reinstall the model.")
    return text
